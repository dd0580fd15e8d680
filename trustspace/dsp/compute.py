"""Compute-to-data for other participants, under the DSP base and authenticated like DSP (the
consumer's signed token):

- ``POST …/compute/jobs`` submits a query under an agreement;
- ``GET …/compute/jobs/{id}`` reads the consumer's own job, ``GET …/compute/jobs`` lists them;
- ``GET …/compute/mock/{dataset}`` gives synthetic rows with the product's schema.

Errors are plain ``{"error": ...}`` (these are not DSP messages).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from trustspace.api.endpoint import signed
from trustspace.core.paths import BASE_PATH
from trustspace.services import compute
from trustspace.services.runtime import Runtime


def routes(rt: Runtime) -> list[BaseRoute]:
    ctx = rt.ctx
    as_peer = signed(rt.authenticate)

    def submit(principal: str, request: Request, body: Any) -> Any:
        return compute.submit(ctx, principal, body)

    def job(principal: str, request: Request, body: Any) -> Any:
        return compute.get(ctx, principal, request.path_params["id"])

    def own_jobs(principal: str, request: Request, body: Any) -> Any:
        return compute.list_for(ctx, principal, request.query_params.get("agreement"))

    def mock(principal: str, request: Request, body: Any) -> Any:
        return compute.mock(ctx, principal, request.path_params["dataset"])

    return [
        Route(BASE_PATH + "/compute/jobs", as_peer(submit, 201), methods=["POST"]),
        Route(BASE_PATH + "/compute/jobs", as_peer(own_jobs), methods=["GET"]),
        Route(BASE_PATH + "/compute/jobs/{id}", as_peer(job), methods=["GET"]),
        Route(BASE_PATH + "/compute/mock/{dataset:path}", as_peer(mock), methods=["GET"]),
    ]
