"""``/api/health``, ``/api/evidence``, ``/api/decisions``, ``/api/auth-failures``,
``/api/policy/vocabulary``: what this node has recorded, and the terms it understands."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from trustspace.api.endpoint import BadRequest, managed
from trustspace.core.odrl.vocab import describe as describe_vocabulary
from trustspace.services import status
from trustspace.services.runtime import Runtime


def routes(rt: Runtime) -> list[BaseRoute]:
    ctx = rt.ctx
    endpoint = managed(rt.management_key)

    def health(request: Request, body: Any) -> Any:
        return status.health(ctx)

    def auth_failure_list(request: Request, body: Any) -> Any:
        return status.auth_failures(ctx)

    def evidence_head(request: Request, body: Any) -> Any:
        return status.evidence_head(ctx)

    def evidence_checkpoint(request: Request, body: Any) -> Any:
        return {"signed": rt.checkpoint()}

    def vocabulary(request: Request, body: Any) -> Any:
        return describe_vocabulary()

    def decision_list(request: Request, body: Any) -> Any:
        q = request.query_params
        try:
            limit = min(int(q.get("limit", "100")), 1000)
        except ValueError:
            raise BadRequest("'limit' must be a number") from None
        return status.decisions(
            ctx, agreement_id=q.get("agreement"), process_id=q.get("process"), limit=limit
        )

    return [
        Route("/api/health", endpoint(health), methods=["GET"]),
        Route("/api/auth-failures", endpoint(auth_failure_list), methods=["GET"]),
        Route("/api/evidence", endpoint(evidence_head), methods=["GET"]),
        Route("/api/evidence/checkpoint", endpoint(evidence_checkpoint), methods=["POST"]),
        Route("/api/policy/vocabulary", endpoint(vocabulary), methods=["GET"]),
        Route("/api/decisions", endpoint(decision_list), methods=["GET"]),
    ]
