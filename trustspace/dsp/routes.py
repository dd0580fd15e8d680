"""DSP 2025-1 HTTPS routes (provider side and consumer callbacks on one base), generated from
the binding's one path table, :data:`trustspace.core.paths.ENDPOINTS`.

Both roles share one base path, as the spec allows: the node's own pids are
unique, so ``/negotiations/{pid}/...`` finds the process and its role, and the
transition table rejects a message that the role may not receive.

Status codes: 201 + process body for messages that open a process, 200 + body
otherwise; 400 for a malformed message or an unknown process on POST (never
404 on a POST), 409 for a message the state does not accept, 404 only on GET,
401 when the caller cannot be authenticated.  Errors carry the spec's error
object and change nothing: handlers raise, and the app's one table
(:data:`trustspace.app.STATUS`) answers with :func:`dsp_error`.  Bodies are bounded
before they get here (413 past ``max_body_bytes``, see :mod:`trustspace.edge`) and parsed
by :func:`trustspace.core.jsondoc.loads` (400 for JSON nested too deep).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from trustspace.core import jsondoc
from trustspace.core import messages as m
from trustspace.core.paths import AREAS, BASE_PATH, ENDPOINTS, Endpoint
from trustspace.services import catalog, negotiations, transfers
from trustspace.services.context import NodeContext

__all__ = ["BASE_PATH", "dsp_error", "dsp_routes", "version_route"]

ERROR_TYPE = {
    "catalog": "CatalogError",
    "negotiation": "ContractNegotiationError",
    "transfer": "TransferError",
}


def area_of(path: str) -> str | None:
    """The DSP area (catalog, negotiation, transfer) a path belongs to; None for other paths
    (compute under the same base answers plain ``{"error": ...}``)."""
    if not path.startswith(BASE_PATH + "/"):
        return None
    return AREAS.get(path[len(BASE_PATH) + 1 :].split("/", 1)[0])


def dsp_error(
    path: str,
    status: int,
    code: str,
    reason: str | list[str],
    *,
    body: Any = None,
    pid: str | None = None,
) -> JSONResponse | None:
    """The DSP error object for a path in one of the DSP areas (the process ids from the
    message, else the path's); None for other paths."""
    area = area_of(path)
    if area is None:
        return None
    ppid = cpid = None
    if isinstance(body, dict):
        ppid = body.get("providerPid") if isinstance(body.get("providerPid"), str) else None
        cpid = body.get("consumerPid") if isinstance(body.get("consumerPid"), str) else None
    payload = m.error(
        ERROR_TYPE[area],
        code=code,
        reason=reason if isinstance(reason, list) else [reason],
        provider_pid=ppid or pid,
        consumer_pid=cpid or pid,
    )
    headers = {"WWW-Authenticate": 'Bearer realm="dsp"'} if status == 401 else None
    return JSONResponse(payload, status_code=status, headers=headers)


Handler = Callable[[Request, str, Any], Any]
PROCESSES: dict[str, Any] = {"negotiation": negotiations, "transfer": transfers}
"""The service of each process area: ``receive_initial``, ``receive``, ``get_for``,
``as_json``."""


def _handler(ctx: NodeContext, e: Endpoint) -> Handler:
    if e.kind == "catalog":

        def catalog_request(request: Request, principal: str, body: Any) -> Any:
            m.check(body, "CatalogRequestMessage")
            if body.get("filter"):
                raise m.MessageError("catalog filters are not supported")
            return catalog.catalog(ctx, principal)

        return catalog_request
    if e.kind == "dataset":
        return lambda request, principal, body: catalog.dataset(
            ctx, principal, request.path_params["id"]
        )
    service = PROCESSES[e.area]
    if e.kind == "get":
        return lambda request, principal, body: service.as_json(
            service.get_for(ctx, principal, request.path_params["pid"])
        )
    if e.kind == "open":
        message = e.message
        return lambda request, principal, body: service.as_json(
            service.receive_initial(ctx, principal, message, body)[0]
        )
    message = e.message
    return lambda request, principal, body: service.as_json(
        service.receive(ctx, principal, request.path_params["pid"], message, body)
    )


def dsp_routes(ctx: NodeContext, authenticate: Callable[[str | None], str]) -> list[BaseRoute]:
    def endpoint(e: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        handler = _handler(ctx, e)
        status = 201 if e.kind == "open" else 200

        async def run(request: Request) -> Response:
            principal = authenticate(request.headers.get("authorization"))
            body: Any = None
            if e.method == "POST":
                body = jsondoc.loads(await request.body())
                request.state.body = body
            payload = await run_in_threadpool(handler, request, principal, body)
            return JSONResponse(payload, status_code=status)

        return run

    return [Route(f"{BASE_PATH}/{e.path}", endpoint(e), methods=[e.method]) for e in ENDPOINTS]


def version_route() -> Route:
    async def version(request: Request) -> Response:
        return JSONResponse(m.version_metadata(BASE_PATH))

    return Route("/.well-known/dspace-version", version, methods=["GET"])
