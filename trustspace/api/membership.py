"""``/api/membership``, ``/api/search``, ``/api/operator-call``, ``/api/certificates``: this
node as a member of spaces — applying, its credentials and key, the federated catalog, the
operator's member-only endpoints, its certificates."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from trustspace.api.endpoint import managed, required, text
from trustspace.services import directory, listing, status
from trustspace.services.runtime import Runtime


def routes(rt: Runtime) -> list[BaseRoute]:
    ctx = rt.ctx
    endpoint = managed(rt.management_key)

    def membership_get(request: Request, body: Any) -> Any:
        rt.membership.poll()
        return rt.membership.describe()

    def membership_apply(request: Request, body: Any) -> Any:
        operator_id = required(body, "operator")
        details = {k: body[k] for k in body if k != "operator"}
        return rt.membership.apply(operator_id, details)

    def membership_rotate(request: Request, body: Any) -> Any:
        return rt.membership.rotate_key()

    def federated_search(request: Request, body: Any) -> Any:
        query = {k: str(v) for k, v in body.items() if k != "operator" and v not in (None, "")}
        return directory.search(rt, text(body, "operator", required=False), query)

    def operator_call(request: Request, body: Any) -> Any:
        return directory.operator_call(
            rt, text(body, "operator", required=False), required(body, "method"),
            required(body, "path"), body.get("body"),
        )  # fmt: skip

    def trades_report(request: Request, body: Any) -> Any:
        operator = directory.operator_of(rt, text(body, "operator", required=False))
        return {"certified": listing.report_trades(ctx, rt.peers.http, rt.peers.authorization,
                                                   operator)}  # fmt: skip

    def certificate_list(request: Request, body: Any) -> Any:
        return status.certificates(ctx)

    return [
        Route("/api/membership", endpoint(membership_get), methods=["GET"]),
        Route("/api/membership/apply", endpoint(membership_apply, 201), methods=["POST"]),
        Route("/api/membership/rotate-key", endpoint(membership_rotate), methods=["POST"]),
        Route("/api/search", endpoint(federated_search), methods=["POST"]),
        Route("/api/operator-call", endpoint(operator_call), methods=["POST"]),
        Route("/api/certificates", endpoint(certificate_list), methods=["GET"]),
        Route("/api/certificates/trades", endpoint(trades_report), methods=["POST"]),
    ]
