"""The node's HTTP app: the surfaces it mounts, and the one table from exceptions to answers.

Surfaces, each a folder of routes that receives the services it calls
(:class:`~trustspace.services.runtime.Runtime`) and never the node:

- ``/dsp/2025-1`` and ``/.well-known/dspace-version``: the Dataspace Protocol
  (:mod:`trustspace.dsp`), and compute-to-data for other participants under the same base;
- ``/data``: the data plane (:mod:`trustspace.dataplane.server`);
- ``/api``: the management API (:mod:`trustspace.api`);
- ``/operator``, ``/api/operator``, ``/api/regulator``: the operator role, on an operator's
  node (:mod:`trustspace.operator.routes`);
- ``/tck``: the TCK's triggers, with ``--tck`` only.

Handlers raise; :data:`STATUS` says what each exception answers, looked up by the exception's
class hierarchy as Starlette does.  The answer has the error body of the surface the path
belongs to: the DSP error object of the area (with the process ids of the message) under the
DSP base, else ``{"error": reason}``.  Three rules depend on the surface:

- a policy denial is 400 on DSP (the spec's ``policy-denied``) and on the management API (it
  is the node's own request), 403 with its ``reasons`` on the routes for other participants;
- on DSP a POST naming an unknown process is 400, never 404 (404 only on GET);
- a failed peer is 504 when it did not answer in time, else 502.

The whole app is wrapped in the edge (:mod:`trustspace.edge`): body bounds and clean paths.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Lifespan

from trustspace import edge
from trustspace.core import messages as m
from trustspace.core.jsondoc import JsonError
from trustspace.core.machine import TransitionError
from trustspace.dsp.routes import area_of, dsp_error
from trustspace.services.errors import BadRequest, NotFound, Refused
from trustspace.services.membership import MembershipError
from trustspace.services.peers import RemoteError
from trustspace.services.policy import PolicyDenied
from trustspace.store import Conflict
from trustspace.trust.tokens import AuthError

log = logging.getLogger("trustspace.app")

STATUS: tuple[tuple[type[BaseException], int, str, str | None], ...] = (
    # exception, status, DSP code, fixed reason (None: the exception's own)
    (AuthError, 401, "unauthorized", None),
    (PolicyDenied, 403, "policy-denied", None),
    (BadRequest, 400, "bad-request", None),
    (Refused, 400, "refused", None),
    (MembershipError, 400, "refused", None),
    (m.MessageError, 400, "invalid-message", None),
    (JsonError, 400, "malformed", None),
    (RecursionError, 400, "too-deep", "the request is nested too deeply to process"),
    (TransitionError, 409, "invalid-state", None),
    (Conflict, 409, "conflict", None),
    (NotFound, 404, "not-found", None),
    (RemoteError, 502, "peer-failed", None),
    (psycopg.DataError, 400, "bad-value", "the request holds a value that cannot be stored"),
    (OverflowError, 400, "bad-value", "the request holds a value that cannot be stored"),
    (psycopg.OperationalError, 503, "unavailable", "the database is unavailable; try again"),
    (PoolTimeout, 503, "unavailable", "the database is unavailable; try again"),
    (sqlite3.OperationalError, 503, "unavailable", "the database is unavailable; try again"),
)
"""Every exception a handler may raise on purpose, and its answer.  Anything else is a bug
(500, logged)."""


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return reason if isinstance(reason, str) else str(exc)


PageError = Callable[[Request | None, int, str], Response]
"""An error as a page of a human surface (the portal): request (None from the edge), status,
reason."""


def answer(
    request: Request, exc: BaseException, pages: tuple[str, PageError] | None = None
) -> Response:
    """The answer for an exception from :data:`STATUS`, in the body of the request's surface."""
    path = request.url.path
    status, code, fixed = next((s, c, f) for kind, s, c, f in STATUS if isinstance(exc, kind))
    area = area_of(path)
    reason: str | list[str] = fixed or _reason(exc)
    extra: dict[str, Any] = {}
    if fixed is not None:
        log.warning("%s %s: %s (%s)", request.method, path, fixed, type(exc).__name__)
    if isinstance(exc, RemoteError):
        status = exc.http_status
    elif isinstance(exc, PolicyDenied):
        if area is not None:
            status, reason = 400, exc.reasons
        elif path.startswith("/api/"):
            status = 400
        else:
            extra["reasons"] = exc.reasons
    elif isinstance(exc, NotFound) and area is not None and request.method != "GET":
        status = 400
    elif isinstance(exc, Conflict) and area is not None:
        reason = f"a concurrent request changed this first: {exc}"
    if pages is not None and path.startswith(pages[0]):
        return pages[1](request, status, reason if isinstance(reason, str) else "; ".join(reason))
    found = dsp_error(path, status, code, reason, body=getattr(request.state, "body", None),
                      pid=request.path_params.get("pid"))  # fmt: skip
    return found or JSONResponse({"error": reason, **extra}, status_code=status)


def surface_error(path: str, status: int, code: str, reason: str) -> Response:
    """The error answer of the surface ``path`` belongs to (for answers without a request
    body: the edge's refusals, unknown paths)."""
    return dsp_error(path, status, code, reason) or JSONResponse(
        {"error": reason}, status_code=status
    )


def _http_error(request: Request, exc: Exception, pages: tuple[str, PageError] | None) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "bad-request")
    if pages is not None and request.url.path.startswith(pages[0]):
        response = pages[1](request, exc.status_code, exc.detail)
    else:
        response = surface_error(request.url.path, exc.status_code, code, exc.detail)
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


def exception_handlers(
    pages: tuple[str, PageError] | None = None,
) -> dict[Any, Callable[[Request, Exception], Any]]:
    """Starlette's handlers for :data:`STATUS` and for its own HTTP errors (404, 405); under
    the prefix of ``pages``, errors are that surface's pages."""

    async def handle(request: Request, exc: Exception) -> Response:
        return answer(request, exc, pages)

    async def http_error(request: Request, exc: Exception) -> Response:
        return _http_error(request, exc, pages)

    return {HTTPException: http_error, **{kind: handle for kind, *_ in STATUS}}


def build(
    routes: Sequence[BaseRoute],
    *,
    lifespan: Lifespan[Starlette],
    max_body_bytes: int,
    body_timeout: float,
    body_limits: dict[str, int],
    body_timeouts: dict[str, float] | None = None,
    pages: tuple[str, PageError] | None = None,
) -> tuple[ASGIApp, list[BaseRoute]]:
    """The app serving ``routes``, behind the edge; also the route list (for tests and docs)."""
    mounted = list(routes)
    app = Starlette(routes=mounted, lifespan=lifespan, exception_handlers=exception_handlers(pages))

    def edge_error(path: str, status: int, code: str, reason: str) -> Response:
        if pages is not None and path.startswith(pages[0]):
            return pages[1](None, status, reason)
        return surface_error(path, status, code, reason)

    wrapped = edge.BodyLimit(edge.NormalPath(app, edge_error), limit=max_body_bytes,
                             timeout=body_timeout, limits=body_limits,
                             timeouts=body_timeouts, error=edge_error)  # fmt: skip
    return wrapped, mounted
