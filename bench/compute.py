"""Compute-to-data overhead: guard and job pipeline versus DuckDB directly, same file, same run.

Writes a Parquet file of about ``--size-gib`` (visits: patient id, ward, age, amount, free
text), publishes it on a real provider node with an analysis rule, negotiates from a real
consumer node, then times the same aggregate query three ways:
1. **DuckDB directly**: ``duckdb.connect()`` running the query on the file (the baseline);
2. **guard + engine**: ``check`` (parse, verify, plan) then the sandboxed runner, in
   process;
3. **guard + engine + overlap audit**: the same, plus the audit's projection of the selected
   rows and the audit itself (what a threshold-only product costs on a first query);
4. **full job**: submitted through the consumer's management API, admitted, run, audited and
   released by the provider, result polled back over HTTP.

Each is timed ``--runs`` times; the median is reported, with the overhead against the baseline.
Run: ``.venv/bin/python bench/compute.py [--size-gib 1 --runs 3]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb

from trustspace.cli.localnode import DemoNode
from trustspace.core.compute import Rule, check, parse_rule
from trustspace.core.compute.release import candidates
from trustspace.dataplane.audit import audit, load
from trustspace.dataplane.compute import run
from trustspace.services.compute import audit_groups

RULE = {
    "table": "visits",
    "entity": "patient_id",
    "columns": {
        "ward": ["group"],
        "age": ["filter", "aggregate"],
        "amount": ["aggregate"],
        "note": ["filter"],
    },
    "entityPerRow": True,
    "aggregates": ["count", "sum", "avg"],
    "minGroupSize": 10,
    "maxRows": 1000,
    "limits": {"seconds": 600, "memoryMiB": 4096},
    "thresholdOnly": {"reason": "synthetic benchmark data, no person behind any row"},
}
QUERY = (
    "SELECT ward, COUNT(*) AS n, SUM(amount) AS total, AVG(age) AS mean_age FROM visits"
    " WHERE age > 30 AND note LIKE '%7a%' GROUP BY ward"
)


def write(path: Path, gib: float) -> None:
    rows = int(gib * 28_000_000)  # about 38 bytes a row in this Parquet encoding
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT range AS patient_id, 'ward-' || (range % 40) AS ward, 18 + range % 70 AS age,"
        f" (hash(range) % 100000) / 100.0 AS amount, md5(range::VARCHAR) AS note FROM range({rows}))"
        f" TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)"
    )
    con.close()


def timed(paths: list[Callable[[], None]], runs: int) -> list[float]:
    """The median time of each path over ``runs`` rounds.  Each round runs every path once, in
    turn, so a machine that speeds up or slows down meanwhile affects every path alike."""
    times: list[list[float]] = [[] for _ in paths]
    for _ in range(runs):
        for fn, seen in zip(paths, times, strict=True):
            start = time.perf_counter()
            fn()
            seen.append(time.perf_counter() - start)
    return [statistics.median(seen) for seen in times]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gib", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "visits.parquet"
        write(data, args.size_gib)
        size = data.stat().st_size / 2**30
        rule = parse_rule(RULE)

        def direct() -> None:
            con = duckdb.connect()
            con.execute(f"CREATE VIEW visits AS SELECT * FROM read_parquet('{data}')")
            con.execute(QUERY).fetchall()
            con.close()

        def guarded_by(chosen: Rule, audited: bool = False) -> Callable[[], None]:
            def guarded() -> None:
                plan = check(chosen, QUERY)
                result = run({"visits": (data, data.suffix)}, plan.sql(), seconds=600,
                             memory_mib=4096, max_rows=1000, threads=2,
                             audit_sql=plan.audit_sql() if audited else None)  # fmt: skip
                if audited:
                    groups = candidates(plan, result.rows)
                    audit(load(None), result.audit, audit_groups(plan, groups), 10)

            return guarded

        guarded = guarded_by(rule)
        guarded_audit = guarded_by(rule, audited=True)
        guarded_exact = guarded_by(parse_rule({**RULE, "entityPerRow": False}))

        provider, consumer = DemoNode("provider", root), DemoNode("consumer", root)
        try:
            provider.start([consumer.entry()])
            consumer.start([provider.entry()])
            provider.wait_ready()
            consumer.wait_ready()
            with provider.client() as p:
                published = p.call("POST", "/api/datasets", {"path": str(data), "title": "visits",
                                                             "computeRule": RULE})  # fmt: skip
            with consumer.client() as c:
                neg = c.call(
                    "POST",
                    "/api/negotiations",
                    {"address": provider.dsp, "datasetId": published["id"]},
                )
                neg = c.wait(f"/api/negotiations/{neg['id']}", ["FINALIZED"])

                def job() -> None:
                    j = c.call(
                        "POST",
                        "/api/compute/jobs",
                        {"agreementId": neg["agreementId"], "query": QUERY},
                    )
                    while j["state"] not in ("RELEASED", "FAILED", "REFUSED"):
                        time.sleep(0.02)
                        j = c.call("GET", f"/api/compute/jobs/{j['id']}")
                    assert j["state"] == "RELEASED", j

                direct()  # warm the page cache for every path alike
                base, ours, audited, exact, full = timed(
                    [direct, guarded, guarded_audit, guarded_exact, job], args.runs
                )
        finally:
            provider.stop()
            consumer.stop()
    print(f"{size:.2f} GiB Parquet, query: {QUERY}")
    print(f"{'DuckDB directly (baseline)':<34} {base:>8.2f} s")
    print(
        f"{'guard + sandboxed engine':<34} {ours:>8.2f} s   overhead {100 * (ours / base - 1):+.1f} %"
    )
    print(
        f"{'guard + engine + overlap audit':<34} {audited:>8.2f} s   overhead {100 * (audited / base - 1):+.1f} %"
    )
    print(f"{'full job over HTTP':<34} {full:>8.2f} s   overhead {100 * (full / base - 1):+.1f} %")
    print(f"{'guard, groups sized by COUNT(DISTINCT)':<34} {exact:>8.2f} s   overhead {100 * (exact / base - 1):+.1f} %"
          "   (when rows are not one per entity)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
