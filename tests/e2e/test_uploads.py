"""Publishing by upload over a real node: the command line works from any folder (the node
never sees the original), an upload is bounded by ``max_upload_bytes`` and refused before its
body without the management key, nothing partial is kept, and the node's memory does not grow
with the upload.  ``--path-on-node`` still has the node read a path itself."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Space, make_space
from tests.e2e.flow import fetch, negotiate, start_transfer
from tests.e2e.test_body_memory import GROWTH_LIMIT, Peak
from trustspace.cli.demo import DemoNode

LIMIT = 4 << 20


def cli(node: DemoNode, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRUSTSPACE_NODE": node.url, "TRUSTSPACE_MANAGEMENT_KEY": node.key,
           "COLUMNS": "200"}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "trustspace", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def blobs_of(node: DemoNode) -> list[str]:
    folder = node.dir / "blobs"
    return sorted(os.listdir(folder)) if folder.exists() else []


def chunks(total: int, sent: list[int] | None = None) -> Iterator[bytes]:
    piece = b"u" * (64 << 10)
    for _ in range(total // len(piece)):
        if sent is not None:
            sent[0] += len(piece)
        yield piece


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Space]:
    """A provider whose uploads are at most 4 MiB."""
    s = make_space(tmp_path, provider_env={"TRUSTSPACE_MAX_UPLOAD_BYTES": str(LIMIT)})
    yield s
    for node in s.nodes():
        node.stop()
    for node in s.nodes():
        print(f"--- {node.name} log ---\n{node.log_text()}")


def test_publish_uploads_from_any_folder_and_the_download_is_byte_identical(
    space: Space, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "laptop"
    elsewhere.mkdir()
    data = os.urandom(3 << 20)
    (elsewhere / "scan.bin").write_bytes(data)
    out = cli(space.provider, "publish", "scan.bin", "--title", "Scans", cwd=elsewhere)
    assert out.returncode == 0, out.stdout + out.stderr
    published = json.loads(out.stdout)
    assert published["sha256"] == hashlib.sha256(data).hexdigest()
    (elsewhere / "scan.bin").unlink()  # the node has its own copy, and nothing else
    assert blobs_of(space.provider) == [published["sha256"]]

    agreement = negotiate(space.consumer, space.provider, published["id"])["agreementId"]
    transfer = start_transfer(space.consumer, agreement)
    got = tmp_path / "got.bin"
    assert fetch(transfer, got) == published["sha256"]
    assert got.read_bytes() == data

    # A tabular file is profiled on the way; product add takes the same path.
    table = elsewhere / "visits.csv"
    table.write_text("id,ward\n" + "".join(f"{i},{i % 7}\n" for i in range(2000)))
    out = cli(space.provider, "product", "add", "visits.csv", "--access-policy", "/nonexistent")
    assert out.returncode == 2  # option files are checked before anything is sent
    out = cli(space.provider, "product", "add", "visits.csv", "--keywords", "wards", cwd=elsewhere)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2,000 rows, 2 columns" in out.stderr
    added = json.loads(out.stdout)
    assert added["sha256"] == hashlib.sha256(table.read_bytes()).hexdigest()
    with space.provider.client() as p:
        listed = {d["id"]: d for d in p.call("GET", "/api/datasets")}
    assert set(listed) == {published["id"], added["id"]}


def test_path_on_node_has_the_node_read_the_path(space: Space, tmp_path: Path) -> None:
    data = tmp_path / "shared" / "export.csv"
    data.parent.mkdir()
    data.write_text("a,b\n1,2\n")
    out = cli(space.provider, "publish", str(data), "--path-on-node", "--id", "urn:d:shared")
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads(out.stdout)["id"] == "urn:d:shared"
    out = cli(space.provider, "publish", str(tmp_path / "nowhere.csv"), "--path-on-node")
    assert out.returncode == 1 and "is not a readable file" in out.stderr  # errors go to stderr
    out = cli(space.provider, "publish", str(tmp_path / "nowhere.csv"))
    assert out.returncode == 2 and "does not exist" in out.stderr
    with space.provider.client() as p:
        assert [d["id"] for d in p.call("GET", "/api/datasets")] == ["urn:d:shared"]


def test_an_upload_past_the_limit_is_413_and_nothing_is_stored(
    small: Space, tmp_path: Path
) -> None:
    p = small.provider
    auth = {"Authorization": f"Bearer {p.key}"}
    with httpx.Client(timeout=60, headers=auth) as http:
        declared = http.post(p.url + "/api/uploads", content=b"d" * (LIMIT + 1))
        chunked = http.post(p.url + "/api/uploads", content=chunks(2 * LIMIT))
        fits = http.post(p.url + "/api/uploads", content=b"f" * LIMIT)
        # Only uploads have the upload limit: other bodies keep max_body_bytes (1 MiB).
        other = http.post(p.url + "/api/datasets", content=b"{" + b" " * (2 << 20) + b"}")
        wrong = http.post(p.url + "/api/uploads", params={"sha256": "0" * 64}, content=b"w")
        unknown = http.post(p.url + "/api/datasets",
                            json={"files": [{"name": "x.bin", "upload": "1" * 64}]})  # fmt: skip
    assert declared.status_code == 413 and chunked.status_code == 413, declared.text
    assert f"at most {LIMIT} bytes" in declared.json()["error"]
    assert other.status_code == 413 and wrong.status_code == 400 and unknown.status_code == 400
    assert "not the " + "0" * 64 in wrong.json()["error"]
    assert fits.status_code == 201, fits.text
    assert blobs_of(p) == [hashlib.sha256(b"f" * LIMIT).hexdigest()]  # no partial copy

    big = tmp_path / "big.bin"
    big.write_bytes(b"b" * (LIMIT + 1))
    out = cli(p, "publish", str(big))
    assert out.returncode == 1 and "413" in out.stderr and f"at most {LIMIT} bytes" in out.stderr
    assert blobs_of(p) == [hashlib.sha256(b"f" * LIMIT).hexdigest()]
    with p.client() as api:
        assert api.call("GET", "/api/datasets") == []


def test_an_upload_without_the_key_is_401_before_its_body(space: Space) -> None:
    p = space.provider
    sent = [0]
    with httpx.Client(timeout=60) as http:
        declared = http.post(p.url + "/api/uploads", content=b"x" * (64 << 20))
        chunked = http.post(p.url + "/api/uploads", content=chunks(256 << 20, sent),
                            headers={"Authorization": "Bearer wrong"})  # fmt: skip
    assert declared.status_code == 401 and chunked.status_code == 401
    assert declared.headers["connection"] == "close"
    assert sent[0] < 64 << 20  # the node closed the connection instead of reading on
    assert blobs_of(p) == []


def test_a_large_upload_does_not_grow_the_node(space: Space) -> None:
    p = space.provider
    pid = p.proc.pid if p.proc else 0
    auth = {"Authorization": f"Bearer {p.key}"}
    size = 200 << 20
    with httpx.Client(timeout=120, headers=auth) as http:
        assert http.post(p.url + "/api/uploads", content=b"warm").status_code == 201
        peak = Peak(pid)
        declared = http.post(p.url + "/api/uploads", content=chunks(size),
                             headers={"Content-Length": str(size)})  # fmt: skip
        grew = peak.stop()
    print(
        f"RSS before {peak.before >> 20} MiB; growth with a 200 MB upload: {grew / 2**20:.1f} MiB"
    )
    assert declared.status_code == 201, declared.text
    expected = hashlib.sha256(b"".join(chunks(size))).hexdigest()
    assert declared.json() == {"upload": expected, "sha256": expected, "size": size}
    assert grew < GROWTH_LIMIT
