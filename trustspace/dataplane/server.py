"""Provider side of the HTTP pull data plane.

`pull_routes(authorize)` returns the Starlette routes `{prefix}/{transfer_id}` and
`{prefix}/{transfer_id}/{name}` that serve what a transfer's bearer token grants: a file (GET,
HEAD), or for a version of several files the manifest listing them as JSON at the first address
and each file at the second, or for an HTTP API product a call passed on to its backend (GET,
HEAD, and POST when the API takes it).

Rules and invariants:

* Every request, GET and HEAD alike, calls `authorize(transfer_id, token)` (in a worker thread,
  because the authorizer may hit a database). Nothing is cached between requests, so a token
  stops working as soon as the authorizer says so (transfer suspended, completed, terminated).
* A missing or non-Bearer `Authorization` header is 401 without calling the authorizer. A
  `Denied` from the authorizer becomes its status (401 unknown token, 403 not allowed now; a
  status outside 4xx is answered as 403).
  Every error body is JSON `{"error": reason}`; a 401 carries `WWW-Authenticate: Bearer`.
* The file is opened once per request and size, ETag and body all come from that open
  descriptor, so they agree even if the path is replaced meanwhile. The ETag is strong and
  changes whenever size, mtime_ns or inode changes; exactly the size seen at open is sent.
  Granted files are expected to be immutable: replace them (new inode), never rewrite them in
  place while a transfer may read them.
* A granted path that is missing or not a regular file is 404.
* Ranges: one `bytes=a-b`, `bytes=a-` or `bytes=-n` gives 206 with `Content-Range`; a single
  unsatisfiable range gives 416 with `Content-Range: bytes */size`. Anything else (several
  ranges, other units, bad syntax) is ignored and the full file is sent with 200, as RFC 9110
  allows. An `If-Range` that is not exactly the current ETag also gives the full 200.
  Client-supplied headers can never cause a 500.
* The body is read in 1 MiB chunks in a worker thread and handed to the server one chunk at a
  time, honouring its back-pressure: memory stays flat whatever the file size. The stream stops
  when the client disconnects, and the file is closed on every path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import quote

import anyio
import httpx
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from trustspace.core.fileset import FILESET_MEDIA_TYPE

__all__ = [
    "CHUNK_SIZE",
    "Authorizer",
    "ByteSlice",
    "Denied",
    "Grant",
    "pull_routes",
    "select_slice",
]

log = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20
"""Bytes read from disk and handed to the server per step."""


@dataclass(frozen=True)
class Grant:
    """What an authorized token may read: one file, served with this media type and name."""

    path: Path
    media_type: str = "application/octet-stream"
    filename: str | None = None
    consume: Callable[[], None] | None = None
    """Called once before the body of a GET (200 or 206) is sent: it records the use and may
    still raise `Denied` (a concurrent access took the last permitted use).  HEAD, 304 and 416
    responses consume nothing."""
    manifest: dict[str, Any] | None = None
    """When set, the answer is this JSON (``FILESET_MEDIA_TYPE``) instead of a file; it lists
    files and consumes nothing."""
    upstream: str | None = None
    """When set, the request is passed to this URL (an HTTP API product's backend), with the
    caller's query string and ``upstream_headers``; the answer streams back."""
    upstream_headers: dict[str, str] = field(default_factory=dict)
    upstream_methods: tuple[str, ...] = ("GET",)
    """The methods the backend takes (HEAD goes with GET); others are answered 405."""


class Denied(Exception):
    """Raised by an authorizer: 401 for a missing or unknown token, 403 when the token is known
    but the transfer is not active or policy denies access."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


class Authorizer(Protocol):
    """`authorize(transfer_id, token[, name]) -> Grant`, raising `Denied`. Synchronous; may
    block.  ``name`` is passed only for the per-file address."""

    def __call__(self, transfer_id: str, token: str, name: str | None = None) -> Grant: ...


def pull_routes(authorize: Authorizer, prefix: str = "/data") -> list[Route]:
    """Routes serving `GET|HEAD {prefix}/{transfer_id}[/{name}]` for what `authorize` grants."""
    path = prefix.rstrip("/") + "/{transfer_id}"
    endpoint = _PullEndpoint(authorize)
    return [
        Route(path, endpoint, methods=["GET", "HEAD", "POST"]),
        Route(path + "/{name:path}", endpoint, methods=["GET", "HEAD", "POST"]),
    ]


# --- range selection ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ByteSlice:
    """`length` bytes from `start`; `partial` means a 206 with Content-Range."""

    start: int
    length: int
    partial: bool


_BYTES_RE = re.compile(r"[ \t]*bytes[ \t]*=(.*)", re.IGNORECASE | re.DOTALL)
_SPEC_RE = re.compile(r"([0-9]*)[ \t]*-[ \t]*([0-9]*)")
_HUGE = 1 << 62  # stands in for numbers too long to be meaningful (and to parse cheaply)


def _num(digits: str) -> int:
    return int(digits) if len(digits) <= 18 else _HUGE


def select_slice(
    size: int, etag: str, range_value: str | None, if_range: str | None
) -> ByteSlice | None:
    """The part of a `size`-byte file to send; None means 416 (single unsatisfiable range)."""
    full = ByteSlice(0, size, partial=False)
    if range_value is None:
        return full
    if if_range is not None and if_range.strip() != etag:
        return full
    match = _BYTES_RE.fullmatch(range_value)
    if match is None:
        return full
    specs = [spec.strip(" \t") for spec in match.group(1).split(",")]
    specs = [spec for spec in specs if spec]
    if len(specs) != 1:
        return full
    spec = _SPEC_RE.fullmatch(specs[0])
    if spec is None:
        return full
    first, last = spec.groups()
    if first:
        start = _num(first)
        end = _num(last) if last else size - 1
        if last and end < start:
            return full  # invalid range-spec: ignore the header
        if start >= size:
            return None
        end = min(end, size - 1)
        return ByteSlice(start, end - start + 1, partial=True)
    if last:
        suffix = _num(last)
        if suffix == 0 or size == 0:
            return None
        start = max(0, size - suffix)
        return ByteSlice(start, size - start, partial=True)
    return full


# --- helpers ------------------------------------------------------------------------------------


def _etag(st: os.stat_result) -> str:
    key = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}".encode()
    return '"' + hashlib.sha256(key).hexdigest()[:32] + '"'


def _content_disposition(filename: str) -> str:
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _bearer_token(headers: Headers) -> str | None:
    value = headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def _open_regular(path: Path) -> tuple[BinaryIO, os.stat_result]:
    """Open `path` for reading; FileNotFoundError unless it is a regular file."""
    # O_NONBLOCK so that a FIFO at the path cannot hang the worker; no effect on regular files.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileNotFoundError(f"not a regular file: {path}")
        fh = os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise
    return fh, st


async def _send_error(scope: Scope, receive: Receive, send: Send, status: int, reason: str) -> None:
    headers: dict[str, str] = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    await JSONResponse({"error": reason}, status_code=status, headers=headers)(scope, receive, send)


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


# --- the endpoint -------------------------------------------------------------------------------


class _PullEndpoint:
    """ASGI app behind the route: authorize, open, pick the slice, stream it."""

    def __init__(self, authorize: Authorizer) -> None:
        self._authorize = authorize

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        token = _bearer_token(headers)
        if token is None:
            await _send_error(scope, receive, send, 401, "missing bearer token")
            return
        transfer_id = str(scope["path_params"]["transfer_id"])
        name = scope["path_params"].get("name")
        try:
            if name is None:
                grant = await run_in_threadpool(self._authorize, transfer_id, token)
            else:
                grant = await run_in_threadpool(self._authorize, transfer_id, token, str(name))
        except Denied as denied:
            status = denied.status if 400 <= denied.status < 500 else 403
            await _send_error(scope, receive, send, status, denied.reason)
            return
        if grant.upstream is not None:
            await _proxy(scope, receive, send, grant)
            return
        if scope["method"] == "POST":
            await _send_error(scope, receive, send, 405, "files are read with GET")
            return
        if grant.manifest is not None:
            body = json.dumps(grant.manifest, separators=(",", ":")).encode()
            out = {"Content-Type": FILESET_MEDIA_TYPE, "Content-Length": str(len(body)),
                   "Cache-Control": "no-store"}  # fmt: skip
            await send({"type": "http.response.start", "status": 200, "headers": _raw(out)})
            payload = b"" if scope["method"] == "HEAD" else body
            await send({"type": "http.response.body", "body": payload, "more_body": False})
            return
        try:
            fh, st = await run_in_threadpool(_open_regular, grant.path)
        except OSError as exc:
            if not isinstance(exc, FileNotFoundError | NotADirectoryError):
                log.warning("transfer %s: cannot open %s: %s", transfer_id, grant.path, exc)
            await _send_error(scope, receive, send, 404, "file not found")
            return
        try:
            await self._respond(scope, receive, send, headers, grant, fh, st)
        finally:
            fh.close()

    async def _respond(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request_headers: Headers,
        grant: Grant,
        fh: BinaryIO,
        st: os.stat_result,
    ) -> None:
        size = st.st_size
        etag = _etag(st)
        chosen = select_slice(
            size, etag, request_headers.get("range"), request_headers.get("if-range")
        )
        common = {"Accept-Ranges": "bytes", "ETag": etag, "Cache-Control": "no-store"}
        if chosen is None:
            body = b'{"error":"range not satisfiable"}'
            out = common | {
                "Content-Range": f"bytes */{size}",
                "Content-Type": "application/json",
                "Content-Length": str(len(body)),
            }
            await send({"type": "http.response.start", "status": 416, "headers": _raw(out)})
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        out = common | {
            "Content-Type": grant.media_type,
            "Content-Length": str(chosen.length),
            "X-Content-Type-Options": "nosniff",
        }
        if grant.filename:
            out["Content-Disposition"] = _content_disposition(grant.filename)
        if chosen.partial:
            end = chosen.start + chosen.length - 1
            out["Content-Range"] = f"bytes {chosen.start}-{end}/{size}"
        status = 206 if chosen.partial else 200
        if grant.consume is not None and scope["method"] == "GET":
            try:
                await run_in_threadpool(grant.consume)
            except Denied as denied:
                await _send_error(scope, receive, send, denied.status, denied.reason)
                return
        await send({"type": "http.response.start", "status": status, "headers": _raw(out)})
        if scope["method"] == "HEAD" or chosen.length == 0:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        await _stream_until_disconnect(fh, chosen.start, chosen.length, receive, send)


async def _stream_until_disconnect(
    fh: BinaryIO, start: int, length: int, receive: Receive, send: Send
) -> None:
    """Send `length` bytes of `fh` from `start`; stop early if the client goes away."""

    def read_at(offset: int, count: int) -> bytes:
        return os.pread(fh.fileno(), count, offset)

    async with anyio.create_task_group() as tg:

        async def watch_disconnect() -> None:
            message: Message = await receive()
            while message["type"] != "http.disconnect":
                message = await receive()
            tg.cancel_scope.cancel()

        tg.start_soon(watch_disconnect)
        offset, remaining = start, length
        chunk = await anyio.to_thread.run_sync(read_at, offset, min(CHUNK_SIZE, remaining))
        while chunk:
            offset += len(chunk)
            remaining -= len(chunk)
            if remaining <= 0:
                await send({"type": "http.response.body", "body": chunk, "more_body": False})
                break
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            chunk = await anyio.to_thread.run_sync(read_at, offset, min(CHUNK_SIZE, remaining))
        else:
            # The file shrank under us: returning without finishing makes the server drop the
            # connection, so the client sees a short body instead of silently wrong data.
            log.warning("file shrank while being served; %d bytes not sent", remaining)
        tg.cancel_scope.cancel()


# --- HTTP API products ---------------------------------------------------------------------------

_PASSED_BACK = ("content-type", "content-length", "etag", "last-modified")


async def _proxy(scope: Scope, receive: Receive, send: Send, grant: Grant) -> None:
    """Pass a GET, HEAD or (when the API takes it) POST to the backend and stream its answer
    back.

    Only the caller's query string, and for POST its body (at most ``MAX_API_BODY`` bytes, a
    bound the node's :class:`trustspace.edge.BodyLimit` enforces with 413 while the body
    arrives) and content type, go along: no other caller header, as its bearer token is for
    this node, not the backend.  The use is consumed before the backend is called.  A backend
    that cannot be reached, redirects or answers 5xx gives 502 with the reason, one that does
    not answer in time 504; its 4xx answers pass through.
    """
    assert grant.upstream is not None
    method = scope["method"]
    if (method if method != "HEAD" else "GET") not in grant.upstream_methods:
        allowed = ", ".join(grant.upstream_methods)
        await _send_error(scope, receive, send, 405, f"this API takes {allowed}")
        return
    body = await _read_body(receive) if method == "POST" else b""
    if grant.consume is not None and method != "HEAD":
        try:
            await run_in_threadpool(grant.consume)
        except Denied as denied:
            await _send_error(scope, receive, send, denied.status, denied.reason)
            return
    query = scope.get("query_string", b"").decode("latin-1")
    url = grant.upstream + (f"?{query}" if query else "")
    asked = Headers(scope=scope)
    headers = {"Accept": asked.get("accept", "*/*"), "Accept-Encoding": "identity",
               **grant.upstream_headers}  # fmt: skip
    if method == "POST":
        headers["Content-Type"] = asked.get("content-type", "application/octet-stream")
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0), follow_redirects=False) as http:
        try:
            request = http.build_request(method, url, headers=headers, content=body or None)
            response = await http.send(request, stream=True)
        except httpx.TimeoutException as exc:
            reason = f"the API backend did not answer in time: {exc!r}"
            await _send_error(scope, receive, send, 504, reason)
            return
        except httpx.HTTPError as exc:
            await _send_error(scope, receive, send, 502, f"the API backend is unreachable: {exc}")
            return
        try:
            if response.status_code >= 500 or 300 <= response.status_code < 400:
                reason = f"the API backend answered {response.status_code}"
                await _send_error(scope, receive, send, 502, reason)
                return
            out = {k: v for k, v in response.headers.items() if k.lower() in _PASSED_BACK}
            out.setdefault("content-type", grant.media_type)
            out["cache-control"] = "no-store"
            out["x-content-type-options"] = "nosniff"
            await send({"type": "http.response.start", "status": response.status_code,
                        "headers": _raw(out)})  # fmt: skip
            async for chunk in response.aiter_raw(CHUNK_SIZE):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()


MAX_API_BODY = 1 << 20
"""The largest body of a call to an API product (the data plane's own body limit)."""


async def _read_body(receive: Receive) -> bytes:
    """The request body, already bounded by the node's body limit."""
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)
