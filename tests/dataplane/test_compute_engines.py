"""The same guarded plans on DuckDB and on Spark: identical results, totality, fixed errors."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

from trustspace.core.compute import check, parse_rule
from trustspace.dataplane import compute as duck
from trustspace.dataplane.compute import FAILED, EngineError, Result

RULE = {
    "table": "visits",
    "entity": "patient_id",
    "columns": {"ward": ["group"], "age": ["filter", "aggregate"], "amount": ["aggregate"]},
    "aggregates": ["count", "sum", "avg"],
    "minGroupSize": 10,
}


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


@pytest.fixture(params=["duckdb", "spark"], scope="module")
def engine(request: pytest.FixtureRequest) -> str:
    if request.param == "spark":
        if shutil.which("java") is None:
            pytest.skip("Spark needs a Java runtime (apt-get install openjdk-17-jre-headless)")
        pytest.importorskip("pyspark", reason="Spark engine tests need pyspark")
    return str(request.param)


def _result(engine: str, data: Path, rule: dict[str, Any], query: str, *, audit: bool = False,
            seconds: float = 120) -> Result:  # fmt: skip
    r = parse_rule({**rule, "engine": engine})
    plan = check(r, query)
    tables = {r.table: (data, data.suffix)}
    audit_sql = plan.audit_sql(engine) if audit else None
    if engine == "spark":
        from trustspace.dataplane import spark

        return spark.run(tables, plan.sql("spark"), seconds=seconds, max_rows=r.max_rows,
                         audit_sql=audit_sql)  # fmt: skip
    return duck.run(tables, plan.sql(), seconds=seconds, memory_mib=256, max_rows=r.max_rows,
                    audit_sql=audit_sql)  # fmt: skip


def _norm(rows: list[tuple[Any, ...]], width: int) -> list[tuple[Any, ...]]:
    return sorted(tuple(round(float(v), 6) if isinstance(v, float) else v for v in r[:width])
                  for r in rows)  # fmt: skip


def test_same_results_and_small_groups_suppressed(engine: str, data: Path) -> None:
    result = _result(engine, data, RULE, "SELECT ward, COUNT(*) AS n, SUM(amount) AS s,"
                     " AVG(age) AS a FROM visits GROUP BY ward", audit=True)  # fmt: skip
    expected = duckdb.connect().execute(
        f"SELECT ward, COUNT(*), SUM(amount), AVG(age), COUNT(DISTINCT patient_id) FROM '{data}'"
        " GROUP BY ward HAVING COUNT(DISTINCT patient_id) >= 10").fetchall()  # fmt: skip
    assert _norm(result.rows, 5) == _norm(expected, 5)
    assert "icu" not in {r[0] for r in result.rows}
    # the audit projection has one row class per product row, keyed like the groups
    assert result.audit is not None and result.audit.num_rows == 5000
    keys = {int(k) for k in result.audit.column("g").to_pylist()}
    assert set(result.audit.column("s").to_pylist()) == {0}
    assert len(keys) == 6 and {int(r[5]) for r in result.rows} <= keys  # outputs, size, key
    filtered = _result(engine, data, RULE, "SELECT COUNT(*) AS n FROM visits WHERE ward = 'icu'")
    assert filtered.rows == []


def test_text_in_numeric_columns_cannot_fail_a_job(engine: str, tmp_path: Path) -> None:
    """CSV is read as text and every use is TRY_CAST: one odd value is NULL, never an error
    that would tell the consumer it is there."""
    path = tmp_path / "visits.csv"
    lines = ["patient_id,ward,age,amount"] + [f"{i},w{i % 2},{20 + i},{i}" for i in range(40)]
    lines[8] = "7,w1,twenty,NaN or so"
    path.write_text("\n".join(lines) + "\n")
    result = _result(engine, path, RULE, "SELECT ward, COUNT(*), SUM(amount), SUM(age) FROM visits"
                     " WHERE age > 25 GROUP BY ward")  # fmt: skip
    by_ward = {r[0]: r for r in result.rows}
    assert by_ward["w1"][1] == len([i for i in range(40) if i % 2 and 20 + i > 25 and i != 7])
    assert by_ward["w0"][2] == sum(i for i in range(40) if i % 2 == 0 and 20 + i > 25)


def test_clamped_sums_under_differential_privacy(engine: str, data: Path) -> None:
    rule = {**RULE, "aggregates": ["count", "sum"],
            "dp": {"epsilonPerQuery": 1, "budget": 5, "bounds": {"amount": [0, 100]}}}  # fmt: skip
    rows = _result(engine, data, rule, "SELECT SUM(amount) AS s FROM visits").rows
    expected = (
        duckdb.connect()
        .execute(f"SELECT SUM(LEAST(GREATEST(amount, 0), 100)) FROM '{data}'")
        .fetchone()
    )
    assert expected is not None and rows[0][0] == pytest.approx(expected[0])


def test_a_job_that_runs_out_of_time_is_stopped(engine: str, tmp_path: Path) -> None:
    big = tmp_path / "big.parquet"
    duckdb.connect().execute(
        "COPY (SELECT range AS patient_id, 'w' || (range % 1000) AS ward, range % 90 AS age,"
        f" range * 1.0 AS amount FROM range(3000000)) TO '{big}' (FORMAT parquet)")  # fmt: skip
    with pytest.raises(EngineError, match="ran out of time"):
        _result(engine, big, RULE, "SELECT ward, COUNT(*), AVG(amount) FROM visits GROUP BY ward",
                seconds=0.05)  # fmt: skip


def test_engine_errors_are_one_fixed_sentence(engine: str, tmp_path: Path) -> None:
    """A column the rule names but the file lacks fails the same way as any engine error: with
    a fixed sentence, never the engine's text (which can quote data)."""
    path = tmp_path / "visits.parquet"
    duckdb.connect().execute(f"COPY (SELECT range AS patient_id, 'w' AS ward, 1 AS age FROM range(20))"
                             f" TO '{path}' (FORMAT parquet)")  # fmt: skip
    with pytest.raises(EngineError) as err:
        _result(engine, path, RULE, "SELECT COUNT(*) FROM visits")
    assert err.value.reason == FAILED


def test_a_duckdb_job_over_its_memory_limit_fails_with_the_reason(tmp_path: Path) -> None:
    wide = tmp_path / "wide.parquet"
    duckdb.connect().execute(
        "COPY (SELECT range AS patient_id, md5(range::VARCHAR) AS ward, range % 90 AS age,"
        f" range * 1.0 AS amount FROM range(2000000)) TO '{wide}' (FORMAT parquet)")  # fmt: skip
    plan = check(parse_rule(RULE), "SELECT ward, COUNT(*) FROM visits GROUP BY ward")
    with pytest.raises(EngineError, match="needed more than its 8 MiB of memory"):
        duck.run({"visits": (wide, wide.suffix)}, plan.sql(), seconds=60, memory_mib=8, max_rows=10)
