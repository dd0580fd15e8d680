"""Consumer side of the HTTP pull data plane: download one granted file, resumably.

Rules and invariants:

* Bytes go to `<dest>.part`; `dest` itself appears only complete, by an atomic rename, after
  which the `.part` and its `.part.etag` sidecar are gone.
* The sidecar holds the strong ETag of the representation the `.part` is a prefix of. A `.part`
  is resumed only with `Range: bytes=<size>-` plus `If-Range: <etag>`, so a changed file can
  never be spliced onto old bytes: the server answers 200 and the download restarts from zero.
  A `.part` without a usable ETag is discarded.
* A 206 must start exactly at the `.part` size, otherwise the `.part` is discarded.
* With ``expected_sha256``, a file whose SHA-256 differs never takes the name `dest`: its bytes
  are moved to `<dest>.sha256-mismatch` (for inspection; the next download replaces it) and
  :class:`ChecksumMismatch` is raised. A `dest` that was there before is left as it was.
* The SHA-256 covers the whole final file: a resumed `.part` is hashed first (streaming), then
  every received chunk. Memory use is bounded by the chunk size, whatever the file size.
* Transport errors (refused, reset, timeout, short body) and 5xx are retried up to `retries`
  times, resuming from what is on disk. 4xx are never retried: they raise `DownloadError` with
  the server's `{"error": reason}` text.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from hashlib import _Hash

__all__ = ["ChecksumMismatch", "DownloadError", "DownloadResult", "download", "sha256_file"]

Progress = Callable[[int, int | None], None]

_CONTENT_RANGE_RE = re.compile(r"bytes ([0-9]+)-([0-9]+)/([0-9]+)")
_UNSATISFIED_RE = re.compile(r"bytes \*/([0-9]+)")
_MAX_ERROR_BODY = 64 * 1024


@dataclass(frozen=True)
class DownloadResult:
    """A finished download: final path, size, hex SHA-256 of the whole file, and whether bytes
    from an earlier `.part` were reused."""

    path: Path
    size: int
    sha256: str
    resumed: bool


class DownloadError(Exception):
    """The server refused the download (or kept failing): HTTP status and its reason text."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status}: {reason}")
        self.status = status
        self.reason = reason


class ChecksumMismatch(Exception):
    """The bytes arrived whole but are not the expected ones; they were kept at ``kept``."""

    def __init__(self, expected: str, got: str, kept: Path) -> None:
        super().__init__(f"checksum mismatch: expected sha256 {expected}, got {got};"
                         f" the bytes were not saved under the destination name but kept"
                         f" at {kept}")  # fmt: skip
        self.expected, self.got, self.kept = expected, got, kept


class _Retry(Exception):
    """An attempt failed in a way worth retrying (short body, 5xx, inconsistent range)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status}: {reason}")
        self.status = status
        self.reason = reason


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in `chunk_size` pieces."""
    return _hash_file(hashlib.sha256(), path, chunk_size).hexdigest()


def _hash_file(hasher: _Hash, path: Path, chunk_size: int) -> _Hash:
    with path.open("rb", buffering=0) as fh:
        while chunk := fh.read(chunk_size):
            hasher.update(chunk)
    return hasher


def download(
    url: str,
    token: str,
    dest: Path,
    *,
    progress: Progress | None = None,
    client: httpx.Client | None = None,
    chunk_size: int = 1 << 20,
    retries: int = 3,
    expected_sha256: str | None = None,
) -> DownloadResult:
    """Download `url` with bearer `token` into `dest`, resuming `<dest>.part` if present; with
    `expected_sha256`, only bytes with that SHA-256 become `dest`."""
    dest = Path(dest)
    own_client = client is None
    http = client if client is not None else httpx.Client(timeout=httpx.Timeout(30.0))
    try:
        failures = 0
        while True:
            try:
                return _attempt(http, url, token, dest, progress, chunk_size, expected_sha256)
            except (httpx.TransportError, _Retry) as exc:
                failures += 1
                if failures > retries:
                    if isinstance(exc, _Retry):
                        raise DownloadError(exc.status, exc.reason) from None
                    raise
                time.sleep(min(0.1 * 2 ** (failures - 1), 2.0))
    finally:
        if own_client:
            http.close()


def _sidecar(part: Path) -> Path:
    return part.with_name(part.name + ".etag")


def _discard(part: Path) -> None:
    part.unlink(missing_ok=True)
    _sidecar(part).unlink(missing_ok=True)


def _resume_point(part: Path) -> tuple[int, str | None]:
    """Size of a resumable `.part` and its ETag, or (0, None) after discarding a bad one."""
    try:
        size = part.stat().st_size
    except FileNotFoundError:
        _sidecar(part).unlink(missing_ok=True)
        return 0, None
    try:
        etag = _sidecar(part).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        etag = ""
    if size == 0 or not etag.startswith('"'):
        _discard(part)
        return 0, None
    return size, etag


