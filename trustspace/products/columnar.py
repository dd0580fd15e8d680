"""Column statistics over Arrow batches: the fast path for CSV and Parquet profiles.

Each batch is worked on column by column with Arrow compute kernels, so the per-value work runs
in C++:
- nulls: missing values, and text that is empty or a null marker once trimmed;
- the type: every value of the batch is matched against the patterns of each type (boolean,
  integer, float, date, datetime); the column's type is the narrowest that fits every batch;
- min and max for numbers (as floats) and dates (as text, which orders ISO dates);
- distinct values: a bottom-k (KMV) sketch, k = 1024, over DuckDB's 64-bit hash of each value
  (exact below k);
- samples: up to five distinct values from the first ``sample_rows`` rows.

The personal-information scan has two steps.  A **full-column pattern check**: one regular
expression, the union of the shapes every detector accepts, finds the candidates among all
values.  Then a **sample of the candidates**, at most ``validate`` per batch, drawn at random
with a seed (the same file gives the same profile), goes through the detectors with their check
digits (:func:`trustspace.products.pii.kinds_of`).  Hits per kind are the candidates times the
share of the sample that is that kind.  When a batch has no more candidates than ``validate``,
the count is exact.  The report gives both figures.
"""

from __future__ import annotations

import json
import random
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from trustspace.products.pii import kinds_of, mask

K = 1024
_MAX64 = float(1 << 64)
NULL_MARKERS = pa.array(["", "null", "NULL", "None", "NA", "N/A", "nan", "NaN"])
BOOLEANS = pa.array(["true", "false", "True", "False", "TRUE", "FALSE"])
_INT = r"^[+-]?\d{1,18}$"
_FLOAT = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
_DATE = r"^\d{4}-\d{2}-\d{2}$"
_DATETIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}"
# Everything a detector can accept (on trimmed text): digits with spaces or dashes (IDs, mobile
# and card numbers), 18 letters and digits (IDs, credit codes), e-mail addresses, passports.
CANDIDATE = (
    r"^(?:\+?[\d -]{8,23}|[0-9A-Za-z]{18}"
    r"|[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}"
    r"|[EG]\d{8}|E[A-HJ-NP-Z]\d{7}|[A-Z]{1,2}\d{7,8})$"
)


def merge_type(a: str | None, b: str) -> str:
    if a is None or a == b:
        return b
    if {a, b} == {"integer", "float"}:
        return "float"
    if {a, b} == {"date", "datetime"}:
        return "datetime"
    return "string"


def _batch_type(values: pa.Array) -> str:
    """The narrowest type every value of the batch fits."""
    n = len(values)
    if pc.sum(pc.is_in(values, value_set=BOOLEANS)).as_py() == n:
        return "boolean"
    if pc.sum(pc.match_substring_regex(values, _INT)).as_py() == n:
        return "integer"
    if pc.sum(pc.match_substring_regex(values, _FLOAT)).as_py() == n:
        return "float"
    dates = pc.sum(pc.match_substring_regex(values, _DATE)).as_py() or 0
    if dates == n:
        return "date"
    if dates + (pc.sum(pc.match_substring_regex(values, _DATETIME)).as_py() or 0) == n:
        return "datetime"
    return "string"


def hashes(con: duckdb.DuckDBPyConnection, batch: pa.RecordBatch) -> list[pa.Array]:
    """DuckDB's 64-bit hash of every value, one array per column of ``batch``, in row order."""
    con.register("batch", pa.Table.from_batches([batch]))
    try:
        columns = ", ".join(
            'hash("{}") AS h{}'.format(name.replace('"', '""'), i)
            for i, name in enumerate(batch.schema.names)
        )
        table = con.sql(f"SELECT {columns} FROM batch").to_arrow_table()
    finally:
        con.unregister("batch")
    return [column.combine_chunks() for column in table.columns]


def _as_text(raw: pa.Array) -> pa.Array:
    if pa.types.is_string(raw.type):
        return raw
    try:
        return pc.cast(raw, pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):  # nested values: as JSON text
        return pa.array(
            [None if v is None else json.dumps(v, default=str) for v in raw.to_pylist()],
            type=pa.string(),
        )


