"""The same guarded plan on Apache Spark, for products that outgrow one machine.

The plan's SQL is generated for Spark (:meth:`Plan.sql` with ``engine="spark"``) and runs on a
temporary view per product table, over its file only.  CSV and JSON are read with every value
as text (the plan casts what it uses; ANSI mode is off, so a cast that fails is NULL, never an
error), and malformed records do not fail the read.  One Spark session serves the process
(local mode unless ``TRUSTSPACE_SPARK_MASTER`` names a cluster); memory is the session's.  A
timer cancels the job when its time is up.  At most ``max_rows + 1`` groups come back; the
overlap audit's projection comes back as Arrow.  Failures are ``EngineError``s with the same
fixed reasons as on DuckDB.
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path
from typing import Any

from trustspace.dataplane.compute import FAILED, EngineError, Result, Tables, log, unreadable

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
    audit_sql: str | None = None,
) -> Result:
    formats: list[tuple[str, str, Path]] = []
    for table, (path, suffix) in tables.items():
        fmt = READERS.get(suffix.lower())
        if fmt is None:
            raise unreadable(table)
        formats.append((table, fmt, path))
    spark = session()
    group = f"trustspace-{uuid.uuid4()}"
    views = [table for table, _, _ in formats]
    try:
        for table, fmt, path in formats:
            reader = spark.read.option("header", "true").option("mode", "PERMISSIVE")
            if fmt == "json":
                reader = reader.option("primitivesAsString", "true")
            reader.format(fmt).load(str(path)).createOrReplaceTempView(table)
    except Exception as exc:  # Spark raises Py4J and analysis errors of many kinds
        log.warning("compute product could not be opened in Spark: %s", exc)
        raise EngineError(FAILED) from None
    context = spark.sparkContext
    stopped = threading.Event()

    def cancel() -> None:
        stopped.set()
        context.cancelJobGroup(group)

    timer = threading.Timer(seconds, cancel)
    try:
        context.setJobGroup(group, "trustspace compute job", interruptOnCancel=True)
        timer.start()
        frame = spark.sql(sql)
        rows = frame.limit(max_rows + 1).collect()
        columns = list(frame.columns)
        audit = None
        if audit_sql is not None and len(rows) <= max_rows:
            audit = spark.sql(audit_sql).toArrow()
        if stopped.is_set():  # the deadline passed (maybe before Spark had a job to cancel)
            raise TimeoutError
    except Exception as exc:
        if stopped.is_set():
            raise EngineError(f"the job ran out of time ({seconds:g} s) and was stopped") from None
        log.warning("compute query failed in Spark: %s", exc)
        raise EngineError(FAILED) from None
    finally:
        timer.cancel()
        for view in views:
            spark.catalog.dropTempView(view)
    return Result(columns, [tuple(r) for r in rows], audit)
