"""Publishing over a real node: what is stored is what was published, even when publishes of
same-named files run at once, and a publish killed halfway leaves nothing behind."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.e2e.conftest import Space, make_space
from tests.e2e.flow import fetch, negotiate, publish, start_transfer
from trustspace.cli.client import ApiError
from trustspace.store import blobs


def _stored(space: Space, database: str | None) -> dict[str, tuple[str, str]]:
    """Each dataset's recorded (path, SHA-256), read from the provider's own store."""
    query = "SELECT id, path, sha256 FROM datasets"
    if database is None:
        with sqlite3.connect(space.provider.dir / "trustspace.db") as db:
            rows = db.execute(query).fetchall()
    else:
        with psycopg.connect(database) as conn:
            rows = conn.execute(query).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


@pytest.mark.parametrize(
    "store", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_concurrent_publishes_of_same_named_files_store_what_each_published(
    store: str, tmp_path: Path, pg_database: Callable[[], str]
) -> None:
    database = pg_database() if store == "postgresql" else None
    env = {"TRUSTSPACE_DATABASE": database} if database else None
    space = make_space(tmp_path, provider_env=env)
    try:
        sources = [tmp_path / f"export-{i}" / "data.csv" for i in range(6)]
        digests = []
        for src in sources:
            src.parent.mkdir()
            data = os.urandom(4 << 20)
            src.write_bytes(data)
            digests.append(hashlib.sha256(data).hexdigest())
        results: dict[int, dict[str, Any] | Exception] = {}
        barrier = threading.Barrier(len(sources))

        def run(i: int) -> None:
            barrier.wait()
            try:
                results[i] = publish(space.provider, sources[i])
            except ApiError as exc:
                results[i] = exc

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(sources))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        failures = [r for r in results.values() if isinstance(r, Exception)]
        assert failures == []
        published = [results[i] for i in range(len(sources))]
        assert [p["sha256"] for p in published if isinstance(p, dict)] == digests
        stored = _stored(space, database)
        for p, digest in zip(published, digests, strict=True):
            assert isinstance(p, dict)
            path, recorded = stored[p["id"]]
            assert recorded == digest
            assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == digest
        leftovers = [n for n in os.listdir(space.provider.dir / "blobs") if n.startswith(".")]
        assert leftovers == []
        for i, (p, digest) in enumerate(zip(published, digests, strict=True)):
            assert isinstance(p, dict)
            agreement = negotiate(space.consumer, space.provider, p["id"])["agreementId"]
            transfer = start_transfer(space.consumer, agreement)
            assert fetch(transfer, tmp_path / f"got-{i}.csv") == digest
    finally:
        for node in space.nodes():
            node.stop()


def test_a_publish_killed_mid_copy_leaves_nothing_after_restart(
    space: Space, tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as f:  # sparse: quick to make, and slow enough to copy to kill midway
        f.truncate(8 << 30)
    folder = space.provider.dir / "blobs"
    folder.mkdir(exist_ok=True)
    live = folder / blobs.incoming_name()  # owned by this test process, which is alive
    live.write_bytes(b"arriving")
    outcome: list[object] = []
    publisher = threading.Thread(
        target=lambda: outcome.append(_attempt(lambda: publish(space.provider, big)))
    )
    publisher.start()
    deadline = time.monotonic() + 60
    while not (partial := [p for p in folder.iterdir() if p != live and p.name.startswith(".")]):
        assert time.monotonic() < deadline and not outcome, outcome
        time.sleep(0.005)
    (leftover,) = partial
    while leftover.stat().st_size < 1 << 20:
        time.sleep(0.005)
    space.provider.kill()
    publisher.join()
    assert isinstance(outcome[0], ApiError)  # the copy never finished
    assert leftover.exists() and leftover.stat().st_size < 8 << 30

    space.provider.start()
    space.provider.wait_ready()
    assert not leftover.exists()
    assert live.exists()
    assert "left by an ingest that stopped" in space.provider.log_text()
    with space.provider.client() as p:
        assert p.call("GET", "/api/datasets") == []


def _attempt(call: Callable[[], object]) -> object:
    try:
        return call()
    except ApiError as exc:
        return exc
