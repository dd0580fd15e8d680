"""The same guarded query on Apache Spark, for products that outgrow one machine.

The query the guard accepted (DuckDB SQL) is translated to Spark SQL by sqlglot and runs on a
temporary view per product table, over its file only.  The guard already refuses every other table,
qualified name and function.  One Spark session serves the process (local mode unless
``TRUSTSPACE_SPARK_MASTER`` names a cluster); memory is the session's.  A timer cancels the job
when its time is up.  At most ``max_rows + 1`` rows come back.  Failures are ``EngineError``s,
as with DuckDB.
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path
from typing import Any

import sqlglot

from trustspace.dataplane.compute import EngineError, Tables

_lock = threading.Lock()
_session: Any = None


def session() -> Any:
    global _session
    with _lock:
        if _session is None:
            from pyspark.sql import SparkSession

            _session = (
                SparkSession.builder.master(os.environ.get("TRUSTSPACE_SPARK_MASTER", "local[2]"))
                .appName("trustspace-compute")
                .config("spark.ui.enabled", "false")
                .config("spark.sql.shuffle.partitions", "8")
                .config("spark.sql.ansi.enabled", "false")
                .getOrCreate()
            )
            _session.sparkContext.setLogLevel("ERROR")
        return _session


READERS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "json", ".ndjson": "json"}


def run(
    tables: Tables,
    sql: str,
    *,
    seconds: float,
    max_rows: int,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    formats: list[tuple[str, str, Path]] = []
    for table, (path, suffix) in tables.items():
        fmt = READERS.get(suffix.lower())
        if fmt is None:
            raise EngineError(f"the product file of {table} is not Parquet, CSV or JSON Lines")
        formats.append((table, fmt, path))
    spark = session()
    group = f"trustspace-{uuid.uuid4()}"
    views = [table for table, _, _ in formats]
    try:
        for table, fmt, path in formats:
            reader = spark.read.option("header", "true").option("inferSchema", "true")
            reader.format(fmt).load(str(path)).createOrReplaceTempView(table)
        spark_sql = sqlglot.transpile(sql, read="duckdb", write="spark")[0]
    except Exception as exc:  # Spark raises Py4J and analysis errors of many kinds
        raise EngineError(f"the product could not be opened: {str(exc).splitlines()[0]}") from None
    context = spark.sparkContext
    stopped = threading.Event()

    def cancel() -> None:
        stopped.set()
        context.cancelJobGroup(group)

    timer = threading.Timer(seconds, cancel)
    try:
        context.setJobGroup(group, "trustspace compute job", interruptOnCancel=True)
        timer.start()
        frame = spark.sql(spark_sql)
        rows = frame.limit(max_rows + 1).collect()
        columns = list(frame.columns)
        if stopped.is_set():  # the deadline passed (maybe before Spark had a job to cancel)
            raise TimeoutError
    except Exception as exc:
        if stopped.is_set():
            raise EngineError(f"the job ran out of time ({seconds:g} s) and was stopped") from None
        raise EngineError(f"the query failed: {str(exc).splitlines()[0]}") from None
    finally:
        timer.cancel()
        for view in views:
            spark.catalog.dropTempView(view)
    return columns, [tuple(r) for r in rows]
