"""Idempotency and replay: message ids already applied, token ids already seen.

Rows in, records out, always inside a caller's transaction."""

from __future__ import annotations

from trustspace.store.db import Tx


def remember_message(tx: Tx, process_id: str, message_id: str, now: float) -> bool:
    """Record a received message id; False if it was already processed."""
    return (
        tx.execute(
            "INSERT INTO received_messages (process_id, message_id, received_at) VALUES (?,?,?)"
            " ON CONFLICT DO NOTHING",
            (process_id, message_id, now),
        )
        == 1
    )


def seen_message(tx: Tx, process_id: str, message_id: str) -> bool:
    row = tx.one(
        "SELECT 1 AS x FROM received_messages WHERE process_id = ? AND message_id = ?",
        (process_id, message_id),
    )
    return row is not None


def remember_token(tx: Tx, jti: str, expires_at: float, now: float) -> bool:
    tx.execute("DELETE FROM seen_tokens WHERE expires_at < ?", (now,))
    return (
        tx.execute(
            "INSERT INTO seen_tokens (jti, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (jti, expires_at),
        )
        == 1
    )
