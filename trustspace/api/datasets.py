"""``/api/datasets``: this node's own datasets — list, publish, submit for listing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from trustspace.api.endpoint import BadRequest, managed, obj, strings, text
from trustspace.services import catalog, directory, listing, transfers
from trustspace.services.runtime import Runtime


def routes(rt: Runtime) -> list[BaseRoute]:
    ctx = rt.ctx
    endpoint = managed(rt.management_key)

    def datasets_list(request: Request, body: Any) -> Any:
        return catalog.list_local(ctx)

    def datasets_add(request: Request, body: Any) -> Any:
        path = text(body, "path", required=False)
        paths = strings(body, "paths")
        if path and paths:
            raise BadRequest("give 'path' (one file) or 'paths' (several), not both")
        title = text(body, "title", required=False) or (Path(path).name if path else None)
        if title is None:
            raise BadRequest("'title' is required when no file is given")
        policy = body.get("policy")
        if policy is not None and not isinstance(policy, dict):
            raise BadRequest("'policy' must be an object with permission/prohibition rules")
        access_policy = body.get("accessPolicy")
        if access_policy is not None and not isinstance(access_policy, dict):
            raise BadRequest("'accessPolicy' must be an ODRL policy object")
        formats = body.get("formats") or [transfers.PULL_FORMAT]
        if not isinstance(formats, list) or not all(isinstance(f, str) for f in formats):
            raise BadRequest("'formats' must be a list of strings")
        dataset, offer = catalog.publish(
            ctx,
            path=Path(path) if path else None,
            paths=[Path(p) for p in paths],
            title=title,
            description=text(body, "description", required=False) or "",
            policy=policy,
            formats=formats,
            dataset_id=text(body, "id", required=False),
            offer_id=text(body, "offerId", required=False),
            access_policy=access_policy,
            classification=text(body, "classification", required=False) or "general",
            keywords=strings(body, "keywords"),
            license=text(body, "license", required=False),
            price=text(body, "price", required=False),
            currency=text(body, "currency", required=False),
            version=text(body, "version", required=False),
            declaration=obj(body, "declaration"),
            profile=obj(body, "profile"),
            compute_rule=obj(body, "computeRule"),
            update_frequency=text(body, "updateFrequency", required=False),
            previous_version=text(body, "previousVersion", required=False),
            api=obj(body, "api"),
        )
        return {
            "id": dataset.id,
            "product": dataset.product_id or dataset.id,
            "files": [{"name": f.name, "sha256": f.sha256} for f in dataset.files],
            "offerId": offer.id,
            "sha256": dataset.sha256,
            "size": dataset.size,
        }

    def listing_submit(request: Request, body: Any) -> Any:
        operator = directory.operator_of(rt, text(body, "operator", required=False))
        return listing.submit(
            ctx, rt.peers.http, rt.peers.authorization, operator, request.path_params["id"]
        )

    return [
        Route("/api/datasets", endpoint(datasets_list), methods=["GET"]),
        Route("/api/datasets", endpoint(datasets_add, 201), methods=["POST"]),
        Route("/api/datasets/{id}/listing", endpoint(listing_submit, 201), methods=["POST"]),
    ]
