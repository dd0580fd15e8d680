"""Profile a data file in one streaming pass, with flat memory.

For CSV (with a header row), JSON Lines and Parquet files it returns:
- the file's SHA-256 (computed on the bytes as they are read; a separate pass for Parquet,
  which is not read front to back);
- the row count;
- per column:
  - the type (integer, float, boolean, date, datetime or string; mixed columns are strings);
  - nulls and null rate;
  - an approximate distinct count: a bottom-k (KMV) sketch with k = 1024 over 64-bit hashes,
    exact below k;
  - min and max for numbers and dates;
  - up to five sample values from the first ``sample_rows`` rows, masked when the column
    holds personal information;
  - the personal-information scan (:mod:`trustspace.products.pii`).

Every format is profiled in Arrow batches, column by column (:mod:`trustspace.products.columnar`):
CSV through Arrow's streaming reader (blocks of 1 MiB), Parquet by row group, JSON Lines parsed
line by line and gathered into batches of 8,192 lines.  Every value is pattern-checked, and the
check digits are verified on a sample of the candidates.

Memory holds one batch, sketches, counters and bounded samples; nothing grows with the file.
``on_progress(bytes_read, total)`` is called at most ten times a second.  Unreadable input
raises ``ValueError`` naming the line.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from trustspace.products.columnar import ArrowColumn, hashes
from trustspace.products.pii import SENSITIVE

Progress = Callable[[int, int], None]


class _Reader(io.RawIOBase):
    """A binary file that hashes what is read and reports progress."""

    def __init__(self, f: BinaryIO, total: int, on_progress: Progress | None) -> None:
        self.f, self.total, self.on_progress = f, total, on_progress
        self.sha = hashlib.sha256()
        self.done = 0
        self._last = 0.0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.f.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.sha.update(data)
        self.done += n
        now = time.monotonic()
        if self.on_progress is not None and (now - self._last > 0.1 or n == 0):
            self._last = now
            self.on_progress(self.done, self.total)
        return n


def _text(reader: _Reader) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BufferedReader(reader, 1 << 20), encoding="utf-8", newline="")


def _csv_rows(reader: _Reader) -> Iterator[tuple[list[str], list[str]]]:
    text = _text(reader)
    rows = csv.reader(text)
    try:
        header = next(rows)
    except StopIteration:
        raise ValueError("the CSV file is empty") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text: {exc}") from None
    try:
        for row in rows:
            if len(row) != len(header):
                if not row:
                    continue
                raise ValueError(
                    f"line {rows.line_num}: {len(row)} fields, the header has {len(header)}"
                )
            yield header, row
    except UnicodeDecodeError as exc:
        raise ValueError(f"line {rows.line_num}: not UTF-8 text: {exc}") from None
    except csv.Error as exc:
        raise ValueError(f"line {rows.line_num}: {exc}") from None


def _jsonl_rows(reader: _Reader) -> Iterator[dict[str, Any]]:
    try:
        for n, line in enumerate(_text(reader), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"line {n}: not valid JSON: {exc}") from None
            if not isinstance(item, dict):
                raise ValueError(f"line {n}: expected a JSON object")
            yield item
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text: {exc}") from None


def _file_sha(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()


def profile_file(
    path: Path,
    *,
    fmt: str | None = None,
    sample_rows: int = 10_000,
    validate: int = 256,
    on_progress: Progress | None = None,
) -> dict[str, Any]:
    """Profile ``path``.  ``validate`` caps the candidates per batch and column whose check
    digits are verified (see :mod:`trustspace.products.columnar`)."""
    fmt = fmt or {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}.get(
        path.suffix.lower()
    )
    if fmt not in ("csv", "jsonl", "parquet"):
        raise ValueError(f"{path.name}: unknown format; use .csv, .jsonl or .parquet")
    total = path.stat().st_size
    arrow: dict[str, ArrowColumn] = {}
    rows = 0
    if fmt == "parquet":
        sha = _parquet(path, arrow, sample_rows, validate, on_progress)
        rows = _parquet_rows(path)
    elif fmt == "csv":
        sha, rows = _csv_arrow(path, arrow, sample_rows, validate, on_progress)
    else:
        sha, rows = _jsonl_arrow(path, arrow, sample_rows, validate, on_progress)
    results = [c.result(rows) for c in arrow.values()]
    kinds = sorted({k for r in results for k in r["pii"]["kinds"]})
    return {
        "format": fmt,
        "bytes": total,
        "sha256": sha,
        "rows": rows,
        "columns": results,
        "pii_kinds": kinds,
        "sensitive": any(k in SENSITIVE for k in kinds),
    }


def _parquet(
    path: Path,
    columns: dict[str, ArrowColumn],
    sample_rows: int,
    validate: int,
    on_progress: Progress | None,
) -> str:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises its own error types for bad files
        raise ValueError(f"{path.name}: not a Parquet file: {exc}") from None
    groups = pf.num_row_groups
    seen = 0
    for name in pf.schema_arrow.names:
        columns[name] = ArrowColumn(name, validate)
    con = _hash_connection()
    try:
        for g in range(groups):
            for batch in pf.iter_batches(row_groups=[g], batch_size=65_536):
                _add(columns, batch, con, seen < sample_rows)
                seen += batch.num_rows
            if on_progress is not None:
                on_progress(g + 1, groups)
    finally:
        con.close()
    return _file_sha(path)


def _stream(
    path: Path,
    columns: dict[str, ArrowColumn],
    sample_rows: int,
    validate: int,
    on_progress: Progress | None,
    batches: Callable[[_Reader], Iterator[pa.RecordBatch]],
) -> tuple[str, int]:
    """Profile the batches read from ``path`` front to back, hashing every byte on the way.  A
    column first seen in a later batch was null in every row before it."""
    total = path.stat().st_size
    rows = 0
    con = _hash_connection()
    try:
        with path.open("rb") as f:
            reader = _Reader(f, total, on_progress)
            for batch in batches(reader):
                for name in batch.schema.names:
                    if name not in columns:
                        columns[name] = ArrowColumn(name, validate)
                        columns[name].nulls = rows
                _add(columns, batch, con, rows < sample_rows)
                rows += batch.num_rows
            reader.readinto(bytearray(1))  # drain: the hash covers every byte
            if on_progress is not None:
                on_progress(total, total)
            return reader.sha.hexdigest(), rows
    finally:
        con.close()


def _csv_arrow(
    path: Path,
    columns: dict[str, ArrowColumn],
    sample_rows: int,
    validate: int,
    on_progress: Progress | None,
) -> tuple[str, int]:
    """CSV through Arrow's streaming reader, every column read as text.  A file Arrow cannot
    read is read again by the line-by-line parser, which names the offending line."""
    with path.open("rb") as f:
        header = _header(f)

    def batches(reader: _Reader) -> Iterator[pa.RecordBatch]:
        stream = pacsv.open_csv(
            io.BufferedReader(reader, 1 << 20),
            read_options=pacsv.ReadOptions(block_size=1 << 20),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=False, quoted_strings_can_be_null=False),
        )  # fmt: skip
        yield pa.RecordBatch.from_pylist([], schema=stream.schema)  # the columns, even with no rows
        yield from stream

    try:
        return _stream(path, columns, sample_rows, validate, on_progress, batches)
    except pa.ArrowInvalid as exc:
        _locate_csv_error(path)
        raise ValueError(f"{path.name}: {exc}") from None


def _hash_connection() -> duckdb.DuckDBPyConnection:
    """DuckDB hashes the values; it needs one thread and little memory for that."""
    return duckdb.connect(config={"threads": 1, "memory_limit": "128MB"})


def _add(
    columns: dict[str, ArrowColumn],
    batch: pa.RecordBatch,
    con: duckdb.DuckDBPyConnection,
    sample: bool,
) -> None:
    per_column = hashes(con, batch)
    for name, values, hashed in zip(batch.schema.names, batch.columns, per_column, strict=True):
        columns[name].add(values, hashed, sample)


JSONL_BATCH = 8192


def _jsonl_arrow(
    path: Path,
    columns: dict[str, ArrowColumn],
    sample_rows: int,
    validate: int,
    on_progress: Progress | None,
) -> tuple[str, int]:
    """JSON Lines, parsed line by line (errors name the line), profiled in Arrow batches."""

    def batches(reader: _Reader) -> Iterator[pa.RecordBatch]:
        names: dict[str, None] = {}  # every key seen so far, in order
        items: list[dict[str, Any]] = []
        for item in _jsonl_rows(reader):
            items.append(item)
            if len(items) == JSONL_BATCH:
                yield _items_batch(names, items)
                items = []
        if items:
            yield _items_batch(names, items)

    return _stream(path, columns, sample_rows, validate, on_progress, batches)


def _as_str(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))  # numbers, booleans, objects, arrays


def _items_batch(names: dict[str, None], items: list[dict[str, Any]]) -> pa.RecordBatch:
    for item in items:
        names.update(dict.fromkeys(item))
    return pa.RecordBatch.from_pydict(
        {
            name: pa.array([_as_str(item.get(name)) for item in items], type=pa.string())
            for name in names
        }
    )


def _header(f: BinaryIO) -> list[str]:
    try:
        first = f.readline(1 << 20).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text: {exc}") from None
    header = next(csv.reader([first]), None)
    if not header:
        raise ValueError("the CSV file is empty")
    if len(set(header)) != len(header):
        raise ValueError("the header names a column twice")
    return header


def _locate_csv_error(path: Path) -> None:
    """Read ``path`` with the line-by-line parser; it raises ValueError naming the line."""
    with path.open("rb") as f:
        for _ in _csv_rows(_Reader(f, 0, None)):
            pass


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)
