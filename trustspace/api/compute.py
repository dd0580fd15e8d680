"""``/api/compute``: compute-to-data from this node's side — as consumer, submitting and
following jobs under its agreements (:mod:`trustspace.services.compute_consumer`); as
provider, the review queue of jobs that need a person's approval."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from trustspace.api.endpoint import managed
from trustspace.services import compute, compute_consumer
from trustspace.services.errors import NotFound
from trustspace.services.runtime import Runtime


def routes(rt: Runtime) -> list[BaseRoute]:
    endpoint = managed(rt.management_key)

    def consumer_submit(request: Request, body: Any) -> Any:
        return compute_consumer.submit(rt, body)

    def consumer_job(request: Request, body: Any) -> Any:
        return compute_consumer.job(rt, request.path_params["id"])

    def consumer_jobs(request: Request, body: Any) -> Any:
        return compute_consumer.jobs_of(rt, request.query_params.get("agreement"))

    def consumer_mock(request: Request, body: Any) -> Any:
        return compute_consumer.mock(rt, request.path_params["agreement"])

    def review_queue(request: Request, body: Any) -> Any:
        return compute.review_queue(rt.ctx)

    def review(request: Request, body: Any) -> Any:
        action = request.path_params["action"]
        if action not in ("approve", "reject"):
            raise NotFound(f"no action {action}: approve or reject")
        return compute.review(
            rt.ctx, request.path_params["id"], action == "approve", str(body.get("reason") or "")
        )

    return [
        Route("/api/compute/jobs", endpoint(consumer_submit, 201), methods=["POST"]),
        Route("/api/compute/jobs", endpoint(consumer_jobs), methods=["GET"]),
        Route("/api/compute/jobs/{id}", endpoint(consumer_job), methods=["GET"]),
        Route("/api/compute/mock/{agreement:path}", endpoint(consumer_mock), methods=["GET"]),
        Route("/api/compute/review", endpoint(review_queue), methods=["GET"]),
        Route("/api/compute/jobs/{id}/{action}", endpoint(review), methods=["POST"]),
    ]
