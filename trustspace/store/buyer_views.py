"""Reads for a consumer's people: the agreements this node holds as consumer and how many of
their transfers have started.

Rows in, rows out, always inside a caller's transaction."""

from __future__ import annotations

from typing import Any

from trustspace.store.db import Tx


def consumer_agreements(
    tx: Tx, participant_id: str, limit: int, offset: int, agreement_id: str | None = None
) -> list[dict[str, Any]]:
    """Agreements where ``participant_id`` is the consumer (only ``agreement_id`` when given),
    newest first, with the state and address of the negotiation that concluded them."""
    one = " AND a.id = ?" if agreement_id is not None else ""
    rows = tx.all(
        "SELECT a.id, a.negotiation_id, a.dataset_id, a.provider_id, a.policy, a.created_at,"
        " n.state, n.counterparty_address FROM agreements a"
        " JOIN negotiations n ON n.id = a.negotiation_id"
        f" WHERE a.consumer_id = ? AND n.role = 'consumer'{one}"
        " ORDER BY a.created_at DESC, a.id LIMIT ? OFFSET ?",
        (participant_id, *([agreement_id] if agreement_id is not None else []), limit, offset),
    )
    return [dict(r) for r in rows]


def started_transfers(tx: Tx, agreement_ids: list[str]) -> dict[str, int]:
    """Per agreement: this node's consumer transfers that reached STARTED at least once."""
    if not agreement_ids:
        return {}
    marks = ",".join("?" for _ in agreement_ids)
    rows = tx.all(
        "SELECT t.agreement_id, COUNT(*) AS n FROM transfers t"
        f" WHERE t.role = 'consumer' AND t.agreement_id IN ({marks}) AND EXISTS"
        " (SELECT 1 FROM process_events e WHERE e.process_id = t.id AND e.state = 'STARTED')"
        " GROUP BY t.agreement_id",
        tuple(agreement_ids),
    )
    return {r["agreement_id"]: int(r["n"]) for r in rows}


def consumer_transfer_ids(tx: Tx, limit: int, offset: int) -> list[str]:
    rows = tx.all(
        "SELECT id FROM transfers WHERE role = 'consumer' ORDER BY created_at DESC, id"
        " LIMIT ? OFFSET ?",
        (limit, offset),
    )
    return [str(r["id"]) for r in rows]


def consumer_transfers_of(tx: Tx, agreement_id: str) -> list[str]:
    rows = tx.all(
        "SELECT id FROM transfers WHERE role = 'consumer' AND agreement_id = ?"
        " ORDER BY created_at DESC, id",
        (agreement_id,),
    )
    return [str(r["id"]) for r in rows]


def registration_certificates(tx: Tx) -> list[dict[str, Any]]:
    """The registration certificates this node holds (not its trade certificates)."""
    rows = tx.all(
        "SELECT id, kind, subject, token FROM certificates WHERE kind = 'registration'"
        " ORDER BY issued_at"
    )
    return [dict(r) for r in rows]
