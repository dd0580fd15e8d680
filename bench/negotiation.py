"""Negotiations per second and time to FINALIZED between two local nodes.

Starts a provider and a consumer (separate processes, real HTTP on loopback)
on SQLite and, if reachable, on the local PostgreSQL; runs N negotiations with
C in flight; reads each negotiation's start and FINALIZED time from the
consumer's own records (no polling delay in the figures).  The baseline is a
bare HTTP round trip to the same server (GET of the version endpoint) measured
in the same run.

    python bench/negotiation.py [-n 500] [--latency-n 100] [--no-postgres]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trustspace.cli.localnode import DemoNode

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bare_round_trips(url: str, n: int) -> list[float]:
    times = []
    with httpx.Client() as client:
        client.get(url)
        for _ in range(n):
            t0 = time.perf_counter()
            client.get(url)
            times.append(time.perf_counter() - t0)
    return times


def run(label: str, root: Path, n: int, latency_n: int, database: str | None) -> dict[str, float]:
    env = {"TRUSTSPACE_DATABASE": database} if database else {}
    provider = DemoNode("provider", root, env)
    consumer_env = {"TRUSTSPACE_DATABASE": database.replace("_p_", "_c_")} if database else {}
    consumer = DemoNode("consumer", root, consumer_env)
    provider.start([consumer.entry()])
    consumer.start([provider.entry()])
    try:
        provider.wait_ready()
        consumer.wait_ready()
        sample = root / "sample.txt"
        sample.write_text("benchmark data\n")
        with provider.client() as p:
            published = p.call("POST", "/api/datasets", {"path": str(sample), "title": "bench"})
        offer = {"@id": published["offerId"], "permission": [{"action": "use"}]}
        body = {
            "address": provider.dsp,
            "providerId": "provider",
            "datasetId": published["id"],
            "offer": offer,
        }

        # warm-up
        with consumer.client() as c:
            c.wait(
                f"/api/negotiations/{c.call('POST', '/api/negotiations', body)['id']}",
                ["FINALIZED"],
            )

        # (a) latency: one negotiation at a time
        with consumer.client() as c:
            single = [
                c.wait(
                    f"/api/negotiations/{c.call('POST', '/api/negotiations', body)['id']}",
                    ["FINALIZED"],
                )["id"]
                for _ in range(latency_n)
            ]

        # (b) throughput: n negotiations submitted as fast as 4 clients can, all in flight at once
        def submit(k: int) -> list[str]:
            with consumer.client() as c:
                return [c.call("POST", "/api/negotiations", body)["id"] for _ in range(n // 4)]

        with ThreadPoolExecutor(max_workers=4) as pool:
            burst = [i for chunk in pool.map(submit, range(4)) for i in chunk]
        with consumer.client() as c:
            for nid in burst:
                c.wait(f"/api/negotiations/{nid}", ["FINALIZED"], timeout=300)
            records = {}
            offset = 0
            while True:
                page = c.call("GET", f"/api/negotiations?limit=1000&offset={offset}")
                records.update({r["id"]: r for r in page})
                if len(page) < 1000:
                    break
                offset += 1000
        for nid in single + burst:
            assert records[nid]["state"] == "FINALIZED", records[nid]
        latencies = [records[i]["updatedAt"] - records[i]["createdAt"] for i in single]
        chosen = [records[i] for i in burst]
        first = min(r["createdAt"] for r in chosen)
        last = max(r["updatedAt"] for r in chosen)
        base = bare_round_trips(provider.url + "/.well-known/dspace-version", 500)
        return {
            "n": len(chosen),
            "rate": len(chosen) / (last - first),
            "p50": statistics.median(latencies) * 1000,
            "p95": pct(latencies, 0.95) * 1000,
            "rtt_p50": statistics.median(base) * 1000,
            "rtt_p95": pct(base, 0.95) * 1000,
        }
    finally:
        provider.stop()
        consumer.stop()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("-n", type=int, default=500, help="negotiations per store")
    ap.add_argument(
        "--latency-n", type=int, default=100, help="sequential negotiations for the latency figures"
    )
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(("SQLite", run("sqlite", Path(tmp) / "sqlite", args.n, args.latency_n, None)))
    if not args.no_postgres:
        names = []
        try:
            tag = uuid.uuid4().hex[:8]
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                for side in ("p", "c"):
                    name = f"ts_bench_{side}_{tag}"
                    admin.execute(f'CREATE DATABASE "{name}"')
                    names.append(name)
            with tempfile.TemporaryDirectory() as tmp:
                rows.append(
                    (
                        "PostgreSQL",
                        run(
                            "pg",
                            Path(tmp) / "pg",
                            args.n,
                            args.latency_n,
                            f"postgresql://postgres@127.0.0.1:5432/ts_bench_p_{tag}",
                        ),
                    )
                )
        except psycopg.OperationalError as exc:
            print(f"PostgreSQL skipped: {exc}")
        finally:
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                for name in names:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print("\nnegotiations to FINALIZED between two nodes over loopback HTTP")
    print(f"  neg/s: {args.n} submitted at once; p50/p95: {args.latency_n} one at a time\n")
    print(
        f"{'store':<12}{'neg/s':>10}{'p50 ms':>10}{'p95 ms':>10}   {'bare HTTP RTT p50/p95 ms':>26}"
    )
    for label, r in rows:
        print(
            f"{label:<12}{r['rate']:>10.1f}{r['p50']:>10.1f}{r['p95']:>10.1f}   {r['rtt_p50']:>12.2f} / {r['rtt_p95']:.2f}"
        )


if __name__ == "__main__":
    main()
