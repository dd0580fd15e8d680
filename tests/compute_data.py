"""Data and rules for the compute-to-data attack corpus.

Table ``visits``: about 2,000 patients, one row each, wards ``ward-0`` .. ``ward-4``, ages
20..79, amounts in tens.  The TARGET, patient 7, is the only patient in ward ``icu`` and the
only patient aged 27 (nobody else has that age), with amount 70.

Neighbouring datasets differ only in the target's secret (:class:`Variant`): its amount, its
age, whether it is present at all, or whether it holds 300 rows instead of one.  Every other
row is the same in all of them, so whatever a consumer observes may differ between two
neighbours only through an aggregate over a group of at least ``minGroupSize`` entities.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

TABLE = "visits"
ENTITY = "patient_id"
PATIENTS = 2000
TARGET = 7
TARGET_WARD = "icu"
TARGET_AGE = 27
TARGET_AMOUNT = 70
HEAVY_ROWS = 300  # rows of the target in the "heavy" variant
MIN_GROUP = 10

RULE: dict[str, Any] = {
    "table": TABLE,
    "entity": ENTITY,
    "columns": {"ward": ["group"], "age": ["filter", "aggregate"], "amount": ["aggregate"]},
    "aggregates": ["count", "sum", "avg"],
    "minGroupSize": MIN_GROUP,
    "maxRows": 1000,
    # Threshold mode is declared: a product holding personal information (these patients)
    # gets differential privacy by default.
    "thresholdOnly": {"reason": "test data: the group threshold and the overlap audit alone"},
}
DP = {
    "epsilonPerQuery": 0.5,
    "budget": 1000,
    "bounds": {"amount": [0, 1000], "age": [0, 120]},
    "maxRowsPerEntity": 1,
}
DP_RULE: dict[str, Any] = {**{k: v for k, v in RULE.items() if k != "thresholdOnly"}, "dp": DP}


def rule(engine: str = "duckdb", **changes: Any) -> dict[str, Any]:
    """The threshold-mode rule, on ``engine``, with ``changes`` on top."""
    out = copy.deepcopy(RULE)
    out.update({"engine": engine, **changes})
    return out


def dp_rule(engine: str = "duckdb", **dp_changes: Any) -> dict[str, Any]:
    """The DP-mode rule, with ``dp_changes`` applied to its ``dp`` object."""
    out = copy.deepcopy(DP_RULE)
    out["engine"] = engine
    out["dp"].update(dp_changes)
    return out


@dataclass(frozen=True)
class Variant:
    """One neighbouring dataset: the target's secret, everything else fixed."""

    name: str
    amount: int = TARGET_AMOUNT
    age: int = TARGET_AGE
    present: bool = True
    rows: int = 1  # rows held by the target


BASE = Variant("base")
AMOUNT_640 = Variant("amount-640", amount=640)
AGE_55 = Variant("age-55", age=55)
ABSENT = Variant("absent", present=False)
HEAVY = Variant("heavy", rows=HEAVY_ROWS)

NEIGHBOURS = {  # pairs that differ only in one secret of the target
    "amount": (BASE, AMOUNT_640),
    "age": (BASE, AGE_55),
    "presence": (BASE, ABSENT),
    "heavy": (HEAVY, ABSENT),
}


def others_sql(patients: int = PATIENTS) -> str:
    """Everyone but the target: nobody else is in icu or aged 27."""
    return (
        f"SELECT range::BIGINT AS {ENTITY}, 'ward-' || (range % 5) AS ward,"
        f" CASE WHEN 20 + range % 60 = {TARGET_AGE} THEN {TARGET_AGE + 1}"
        " ELSE 20 + range % 60 END::BIGINT AS age,"
        " ((range % 97) * 10)::DOUBLE AS amount"
        f" FROM range({patients}) WHERE range <> {TARGET}"
    )


def variant_sql(variant: Variant, patients: int = PATIENTS) -> str:
    """The rows of ``variant``, ordered by entity (the target's rows in its place)."""
    parts = [others_sql(patients)]
    if variant.present:
        parts.append(
            f"SELECT {TARGET}::BIGINT AS {ENTITY}, '{TARGET_WARD}' AS ward,"
            f" {variant.age}::BIGINT AS age, {variant.amount}::DOUBLE AS amount"
            f" FROM range({variant.rows})"
        )
    return f"SELECT * FROM ({' UNION ALL '.join(parts)}) ORDER BY {ENTITY}, ward"


def write(variant: Variant, path: Path, patients: int = PATIENTS) -> Path:
    """Write ``variant`` as Parquet or CSV, by the suffix of ``path``."""
    fmt = "csv, HEADER" if path.suffix == ".csv" else "parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    literal = str(path).replace("'", "''")
    con = duckdb.connect()
    try:
        con.execute(f"COPY ({variant_sql(variant, patients)}) TO '{literal}' (FORMAT {fmt})")
    finally:
        con.close()
    return path


@functools.lru_cache(maxsize=8)
def _connection(variant: Variant, patients: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"CREATE TABLE {TABLE} AS {variant_sql(variant, patients)}")
    return con


def truth(variant: Variant, sql: str, patients: int = PATIENTS) -> list[tuple[Any, ...]]:
    """``sql`` over ``visits`` of ``variant``, run directly (what the provider's data says)."""
    cursor = _connection(variant, patients).cursor()
    try:
        return [tuple(r) for r in cursor.execute(sql).fetchall()]
    finally:
        cursor.close()


# -- Two tables: patients, and their stays (for attacks across plain and joined queries) -----
JOIN_RULE: dict[str, Any] = {
    "table": "patients",
    "entity": ENTITY,
    "columns": {"ward": ["group"]},
    "joins": [{"table": "stays", "left": ENTITY, "right": "patient",
               "columns": {"days": ["aggregate"], "kind": ["group", "filter"]}}],
    "minGroupSize": MIN_GROUP,
    "thresholdOnly": {"reason": "test data: the group threshold and the overlap audit alone"},
}  # fmt: skip
JOIN_PATIENTS = 300


def write_two_tables(directory: Path, *, target_stays: bool) -> tuple[Path, Path]:
    """``patients.parquet`` (the target alone in icu) and ``stays.csv`` (four stays for every
    patient; none for the target unless ``target_stays``)."""
    directory.mkdir(parents=True, exist_ok=True)
    patients, stays = directory / "patients.parquet", directory / "stays.csv"
    keep = "" if target_stays else f" WHERE range % {JOIN_PATIENTS} <> {TARGET}"
    con = duckdb.connect()
    try:
        con.execute(
            f"COPY (SELECT range::BIGINT AS {ENTITY}, CASE WHEN range = {TARGET} THEN"
            f" '{TARGET_WARD}' ELSE 'ward-' || (range % 3) END AS ward FROM range({JOIN_PATIENTS}))"
            f" TO '{patients}' (FORMAT parquet)"
        )
        con.execute(
            f"COPY (SELECT (range % {JOIN_PATIENTS})::BIGINT AS patient, 'kind-' || (range % 2)"
            f" AS kind, (1 + range % 9)::BIGINT AS days FROM range({4 * JOIN_PATIENTS}){keep}"
            f" ORDER BY range) TO '{stays}' (FORMAT csv, HEADER)"
        )
    finally:
        con.close()
    return patients, stays
