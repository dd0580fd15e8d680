"""Evidence log: durable appends per second, and verification of 1,000,000 entries.

Measured in the same run, on the embedded store (SQLite in WAL mode, as the node runs it, and
again with an fsync per commit) and on the local PostgreSQL unless ``--no-postgres``:
- **appends:** one evidence entry per committed transaction, as an action that records one fact
  does (the chain's head row is read and updated each time). Next to it, the baseline: plain
  inserts of the same row shape, one per committed transaction, with no chaining.
- **verification:** ``trustspace evidence verify``'s work (read every entry in order, recompute
  every hash, compare) over a log of ``--entries`` entries, written in batches. Next to it, the
  baseline: reading the same rows without hashing.

Run: ``.venv/bin/python bench/evidence.py [--appends 2000 --entries 1000000]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from trustspace.core.evidence import verify
from trustspace.store import evidence
from trustspace.store.db import Database

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DATA = {
    "direction": "in",
    "message": "ContractRequestMessage",
    "state": "REQUESTED",
    "detail": None,
}


def appends(db: Database, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        with db.tx() as tx:
            evidence.record(
                tx, at=time.time(), kind="process-message", subject=f"urn:p:{i}", data=DATA
            )
    return n / (time.perf_counter() - start)


def plain_inserts(db: Database, n: int) -> float:
    with db.tx() as tx:
        tx.execute("CREATE TABLE IF NOT EXISTS plain (id INTEGER PRIMARY KEY, at REAL, kind TEXT,"
                   " subject TEXT, data TEXT, prev_hash TEXT, hash TEXT)")  # fmt: skip
    start = time.perf_counter()
    for i in range(n):
        with db.tx() as tx:
            tx.execute(
                "INSERT INTO plain (id, at, kind, subject, data, prev_hash, hash) VALUES (?,?,?,?,?,?,?)",
                (
                    i,
                    time.time(),
                    "process-message",
                    f"urn:p:{i}",
                    '{"message":"x"}',
                    "0" * 64,
                    "1" * 64,
                ),
            )
    return n / (time.perf_counter() - start)


def fill(db: Database, total: int) -> float:
    """Grow the log to ``total`` entries in batches of 10,000 per transaction."""
    start = time.perf_counter()
    with db.tx() as tx:
        have, _ = evidence.head(tx)
    while have < total:
        batch = min(10_000, total - have)
        with db.tx() as tx:
            for i in range(batch):
                evidence.record(tx, at=1.7e9 + have + i, kind="process-message",
                                subject=f"urn:p:{have + i}", data=DATA)  # fmt: skip
        have += batch
    return time.perf_counter() - start


def verification(db: Database) -> tuple[float, float, int]:
    start = time.perf_counter()
    verdict = verify(evidence.entries(db, batch=20_000))
    took = time.perf_counter() - start
    assert verdict.ok, verdict
    start = time.perf_counter()
    rows = sum(1 for _ in evidence.entries(db, batch=20_000))
    read = time.perf_counter() - start
    return verdict.entries / took, rows / read, verdict.entries


def run(db: Database, label: str, args: argparse.Namespace) -> list[str]:
    lines = []
    ours, base = appends(db, args.appends), plain_inserts(db, args.appends)
    lines.append(f"{label:<11} durable appends/s      {ours:>10,.0f}   plain inserts/s {base:>10,.0f}"
                 f"   ratio {ours / base:.2f}")  # fmt: skip
    built = fill(db, args.entries)
    rate, read, n = verification(db)
    lines.append(f"{label:<11} verify entries/s       {rate:>10,.0f}   read-only rows/s {read:>9,.0f}"
                 f"   ratio {rate / read:.2f}   ({n:,} entries, {n / rate:.1f} s; built in {built:.0f} s)")  # fmt: skip
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    out: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'node.db'}")
        db.migrate()
        out += run(db, "SQLite", args)
        db.close()
        # The node runs SQLite in WAL with synchronous=NORMAL: a commit survives a crash of the
        # process, the last ones may not survive a power cut.  With synchronous=FULL every
        # commit is fsynced; both sides of the comparison use the same setting.
        db = Database(f"sqlite:///{Path(tmp) / 'full.db'}")
        db.migrate()
        db._sqlite().execute("PRAGMA synchronous=FULL")
        ours, base = appends(db, args.appends), plain_inserts(db, args.appends)
        out.append(f"{'SQLite FULL':<11} durable appends/s      {ours:>10,.0f}   plain inserts/s"
                   f" {base:>10,.0f}   ratio {ours / base:.2f}   (fsync per commit)")  # fmt: skip
        db.close()
    if not args.no_postgres:
        name = f"ts_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            db = Database(f"postgresql://postgres@127.0.0.1:5432/{name}")
            db.migrate()
            out += run(db, "PostgreSQL", args)
            db.close()
        finally:
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
