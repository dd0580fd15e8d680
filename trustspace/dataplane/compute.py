"""Running a guarded plan next to the data, in DuckDB, sandboxed and bounded.

Each job gets a fresh in-memory DuckDB connection with:
- one view per product table, each over its file.  CSV is read with every column as text
  (the plan casts what it uses with TRY_CAST), so a value in one row can neither change a
  column's type nor make the read fail; malformed JSON lines are skipped;
- ``allowed_paths`` set to those files only, and external access disabled, so no other file,
  URL or extension can be reached even if a query got past the guard;
- a memory limit and a thread count.

A timer interrupts the job when its time is up.  At most ``max_rows + 1`` groups are fetched;
the overlap audit's projection, when asked for, comes back as an Arrow table.  Every failure
becomes an ``EngineError`` whose reason is one of a few fixed sentences: the engine's own text
(which can quote data) is logged at the provider and never shown to the consumer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

log = logging.getLogger("trustspace.compute")

READERS = {
    ".parquet": "read_parquet('{path}')",
    ".csv": "read_csv('{path}', all_varchar = true, header = true, ignore_errors = true)",
    ".jsonl": "read_json('{path}', format = 'newline_delimited', ignore_errors = true)",
    ".ndjson": "read_json('{path}', format = 'newline_delimited', ignore_errors = true)",
}
FAILED = "the query failed at the provider"


class EngineError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Tables = Mapping[str, tuple[Path, str]]
"""table name -> (stored file, its format suffix such as ``.parquet``)."""


@dataclass(frozen=True)
class Result:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    audit: Any = None  # a pyarrow Table (g, e, r) when the audit projection was asked for


def unreadable(table: str) -> EngineError:
    return EngineError(f"the product file of {table} is not Parquet, CSV or JSON Lines")


def run(
    tables: Tables,
    sql: str,
    *,
    seconds: float,
    memory_mib: int,
    max_rows: int,
    audit_sql: str | None = None,
    threads: int = 2,
) -> Result:
    """Run ``sql`` (and ``audit_sql``) over views of ``tables`` (the stored files are
    content-addressed blobs, so the format comes from each one's original name)."""
    readers: list[tuple[str, str, str]] = []
    for table, (path, suffix) in tables.items():
        reader = READERS.get(suffix.lower())
        if reader is None:
            raise unreadable(table)
        literal = str(path).replace("'", "''")
        readers.append((table, reader.format(path=literal), literal))
    con = duckdb.connect(":memory:")
    done = threading.Event()

    def watchdog() -> None:
        # DuckDB clears a pending interrupt when a statement begins: one interrupt that lands
        # before the query really starts is lost.  Past the time, interrupt until it ends.
        if not done.wait(seconds):
            while not done.is_set():
                con.interrupt()
                done.wait(0.02)

    timer = threading.Thread(target=watchdog, name="compute-time-limit", daemon=True)
    started = 0.0
    try:
        for table, source, _ in readers:
            con.execute(f'CREATE VIEW "{table}" AS SELECT * FROM {source}')
        allowed = ", ".join(f"'{literal}'" for _, _, literal in readers)
        con.execute(f"SET allowed_paths = [{allowed}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET autoinstall_known_extensions = false")
        con.execute("SET autoload_known_extensions = false")
        con.execute(f"SET memory_limit = '{int(memory_mib)}MB'")
        con.execute(f"SET threads = {int(threads)}")
        timer.start()
        started = time.monotonic()
        cursor = con.execute(sql)
        columns = [d[0] for d in cursor.description or []]
        rows = [tuple(r) for r in cursor.fetchmany(max_rows + 1)]
        audit = None
        if audit_sql is not None and len(rows) <= max_rows:
            audit = con.sql(audit_sql).to_arrow_table()
        if time.monotonic() - started > seconds:  # finished, but after its time: not released
            raise duckdb.InterruptException("past the time limit")
    except duckdb.InterruptException:
        raise EngineError(f"the job ran out of time ({seconds:g} s) and was stopped") from None
    except duckdb.OutOfMemoryException:
        raise EngineError(f"the job needed more than its {memory_mib} MiB of memory") from None
    except duckdb.Error as exc:
        log.warning("compute query failed in DuckDB: %s", exc)
        raise EngineError(FAILED) from None
    finally:
        done.set()
        if timer.is_alive():
            timer.join()
        con.close()
    return Result(columns, rows, audit)
