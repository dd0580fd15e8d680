"""DSP 2025-1 HTTPS routes (provider side and consumer callbacks on one base).

Both roles share one base path, as the spec allows: the node's own pids are
unique, so ``/negotiations/{pid}/...`` finds the process and its role, and the
transition table rejects a message that the role may not receive.

Status codes: 201 + process body for messages that open a process, 200 + body
otherwise; 400 for a malformed message or an unknown process on POST (never
404 on a POST), 409 for a message the state does not accept, 404 only on GET,
401 when the caller cannot be authenticated.  Errors carry the spec's error
object and change nothing.  Bodies are bounded before they get here (413 past
``max_body_bytes``, see :mod:`trustspace.edge`) and parsed by
:func:`trustspace.core.jsondoc.loads` (400 for JSON nested too deep).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from trustspace.core import jsondoc
from trustspace.core import messages as m
from trustspace.core import negotiation as n
from trustspace.core.machine import TransitionError
from trustspace.services import catalog, negotiations, transfers
from trustspace.services.context import NodeContext
from trustspace.services.errors import NotFound, Refused
from trustspace.services.policy import PolicyDenied
from trustspace.store import Conflict
from trustspace.trust.tokens import AuthError

log = logging.getLogger("trustspace.dsp")

BASE_PATH = "/dsp/2025-1"

ERROR_TYPE = {
    "catalog": "CatalogError",
    "negotiation": "ContractNegotiationError",
    "transfer": "TransferError",
}


class Authenticator(Protocol):
    def authenticate(self, authorization: str | None) -> str:
        """Return the caller's participant id or raise AuthError."""


