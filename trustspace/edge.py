"""The node's HTTP edge: what every request meets before a route reads it.

Rules, for every route of the node (DSP, data plane, management API, operator, TCK):

* **Headers**: a connection that has not sent a request's whole header block within
  ``header_timeout`` seconds of opening (or of the first byte of a later request on a kept-alive
  connection) gets 408 and is closed.  A header block (request line included) over
  ``MAX_HEADER_BYTES`` gets 431 and is closed.  Both are enforced by :func:`http_protocol`, the
  uvicorn protocol the node is served with.
* **Connections**: at most ``max_connections`` are open at once; one over the limit is
  answered 503 before anything is read, and closed.
* **Bodies** (:class:`BodyLimit`, wrapping the whole app): a declared ``Content-Length`` over
  the route's limit is answered 413 at once, without reading the body; a chunked or undeclared
  body is counted as it arrives and refused with 413 as soon as it passes the limit; a body
  that has not arrived whole within ``body_timeout`` seconds of the request is refused with
  408.  The limit is ``max_body_bytes``, or the route's own value (the data plane's API calls,
  uploads to the management API, which also have their own time).  Nothing past the limit is
  kept: the app sees at most the limit.
* A response sent before the request body was read whole (a refusal, a 401 before the body,
  an oversized body) carries ``Connection: close`` and uvicorn closes the connection after it,
  so the rest of a large body is neither buffered nor read.
* A path with a NUL character is answered 400; ``/path/`` is served as ``/path``.
* **Error bodies** are those of the surface the path belongs to (the ``error`` function the app gives, :func:`trustspace.app.surface_error`): the DSP
  error object of the area (catalog, negotiation, transfer) under the DSP base path, else
  ``{"error": reason}``.  The same goes for unknown paths (404), wrong methods (405), JSON too
  deep for a handler (``RecursionError``, 400), values the store cannot hold (400), failed
  peers (``RemoteError``: 502 or 504) and an unavailable database (503), through the app's
  one table, :data:`trustspace.app.STATUS`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from typing import ClassVar

import anyio
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = [
    "MAX_HEADER_BYTES",
    "BodyLimit",
    "NormalPath",
    "http_protocol",
    "plain_error",
]

log = logging.getLogger("trustspace.edge")

MAX_HEADER_BYTES = 64 << 10
"""Request line and headers of one request, at most (a token with several credentials is
a few KiB)."""

ErrorBody = Callable[[str, int, str, str], Response]


def plain_error(path: str, status: int, code: str, reason: str) -> Response:
    """``{"error": reason}``: the default; the app passes the one that knows its surfaces."""
    return JSONResponse({"error": reason}, status_code=status)


class NormalPath:
    """Treat ``/path/`` as ``/path`` (peers differ on callback addresses); refuse a path with a
    NUL character (``%00``) with 400, as no id holds one and some stores cannot look it up."""

    def __init__(self, app: ASGIApp, error: ErrorBody = plain_error) -> None:
        self.app = app
        self.error = error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if "\x00" in scope["path"]:
                response = self.error(scope["path"].replace("\x00", ""), 400, "bad-path",
                                      "the path holds a NUL character")  # fmt: skip
                await response(scope, receive, send)
                return
            if len(scope["path"]) > 1 and scope["path"].endswith("/"):
                scope = dict(scope)
                scope["path"] = scope["path"].rstrip("/")
        await self.app(scope, receive, send)


class _BodyRefused(Exception):
    """Raised from ``receive`` into the app, so it stops reading; never leaves BodyLimit."""


async def _nothing() -> Message:
    return {"type": "http.disconnect"}


class BodyLimit:
    """ASGI middleware bounding each request body in size and in time (see the module rules).

    ``limits`` maps path prefixes to their own limit, ``timeouts`` to their own time; the
    longest matching prefix wins.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        timeout: float,
        error: ErrorBody = plain_error,
        limits: Mapping[str, int] | None = None,
        timeouts: Mapping[str, float] | None = None,
    ) -> None:
        self.app = app
        self.limit = limit
        self.timeout = timeout
        self.error = error
        self.limits = sorted((limits or {}).items(), key=lambda kv: -len(kv[0]))
        self.timeouts = sorted((timeouts or {}).items(), key=lambda kv: -len(kv[0]))

    def limit_for(self, path: str) -> int:
        return next((n for prefix, n in self.limits if path.startswith(prefix)), self.limit)

    def timeout_for(self, path: str) -> float:
        return next((t for prefix, t in self.timeouts if path.startswith(prefix)), self.timeout)

    async def _answer(self, scope: Scope, send: Send, status: int, code: str, reason: str) -> None:
        response = self.error(scope["path"], status, code, reason)
        response.headers["connection"] = "close"
        await response(scope, _nothing, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        timeout = self.timeout_for(scope["path"])
        headers = Headers(scope=scope)
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        try:
            declared = int(headers["content-length"]) if "content-length" in headers else None
        except ValueError:
            declared = None  # the HTTP parser refuses such a request before it gets here
        if declared is not None and declared > limit:
            await self._answer(scope, send, 413, "too-large",
                               f"a request body here is at most {limit} bytes")  # fmt: skip
            return
        has_body = chunked or bool(declared)
        complete = not has_body
        received = 0
        refusal: tuple[int, str, str] | None = None
        started = False
        deadline = anyio.current_time() + timeout

        async def bounded_receive() -> Message:
            nonlocal complete, received, refusal
            if refusal is not None:
                raise _BodyRefused()
            if complete:  # nothing more to bound: a disconnect watcher may wait freely
                return await receive()
            try:
                with anyio.fail_after(max(0.0, deadline - anyio.current_time())):
                    message = await receive()
            except TimeoutError:
                refusal = (408, "timeout",
                           f"the request body did not arrive within {timeout:g} seconds")  # fmt: skip
                raise _BodyRefused() from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refusal = (413, "too-large", f"a request body here is at most {limit} bytes")
                    raise _BodyRefused()
                complete = not message.get("more_body", False)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refusal is not None:
                return  # the app's own answer to a refused body is replaced by the refusal
            if message["type"] == "http.response.start":
                started = True
                if not complete:
                    message = dict(message)
                    message["headers"] = [*message.get("headers", []), (b"connection", b"close")]
            await send(message)

        try:
            await self.app(scope, bounded_receive, guarded_send)
        except Exception:
            if refusal is None:
                raise
        if refusal is not None:
            if started:  # too late for an answer: uvicorn closes an unfinished response
                return
            await self._answer(scope, send, *refusal)


def _plain(status: int, phrase: str, reason: str) -> bytes:
    body = json.dumps({"error": reason}).encode()
    return (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header timeout, a header size limit and a cap on
    open connections (class attributes, set by :func:`http_protocol`)."""

    header_timeout: ClassVar[float] = 10.0
    max_connections: ClassVar[int] = 512

    _header_timer: asyncio.TimerHandle | None = None
    _header_bytes = 0  # bytes received while the headers were incomplete
    _parsed_bytes = 0  # request line and header fields parsed
    _oversized = False
    _over_limit = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self._over_limit = True
            log.warning("more than %d connections: refusing one", self.max_connections)
            self._close_with(503, "Service Unavailable", "too many connections; try again")
            return
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._over_limit or self.transport.is_closing():
            return
        super().data_received(data)
        if self._header_timer is not None:
            # The headers are still incomplete, so all of this was header bytes.  (The parser
            # holds a header until it ends: counting here bounds it by bytes, not by headers.)
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
                self._cancel_header_timer()
                self._oversized = True
                self.send_400_response("")

    def _count(self, n: int) -> None:
        self._parsed_bytes += n
        if self._parsed_bytes > MAX_HEADER_BYTES:
            self._oversized = True
            # Raised into the parser, which stops; uvicorn then calls send_400_response.
            raise ValueError("header block too large")

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def send_400_response(self, msg: str) -> None:
        if not self._oversized:
            super().send_400_response(msg)
            return
        self._close_with(431, "Request Header Fields Too Large",
                         f"the request line and headers are at most {MAX_HEADER_BYTES} bytes")  # fmt: skip

    def _close_with(self, status: int, phrase: str, reason: str) -> None:
        self.transport.write(_plain(status, phrase, reason))
        self.transport.close()

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_bytes = self._parsed_bytes = 0
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self._close_with(408, "Request Timeout", "the request headers did not arrive within"
                             f" {self.header_timeout:g} seconds")  # fmt: skip

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:  # a later request on a kept-alive connection
            self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        super().on_headers_complete()


def http_protocol(header_timeout: float, max_connections: int) -> type[asyncio.Protocol]:
    """The protocol class to serve the node with (uvicorn's ``http=``)."""
    return type(
        "BoundedHttpProtocol",
        (BoundedHttpProtocol,),
        {"header_timeout": header_timeout, "max_connections": max_connections},
    )
