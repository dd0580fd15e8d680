"""Consumer side: `download()` against the real data plane, including resume and failures."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import httpx
import pytest

from tests.dataplane.dataplane_harness import Harness, make_file
from trustspace.dataplane.client import DownloadError, download, sha256_file

TOKEN = "tok-client-0001"


def part_of(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def sidecar_of(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part.etag")


def current_etag(plane: Harness, url: str) -> str:
    with httpx.Client() as http:
        return http.head(url, headers={"Authorization": f"Bearer {TOKEN}"}).headers["etag"]


def test_sha256_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert sha256_file(empty) == hashlib.sha256(b"").hexdigest()
    data = make_file(tmp_path / "d", 3 * 1000 + 7)
    assert sha256_file(tmp_path / "d", chunk_size=1000) == hashlib.sha256(data).hexdigest()


def test_full_download(plane: Harness, payload: tuple[Path, bytes], tmp_path: Path) -> None:
    source, data = payload
    url = plane.grant(TOKEN, "t-c", source)
    dest = tmp_path / "out" / "file.bin"
    dest.parent.mkdir()
    seen: list[tuple[int, int | None]] = []
    result = download(url, TOKEN, dest, progress=lambda d, t: seen.append((d, t)))
    assert result.path == dest
    assert result.size == len(data)
    assert result.sha256 == sha256_file(source) == hashlib.sha256(data).hexdigest()
    assert result.resumed is False
    assert dest.read_bytes() == data
    assert not part_of(dest).exists() and not sidecar_of(dest).exists()
    assert seen[-1] == (len(data), len(data))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert all(t == len(data) for _, t in seen)
    (request,) = plane.requests_to("t-c")
    assert "range" not in request.headers


def test_download_replaces_existing_dest(
    plane: Harness, payload: tuple[Path, bytes], tmp_path: Path
) -> None:
    source, data = payload
    url = plane.grant(TOKEN, "t-c", source)
    dest = tmp_path / "file.bin"
    dest.write_bytes(b"old contents")
    download(url, TOKEN, dest)
    assert dest.read_bytes() == data


def test_resume_from_half(plane: Harness, payload: tuple[Path, bytes], tmp_path: Path) -> None:
    source, data = payload
    url = plane.grant(TOKEN, "t-c", source)
    dest = tmp_path / "file.bin"
    half = len(data) // 2
    part_of(dest).write_bytes(data[:half])
    etag = current_etag(plane, url)
    sidecar_of(dest).write_text(etag)
    seen: list[tuple[int, int | None]] = []
    result = download(url, TOKEN, dest, progress=lambda d, t: seen.append((d, t)))
    assert result.resumed is True
    assert result.size == len(data)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert dest.read_bytes() == data
    assert seen[0] == (half, len(data)) and seen[-1] == (len(data), len(data))
    get = [r for r in plane.requests_to("t-c") if r.method == "GET"]
    assert len(get) == 1
    assert get[0].headers["range"] == f"bytes={half}-"
    assert get[0].headers["if-range"] == etag
    assert not part_of(dest).exists() and not sidecar_of(dest).exists()


def test_stale_etag_restarts_from_zero(
    plane: Harness, payload: tuple[Path, bytes], tmp_path: Path
) -> None:
    source, data = payload
    url = plane.grant(TOKEN, "t-c", source)
    dest = tmp_path / "file.bin"
    part_of(dest).write_bytes(b"bytes of an older version of the file")
    sidecar_of(dest).write_text('"stale"')
    result = download(url, TOKEN, dest)
    assert result.resumed is False
    assert dest.read_bytes() == data
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    (request,) = plane.requests_to("t-c")
    assert request.headers["if-range"] == '"stale"'


def test_part_without_sidecar_is_discarded(
    plane: Harness, payload: tuple[Path, bytes], tmp_path: Path
) -> None:
    source, data = payload
    url = plane.grant(TOKEN, "t-c", source)
    dest = tmp_path / "file.bin"
    part_of(dest).write_bytes(b"x" * 1000)
    result = download(url, TOKEN, dest)
    assert (result.resumed, dest.read_bytes()) == (False, data)
    (request,) = plane.requests_to("t-c")
    assert "range" not in request.headers


def test_complete_part_is_finished_without_a_body(
    plane: Harness, payload: tuple[Path, bytes], tmp_path: Path
) -> None:
    source, data = payload
    url = plane.grant(TOKEN, "t-c", source)
    dest = tmp_path / "file.bin"
    part_of(dest).write_bytes(data)
    sidecar_of(dest).write_text(current_etag(plane, url))
    result = download(url, TOKEN, dest)
    assert (result.resumed, result.size) == (True, len(data))
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert dest.read_bytes() == data


def test_part_longer_than_file_is_discarded(
    plane: Harness, payload: tuple[Path, bytes], tmp_path: Path
) -> None:
    source, data = payload
    url = plane.grant(TOKEN, "t-c", source)
    dest = tmp_path / "file.bin"
    part_of(dest).write_bytes(data + b"trailing junk")
    sidecar_of(dest).write_text(current_etag(plane, url))
    result = download(url, TOKEN, dest)
    assert (result.resumed, dest.read_bytes()) == (False, data)
    assert [r.headers.get("range") for r in plane.requests_to("t-c") if r.method == "GET"] == [
        f"bytes={len(data) + 13}-",
        None,
    ]


def test_dropped_connection_is_resumed(plane: Harness, tmp_path: Path) -> None:
    source = tmp_path / "src.bin"
    data = make_file(source, (5 << 20) + 77)
    url = plane.grant(TOKEN, "t-c", source)
    cut = (3 << 20) + 12345
    plane.recorder.cut["/data/t-c"] = cut
    dest = tmp_path / "file.bin"
    result = download(url, TOKEN, dest, retries=2)
    assert result.resumed is True
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert dest.read_bytes() == data
    ranges = [r.headers.get("range") for r in plane.requests_to("t-c")]
    assert ranges[0] is None
    assert ranges[-1] == f"bytes={cut}-"


def test_drop_without_retries_leaves_a_resumable_part(plane: Harness, tmp_path: Path) -> None:
    source = tmp_path / "src.bin"
    data = make_file(source, (3 << 20) + 5)
    url = plane.grant(TOKEN, "t-c", source)
    cut = (1 << 20) + 99
    plane.recorder.cut["/data/t-c"] = cut
    dest = tmp_path / "file.bin"
    with pytest.raises(httpx.TransportError):
        download(url, TOKEN, dest, retries=0)
    assert not dest.exists()
    assert part_of(dest).read_bytes() == data[:cut]
    assert sidecar_of(dest).read_text().startswith('"')
    plane.authority.revoked.add(TOKEN)  # suspended: refused, and the .part is kept
    with pytest.raises(DownloadError) as info:
        download(url, TOKEN, dest, retries=3)
    assert info.value.status == 403
    assert part_of(dest).read_bytes() == data[:cut]
    plane.authority.revoked.clear()  # resumed
    result = download(url, TOKEN, dest, retries=0)
    assert (result.resumed, dest.read_bytes()) == (True, data)
    assert result.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("token", "transfer", "revoked", "status", "reason"),
    [
        ("wrong-token", "t-c", False, 401, "unknown token"),
        (TOKEN, "t-c", True, 403, "transfer is not active"),
        (TOKEN, "t-other", False, 403, "token not valid for this transfer"),
    ],
)
def test_refusals_raise_without_retry(
    plane: Harness,
    payload: tuple[Path, bytes],
    tmp_path: Path,
    token: str,
    transfer: str,
    revoked: bool,
    status: int,
    reason: str,
) -> None:
    plane.grant(TOKEN, "t-c", payload[0])
    if revoked:
        plane.authority.revoked.add(TOKEN)
    dest = tmp_path / "file.bin"
    with pytest.raises(DownloadError) as info:
        download(plane.url(transfer), token, dest, retries=3)
    assert (info.value.status, info.value.reason) == (status, reason)
    assert len(plane.authority.calls) == 1
    assert not dest.exists()


def test_missing_file_is_404(plane: Harness, tmp_path: Path) -> None:
    url = plane.grant(TOKEN, "t-c", tmp_path / "missing.bin")
    with pytest.raises(DownloadError) as info:
        download(url, TOKEN, tmp_path / "file.bin")
    assert (info.value.status, info.value.reason) == (404, "file not found")
    assert len(plane.authority.calls) == 1


def test_416_is_an_error(plane: Harness, tmp_path: Path) -> None:
    with pytest.raises(DownloadError) as info:
        download(f"{plane.base_url}/stub/416", TOKEN, tmp_path / "file.bin", retries=3)
    assert (info.value.status, info.value.reason) == (416, "stub 416")
    assert len([r for r in plane.recorder.seen if r.path == "/stub/416"]) == 1


def test_server_errors_are_retried_then_raised(plane: Harness, tmp_path: Path) -> None:
    with pytest.raises(DownloadError) as info:
        download(f"{plane.base_url}/stub/503", TOKEN, tmp_path / "file.bin", retries=2)
    assert (info.value.status, info.value.reason) == (503, "stub 503")
    assert len([r for r in plane.recorder.seen if r.path == "/stub/503"]) == 3


def test_connection_refused_is_retried_then_raised(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        with pytest.raises(httpx.ConnectError):
            download(f"http://127.0.0.1:{port}/data/x", TOKEN, tmp_path / "f", retries=1)


def test_given_client_is_left_open(
    plane: Harness, payload: tuple[Path, bytes], tmp_path: Path
) -> None:
    url = plane.grant(TOKEN, "t-c", payload[0])
    with httpx.Client() as http:
        download(url, TOKEN, tmp_path / "a", client=http)
        download(url, TOKEN, tmp_path / "b", client=http)
        assert not http.is_closed
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes() == payload[1]
