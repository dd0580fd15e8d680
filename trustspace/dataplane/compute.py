"""Running a guarded query next to the data, in DuckDB, sandboxed and bounded.

Each job gets a fresh in-memory DuckDB connection with:
- one view named after the product table, over the product file;
- ``allowed_paths`` set to that file only, and external access disabled, so no other file,
  URL or extension can be reached even if a query got past the guard;
- a memory limit and a thread count.

A timer interrupts the query when the job's time is up.  At most ``max_rows + 1`` rows are
fetched.  Every failure becomes an ``EngineError`` whose reason is safe to show the consumer.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import duckdb

READERS = {".parquet": "read_parquet", ".csv": "read_csv_auto", ".jsonl": "read_json_auto",
           ".ndjson": "read_json_auto"}  # fmt: skip


class EngineError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def run(
    path: Path,
    table: str,
    sql: str,
    *,
    seconds: float,
    memory_mib: int,
    max_rows: int,
    threads: int = 2,
    suffix: str | None = None,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """``suffix`` names the format when the stored file has none (content-addressed blobs)."""
    reader = READERS.get((suffix or path.suffix).lower())
    if reader is None:
        raise EngineError(f"the product file {path.name} is not Parquet, CSV or JSON Lines")
    con = duckdb.connect(":memory:")
    timer = threading.Timer(seconds, con.interrupt)
    try:
        literal = str(path).replace("'", "''")
        con.execute(f"CREATE VIEW \"{table}\" AS SELECT * FROM {reader}('{literal}')")
        con.execute(f"SET allowed_paths = ['{literal}']")
        con.execute("SET enable_external_access = false")
        con.execute("SET autoinstall_known_extensions = false")
        con.execute(f"SET memory_limit = '{int(memory_mib)}MB'")
        con.execute(f"SET threads = {int(threads)}")
        timer.start()
        cursor = con.execute(sql)
        columns = [d[0] for d in cursor.description or []]
        rows = cursor.fetchmany(max_rows + 1)
    except duckdb.InterruptException:
        raise EngineError(f"the job ran out of time ({seconds:g} s) and was stopped") from None
    except duckdb.OutOfMemoryException:
        raise EngineError(f"the job needed more than its {memory_mib} MiB of memory") from None
    except duckdb.Error as exc:
        raise EngineError(f"the query failed: {str(exc).splitlines()[0]}") from None
    finally:
        timer.cancel()
        con.close()
    return columns, [tuple(r) for r in rows]