def _reason(response: httpx.Response) -> str:
    body = b""
    for piece in response.iter_raw():
        body += piece
        if len(body) > _MAX_ERROR_BODY:
            break
    try:
        data = json.loads(body[:_MAX_ERROR_BODY])
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            return str(data["error"])
    except ValueError:
        pass
    return response.reason_phrase or f"HTTP {response.status_code}"


class _Sink:
    """Appends received bytes to the `.part` and the hash in chunks of about `chunk_size`.

    The transport yields small pieces; joining them costs one copy per chunk and keeps writes,
    hash updates and progress calls few. `flush()` must run even when the transfer fails, so
    every byte received is on disk before a resume computes its offset.
    """

    def __init__(
        self,
        out: IO[bytes],
        hasher: _Hash,
        done: int,
        total: int | None,
        progress: Progress | None,
        chunk_size: int,
    ) -> None:
        self.out, self.hasher, self.done, self.total = out, hasher, done, total
        self.progress, self.chunk_size = progress, chunk_size
        self.pending: list[bytes] = []
        self.held = 0

    def add(self, piece: bytes) -> None:
        self.pending.append(piece)
        self.held += len(piece)
        if self.held >= self.chunk_size:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        chunk = b"".join(self.pending)
        self.pending, self.held = [], 0
        self.out.write(chunk)
        self.hasher.update(chunk)
        self.done += len(chunk)
        if self.progress is not None:
            self.progress(self.done, self.total)


def _record_etag(part: Path, etag: str) -> None:
    if etag.startswith('"'):  # strong validators only: If-Range needs one
        _sidecar(part).write_text(etag, encoding="utf-8")
    else:
        _sidecar(part).unlink(missing_ok=True)


def _finish(part: Path, dest: Path, size: int, hasher: _Hash, resumed: bool,
            expected: str | None = None) -> DownloadResult:  # fmt: skip
    digest = hasher.hexdigest()
    if expected is not None and digest != expected.strip().lower():
        kept = dest.with_name(dest.name + ".sha256-mismatch")
        os.replace(part, kept)
        _sidecar(part).unlink(missing_ok=True)
        raise ChecksumMismatch(expected, digest, kept)
    os.replace(part, dest)
    _sidecar(part).unlink(missing_ok=True)
    return DownloadResult(dest, size, digest, resumed)


def _attempt(
    http: httpx.Client,
    url: str,
    token: str,
    dest: Path,
    progress: Progress | None,
    chunk_size: int,
    expected: str | None = None,
) -> DownloadResult:
    part = dest.with_name(dest.name + ".part")
    offset, etag = _resume_point(part)
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"}
    prefix = None
    if etag is not None:
        headers["Range"] = f"bytes={offset}-"
        headers["If-Range"] = etag
        # Hash the .part before asking, not while an open response waits on a large file.
        prefix = _hash_file(hashlib.sha256(), part, chunk_size)
    with http.stream("GET", url, headers=headers) as response:
        status = response.status_code
        if status == 416 and offset > 0:
            # Our range starts at the end: with a matching If-Range that means the .part is
            # already the whole file (a changed file would have produced a 200).
            match = _UNSATISFIED_RE.fullmatch(response.headers.get("content-range", ""))
            if prefix is not None and match and int(match.group(1)) == offset:
                return _finish(part, dest, offset, prefix, True, expected)
            _discard(part)
            raise _Retry(status, "range from the end of the .part not satisfiable")
        if 400 <= status < 500:
            raise DownloadError(status, _reason(response))
        if status >= 500:
            raise _Retry(status, _reason(response))
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding != "identity":  # we asked for identity: offsets must be file offsets
            raise DownloadError(status, f"unexpected content-encoding {encoding!r}")
        if status == 206 and prefix is not None:
            match = _CONTENT_RANGE_RE.fullmatch(response.headers.get("content-range", ""))
            if not match or int(match.group(1)) != offset:
                _discard(part)
                raise _Retry(status, "206 does not start at the end of the .part")
            total: int | None = int(match.group(3))
            hasher = prefix
            mode, done, resumed = "ab", offset, True
        elif status == 200:
            length = response.headers.get("content-length", "")
            total = int(length) if length.isascii() and length.isdigit() else None
            hasher = hashlib.sha256()
            mode, done, resumed = "wb", 0, False
        else:
            raise DownloadError(status, response.reason_phrase or "unexpected status")
        with part.open(mode) as out:
            if mode == "wb":
                # Only now that the .part is empty may the sidecar name the new representation:
                # a crash in between leaves an empty .part, which is never resumed.
                _record_etag(part, response.headers.get("etag", ""))
            if progress is not None:
                progress(done, total)
            sink = _Sink(out, hasher, done, total, progress, chunk_size)
            try:
                for piece in response.iter_raw():
                    sink.add(piece)
            finally:
                sink.flush()
        if total is not None and sink.done != total:
            raise _Retry(status, f"short body: {sink.done} of {total} bytes")
    return _finish(part, dest, sink.done, hasher, resumed, expected)
