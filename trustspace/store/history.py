"""The history of each process: every message in and out, with the state it led to.

Rows in, records out, always inside a caller's transaction."""

from __future__ import annotations

from trustspace.store import evidence
from trustspace.store.db import Row, Tx


def record_event(
    tx: Tx,
    process_id: str,
    *,
    at: float,
    direction: str,
    message: str,
    state: str,
    detail: str | None = None,
) -> None:
    """One line of a process's history: a message received ("in"), queued ("out") or a local step."""
    tx.execute(
        "INSERT INTO process_events (process_id, at, direction, message, state, detail) VALUES (?,?,?,?,?,?)",
        (process_id, at, direction, message, state, detail),
    )
    evidence.record(
        tx,
        at=at,
        kind="process-message" if direction in ("in", "out") else "process-step",
        subject=process_id,
        data={"direction": direction, "message": message, "state": state, "detail": detail},
    )


def arrivals(tx: Tx, process_id: str, state: str) -> int:
    """How often received messages brought the process to ``state``."""
    row = tx.one(
        "SELECT count(*) AS n FROM process_events WHERE process_id = ? AND direction = 'in'"
        " AND state = ?",
        (process_id, state),
    )
    return int(row["n"]) if row else 0


def events(tx: Tx, process_id: str) -> list[Row]:
    return tx.all(
        "SELECT at, direction, message, state, detail FROM process_events WHERE process_id = ? ORDER BY id",
        (process_id,),
    )
