"""Compute jobs (at the provider, and their mirror at the consumer), the privacy budget per
agreement, and the overlap audit's state per consumer and product.

A job's id is derived from the consumer and its submission key, so a retried submission
finds the job it created; a key is the consumer's to choose and means one job.
"""

from __future__ import annotations

import json
from typing import Any

from trustspace.store.db import Row, Tx


def get(tx: Tx, job_id: str, role: str, *, lock: bool = False) -> Row | None:
    suffix = " FOR UPDATE" if lock and tx.dialect == "postgresql" else ""
    return tx.one(f"SELECT * FROM compute_jobs WHERE id = ? AND role = ?{suffix}", (job_id, role))


def insert(tx: Tx, job: dict[str, Any]) -> None:
    """A new job row; a second insert of the same id raises :class:`Conflict`."""
    columns = ", ".join(job)
    marks = ", ".join("?" for _ in job)
    tx.execute(f"INSERT INTO compute_jobs ({columns}) VALUES ({marks})", tuple(job.values()))


def update(tx: Tx, job_id: str, role: str, fields: dict[str, Any]) -> None:
    sets = ", ".join(f"{key} = ?" for key in fields)
    tx.execute(f"UPDATE compute_jobs SET {sets} WHERE id = ? AND role = ?",
               (*fields.values(), job_id, role))  # fmt: skip


def of_consumer(tx: Tx, role: str, consumer_id: str, agreement_id: str | None,
                limit: int = 200) -> list[Row]:  # fmt: skip
    if agreement_id is None:
        return tx.all("SELECT * FROM compute_jobs WHERE role = ? AND consumer_id = ?"
                      " ORDER BY created_at DESC LIMIT ?", (role, consumer_id, limit))  # fmt: skip
    return tx.all("SELECT * FROM compute_jobs WHERE role = ? AND consumer_id = ? AND agreement_id = ?"
                  " ORDER BY created_at DESC LIMIT ?", (role, consumer_id, agreement_id, limit))  # fmt: skip


def in_state(tx: Tx, state: str) -> list[Row]:
    return tx.all("SELECT * FROM compute_jobs WHERE role = 'provider' AND state = ?"
                  " ORDER BY created_at", (state,))  # fmt: skip


def claim_next(tx: Tx) -> Row | None:
    suffix = " FOR UPDATE SKIP LOCKED" if tx.dialect == "postgresql" else ""
    return tx.one("SELECT * FROM compute_jobs WHERE role = 'provider' AND state = 'QUEUED'"
                  f" ORDER BY created_at LIMIT 1{suffix}")  # fmt: skip


def requeue_running(tx: Tx) -> int:
    return tx.execute(
        "UPDATE compute_jobs SET state = 'QUEUED' WHERE role = 'provider' AND state = 'RUNNING'"
    )


def spent(tx: Tx, agreement_id: str, *, lock: bool = False) -> float:
    suffix = " FOR UPDATE" if lock and tx.dialect == "postgresql" else ""
    row = tx.one(
        f"SELECT spent FROM compute_budget WHERE agreement_id = ?{suffix}", (agreement_id,)
    )
    return 0.0 if row is None else float(row["spent"])


def spend(tx: Tx, agreement_id: str, epsilon: float) -> None:
    tx.execute(
        "INSERT INTO compute_budget (agreement_id, spent) VALUES (?, ?)"
        " ON CONFLICT (agreement_id) DO UPDATE SET spent = compute_budget.spent + ?",
        (agreement_id, epsilon, epsilon),
    )


def audit_state(tx: Tx, product_id: str, consumer_id: str, now: float) -> bytes | None:
    """The audit state, locked for this transaction (created empty on first use)."""
    tx.execute(
        "INSERT INTO compute_audit (product_id, consumer_id, state, row_classes, updated_at)"
        " VALUES (?, ?, NULL, 0, ?) ON CONFLICT (product_id, consumer_id) DO NOTHING",
        (product_id, consumer_id, now),
    )
    suffix = " FOR UPDATE" if tx.dialect == "postgresql" else ""
    row = tx.one("SELECT state FROM compute_audit WHERE product_id = ? AND consumer_id = ?"
                 f"{suffix}", (product_id, consumer_id))  # fmt: skip
    state = None if row is None else row["state"]
    return None if state is None else bytes(state)


def save_audit_state(tx: Tx, product_id: str, consumer_id: str, state: bytes, row_classes: int,
                     now: float) -> None:  # fmt: skip
    tx.execute("UPDATE compute_audit SET state = ?, row_classes = ?, updated_at = ?"
               " WHERE product_id = ? AND consumer_id = ?",
               (state, row_classes, now, product_id, consumer_id))  # fmt: skip


def result_of(row: Row) -> Any:
    return json.loads(row["result"]) if row["result"] else None
