"""Upgrading a store: a one-file dataset published before versions of several files existed
keeps its file, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import trustspace.store.db as dbmodule
from tests.store.conftest import PG_ADMIN
from trustspace.store import audit, datasets
from trustspace.store.db import Database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    name = f"ts_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_file_published_at_schema_8_is_a_one_file_version_after_the_upgrade(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    everything = dbmodule.MIGRATIONS
    monkeypatch.setattr(dbmodule, "MIGRATIONS", everything[:8])
    old = Database(url)
    try:
        assert old.migrate() == 8
        with old.tx() as tx:
            tx.execute(
                "INSERT INTO datasets (id, title, description, path, filename, media_type, size,"
                " sha256, formats, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                ("d1", "T", "", "/blobs/ab", "visits.csv", "text/csv", 42, "ab" * 32,
                 '["HttpData-PULL"]', 1.0),
            )  # fmt: skip
            tx.execute("INSERT INTO datasets (id, title, description, formats, created_at)"
                       " VALUES ('d2', 'no content', '', '[]', 2.0)")  # fmt: skip
    finally:
        old.close()
    monkeypatch.setattr(dbmodule, "MIGRATIONS", everything)
    new = Database(url)
    try:
        assert new.migrate() == len(everything)
        with new.tx() as tx:
            d1, d2 = datasets.get_dataset(tx, "d1"), datasets.get_dataset(tx, "d2")
        assert d1 is not None and d2 is not None
        (only,) = d1.files
        assert (only.name, only.path, only.size, only.sha256, only.media_type) == (
            "visits.csv", "/blobs/ab", 42, "ab" * 32, "text/csv")  # fmt: skip
        assert not d1.fileset and d1.product_id is None and d1.api is None
        assert d2.files == ()
    finally:
        new.close()


def test_refusals_logged_one_by_one_at_schema_9_are_folded_into_windows(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    everything = dbmodule.MIGRATIONS
    monkeypatch.setattr(dbmodule, "MIGRATIONS", everything[:9])
    old = Database(url)
    try:
        assert old.migrate() == 9
        with old.tx() as tx:
            for at, issuer in ((61.0, "a"), (62.0, "a"), (63.0, None), (130.0, "a")):
                tx.execute(
                    "INSERT INTO auth_failures (at, path, issuer, reason) VALUES (?,?,?,?)",
                    (at, "dsp", issuer, "bad signature: " + "x" * 1000),
                )
    finally:
        old.close()
    monkeypatch.setattr(dbmodule, "MIGRATIONS", everything)
    new = Database(url)
    try:
        assert new.migrate() == len(everything)
        with new.tx() as tx:
            rows = tx.all("SELECT * FROM refusals ORDER BY window_start, issuer")
            listed = audit.auth_failures(tx)
        assert [(r["window_start"], r["issuer"], r["count"], r["summarized"]) for r in rows] == [
            (60.0, "", 1, 1), (60.0, "a", 2, 1), (120.0, "a", 1, 1)]  # fmt: skip
        assert all(len(r["reason"]) == 200 for r in rows)
        assert sum(f["count"] for f in listed) == 4
    finally:
        new.close()
