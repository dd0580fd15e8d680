"""The evidence log in the store: appended in the same transaction as what it records.

``record`` buffers an entry in the transaction; just before the commit the buffer is chained
onto the log under a lock on the single head row, so entries are numbered without gaps and in
commit order, and a rolled-back action leaves no evidence.  Nothing updates or deletes entries.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from trustspace.core.evidence import chain
from trustspace.store.db import Database, Tx

_KEY = "evidence"


def record(tx: Tx, *, at: float, kind: str, subject: str, data: dict[str, Any]) -> None:
    pending: list[dict[str, Any]] | None = tx.scratch.get(_KEY)
    if pending is None:
        pending = tx.scratch[_KEY] = []
        tx.before_commit(lambda: _flush(tx))
    pending.append({"at": at, "kind": kind, "subject": subject, "data": data})


def _flush(tx: Tx) -> None:
    pending: list[dict[str, Any]] = tx.scratch.pop(_KEY, [])
    if not pending:
        return
    lock = " FOR UPDATE" if tx.dialect == "postgresql" else ""
    head = tx.one(f"SELECT seq, hash FROM evidence_head WHERE id = 1{lock}")
    assert head is not None, "the evidence head row is missing"
    seq, prev = int(head["seq"]), str(head["hash"])
    for item in pending:
        seq += 1
        entry = {"seq": seq, **item}
        digest = chain(prev, entry)
        tx.execute(
            "INSERT INTO evidence (seq, at, kind, subject, data, prev_hash, hash)"
            " VALUES (?,?,?,?,?,?,?)",
            (seq, item["at"], item["kind"], item["subject"], json.dumps(item["data"],
             sort_keys=True, separators=(",", ":"), ensure_ascii=False), prev, digest),
        )  # fmt: skip
        prev = digest
    tx.execute("UPDATE evidence_head SET seq = ?, hash = ? WHERE id = 1", (seq, prev))


def head(tx: Tx) -> tuple[int, str]:
    row = tx.one("SELECT seq, hash FROM evidence_head WHERE id = 1")
    assert row is not None
    return int(row["seq"]), str(row["hash"])


def entries(db: Database, *, start: int = 1, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """Every entry from ``start`` in order, read in batches (flat memory)."""
    seq = start
    while True:
        with db.tx() as tx:
            rows = tx.all(
                "SELECT * FROM evidence WHERE seq >= ? ORDER BY seq LIMIT ?", (seq, batch)
            )
        for r in rows:
            entry = {
                "seq": int(r["seq"]),
                "at": r["at"],
                "kind": r["kind"],
                "subject": r["subject"],
                "prev_hash": r["prev_hash"],
                "hash": r["hash"],
            }
            try:
                entry["data"] = json.loads(r["data"])
            except ValueError:
                entry["data"], entry["corrupt"] = r["data"], True
            yield entry
        if len(rows) < batch:
            return
        seq = int(rows[-1]["seq"]) + 1


def checkpoints(tx: Tx) -> list[dict[str, Any]]:
    rows = tx.all("SELECT * FROM checkpoints ORDER BY seq, operator")
    return [{"seq": int(r["seq"]), "hash": r["hash"], "operator": r["operator"],
             "token": r["token"], "at": r["at"]} for r in rows]  # fmt: skip


def store_checkpoint(tx: Tx, seq: int, digest: str, operator: str, token: str, at: float) -> None:
    tx.execute(
        "INSERT INTO checkpoints (seq, hash, operator, token, at) VALUES (?,?,?,?,?)"
        " ON CONFLICT (seq, operator) DO NOTHING",
        (seq, digest, operator, token, at),
    )
