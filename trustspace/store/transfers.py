"""Transfer processes.

Rows in, records out, always inside a caller's transaction."""

from __future__ import annotations

import json
from typing import Any

from trustspace.core.machine import Role
from trustspace.core.records import (
    Transfer,
)
from trustspace.store.db import Row, Tx, dump_json, for_update

_TP_COLS = (
    "id, role, provider_pid, consumer_pid, state, counterparty_id, counterparty_address,"
    " agreement_id, dataset_id, format, data_address, token_hash, error, created_at, updated_at,"
    " purpose"
)


def _tp_params(t: Transfer) -> tuple[Any, ...]:
    return (
        t.id,
        t.role.value,
        t.provider_pid,
        t.consumer_pid,
        t.state,
        t.counterparty_id,
        t.counterparty_address,
        t.agreement_id,
        t.dataset_id,
        t.format,
        None if t.data_address is None else dump_json(t.data_address),
        t.token_hash,
        t.error,
        t.created_at,
        t.updated_at,
        t.purpose,
    )


def insert_transfer(tx: Tx, t: Transfer) -> None:
    tx.execute(
        f"INSERT INTO transfers ({_TP_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        _tp_params(t),
    )


def update_transfer(tx: Tx, t: Transfer) -> None:
    p = _tp_params(t)
    tx.execute(
        "UPDATE transfers SET provider_pid=?, consumer_pid=?, state=?, data_address=?,"
        " token_hash=?, error=?, updated_at=? WHERE id=?",
        (p[2], p[3], p[4], p[10], p[11], p[12], p[14], t.id),
    )


def _transfer(row: Row) -> Transfer:
    return Transfer(
        id=row["id"],
        role=Role(row["role"]),
        provider_pid=row["provider_pid"],
        consumer_pid=row["consumer_pid"],
        state=row["state"],
        counterparty_id=row["counterparty_id"],
        counterparty_address=row["counterparty_address"],
        agreement_id=row["agreement_id"],
        dataset_id=row["dataset_id"],
        format=row["format"],
        data_address=None if row["data_address"] is None else json.loads(row["data_address"]),
        token_hash=row["token_hash"],
        error=row["error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        purpose=row["purpose"],
    )


def get_transfer(tx: Tx, transfer_id: str, *, lock: bool = False) -> Transfer | None:
    """``lock=True`` before changing the record (a row lock on PostgreSQL)."""
    row = tx.one(
        f"SELECT {_TP_COLS} FROM transfers WHERE id = ?{for_update(tx) if lock else ''}",
        (transfer_id,),
    )
    return None if row is None else _transfer(row)


def find_provider_transfer(tx: Tx, counterparty_id: str, consumer_pid: str) -> Transfer | None:
    row = tx.one(
        f"SELECT {_TP_COLS} FROM transfers WHERE role = 'provider' AND counterparty_id = ?"
        f" AND consumer_pid = ?{for_update(tx)}",
        (counterparty_id, consumer_pid),
    )
    return None if row is None else _transfer(row)


def provider_transfers_in(tx: Tx, states: tuple[str, ...]) -> list[Transfer]:
    marks = ",".join("?" for _ in states)
    rows = tx.all(
        f"SELECT {_TP_COLS} FROM transfers WHERE role = 'provider' AND state IN ({marks})"
        " ORDER BY created_at",
        states,
    )
    return [_transfer(r) for r in rows]


def list_transfers(tx: Tx, limit: int = 100, offset: int = 0) -> list[Transfer]:
    rows = tx.all(
        f"SELECT {_TP_COLS} FROM transfers ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
        (limit, offset),
    )
    return [_transfer(r) for r in rows]
