"""Contract negotiation processes.

Rows in, records out, always inside a caller's transaction."""

from __future__ import annotations

import json
from typing import Any

from trustspace.core.machine import Role
from trustspace.core.records import (
    Negotiation,
)
from trustspace.store.db import Row, Tx, dump_json, for_update

_NEG_COLS = (
    "id, role, provider_pid, consumer_pid, state, counterparty_id, counterparty_address,"
    " dataset_id, offer, agreement_id, error, created_at, updated_at"
)


def _neg_params(n: Negotiation) -> tuple[Any, ...]:
    return (
        n.id,
        n.role.value,
        n.provider_pid,
        n.consumer_pid,
        n.state,
        n.counterparty_id,
        n.counterparty_address,
        n.dataset_id,
        dump_json(n.offer),
        n.agreement_id,
        n.error,
        n.created_at,
        n.updated_at,
    )


def insert_negotiation(tx: Tx, n: Negotiation) -> None:
    tx.execute(
        f"INSERT INTO negotiations ({_NEG_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", _neg_params(n)
    )


def update_negotiation(tx: Tx, n: Negotiation) -> None:
    p = _neg_params(n)
    tx.execute(
        "UPDATE negotiations SET provider_pid=?, consumer_pid=?, state=?, counterparty_address=?,"
        " offer=?, agreement_id=?, error=?, updated_at=? WHERE id=?",
        (p[2], p[3], p[4], p[6], p[8], p[9], p[10], p[12], n.id),
    )


def _negotiation(row: Row) -> Negotiation:
    return Negotiation(
        id=row["id"],
        role=Role(row["role"]),
        provider_pid=row["provider_pid"],
        consumer_pid=row["consumer_pid"],
        state=row["state"],
        counterparty_id=row["counterparty_id"],
        counterparty_address=row["counterparty_address"],
        dataset_id=row["dataset_id"],
        offer=json.loads(row["offer"]),
        agreement_id=row["agreement_id"],
        error=row["error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def get_negotiation(tx: Tx, negotiation_id: str, *, lock: bool = False) -> Negotiation | None:
    """``lock=True`` before changing the record (a row lock on PostgreSQL)."""
    row = tx.one(
        f"SELECT {_NEG_COLS} FROM negotiations WHERE id = ?{for_update(tx) if lock else ''}",
        (negotiation_id,),
    )
    return None if row is None else _negotiation(row)


def find_provider_negotiation(
    tx: Tx, counterparty_id: str, consumer_pid: str
) -> Negotiation | None:
    row = tx.one(
        f"SELECT {_NEG_COLS} FROM negotiations WHERE role = 'provider' AND counterparty_id = ?"
        f" AND consumer_pid = ?{for_update(tx)}",
        (counterparty_id, consumer_pid),
    )
    return None if row is None else _negotiation(row)


def list_negotiations(tx: Tx, limit: int = 100, offset: int = 0) -> list[Negotiation]:
    rows = tx.all(
        f"SELECT {_NEG_COLS} FROM negotiations ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
        (limit, offset),
    )
    return [_negotiation(r) for r in rows]
