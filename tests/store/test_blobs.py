"""The blob folder: private temporary names, a final blob that reads back as its hash, and
start-up removal of only those leftovers no live ingest owns."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from trustspace.store import blobs


def _write(path: Path, data: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def test_same_named_sources_ingested_at_once_each_get_their_own_blob(tmp_path: Path) -> None:
    sources = [tmp_path / f"src{i}" / "data.csv" for i in range(8)]
    digests = [_write(s, os.urandom(3 << 20)) for s in sources]
    results: dict[int, tuple[Path, int, str]] = {}
    barrier = threading.Barrier(len(sources))

    def run(i: int) -> None:
        barrier.wait()
        results[i] = blobs.ingest(sources[i], tmp_path / "blobs")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(sources))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, digest in enumerate(digests):
        final, size, sha = results[i]
        assert sha == digest and size == 3 << 20
        assert hashlib.sha256(final.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in (tmp_path / "blobs").iterdir()) == sorted(digests)


def test_the_same_content_at_once_makes_one_whole_blob(tmp_path: Path) -> None:
    data = os.urandom(2 << 20)
    sources = [tmp_path / f"s{i}.bin" for i in range(6)]
    for s in sources:
        _write(s, data)
    out: list[str] = []
    threads = [
        threading.Thread(target=lambda s=s: out.append(blobs.ingest(s, tmp_path / "b")[2]))
        for s in sources
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    digest = hashlib.sha256(data).hexdigest()
    assert out == [digest] * 6
    assert [p.name for p in (tmp_path / "b").iterdir()] == [digest]
    assert (tmp_path / "b" / digest).read_bytes() == data


def test_a_partial_blob_under_the_final_name_is_replaced(tmp_path: Path) -> None:
    data = os.urandom(1 << 20)
    digest = _write(tmp_path / "d.bin", data)
    _write(tmp_path / "b" / digest, data[:1000])  # a crash cut the earlier copy short
    final, _, sha = blobs.ingest(tmp_path / "d.bin", tmp_path / "b")
    assert sha == digest and final.read_bytes() == data


def test_a_blob_that_does_not_read_back_is_refused_and_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path / "d.bin", b"y" * 5000)
    real_replace = os.replace

    def lossy(src: str | Path, dst: str | Path) -> None:  # a disk that loses the tail
        Path(src).write_bytes(Path(src).read_bytes()[:100])
        real_replace(src, dst)

    monkeypatch.setattr(blobs.os, "replace", lossy)
    with pytest.raises(blobs.BlobMismatch, match="reads back as SHA-256"):
        blobs.ingest(tmp_path / "d.bin", tmp_path / "b")
    assert not [p for p in (tmp_path / "b").iterdir() if p.name.startswith(blobs.INCOMING)]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_leftovers_of_dead_ingests_go_and_live_ones_stay(tmp_path: Path) -> None:
    folder = tmp_path / "blobs"
    folder.mkdir()
    blob = folder / ("ab" * 32)
    blob.write_bytes(b"published")
    live = folder / blobs.incoming_name()  # this process: alive
    dead = folder / blobs.incoming_name(pid=_dead_pid())
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        reused = folder / blobs.incoming_name(pid=sleeper.pid, started=1)  # pid reused since
        other_live = folder / blobs.incoming_name(pid=sleeper.pid)
        foreign_fresh = folder / f"{blobs.INCOMING}{'f' * 12}-1-1-{'0' * 16}"  # another host
        foreign_old = folder / f"{blobs.INCOMING}{'e' * 12}-1-1-{'0' * 16}"
        legacy_fresh = folder / ".incoming-4242-data.csv"  # the naming of earlier releases
        legacy_old = folder / ".incoming-4243-data.csv"
        for path in (live, dead, reused, other_live, foreign_fresh, foreign_old, legacy_fresh,
                     legacy_old):  # fmt: skip
            path.write_bytes(b"partial")
        day_ago = time.time() - blobs.STALE_AFTER - 60
        for path in (foreign_old, legacy_old):
            os.utime(path, (day_ago, day_ago))
        removed = blobs.remove_leftovers(folder)
        assert sorted(removed) == sorted([dead, reused, foreign_old, legacy_old])
        assert sorted(folder.iterdir()) == sorted(
            [blob, live, other_live, foreign_fresh, legacy_fresh]
        )
    finally:
        sleeper.kill()
        sleeper.wait()
    assert blobs.remove_leftovers(folder) == [other_live]  # its process is gone now
    assert blobs.remove_leftovers(tmp_path / "none") == []


def test_a_temporary_name_names_its_process_and_is_never_reused(tmp_path: Path) -> None:
    names = {blobs.incoming_name() for _ in range(1000)}
    assert len(names) == 1000
    owner, pid, started = next(iter(names)).removeprefix(blobs.INCOMING).split("-")[:3]
    assert owner == blobs.owner() and int(pid) == os.getpid()
    assert int(started) == blobs.start_time(os.getpid())
