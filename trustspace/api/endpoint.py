"""How a JSON route of the node is written, once: who may call it, how its body is read, and
how its result is answered.

A handler is a plain synchronous function that returns JSON-able data or raises; it runs in
the thread pool.  Nothing here catches a handler's exception: the app's one table,
:data:`trustspace.app.STATUS`, turns it into the surface's error answer.  A body is a JSON
object read by :func:`trustspace.core.jsondoc.loads` (an empty body is ``{}``) after
:mod:`trustspace.edge` bounded its size.

- :func:`managed`: behind a key (``Authorization: Bearer <key>``); with no key configured
  every call is 401.  :data:`PUBLIC` opens a route to anyone.
- :func:`signed`: for other participants, authenticated like DSP (their signed token and
  membership credential); the handler gets the verified participant id first.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from trustspace.core import jsondoc
from trustspace.services.errors import BadRequest

__all__ = [
    "PUBLIC",
    "UNAUTHORIZED",
    "BadRequest",
    "authorized",
    "managed",
    "obj",
    "page",
    "read_object",
    "required",
    "signed",
    "strings",
    "surface",
    "text",
]

PUBLIC = "<public>"
Handler = Callable[[Request, Any], Any]
PeerHandler = Callable[[str, Request, Any], Any]
Endpoint = Callable[[Request], Awaitable[Response]]


def text(body: Any, key: str, required: bool = True) -> str | None:
    """``body[key]`` as a non-empty string; None when absent and not required."""
    value = body.get(key) if isinstance(body, dict) else None
    if value in (None, "") and not required:
        return None
    if not isinstance(value, str) or not value:
        raise BadRequest(f"'{key}' is required (a non-empty string)")
    return value


def required(body: Any, key: str) -> str:
    value = text(body, key)
    assert value is not None
    return value


def strings(body: Any, key: str) -> list[str]:
    value = body.get(key, []) if isinstance(body, dict) else []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise BadRequest(f"'{key}' must be a list of strings")
    return value


def obj(body: Any, key: str) -> dict[str, Any] | None:
    value = body.get(key) if isinstance(body, dict) else None
    if value is not None and not isinstance(value, dict):
        raise BadRequest(f"'{key}' must be an object")
    return value


def page(request: Request) -> tuple[int, int]:
    """``?limit=&offset=`` of a list route."""
    try:
        limit = int(request.query_params.get("limit", "100"))
        offset = int(request.query_params.get("offset", "0"))
    except ValueError as exc:
        raise BadRequest("limit and offset must be integers") from exc
    if not (1 <= limit <= 1000) or offset < 0:
        raise BadRequest("limit must be 1..1000 and offset >= 0")
    return limit, offset


async def read_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object (an empty body is ``{}``).  It is kept in the
    request's state, where an error answer finds the process ids it names."""
    raw = await request.body()
    body = jsondoc.loads(raw) if raw.strip() else {}
    request.state.body = body
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def surface(request: Request) -> str:
    """Where a request arrived, for the refusal log: the route's path template (ids the caller
    chose are not kept), else the path."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "") or request.url.path)


def authorized(request: Request, key: str | None) -> bool:
    """The request carries ``key`` (anyone may call with ``key=PUBLIC``); read from the headers
    only, so a refusal comes before the body."""
    if key is PUBLIC:
        return True
    given = request.headers.get("authorization", "")
    return bool(key) and hmac.compare_digest(given.encode(), f"Bearer {key}".encode())


UNAUTHORIZED = {"error": "missing or wrong management key"}


def managed(key: str | None) -> Callable[..., Endpoint]:
    """JSON handlers behind ``key`` (or open to anyone with ``key=PUBLIC``)."""

    def endpoint(handler: Handler, status: int = 200) -> Endpoint:
        async def run(request: Request) -> Response:
            if not authorized(request, key):
                return JSONResponse(UNAUTHORIZED, status_code=401)
            body = await read_object(request) if request.method == "POST" else None
            result = await run_in_threadpool(handler, request, body)
            return JSONResponse(result, status_code=status)

        return run

    return endpoint


def signed(authenticate: Callable[[str | None, str], str]) -> Callable[..., Endpoint]:
    """JSON handlers for other participants; a refused login is 401 (and counted)."""

    def endpoint(handler: PeerHandler, status: int = 200) -> Endpoint:
        async def run(request: Request) -> Response:
            principal = authenticate(request.headers.get("authorization"), surface(request))
            body = await read_object(request) if request.method == "POST" else {}
            result = await run_in_threadpool(handler, principal, request, body)
            return JSONResponse(result, status_code=status)

        return run

    return endpoint
