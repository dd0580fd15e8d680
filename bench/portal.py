"""The portal's search and dataset pages, next to the same reads through the JSON API.

Starts an operator, a provider and a buyer's node (separate processes, real HTTP on loopback,
SQLite by default).  The operator's federated index is filled with ``--datasets`` synthetic
listings from 200 members before it starts (as a crawl would leave it, see
``bench/catalog_search.py``); the provider publishes one CSV product and both members are
onboarded.  A buyer signs in to the buyer node's portal, and the same requests are then timed
two ways, alternating, in the same run:

- search: ``GET /portal/search?…`` (the page: session, the federated search at the operator,
  the rendered HTML) against ``POST /api/search`` with the same query (the JSON API: the same
  search at the operator, JSON out);
- dataset: ``GET /portal/datasets?provider=…&id=…`` (the page: the provider's dataset over DSP,
  profile, terms in words, HTML) against ``POST /api/catalog`` for that provider (the JSON API's
  read of the same provider's catalog over DSP).

Prints p50/p95/p99 in ms for each, and the ratio page/API.
Run: ``.venv/bin/python bench/portal.py [--datasets 100000 --queries 400 --postgres]``
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from catalog_search import populate, queries  # noqa: E402

from trustspace.cli.demo import Say, _onboard  # noqa: E402
from trustspace.cli.localnode import DemoNode  # noqa: E402
from trustspace.services import accounts  # noqa: E402
from trustspace.services.context import NodeContext  # noqa: E402
from trustspace.store.db import Database  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PASSWORD = "portal bench secret"


def pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def timed(fn: Callable[[], httpx.Response]) -> float:
    start = time.perf_counter()
    answer = fn()
    took = (time.perf_counter() - start) * 1000
    if answer.status_code >= 400:
        raise SystemExit(f"{answer.request.method} {answer.request.url}: {answer.status_code}"
                         f" {answer.text[:300]}")  # fmt: skip
    return took


def database_of(node: DemoNode, url: str | None) -> Database:
    db = Database(url or f"sqlite:///{node.dir / 'trustspace.db'}", pool_size=2)
    db.migrate()
    return db


def sign_in(node: DemoNode, username: str) -> tuple[httpx.Client, dict[str, str]]:
    http = httpx.Client(base_url=node.url, timeout=60)
    login = http.get("/portal/login").cookies["ts_login"]
    answer = http.post("/portal/login", headers={"Cookie": f"ts_login={login}"},
                       data={"csrf": login, "username": username, "password": PASSWORD})  # fmt: skip
    if answer.status_code != 303:
        raise SystemExit(f"sign-in failed: {answer.status_code} {answer.text[:300]}")
    http.cookies.clear()
    return http, {"Cookie": f"ts_session={answer.cookies['ts_session']}"}


def run(args: argparse.Namespace, root: Path, pg: str | None) -> None:
    console = Console(stderr=True)
    quiet = Say(console, verbose=False)
    env = {"TRUSTSPACE_DATABASE": pg} if pg else {}
    operator = DemoNode("operator", root, {**env, "TRUSTSPACE_ROLE": "operator",
                                           "TRUSTSPACE_CRAWL_INTERVAL": "0"})  # fmt: skip
    op_db = database_of(operator, pg)
    took = populate(op_db, args.datasets, 200, random.Random(7))
    op_db.close()
    print(f"operator index: {args.datasets:,} listed datasets from 200 members ({took:.1f} s)")
    member = {
        "TRUSTSPACE_OPERATORS": f"operator={operator.url}",
        "TRUSTSPACE_OPERATOR_REFRESH": "1",
    }
    provider = DemoNode("hospital", root, member)
    buyer = DemoNode("ai-lab", root, member)
    nodes = [operator, provider, buyer]
    try:
        for node in nodes:
            node.start([])
        for node in nodes:
            node.wait_ready(60)
        _onboard(quiet, operator, provider, sector="health", region="CN-BJ")
        _onboard(quiet, operator, buyer, sector="research", region="CN-SH")
        data = root / "visits.csv"
        data.write_text("ward,age,visits\n" + "".join(f"w{i % 7},{20 + i % 60},{i % 9}\n"
                                                     for i in range(5000)))  # fmt: skip
        with provider.client() as p:
            item: dict[str, Any] = p.call("POST", "/api/datasets", {
                "path": str(data), "title": "Ward visits", "keywords": ["visits"]})  # fmt: skip
        db = database_of(buyer, None)
        ctx = NodeContext(db=db, participant_id=buyer.name, dsp_base=buyer.dsp, data_base="",
                          blob_dir=buyer.dir / "blobs")  # fmt: skip
        accounts.add_user(ctx, "buyer", PASSWORD, ["buyer"])
        db.close()
        page, cookie = sign_in(buyer, "buyer")
        api = httpx.Client(base_url=buyer.url, timeout=60,
                           headers={"Authorization": f"Bearer {buyer.key}"})  # fmt: skip
        qs = queries(args.queries, random.Random(11))
        figures: dict[str, list[float]] = {k: [] for k in ("search page", "search API",
                                                           "dataset page", "dataset API")}  # fmt: skip
        dataset_query = urllib.parse.urlencode({"provider": provider.dsp, "id": item["id"]})
        first = page.get(f"/portal/datasets?{dataset_query}", headers=cookie)
        if not re.search(r"<h1[^>]*>\s*Ward visits", first.text):
            raise SystemExit(f"the dataset page does not show the product: {first.text[:500]}")
        found = 0
        for warm in qs[:20]:
            shown = page.get("/portal/search", params=warm, headers=cookie).text
            results = api.post("/api/search", json=warm).json()["results"]
            found += len(results)
            if results and results[0]["title"].split()[0] not in shown:
                raise SystemExit(f"the search page does not show what the API found for {warm}")
        if not found:
            raise SystemExit("the warm-up searches found nothing: the index was not read")
        print(f"warm-up: 20 searches found {found} results (page and API agree)")
        for i, q in enumerate(qs):
            pair = [("search page", lambda q=q: page.get("/portal/search", params=q, headers=cookie)),
                    ("search API", lambda q=q: api.post("/api/search", json=q))]  # fmt: skip
            if i < args.dataset_reads:
                pair += [("dataset page", lambda: page.get(f"/portal/datasets?{dataset_query}",
                                                            headers=cookie)),
                         ("dataset API", lambda: api.post("/api/catalog",
                                                          json={"address": provider.dsp}))]  # fmt: skip
            if i % 2:
                pair.reverse()
            for name, fn in pair:
                figures[name].append(timed(fn))
        label = "PostgreSQL" if pg else "SQLite"
        print(f"\n{label}: {len(qs)} searches, {args.dataset_reads} dataset reads, ms")
        print(f"{'':<14}{'p50':>8}{'p95':>8}{'p99':>8}")
        for name, values in figures.items():
            print(f"{name:<14}{pct(values, 50):8.1f}{pct(values, 95):8.1f}{pct(values, 99):8.1f}")
        for what in ("search", "dataset"):
            ours, base = figures[f"{what} page"], figures[f"{what} API"]
            print(f"{what}: page/API p95 = {pct(ours, 95) / pct(base, 95):.2f}"
                  f"  (aim: page p95 < 100 ms: {'met' if pct(ours, 95) < 100 else 'NOT met'})")  # fmt: skip
        page.close()
        api.close()
    finally:
        for node in nodes:
            node.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--dataset-reads", type=int, default=200)
    parser.add_argument("--postgres", action="store_true", help="also run on the local PostgreSQL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ts-bench-portal-") as tmp:
        run(args, Path(tmp) / "sqlite", None)
        if args.postgres:
            name = f"ts_bench_portal_{int(time.time())}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
            try:
                run(args, Path(tmp) / "pg", f"postgresql://postgres@127.0.0.1:5432/{name}")
            finally:
                with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
