"""The stored evidence log on SQLite and PostgreSQL: gapless under concurrency, atomic with the
action it records, every flipped byte found, and a truncation named."""

from __future__ import annotations

import threading

import pytest

from trustspace.core.evidence import OPERATOR, Mark, audit, verify
from trustspace.store import evidence
from trustspace.store.db import Database


def _append(db: Database, n: int, tag: str) -> None:
    for i in range(n):
        with db.tx() as tx:
            evidence.record(tx, at=1.0 * i, kind="test", subject=tag, data={"i": i, "tag": tag})
            evidence.record(tx, at=1.0 * i, kind="test", subject=tag, data={"i": i, "second": True})


def test_concurrent_appends_make_one_gapless_chain(db: Database) -> None:
    threads = [threading.Thread(target=_append, args=(db, 25, f"t{k}")) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = list(evidence.entries(db, batch=64))
    assert [e["seq"] for e in entries] == list(range(1, 301))
    verdict = verify(entries)
    assert verdict.ok, verdict
    with db.tx() as tx:
        assert evidence.head(tx) == (300, verdict.head)


def test_a_rolled_back_action_leaves_no_evidence(db: Database) -> None:
    with pytest.raises(RuntimeError), db.tx() as tx:
        evidence.record(tx, at=1.0, kind="test", subject="x", data={})
        raise RuntimeError("the action failed")
    assert list(evidence.entries(db)) == []


def test_a_flipped_byte_in_any_stored_entry_is_found(db: Database) -> None:
    _append(db, 20, "x")
    for seq, column in ((7, "data"), (13, "subject"), (33, "kind"), (2, "prev_hash"), (40, "hash")):
        with db.tx() as tx:
            row = tx.one(f"SELECT {column} AS v FROM evidence WHERE seq = ?", (seq,))
            assert row is not None
            value = str(row["v"])
            position = len(value) // 2
            flipped = value[:position] + chr(ord(value[position]) ^ 1) + value[position + 1 :]
            tx.execute(f"UPDATE evidence SET {column} = ? WHERE seq = ?", (flipped, seq))
        verdict = verify(evidence.entries(db))
        assert not verdict.ok and verdict.broken_at == seq, (seq, column, verdict)
        with db.tx() as tx:
            tx.execute(f"UPDATE evidence SET {column} = ? WHERE seq = ?", (value, seq))
    assert verify(evidence.entries(db)).ok


def test_a_truncation_shows_in_the_head_row_and_in_the_operators_record(db: Database) -> None:
    _append(db, 20, "x")  # 40 entries
    hashes = {e["seq"]: e["hash"] for e in evidence.entries(db)}
    with db.tx() as tx:
        evidence.store_checkpoint(tx, 30, hashes[30], "op", "token", 1.0)
        head = evidence.head(tx)
    held = [Mark(30, hashes[30], "op", OPERATOR)]

    def local() -> list[Mark]:
        with db.tx() as tx:
            return [Mark(c["seq"], c["hash"], c["operator"]) for c in evidence.checkpoints(tx)]

    assert audit(evidence.entries(db), local() + held, head=head, consulted={"op"}).ok
    with db.tx() as tx:
        tx.execute("DELETE FROM evidence WHERE seq > 25")
        head = evidence.head(tx)
    careless = audit(evidence.entries(db), local(), head=head)
    assert [(p.kind, p.seq) for p in careless.problems] == [("truncated", 26), ("truncated", 26)]
    with db.tx() as tx:  # a careful forger also rewinds the head and drops the local checkpoint
        tx.execute("UPDATE evidence_head SET seq = 25, hash = ? WHERE id = 1", (hashes[25],))
        tx.execute("DELETE FROM checkpoints")
        head = evidence.head(tx)
    forged = audit(evidence.entries(db), local(), head=head)
    assert forged.ok and forged.unvouched == (1, 25)
    caught = audit(evidence.entries(db), local() + held, head=head, consulted={"op"})
    assert [(p.kind, p.seq) for p in caught.problems] == [
        ("truncated", 26),
        ("missing-checkpoint", 30),
    ]
    assert "at least entries 26–30 (5) were removed" in caught.problems[0].message
