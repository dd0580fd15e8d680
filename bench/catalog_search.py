"""Federated catalog search: 100,000 datasets from 200 members, latency per query.

Fills the operator's index the way a crawl does (``replace_entries``, per member) with
synthetic datasets: titles, descriptions and keywords drawn from a vocabulary, sectors, regions,
formats, licences, prices.  Then it runs the same mixed set of queries two ways in the same run:

- trustspace: ``federation.search`` (parameter checks, the FTS query with filters and ranking,
  rows turned into results);
- baseline: the bare full-text query on the same table through the driver (SQLite FTS5 ``MATCH``
  or PostgreSQL ``@@``), with the same ``LIMIT`` and no filters, as the floor of the engine.

The queries:
- 40 % one or two words;
- 40 % words with sector / region / price filters;
- 20 % filters only.

Prints p50/p95/p99 in ms for SQLite, and for the local PostgreSQL unless ``--no-postgres``.
Run: ``.venv/bin/python bench/catalog_search.py [--datasets 100000 --members 200 --queries 1000]``
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from trustspace.core.registry import SECTORS
from trustspace.operator.federation import replace_entries, search
from trustspace.store.db import Database

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
WORDS = [
    "sensor",
    "readings",
    "traffic",
    "energy",
    "grid",
    "hospital",
    "radiology",
    "lung",
    "cardiology",
    "retail",
    "sales",
    "weather",
    "climate",
    "satellite",
    "imagery",
    "speech",
    "text",
    "corpus",
    "chinese",
    "english",
    "legal",
    "contracts",
    "finance",
    "transactions",
    "fraud",
    "manufacturing",
    "defects",
    "vision",
    "robotics",
    "logistics",
    "shipping",
    "agriculture",
    "crops",
    "soil",
    "water",
    "quality",
    "air",
    "pollution",
    "mobility",
    "vehicles",
    "charging",
    "battery",
    "telecom",
    "network",
    "latency",
    "customer",
    "support",
    "dialogue",
    "medical",
    "notes",
    "genomics",
    "protein",
    "education",
    "exams",
    "books",
    "news",
    "articles",
    "code",
    "repositories",
    "patents",
    "chemistry",
    "materials",
]
REGIONS = ("CN", "CN-BJ", "CN-SH", "CN-GD", "CN-ZJ", "DE", "FR", "SG", "JP", "US")
FORMATS = ("HttpData-PULL", "Parquet", "CSV", "JSONL")
LICENSES = ("https://creativecommons.org/licenses/by/4.0/", "proprietary", "open-data-cn")


def populate(db: Database, datasets: int, members: int, rng: random.Random) -> float:
    per = datasets // members
    start = time.perf_counter()
    for i in range(members):
        member = {
            "participantId": f"member-{i:03d}",
            "sector": SECTORS[i % len(SECTORS)],
            "region": REGIONS[i % len(REGIONS)],
            "dspUrl": f"https://member-{i:03d}.example/dsp/2025-1",
        }
        rows = []
        for j in range(per):
            words = rng.sample(WORDS, 12)
            rows.append(
                {
                    "space": "space-a",
                    "provider_id": member["participantId"],
                    "dataset_id": f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128))}",
                    "title": " ".join(words[:3]).capitalize() + f" {2015 + j % 11}",
                    "description": " ".join(words[3:10]),
                    "keywords": " ".join(words[10:]),
                    "sector": member["sector"],
                    "region": member["region"],
                    "formats": f'["{FORMATS[j % len(FORMATS)]}"]',
                    "license": LICENSES[j % len(LICENSES)],
                    "classification": "important" if j % 7 == 0 else "general",
                    "price": float(rng.randint(0, 5000)),
                    "currency": "CNY",
                    "dsp_url": member["dspUrl"],
                    "indexed_at": time.time(),
                }
            )
        with db.tx() as tx:
            replace_entries(tx, "space-a", member["participantId"], rows)
    return time.perf_counter() - start


def queries(n: int, rng: random.Random) -> list[dict[str, str]]:
    out = []
    for i in range(n):
        kind = i % 5
        q: dict[str, str] = {}
        if kind in (0, 1, 2, 3):
            q["q"] = " ".join(rng.sample(WORDS, 1 + i % 2))
        if kind in (2, 3, 4):
            q["sector"] = rng.choice(SECTORS)
        if kind in (3, 4):
            q["region"] = rng.choice(("CN", "DE", "CN-SH"))
            q["maxPrice"] = str(rng.randint(500, 5000))
        out.append(q)
    return out


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def run(db: Database, label: str, args: argparse.Namespace) -> list[tuple[str, list[float]]]:
    rng = random.Random(7)
    took = populate(db, args.datasets, args.members, rng)
    print(
        f"{label}: indexed {args.datasets:,} datasets from {args.members} members in {took:.1f} s"
    )
    qs = queries(args.queries, rng)
    ours, base = [], []
    with db.tx() as tx:
        for q in qs[:50]:  # warm the cache
            search(tx, q)
        for q in qs:
            ours.append(timed(lambda q=q: search(tx, q)))
            words = q.get("q", "").split()
            if not words:
                base.append(timed(lambda: tx.all("SELECT * FROM catalog_entries LIMIT 20")))
            elif tx.dialect == "sqlite":
                match = " ".join(f'"{w}"' for w in words)
                base.append(timed(lambda m=match: tx.all(
                    "SELECT e.* FROM catalog_fts JOIN catalog_entries e ON e.id = catalog_fts.rowid"
                    " WHERE catalog_fts MATCH ? LIMIT 20", (m,))))  # fmt: skip
            else:
                tsq = " & ".join(words)
                base.append(timed(lambda t=tsq: tx.all(
                    "SELECT * FROM catalog_entries WHERE tsv @@ to_tsquery('simple', ?) LIMIT 20",
                    (t,))))  # fmt: skip
    return [(f"{label} trustspace search", ours), (f"{label} bare full-text query", base)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    results: list[tuple[str, list[float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'operator.db'}")
        db.migrate()
        results += run(db, "SQLite", args)
        db.close()
    if not args.no_postgres:
        name = f"ts_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            db = Database(f"postgresql://postgres@127.0.0.1:5432/{name}")
            db.migrate()
            results += run(db, "PostgreSQL", args)
            db.close()
        finally:
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"\n{args.queries} mixed queries, {args.datasets:,} datasets, latency in ms")
    print(f"{'':<36} {'p50':>8} {'p95':>8} {'p99':>8}")
    for label, values in results:
        print(
            f"{label:<36} {pct(values, 50):>8.2f} {pct(values, 95):>8.2f} {pct(values, 99):>8.2f}"
        )
    ours_p95 = [pct(v, 95) for label, v in results if "trustspace" in label]
    verdict = "meets" if all(p < 50 for p in ours_p95) else "misses"
    print(f"trustspace search p95 {verdict} the 50 ms aim")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