class ArrowColumn:
    """The running statistics of one column."""

    def __init__(self, name: str, validate: int) -> None:
        self.name = name
        self.validate = validate
        self.rng = random.Random(f"{name}:{validate}")  # the same file gives the same profile
        self.nulls = 0
        self.values = 0
        self.kind: str | None = None
        self.sketch = pa.array([], type=pa.uint64())  # the k smallest hashes, ascending
        self.samples: list[str] = []
        self.min: Any = None
        self.max: Any = None
        self.candidates = 0
        self.validated = 0
        self.hits: dict[str, float] = {}
        self.examples: dict[str, list[str]] = {}

    def add(self, raw: pa.Array, hashes: pa.Array, sample: bool) -> None:
        """A batch of the column's values, with each one's 64-bit hash (:func:`hashes`)."""
        text = _as_text(raw)
        trimmed = pc.utf8_trim_whitespace(text)
        missing = pc.or_kleene(pc.is_null(text), pc.is_in(trimmed, value_set=NULL_MARKERS))
        missing = pc.fill_null(missing, True)
        present = pc.invert(missing)
        values = pc.filter(text, present)
        self.nulls += len(text) - len(values)
        if len(values) == 0:
            return
        self.values += len(values)
        if self.kind != "string":
            kind = _batch_type(values)
            self.kind = merge_type(self.kind, kind)
            self._range(values, kind)
        self._distinct(pc.filter(hashes, present))
        if sample and len(self.samples) < 5:
            for v in values.slice(0, 64).to_pylist():
                if v not in self.samples and len(self.samples) < 5:
                    self.samples.append(v)
        self._scan(pc.filter(trimmed, present))

    def _range(self, values: pa.Array, kind: str) -> None:
        if kind in ("integer", "float"):
            bounds = pc.min_max(pc.cast(values, pa.float64()))
        elif kind in ("date", "datetime"):
            bounds = pc.min_max(values)
        else:
            return
        lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
        self.min = lo if self.min is None or lo < self.min else self.min
        self.max = hi if self.max is None or hi > self.max else self.max

    def _distinct(self, hashes: pa.Array) -> None:
        if len(self.sketch) == K:  # only hashes below the k-th smallest can change the sketch
            hashes = pc.filter(hashes, pc.less(hashes, self.sketch[K - 1]))
        if len(hashes) == 0:
            return
        merged = pc.unique(pa.concat_arrays([self.sketch, hashes]))
        if len(merged) > K:
            merged = merged.take(pc.bottom_k_unstable(merged, k=K))
        self.sketch = merged.take(pc.sort_indices(merged))

    def _scan(self, trimmed: pa.Array) -> None:
        length = pc.utf8_length(trimmed)  # every detector needs 8 to 254 characters
        sized = pc.filter(trimmed, pc.and_(pc.greater_equal(length, 8), pc.less_equal(length, 254)))
        candidates = pc.filter(sized, pc.match_substring_regex(sized, CANDIDATE))
        n = len(candidates)
        if n == 0:
            return
        self.candidates += n
        if n > self.validate:  # a seeded random sample: periodic data cannot alias it
            picks = sorted(self.rng.sample(range(n), self.validate))
            candidates = candidates.take(pa.array(picks, type=pa.int64()))
        checked = candidates.to_pylist()
        self.validated += len(checked)
        scale = n / len(checked)
        for value in checked:
            for kind in kinds_of(value):
                self.hits[kind] = self.hits.get(kind, 0.0) + scale
                shown = self.examples.setdefault(kind, [])
                if len(shown) < 3:
                    shown.append(mask(kind, value))

    def estimate(self) -> int:
        if len(self.sketch) < K:
            return len(self.sketch)
        return int((K - 1) / (float(self.sketch[K - 1].as_py()) / _MAX64))

    def result(self, rows: int) -> dict[str, Any]:
        checked = self.values or 1
        kinds = {k: {"hits": round(h), "rate": round(min(h, checked) / checked, 4),
                     "examples": self.examples[k]}
                 for k, h in sorted(self.hits.items()) if round(h) > 0}  # fmt: skip
        samples = self.samples
        if kinds:
            first = next(iter(kinds))
            samples = [mask(first, s) for s in samples]
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.kind or "string",
            "nulls": self.nulls,
            "null_rate": round(self.nulls / rows, 4) if rows else 0.0,
            "distinct": self.estimate(),
            "samples": samples,
            "pii": {
                "checked": self.values,
                "candidates": self.candidates,
                "validated": self.validated,
                "kinds": kinds,
            },
        }
        if self.min is not None and self.kind in ("integer", "float", "date", "datetime"):
            out["min"], out["max"] = self.min, self.max
        return out
