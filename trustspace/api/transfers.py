"""``/api/transfers``: starting and steering transfer processes."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from trustspace.api.endpoint import managed, page, required, text
from trustspace.services import status, transfers
from trustspace.services.errors import NotFound
from trustspace.services.runtime import Runtime

ACTIONS = ("terminate", "suspend", "resume", "complete", "start")


def routes(rt: Runtime) -> list[BaseRoute]:
    ctx = rt.ctx
    endpoint = managed(rt.management_key)

    def transfer_start(request: Request, body: Any) -> Any:
        fmt = text(body, "format", required=False) or transfers.PULL_FORMAT
        return transfers.view(transfers.request(
            ctx, agreement_id=required(body, "agreementId"), format=fmt,
            purpose=text(body, "purpose", required=False),
        ))  # fmt: skip

    def transfer_list(request: Request, body: Any) -> Any:
        return [transfers.view(x) for x in transfers.list_all(ctx, *page(request))]

    def transfer_get(request: Request, body: Any) -> Any:
        pid = request.path_params["id"]
        return {**transfers.view(transfers.get(ctx, pid)), "history": status.history(ctx, pid)}

    def transfer_act(request: Request, body: Any) -> Any:
        action = request.path_params["action"]
        if action not in ACTIONS:
            raise NotFound(f"no action {action}")
        reason = text(body, "reason", required=False)
        return transfers.view(transfers.act(ctx, request.path_params["id"], action, reason))

    return [
        Route("/api/transfers", endpoint(transfer_list), methods=["GET"]),
        Route("/api/transfers", endpoint(transfer_start, 201), methods=["POST"]),
        Route("/api/transfers/{id}", endpoint(transfer_get), methods=["GET"]),
        Route("/api/transfers/{id}/{action}", endpoint(transfer_act), methods=["POST"]),
    ]
