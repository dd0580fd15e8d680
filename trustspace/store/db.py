"""Connections, transactions and migrations for SQLite and PostgreSQL.

SQL is written once with ``?`` placeholders and portable types; the PostgreSQL
side rewrites placeholders to ``%s``.  Rules:

- every transaction is a write transaction (SQLite ``BEGIN IMMEDIATE``), so
  read-check-write sequences in services cannot interleave;
- SQLite: each thread has its own connection; PostgreSQL: transactions borrow a
  connection from a bounded pool, so a busy node never exhausts the server;
- callbacks registered with :meth:`Tx.after_commit` run only once the commit
  succeeded (used to wake the outbox worker), never on rollback.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psycopg
import psycopg.errors
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from trustspace.store.schema import MIGRATIONS

Row = dict[str, Any]


class Conflict(Exception):
    """A unique constraint refused a write (the same thing was created concurrently)."""


class Tx:
    """One open transaction: ``execute`` / ``one`` / ``all`` with ``?`` placeholders."""

    def __init__(self, cursor: Any, dialect: str) -> None:
        self._cur = cursor
        self.dialect = dialect
        self._after: list[Callable[[], None]] = []
        self._before: list[Callable[[], None]] = []
        self.scratch: dict[str, Any] = {}  # per-transaction state for before-commit work

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgresql" else sql

    def _run(self, sql: str, params: Sequence[Any]) -> None:
        try:
            self._cur.execute(self._sql(sql), tuple(params))
        except (sqlite3.IntegrityError, psycopg.errors.UniqueViolation) as exc:
            raise Conflict(str(exc)) from exc

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        self._run(sql, params)
        return int(self._cur.rowcount)

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        self._run(sql, params)
        row = self._cur.fetchone()
        return None if row is None else dict(row)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self._run(sql, params)
        return [dict(r) for r in self._cur.fetchall()]

    def before_commit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` inside the transaction, just before it commits (e.g. to append evidence
        last, so the evidence head is locked for the shortest time)."""
        self._before.append(fn)

    def _finish(self) -> None:
        for fn in self._before:
            fn()

    def after_commit(self, fn: Callable[[], None]) -> None:
        self._after.append(fn)


class Database:
    """A SQLite file or a PostgreSQL server, chosen by URL."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        if url.startswith(("postgresql://", "postgres://")):
            self.dialect = "postgresql"
            self._pool, self._lazy_pool = (
                ConnectionPool(
                    url,
                    min_size=1,
                    max_size=size,
                    kwargs={"autocommit": True, "row_factory": dict_row, **extra},
                    open=True,
                    timeout=30,
                )
                for size, extra in (
                    (pool_size, {}),
                    (max(2, pool_size // 2), {"options": "-c synchronous_commit=off"}),
                )
            )
        else:
            self.dialect = "sqlite"
            path = url.removeprefix("sqlite:///").removeprefix("sqlite://")
            if not path:
                raise ValueError(f"cannot read a SQLite path from {url!r}")
            self.path = Path(path)
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()
        self._writer = threading.Lock()

    @property
    def redacted_url(self) -> str:
        if self.dialect == "sqlite":
            return self.url
        head, sep, tail = self.url.partition("@")
        if not sep:
            return self.url
        scheme, _, cred = head.partition("://")
        user = cred.split(":", 1)[0]
        return f"{scheme}://{user}:***@{tail}" if ":" in cred else self.url

    def _sqlite(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn

    @contextmanager
    def tx(self, *, durable: bool = True) -> Iterator[Tx]:
        """One transaction.  ``durable=False`` lets PostgreSQL acknowledge the commit before
        its WAL reaches the disk: only for writes whose loss in a database crash is harmless
        (outbox leases and delivery marks, whose loss means a resend the receiver drops, and
        the replay cache of short-lived tokens)."""
        if self.dialect == "sqlite":
            conn = self._sqlite()
            # SQLite has one writer at a time; queueing on a lock wakes the next thread at
            # once, where SQLite's own busy handler would sleep and poll.
            with self._writer:
                lite = conn.cursor()
                lite.execute("BEGIN IMMEDIATE")
                tx = Tx(lite, self.dialect)
                try:
                    yield tx
                    tx._finish()
                except BaseException:
                    lite.execute("ROLLBACK")
                    raise
                lite.execute("COMMIT")
        else:
            pool = self._pool if durable else self._lazy_pool
            with pool.connection() as pconn, pconn.transaction(), pconn.cursor() as cur:
                tx = Tx(cur, self.dialect)
                yield tx
                tx._finish()
        for fn in tx._after:
            fn()

    def migrate(self) -> int:
        """Apply pending migrations; return the schema version."""
        with self.tx() as tx:
            tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = tx.one("SELECT max(version) AS v FROM schema_version")
            current = int(row["v"]) if row and row["v"] is not None else 0
            for version, script in enumerate(MIGRATIONS, start=1):
                if version <= current:
                    continue
                for statement in script(self.dialect):
                    tx.execute(statement)
                tx.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
                current = version
        return current

    def close(self) -> None:
        if self.dialect == "postgresql":
            self._pool.close()
            self._lazy_pool.close()
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            with suppress(Exception):  # closing on shutdown must not raise
                conn.close()
        self._local = threading.local()


def for_update(tx: Tx) -> str:
    """Row lock for read-modify-write on PostgreSQL (SQLite serialises whole transactions)."""
    return " FOR UPDATE" if tx.dialect == "postgresql" else ""


def dump_json(value: Any) -> str:
    """JSON as stored: compact, keys sorted (equal values are equal text)."""
    text: str = json.dumps(value, separators=(",", ":"), sort_keys=True)
    return text
