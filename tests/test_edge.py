"""The body bound, driven over ASGI with the messages a server would send."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from trustspace.app import surface_error
from trustspace.core.paths import BASE_PATH
from trustspace.edge import BodyLimit


def scope(path: str = "/api/x", headers: dict[str, str] | None = None) -> Scope:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return {"type": "http", "method": "POST", "path": path, "headers": raw,
            "query_string": b"", "http_version": "1.1", "scheme": "http"}  # fmt: skip


class Recorder:
    """What the app asked for and what it answered."""

    def __init__(self, chunks: list[bytes], delay: float = 0.0) -> None:
        self.chunks = list(chunks)
        self.delay = delay
        self.asked = 0
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        self.asked += 1
        if not self.chunks:
            await anyio.sleep_forever()
        if self.delay:
            await anyio.sleep(self.delay)
        body = self.chunks.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(self.chunks)}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.sent[0]["headers"]}

    @property
    def body(self) -> Any:
        return json.loads(b"".join(m.get("body", b"") for m in self.sent[1:]))


def reading_app(seen: list[int]) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            raw = await request.body()
        except Exception:  # an app that swallows errors must not get its answer out either
            await JSONResponse({"error": "swallowed"}, status_code=500)(scope, receive, send)
            return
        seen.append(len(raw))
        await JSONResponse({"got": len(raw)})(scope, receive, send)

    return app


def run(app: Any, sc: Scope, rec: Recorder, **kw: Any) -> None:
    kw.setdefault("error", surface_error)  # the node's: DSP error objects under the DSP base
    limited = BodyLimit(app, limit=kw.pop("limit", 100), timeout=kw.pop("timeout", 5.0), **kw)
    anyio.run(limited, sc, rec.receive, rec.send)


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    seen: list[int] = []
    rec = Recorder([b"x" * 1000])
    run(reading_app(seen), scope(headers={"content-length": "1000"}), rec)
    assert rec.status == 413 and rec.asked == 0 and seen == []
    assert rec.headers["connection"] == "close"
    assert rec.body == {"error": "a request body here is at most 100 bytes"}


def test_an_undeclared_body_is_cut_as_soon_as_it_passes_the_limit() -> None:
    seen: list[int] = []
    rec = Recorder([b"x" * 40] * 1000)
    run(reading_app(seen), scope(headers={"transfer-encoding": "chunked"}), rec)
    assert rec.status == 413 and seen == []
    assert rec.asked == 3  # 40, 80, 120: past 100 on the third piece, and nothing after it
    assert [m["type"] for m in rec.sent] == ["http.response.start", "http.response.body"]


def test_a_body_within_the_limit_arrives_whole() -> None:
    seen: list[int] = []
    rec = Recorder([b"x" * 50, b"y" * 50])
    run(reading_app(seen), scope(headers={"transfer-encoding": "chunked"}), rec)
    assert rec.status == 200 and seen == [100]
    assert "connection" not in rec.headers


def test_dsp_paths_answer_the_dsp_error_object() -> None:
    rec = Recorder([])
    run(reading_app([]), scope(BASE_PATH + "/negotiations/request", {"content-length": "101"}),
        rec)  # fmt: skip
    assert rec.status == 413
    assert rec.body["@type"] == "ContractNegotiationError" and rec.body["code"] == "too-large"
    rec = Recorder([])
    run(reading_app([]), scope(BASE_PATH + "/compute/jobs", {"content-length": "101"}), rec)
    assert rec.body == {"error": "a request body here is at most 100 bytes"}


def test_a_route_may_have_its_own_limit() -> None:
    rec = Recorder([b"x" * 150])
    run(reading_app([]), scope("/data/t1", {"content-length": "150"}), rec, limits={"/data/": 200})
    assert rec.status == 200
    rec = Recorder([])
    run(reading_app([]), scope("/api/t1", {"content-length": "150"}), rec, limits={"/data/": 200})
    assert rec.status == 413


def test_a_body_that_does_not_arrive_in_time_is_408() -> None:
    seen: list[int] = []
    rec = Recorder([b"x", b"y", b"z"], delay=0.2)
    run(reading_app(seen), scope(headers={"transfer-encoding": "chunked"}), rec, timeout=0.3)
    assert rec.status == 408 and seen == []
    assert rec.headers["connection"] == "close"


def test_a_route_may_have_its_own_time() -> None:
    seen: list[int] = []
    rec = Recorder([b"x", b"y", b"z"], delay=0.2)
    run(reading_app(seen), scope("/api/uploads", {"transfer-encoding": "chunked"}), rec,
        timeout=0.3, timeouts={"/api/uploads": 30.0})  # fmt: skip
    assert rec.status == 200 and seen == [3]
    rec = Recorder([b"x", b"y", b"z"], delay=0.2)
    run(reading_app([]), scope("/api/datasets", {"transfer-encoding": "chunked"}), rec,
        timeout=0.3, timeouts={"/api/uploads": 30.0})  # fmt: skip
    assert rec.status == 408


def test_an_answer_before_the_body_was_read_closes_the_connection() -> None:
    async def early(scope: Scope, receive: Receive, send: Send) -> None:
        await JSONResponse({"error": "no"}, status_code=401)(scope, receive, send)

    rec = Recorder([b"x" * 10, b"y" * 10])
    run(early, scope(headers={"content-length": "20"}), rec)
    assert rec.status == 401 and rec.asked == 0 and rec.headers["connection"] == "close"


def test_requests_without_a_body_are_untouched_and_may_wait_for_a_disconnect() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        first = await receive()
        with anyio.move_on_after(0.2):  # like the data plane, watching for a disconnect
            await receive()
        await JSONResponse({"more": first["more_body"]})(scope, receive, send)

    rec = Recorder([b""])
    run(app, scope(), rec, timeout=0.01)
    assert rec.status == 200 and rec.body == {"more": False} and rec.asked == 2
    assert "connection" not in rec.headers
