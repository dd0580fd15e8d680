"""Publishing on SQLite and PostgreSQL: a blob that does not read back as what was copied is a
refusal, and no dataset is recorded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.store.conftest import db  # noqa: F401  (the SQLite + PostgreSQL fixture)
from trustspace.services import catalog
from trustspace.services.catalog import FileSource, VersionSpec
from trustspace.services.context import NodeContext
from trustspace.services.errors import Refused
from trustspace.store import blobs, datasets
from trustspace.store.db import Database


def _ctx(database: Database, tmp_path: Path) -> NodeContext:
    return NodeContext(db=database, participant_id="hospital", dsp_base="http://h/dsp",
                       data_base="http://h/data", blob_dir=tmp_path / "blobs")  # fmt: skip


def test_a_blob_that_reads_back_wrong_is_refused_and_records_nothing(
    db: Database,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ctx = _ctx(db, tmp_path)
    src = tmp_path / "visits.csv"
    src.write_bytes(b"id,ward\n" + b"1,7\n" * 10_000)
    real_replace = os.replace

    def lossy(a: str | Path, b: str | Path) -> None:  # the disk keeps only part of the copy
        Path(a).write_bytes(Path(a).read_bytes()[:64])
        real_replace(a, b)

    monkeypatch.setattr(blobs.os, "replace", lossy)
    spec = VersionSpec("Visits", (FileSource.at(src),), dataset_id="urn:d:1")
    with pytest.raises(Refused, match=r"stored copy of visits\.csv reads back as SHA-256"):
        catalog.publish(ctx, spec)
    with db.tx() as tx:
        assert datasets.get_dataset(tx, "urn:d:1") is None and datasets.list_datasets(tx) == []
    monkeypatch.setattr(blobs.os, "replace", real_replace)
    dataset, _ = catalog.publish(ctx, spec)
    assert dataset.path is not None and Path(dataset.path).read_bytes() == src.read_bytes()