class _Fail(Exception):
    def __init__(self, status: int, code: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.code, self.reason = status, code, reason


def _error(
    area: str,
    status: int,
    code: str,
    reason: str | list[str],
    body: Any = None,
    pid: str | None = None,
) -> JSONResponse:
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


_AREAS = {"catalog": "catalog", "negotiations": "negotiation", "transfers": "transfer"}


def dsp_error(path: str, status: int, code: str, reason: str) -> JSONResponse | None:
    """The DSP error answer for a path in one of the DSP areas; None for other paths (compute
    under the same base answers plain ``{"error": ...}``)."""
    if not path.startswith(BASE_PATH + "/"):
        return None
    area = _AREAS.get(path[len(BASE_PATH) + 1 :].split("/", 1)[0])
    return None if area is None else _error(area, status, code, reason)


Handler = Callable[[Request, str, Any], tuple[int, dict[str, Any]]]


def dsp_routes(ctx: NodeContext, auth: Authenticator) -> list[BaseRoute]:
    def endpoint(
        area: str, handler: Handler, *, has_body: bool = True
    ) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            pid = request.path_params.get("pid")
            body: Any = None
            try:
                principal = auth.authenticate(request.headers.get("authorization"))
            except AuthError as exc:
                log.warning("refused %s %s: %s", request.method, request.url.path, exc.reason)
                return _error(area, 401, "unauthorized", exc.reason, pid=pid)
            if has_body:
                try:
                    body = jsondoc.loads(await request.body())
                except jsondoc.JsonError as exc:
                    return _error(area, 400, "malformed", str(exc), pid=pid)
            try:
                status, payload = await run_in_threadpool(handler, request, principal, body)
            except m.MessageError as exc:
                return _error(area, 400, "invalid-message", str(exc), body, pid)
            except TransitionError as exc:
                return _error(area, 409, "invalid-state", str(exc), body, pid)
            except Conflict as exc:
                return _error(
                    area,
                    409,
                    "conflict",
                    f"a concurrent request changed this first: {exc}",
                    body,
                    pid,
                )
            except PolicyDenied as exc:
                return _error(area, 400, "policy-denied", exc.reasons, body, pid)
            except Refused as exc:
                return _error(area, 400, "refused", exc.reason, body, pid)
            except NotFound as exc:
                return _error(
                    area,
                    404 if request.method == "GET" else 400,
                    "not-found",
                    exc.reason,
                    body,
                    pid,
                )
            return JSONResponse(payload, status_code=status)

        return run

    # --- catalog ---
    def catalog_request(request: Request, principal: str, body: Any) -> tuple[int, dict[str, Any]]:
        m.check(body, "CatalogRequestMessage")
        if body.get("filter"):
            raise m.MessageError("catalog filters are not supported")
        return 200, catalog.catalog(ctx, principal)

    def dataset_get(request: Request, principal: str, body: Any) -> tuple[int, dict[str, Any]]:
        return 200, catalog.dataset(ctx, principal, request.path_params["id"])

    # --- negotiations ---
    def neg_get(request: Request, principal: str, body: Any) -> tuple[int, dict[str, Any]]:
        return 200, negotiations.as_json(
            negotiations.get_for(ctx, principal, request.path_params["pid"])
        )

    def neg_initial_request(
        request: Request, principal: str, body: Any
    ) -> tuple[int, dict[str, Any]]:
        neg, _ = negotiations.receive_initial_request(ctx, principal, body)
        return 201, negotiations.as_json(neg)

    def neg_initial_offer(
        request: Request, principal: str, body: Any
    ) -> tuple[int, dict[str, Any]]:
        neg, _ = negotiations.receive_initial_offer(ctx, principal, body)
        return 201, negotiations.as_json(neg)

    def neg_message(message: str) -> Handler:
        def handle(request: Request, principal: str, body: Any) -> tuple[int, dict[str, Any]]:
            neg = negotiations.receive(ctx, principal, request.path_params["pid"], message, body)
            return 200, negotiations.as_json(neg)

        return handle

    # --- transfers ---
    def tp_get(request: Request, principal: str, body: Any) -> tuple[int, dict[str, Any]]:
        return 200, transfers.as_json(transfers.get_for(ctx, principal, request.path_params["pid"]))

    def tp_request(request: Request, principal: str, body: Any) -> tuple[int, dict[str, Any]]:
        tp, _ = transfers.receive_request(ctx, principal, body)
        return 201, transfers.as_json(tp)

    def tp_message(message: str) -> Handler:
        def handle(request: Request, principal: str, body: Any) -> tuple[int, dict[str, Any]]:
            return 200, transfers.as_json(
                transfers.receive(ctx, principal, request.path_params["pid"], message, body)
            )

        return handle

    b = BASE_PATH
    neg, tp = "negotiation", "transfer"
    return [
        Route(f"{b}/catalog/request", endpoint("catalog", catalog_request), methods=["POST"]),
        Route(
            f"{b}/catalog/datasets/{{id:path}}",
            endpoint("catalog", dataset_get, has_body=False),
            methods=["GET"],
        ),
        Route(f"{b}/negotiations/request", endpoint(neg, neg_initial_request), methods=["POST"]),
        Route(f"{b}/negotiations/offers", endpoint(neg, neg_initial_offer), methods=["POST"]),
        Route(f"{b}/negotiations/{{pid}}", endpoint(neg, neg_get, has_body=False), methods=["GET"]),
        Route(
            f"{b}/negotiations/{{pid}}/request",
            endpoint(neg, neg_message(n.REQUEST)),
            methods=["POST"],
        ),
        Route(
            f"{b}/negotiations/{{pid}}/events",
            endpoint(neg, neg_message("ContractNegotiationEventMessage")),
            methods=["POST"],
        ),
        Route(
            f"{b}/negotiations/{{pid}}/agreement/verification",
            endpoint(neg, neg_message(n.VERIFY)),
            methods=["POST"],
        ),
        Route(
            f"{b}/negotiations/{{pid}}/termination",
            endpoint(neg, neg_message(n.TERMINATE)),
            methods=["POST"],
        ),
        Route(
            f"{b}/negotiations/{{pid}}/offers",
            endpoint(neg, neg_message(n.OFFER)),
            methods=["POST"],
        ),
        Route(
            f"{b}/negotiations/{{pid}}/agreement",
            endpoint(neg, neg_message(n.AGREE)),
            methods=["POST"],
        ),
        Route(f"{b}/transfers/request", endpoint(tp, tp_request), methods=["POST"]),
        Route(f"{b}/transfers/{{pid}}", endpoint(tp, tp_get, has_body=False), methods=["GET"]),
        *[
            Route(
                f"{b}/transfers/{{pid}}/{path}", endpoint(tp, tp_message(message)), methods=["POST"]
            )
            for path, message in transfers.PROVIDER_PATHS.items()
        ],
    ]


def version_route() -> Route:
    async def version(request: Request) -> Response:
        return JSONResponse(m.version_metadata(BASE_PATH))

    return Route("/.well-known/dspace-version", version, methods=["GET"])
