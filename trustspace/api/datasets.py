"""``/api/datasets``: this node's own datasets — list, publish, submit for listing.

A publish names its files as uploads (``files``: name and upload id from ``/api/uploads``, the
way the CLI publishes from any machine) or, explicitly, as paths the node reads on its own
disk (``path``, ``paths``).  The body becomes one :class:`~trustspace.services.catalog.VersionSpec`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from trustspace.api.endpoint import BadRequest, managed, obj, required, strings, text
from trustspace.services import catalog, directory, listing, transfers
from trustspace.services.catalog import FileSource, VersionSpec
from trustspace.services.runtime import Runtime


def _files(body: Any) -> tuple[FileSource, ...]:
    """``path`` (one file on the node), ``paths`` (several), or ``files``: uploads, each
    ``{"name": ..., "upload": <the upload's SHA-256>}``."""
    path = text(body, "path", required=False)
    paths = strings(body, "paths")
    uploads = body.get("files", [])
    if sum(map(bool, (path, paths, uploads))) > 1:
        raise BadRequest("give 'path' (one file), 'paths' (several) or 'files' (uploads), not both")
    if not isinstance(uploads, list) or not all(isinstance(f, dict) for f in uploads):
        raise BadRequest('\'files\' must be a list of {"name", "upload"} objects')
    if uploads:
        return tuple(FileSource(required(f, "name"), upload=required(f, "upload"))
                     for f in uploads)  # fmt: skip
    return tuple(FileSource.at(Path(p)) for p in ([path] if path else paths))


def version_spec(body: Any) -> VersionSpec:
    """The version a ``POST /api/datasets`` body describes."""
    files = _files(body)
    title = text(body, "title", required=False) or (files[0].name if files else None)
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
    return VersionSpec(
        title=title,
        files=files,
        description=text(body, "description", required=False) or "",
        policy=policy,
        formats=tuple(formats),
        dataset_id=text(body, "id", required=False),
        offer_id=text(body, "offerId", required=False),
        access_policy=access_policy,
        classification=text(body, "classification", required=False) or "general",
        keywords=tuple(strings(body, "keywords")),
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


def routes(rt: Runtime) -> list[BaseRoute]:
    ctx = rt.ctx
    endpoint = managed(rt.management_key)

    def datasets_list(request: Request, body: Any) -> Any:
        return catalog.list_local(ctx)

    def datasets_add(request: Request, body: Any) -> Any:
        dataset, offer = catalog.publish(ctx, version_spec(body))
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
