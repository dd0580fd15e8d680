"""Test harness: a real uvicorn server on 127.0.0.1 serving `pull_routes` in a background thread.

The authorizer is a stand-in (token -> (transfer_id, Grant), plus a revoked set); the data plane
is what is under test. A recording middleware keeps every request's method, path and headers,
and can cut one response's body after N bytes to simulate a dropped connection. `/stub/{status}`
answers `{"error": "stub <status>"}` with that status, for client error-handling tests.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trustspace.dataplane.server import Denied, Grant, pull_routes


def make_file(path: Path, size: int) -> bytes:
    """Write `size` random bytes to `path` and return them."""
    data = os.urandom(size)
    path.write_bytes(data)
    return data


class FakeAuthority:
    """token -> (transfer_id, Grant); revoked tokens are known but denied (403)."""

    def __init__(self) -> None:
        self.grants: dict[str, tuple[str, Grant]] = {}
        self.revoked: set[str] = set()
        self.calls: list[tuple[str, str]] = []

    def __call__(self, transfer_id: str, token: str) -> Grant:
        self.calls.append((transfer_id, token))
        entry = self.grants.get(token)
        if entry is None:
            raise Denied(401, "unknown token")
        if token in self.revoked:
            raise Denied(403, "transfer is not active")
        if entry[0] != transfer_id:
            raise Denied(403, "token not valid for this transfer")
        return entry[1]


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


class _Cut(Exception):
    pass


@dataclass
class Recorder:
    """ASGI middleware: records requests; `cut[path] = n` cuts the next such response at n bytes."""

    app: ASGIApp | None = None
    seen: list[Seen] = field(default_factory=list)
    cut: dict[str, int] = field(default_factory=dict)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.seen.append(Seen(scope["method"], scope["path"], headers))
        limit = self.cut.pop(scope["path"], None)
        if limit is None:
            await self.app(scope, receive, send)
            return
        sent = 0

        async def cutting_send(message: Message) -> None:
            nonlocal sent
            if message["type"] == "http.response.body":
                body = message.get("body", b"")
                if sent + len(body) >= limit:
                    await send({**message, "body": body[: limit - sent], "more_body": True})
                    raise _Cut
                sent += len(body)
            await send(message)

        try:
            await self.app(scope, receive, cutting_send)
        except* _Cut:
            pass  # returning mid-body makes the server drop the connection


async def _stub(request: Request) -> Response:
    status = int(request.path_params["status"])
    return JSONResponse({"error": f"stub {status}"}, status_code=status)


class Harness:
    def __init__(self) -> None:
        self.authority = FakeAuthority()
        self.recorder = Recorder()
        app = Starlette(routes=[*pull_routes(self.authority), Route("/stub/{status:int}", _stub)])
        self.recorder.app = app
        self.base_url = ""

    def reset(self) -> None:
        self.authority.grants.clear()
        self.authority.revoked.clear()
        self.authority.calls.clear()
        self.recorder.seen.clear()
        self.recorder.cut.clear()

    def url(self, transfer_id: str) -> str:
        return f"{self.base_url}/data/{transfer_id}"

    def grant(self, token: str, transfer_id: str, path: Path, **kwargs: str) -> str:
        """Grant `token` access to `path` for `transfer_id`; returns the transfer's URL."""
        self.authority.grants[token] = (transfer_id, Grant(path, **kwargs))
        return self.url(transfer_id)

    def requests_to(self, transfer_id: str) -> list[Seen]:
        return [s for s in self.recorder.seen if s.path == f"/data/{transfer_id}"]

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[Harness]:
        harness = cls()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            config = uvicorn.Config(
                harness.recorder, log_level="warning", lifespan="off", access_log=False
            )
            server = uvicorn.Server(config)
            thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
            thread.start()
            deadline = time.monotonic() + 15
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError("uvicorn did not start")
                time.sleep(0.01)
            harness.base_url = f"http://127.0.0.1:{port}"
            try:
                yield harness
            finally:
                server.should_exit = True
                thread.join(timeout=15)
        finally:
            sock.close()
