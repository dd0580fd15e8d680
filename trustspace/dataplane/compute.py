"""Running a guarded query next to the data, in DuckDB, sandboxed and bounded.

Each job gets a fresh in-memory DuckDB connection with:
- one view per product table, each over its file;
- ``allowed_paths`` set to those files only, and external access disabled, so no other file,
  URL or extension can be reached even if a query got past the guard;
- a memory limit and a thread count.

A timer interrupts the query when the job's time is up.  At most ``max_rows + 1`` rows are
fetched.  Every failure becomes an ``EngineError`` whose reason is safe to show the consumer.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb

READERS = {".parquet": "read_parquet", ".csv": "read_csv_auto", ".jsonl": "read_json_auto",
           ".ndjson": "read_json_auto"}  # fmt: skip


class EngineError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Tables = Mapping[str, tuple[Path, str]]
"""table name -> (stored file, its format suffix such as ``.parquet``)."""


def run(
    tables: Tables,
    sql: str,
    *,
    seconds: float,
    memory_mib: int,
    max_rows: int,
    threads: int = 2,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run ``sql`` over views of ``tables`` (the stored files are content-addressed blobs, so
    the format comes from each one's original name)."""
    readers: list[tuple[str, str, str]] = []
    for table, (path, suffix) in tables.items():
        reader = READERS.get(suffix.lower())
        if reader is None:
            raise EngineError(f"the product file of {table} is not Parquet, CSV or JSON Lines")
        readers.append((table, reader, str(path).replace("'", "''")))
    con = duckdb.connect(":memory:")
    timer = threading.Timer(seconds, con.interrupt)
    try:
        for table, reader, literal in readers:
            con.execute(f"CREATE VIEW \"{table}\" AS SELECT * FROM {reader}('{literal}')")
        allowed = ", ".join(f"'{literal}'" for _, _, literal in readers)
        con.execute(f"SET allowed_paths = [{allowed}]")
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
