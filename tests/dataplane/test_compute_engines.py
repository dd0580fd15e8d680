"""The same guarded queries on DuckDB and on Spark: identical results and guard behaviour."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from trustspace.core.compute import check, parse_rule, release_problem
from trustspace.dataplane import compute as duck
from trustspace.dataplane.compute import EngineError

RULE = {
    "table": "visits",
    "entity": "patient_id",
    "columns": {"ward": ["group"], "age": ["filter", "aggregate"], "amount": ["aggregate"]},
    "aggregates": ["count", "sum", "avg"],
    "minGroupSize": 10,
}

Runner = Callable[..., tuple[list[str], list[tuple[Any, ...]]]]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("engines") / "visits.parquet"
    con = duckdb.connect()
    con.execute(
        "COPY (SELECT range AS patient_id, CASE WHEN range = 7 THEN 'icu' ELSE 'ward-' || (range % 5) END"
        " AS ward, 20 + range % 60 AS age, (range % 97) * 10.0 AS amount FROM range(5000))"
        f" TO '{path}' (FORMAT parquet)"
    )
    return path


def _spark_run(
    tables: dict[str, tuple[Path, str]], sql: str, **kw: Any
) -> tuple[list[str], list[tuple[Any, ...]]]:
    from trustspace.dataplane import spark

    kw.pop("memory_mib", None)
    return spark.run(tables, sql, **kw)


@pytest.fixture(params=["duckdb", "spark"], scope="module")
def engine(request: pytest.FixtureRequest) -> Runner:
    if request.param == "spark":
        if shutil.which("java") is None:
            pytest.skip("Spark needs a Java runtime (apt-get install openjdk-17-jre-headless)")
        pytest.importorskip("pyspark", reason="Spark engine tests need pyspark")
        return _spark_run
    return duck.run


def _run(
    engine: Runner, data: Path, rule: dict[str, Any], query: str, **limits: Any
) -> list[tuple[Any, ...]]:
    r = parse_rule(rule)
    checked = check(r, query)
    _, rows = engine({r.table: (data, data.suffix)}, checked.sql, seconds=limits.get("seconds", 120), memory_mib=256,
                     max_rows=r.max_rows)  # fmt: skip
    return rows


def _norm(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted(tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in rows)


def test_same_results_and_small_groups_suppressed(engine: Runner, data: Path) -> None:
    rows = _run(
        engine,
        data,
        RULE,
        "SELECT ward, COUNT(*) AS n, SUM(amount) AS s, AVG(age) AS a FROM visits GROUP BY ward",
    )
    expected = duckdb.connect().execute(
        f"SELECT ward, COUNT(*), SUM(amount), AVG(age), COUNT(DISTINCT patient_id) FROM '{data}'"
        " GROUP BY ward HAVING COUNT(DISTINCT patient_id) >= 10").fetchall()  # fmt: skip
    assert _norm(rows) == _norm(expected)
    assert "icu" not in {r[0] for r in rows}
    filtered = _run(engine, data, RULE, "SELECT COUNT(*) AS n FROM visits WHERE ward = 'icu'")
    assert filtered == []


def test_refuse_policy_and_result_size(engine: Runner, data: Path) -> None:
    rule = {**RULE, "groupPolicy": "refuse", "maxRows": 3}
    rows = _run(engine, data, rule, "SELECT ward, COUNT(*) AS n FROM visits GROUP BY ward")
    assert release_problem(parse_rule(rule), rows) == "the result has more than 3 rows"
    few = _run(
        engine,
        data,
        {**rule, "maxRows": 10},
        "SELECT ward, COUNT(*) AS n FROM visits GROUP BY ward",
    )
    assert release_problem(parse_rule({**rule, "maxRows": 10}), few) == (
        "1 output group(s) cover fewer than 10 entities")  # fmt: skip


def test_clamped_sums_under_differential_privacy(engine: Runner, data: Path) -> None:
    rule = {**RULE, "aggregates": ["count", "sum"],
            "dp": {"epsilonPerQuery": 1, "budget": 5, "bounds": {"amount": [0, 100]}}}  # fmt: skip
    rows = _run(engine, data, rule, "SELECT SUM(amount) AS s FROM visits")
    expected = (
        duckdb.connect()
        .execute(f"SELECT SUM(LEAST(GREATEST(amount, 0), 100)) FROM '{data}'")
        .fetchone()
    )
    assert expected is not None and rows[0][0] == pytest.approx(expected[0])


def test_a_job_that_runs_out_of_time_is_stopped(engine: Runner, tmp_path: Path) -> None:
    big = tmp_path / "big.parquet"
    duckdb.connect().execute(
        "COPY (SELECT range AS patient_id, 'w' || (range % 1000) AS ward, range % 90 AS age,"
        f" range * 1.0 AS amount FROM range(3000000)) TO '{big}' (FORMAT parquet)")  # fmt: skip
    with pytest.raises(EngineError, match="ran out of time"):
        _run(
            engine,
            big,
            RULE,
            "SELECT ward, COUNT(*), AVG(amount) FROM visits GROUP BY ward",
            seconds=0.05,
        )


def test_a_duckdb_job_over_its_memory_limit_fails_with_the_reason(tmp_path: Path) -> None:
    wide = tmp_path / "wide.parquet"
    duckdb.connect().execute(
        "COPY (SELECT range AS patient_id, md5(range::VARCHAR) AS ward, range % 90 AS age,"
        f" range * 1.0 AS amount FROM range(2000000)) TO '{wide}' (FORMAT parquet)")  # fmt: skip
    rule = parse_rule(RULE)
    checked = check(rule, "SELECT ward, COUNT(*) FROM visits GROUP BY ward")
    with pytest.raises(EngineError, match="needed more than its 8 MiB of memory"):
        duck.run(
            {"visits": (wide, wide.suffix)}, checked.sql, seconds=60, memory_mib=8, max_rows=10
        )
