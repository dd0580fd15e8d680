"""The outbox: messages queued in the transaction that decided them, claimed and
delivered by the worker (``FOR UPDATE SKIP LOCKED`` on PostgreSQL).

Rows in, records out, always inside a caller's transaction."""

from __future__ import annotations

import json
from typing import Any

from trustspace.core.records import (
    OutboxItem,
)
from trustspace.store.db import Row, Tx, dump_json


def enqueue(
    tx: Tx,
    *,
    process_kind: str,
    process_id: str,
    peer_id: str,
    url: str,
    body: dict[str, Any],
    not_before: float,
    created_at: float,
    final: bool = False,
) -> None:
    tx.execute(
        "INSERT INTO outbox (process_kind, process_id, peer_id, url, body, final, status, attempts,"
        " not_before, created_at) VALUES (?,?,?,?,?,?,'pending',0,?,?)",
        (
            process_kind,
            process_id,
            peer_id,
            url,
            dump_json(body),
            int(final),
            not_before,
            created_at,
        ),
    )


def claim_due(tx: Tx, *, now: float, lease: float, limit: int) -> list[OutboxItem]:
    """Lease the oldest pending message of each process that is due.

    Messages of one process go out strictly in order: a message is only claimed
    when no earlier pending message of the same process exists.
    """
    lock = " FOR UPDATE SKIP LOCKED" if tx.dialect == "postgresql" else ""
    rows = tx.all(
        "SELECT o.id, o.process_kind, o.process_id, o.peer_id, o.url, o.body, o.final, o.attempts,"
        " o.not_before, o.last_error FROM outbox o WHERE o.status = 'pending' AND o.not_before <= ?"
        " AND o.lease_until <= ? AND NOT EXISTS (SELECT 1 FROM outbox e WHERE"
        " e.process_id = o.process_id AND e.status = 'pending' AND e.id < o.id)"
        f" ORDER BY o.id LIMIT ?{lock}",
        (now, now, limit),
    )
    if rows:
        marks = ",".join("?" * len(rows))
        tx.execute(
            f"UPDATE outbox SET lease_until = ? WHERE id IN ({marks})",
            [now + lease, *[r["id"] for r in rows]],
        )
    return [
        OutboxItem(
            id=int(r["id"]),
            process_kind=r["process_kind"],
            process_id=r["process_id"],
            peer_id=r["peer_id"],
            url=r["url"],
            body=json.loads(r["body"]),
            final=bool(r["final"]),
            attempts=int(r["attempts"]),
            not_before=float(r["not_before"]),
            last_error=r["last_error"],
        )
        for r in rows
    ]


def next_due(tx: Tx) -> float | None:
    row = tx.one(
        "SELECT min(CASE WHEN lease_until > not_before THEN lease_until ELSE not_before END) AS t"
        " FROM outbox WHERE status = 'pending'"
    )
    return None if row is None or row["t"] is None else float(row["t"])


def mark_sent(tx: Tx, item_id: int) -> None:
    tx.execute(
        "UPDATE outbox SET status = 'sent', attempts = attempts + 1, lease_until = 0 WHERE id = ?",
        (item_id,),
    )


def mark_retry(tx: Tx, item_id: int, *, not_before: float, error: str) -> None:
    tx.execute(
        "UPDATE outbox SET attempts = attempts + 1, not_before = ?, lease_until = 0, last_error = ?"
        " WHERE id = ?",
        (not_before, error, item_id),
    )


def mark_dead(tx: Tx, item_id: int, error: str) -> None:
    tx.execute(
        "UPDATE outbox SET status = 'dead', attempts = attempts + 1, lease_until = 0,"
        " last_error = ? WHERE id = ?",
        (error, item_id),
    )


def drop_pending(tx: Tx, process_id: str, reason: str) -> None:
    tx.execute(
        "UPDATE outbox SET status = 'dropped', last_error = ? WHERE process_id = ? AND status = 'pending'",
        (reason, process_id),
    )


def release_leases(tx: Tx) -> None:
    tx.execute("UPDATE outbox SET lease_until = 0 WHERE status = 'pending'")


def pending_count(tx: Tx) -> int:
    row = tx.one("SELECT count(*) AS n FROM outbox WHERE status = 'pending'")
    return int(row["n"]) if row else 0


def outbox_items(tx: Tx, process_id: str) -> list[Row]:
    return tx.all("SELECT * FROM outbox WHERE process_id = ? ORDER BY id", (process_id,))
