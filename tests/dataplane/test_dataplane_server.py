"""Provider side: `pull_routes` behind a real uvicorn, exercised over HTTP with httpx."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import httpx
import pytest

from tests.dataplane.dataplane_harness import Harness, make_file
from trustspace.dataplane.server import Denied, Grant, pull_routes, select_slice

TOKEN = "tok-0123456789abcdef"


def bearer(token: str = TOKEN, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def test_full_get_headers_and_body(
    plane: Harness, http: httpx.Client, payload: tuple[Path, bytes]
) -> None:
    path, data = payload
    url = plane.grant(TOKEN, "t-1", path, media_type="text/csv", filename='Résumé "q".csv')
    r = http.get(url, headers=bearer())
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["content-length"] == str(len(data))
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-type"].startswith("text/csv")
    etag = r.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 2
    disposition = r.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="R_sum_ _q_.csv"')
    assert "filename*=UTF-8''R%C3%A9sum%C3%A9%20%22q%22.csv" in disposition
    assert "content-range" not in r.headers
    assert plane.authority.calls == [("t-1", TOKEN)]


def test_no_filename_no_disposition(
    plane: Harness, http: httpx.Client, payload: tuple[Path, bytes]
) -> None:
    url = plane.grant(TOKEN, "t-1", payload[0])
    r = http.get(url, headers=bearer())
    assert r.status_code == 200
    assert "content-disposition" not in r.headers
    assert r.headers["content-type"] == "application/octet-stream"


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=1048570-1048580", 1048570, 1048580),  # across the 1 MiB chunk boundary
        ("bytes=1000-", 1000, None),
        ("bytes=-500", -500, None),
        ("bytes=-99999999", 0, None),  # suffix longer than the file: whole file
        ("bytes=10-99999999", 10, None),  # end past the file: clamped
        ("BYTES = 5-5", 5, 5),
        ("bytes=5-9,", 5, 9),  # empty list elements are allowed
    ],
)
def test_single_range(
    plane: Harness,
    http: httpx.Client,
    payload: tuple[Path, bytes],
    header: str,
    start: int,
    end: int | None,
) -> None:
    path, data = payload
    size = len(data)
    url = plane.grant(TOKEN, "t-1", path)
    r = http.get(url, headers=bearer(Range=header))
    first = start % size if start < 0 else start
    last = size - 1 if end is None else end
    assert r.status_code == 206
    assert r.content == data[first : last + 1]
    assert r.headers["content-range"] == f"bytes {first}-{last}/{size}"
    assert r.headers["content-length"] == str(last - first + 1)


@pytest.mark.parametrize("header", ["bytes=2000000-", "bytes=2000000-2000001", "bytes=-0"])
def test_unsatisfiable_range(
    plane: Harness, http: httpx.Client, payload: tuple[Path, bytes], header: str
) -> None:
    path, data = payload
    url = plane.grant(TOKEN, "t-1", path)
    r = http.get(url, headers=bearer(Range=header))
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{len(data)}"
    assert r.json() == {"error": "range not satisfiable"}


def test_if_range(plane: Harness, http: httpx.Client, payload: tuple[Path, bytes]) -> None:
    path, data = payload
    url = plane.grant(TOKEN, "t-1", path)
    etag = http.head(url, headers=bearer()).headers["etag"]
    r = http.get(url, headers=bearer(Range="bytes=10-19", **{"If-Range": etag}))
    assert (r.status_code, r.content) == (206, data[10:20])
    for stale in ['"0123"', f"W/{etag}", "Wed, 21 Oct 2015 07:28:00 GMT"]:
        r = http.get(url, headers=bearer(Range="bytes=10-19", **{"If-Range": stale}))
        assert (r.status_code, r.content) == (200, data), stale
    # a stale If-Range wins over an unsatisfiable range too: the client gets the new file
    r = http.get(url, headers=bearer(Range="bytes=9999999-", **{"If-Range": '"old"'}))
    assert (r.status_code, r.content) == (200, data)


def test_etag_changes_with_the_file(plane: Harness, http: httpx.Client, tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    make_file(path, 100)
    url = plane.grant(TOKEN, "t-1", path)
    first = http.head(url, headers=bearer()).headers["etag"]
    assert http.head(url, headers=bearer()).headers["etag"] == first
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    assert http.head(url, headers=bearer()).headers["etag"] != first


@pytest.mark.parametrize(
    "header",
    [
        "bytes=0-1,5-9",  # several ranges: served whole (RFC 9110 allows ignoring Range)
        "bytes=abc",
        "bytes=5-2",
        "bytes=",
        "bytes=-",
        "bytes=--1",
        "bytes=1-2-3",
        "bytes=\u0661-\u0662",  # non-ASCII digits
        "bytes=0x10-",
        "items=0-1",
        "bytes 0-1",
        "=",
        "",
        ",,,",
        "bytes=" + ",".join(["0-1"] * 500),
    ],
)
def test_malformed_range_gives_full_body(
    plane: Harness, http: httpx.Client, payload: tuple[Path, bytes], header: str
) -> None:
    path, data = payload
    url = plane.grant(TOKEN, "t-1", path)
    raw = [(b"authorization", f"Bearer {TOKEN}".encode()), (b"range", header.encode("utf-8"))]
    r = http.get(url, headers=raw)
    assert (r.status_code, r.content) == (200, data)


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("bytes=" + "9" * 5000 + "-", 416),  # longer than int() parses by default
        ("bytes=0-" + "9" * 5000, 206),
        ("bytes=-" + "9" * 5000, 206),
    ],
)
def test_huge_numbers_in_range(
    plane: Harness, http: httpx.Client, payload: tuple[Path, bytes], header: str, status: int
) -> None:
    url = plane.grant(TOKEN, "t-1", payload[0])
    assert http.get(url, headers=bearer(Range=header)).status_code == status


def test_head_matches_get_without_body(
    plane: Harness, http: httpx.Client, payload: tuple[Path, bytes]
) -> None:
    path, data = payload
    url = plane.grant(TOKEN, "t-1", path, filename="a.bin")
    get = http.get(url, headers=bearer())
    head = http.head(url, headers=bearer())
    assert head.status_code == 200
    assert head.content == b""
    for name in ("content-length", "etag", "accept-ranges", "content-type", "content-disposition"):
        assert head.headers[name] == get.headers[name]
    partial = http.head(url, headers=bearer(Range="bytes=-10"))
    assert partial.status_code == 206
    assert partial.headers["content-range"] == f"bytes {len(data) - 10}-{len(data) - 1}/{len(data)}"
    assert partial.headers["content-length"] == "10"
    assert len(plane.authority.calls) == 3  # GET and HEAD are authorized every time


@pytest.mark.parametrize("authorization", [None, "Basic dXNlcjpwYXNz", "Bearer", "Token abc", "x"])
def test_missing_token_is_401(
    plane: Harness,
    http: httpx.Client,
    payload: tuple[Path, bytes],
    authorization: str | None,
) -> None:
    url = plane.grant(TOKEN, "t-1", payload[0])
    headers = {} if authorization is None else {"Authorization": authorization}
    for method in ("GET", "HEAD"):
        r = http.request(method, url, headers=headers)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
    assert http.get(url, headers=headers).json() == {"error": "missing bearer token"}
    assert plane.authority.calls == []


def test_unknown_token_is_401(
    plane: Harness, http: httpx.Client, payload: tuple[Path, bytes]
) -> None:
    url = plane.grant(TOKEN, "t-1", payload[0])
    r = http.get(url, headers=bearer("nope"))
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json() == {"error": "unknown token"}
    assert http.head(url, headers=bearer("nope")).status_code == 401


def test_revoked_token_is_403_from_the_next_request(
    plane: Harness, http: httpx.Client, payload: tuple[Path, bytes]
) -> None:
    url = plane.grant(TOKEN, "t-1", payload[0])
    assert http.get(url, headers=bearer()).status_code == 200
    plane.authority.revoked.add(TOKEN)
    r = http.get(url, headers=bearer())
    assert r.status_code == 403
    assert r.json() == {"error": "transfer is not active"}
    assert "www-authenticate" not in r.headers
    assert http.head(url, headers=bearer()).status_code == 403


def test_token_for_another_transfer_is_403(
    plane: Harness, http: httpx.Client, payload: tuple[Path, bytes]
) -> None:
    plane.grant(TOKEN, "t-1", payload[0])
    r = http.get(plane.url("t-2"), headers=bearer())
    assert r.status_code == 403
    assert r.json() == {"error": "token not valid for this transfer"}


def test_missing_file_or_directory_is_404(
    plane: Harness, http: httpx.Client, tmp_path: Path
) -> None:
    for path in (tmp_path / "gone.bin", tmp_path, tmp_path / "gone" / "deeper"):
        url = plane.grant(TOKEN, "t-1", path)
        r = http.get(url, headers=bearer())
        assert r.status_code == 404
        assert r.json() == {"error": "file not found"}


def test_fifo_is_404_without_blocking(plane: Harness, http: httpx.Client, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    url = plane.grant(TOKEN, "t-1", fifo)
    assert http.get(url, headers=bearer(), timeout=5).status_code == 404


def test_empty_file(plane: Harness, http: httpx.Client, tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    url = plane.grant(TOKEN, "t-1", path)
    r = http.get(url, headers=bearer())
    assert (r.status_code, r.content, r.headers["content-length"]) == (200, b"", "0")
    r = http.get(url, headers=bearer(Range="bytes=0-"))
    assert (r.status_code, r.headers["content-range"]) == (416, "bytes */0")


def test_twenty_mib_streams(plane: Harness, http: httpx.Client, tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    data = make_file(path, 20 << 20)
    url = plane.grant(TOKEN, "t-1", path)
    digest, total, pieces = hashlib.sha256(), 0, 0
    with http.stream("GET", url, headers=bearer()) as r:
        assert r.status_code == 200
        assert r.headers["content-length"] == str(len(data))
        for piece in r.iter_raw():
            digest.update(piece)
            total += len(piece)
            pieces += 1
    assert total == len(data)
    assert pieces > 1
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_client_disconnect_releases_the_file(
    plane: Harness, http: httpx.Client, tmp_path: Path
) -> None:
    # 64 GiB of holes: a server that kept streaming into a closed connection would hold the
    # file open for many seconds; one that notices the disconnect closes it at once.
    path = tmp_path / "huge.bin"
    with path.open("wb") as fh:
        fh.truncate(64 << 30)
    url = plane.grant(TOKEN, "t-1", path)
    http.head(url, headers=bearer())  # warm the connection pool
    baseline = _open_fds()
    for _ in range(3):
        with httpx.Client() as short, short.stream("GET", url, headers=bearer()) as r:
            next(r.iter_raw())
    deadline = time.monotonic() + 3
    while _open_fds() > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _open_fds() <= baseline
    assert http.get(url, headers=bearer(Range="bytes=0-3")).status_code == 206


def test_routes_and_prefix() -> None:
    def authorize(transfer_id: str, token: str) -> Grant:
        raise Denied(401, "no")

    route, per_file = pull_routes(authorize, prefix="/files/")
    assert route.path == "/files/{transfer_id}"
    assert per_file.path == "/files/{transfer_id}/{name:path}"
    assert route.methods == per_file.methods == {"GET", "HEAD", "POST"}


def test_select_slice_rules() -> None:
    etag = '"e"'
    assert select_slice(10, etag, None, None) == select_slice(10, etag, "bytes=0-1,2-3", None)
    full = select_slice(10, etag, None, None)
    assert full is not None and (full.start, full.length, full.partial) == (0, 10, False)
    part = select_slice(10, etag, "bytes=-3", etag)
    assert part is not None and (part.start, part.length, part.partial) == (7, 3, True)
    assert select_slice(10, etag, "bytes=10-", None) is None
    assert select_slice(0, etag, "bytes=-5", None) is None
    assert select_slice(10, etag, "bytes=3-1", None) == full  # last < first: header ignored
    assert select_slice(10, '"new"', "bytes=0-1", etag) == full  # stale If-Range
