"""``/api/catalog``, ``/api/negotiations``, ``/api/agreements``: reading a provider's catalog,
negotiating contracts, reading agreements and recording payments under them."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from trustspace.api.endpoint import BadRequest, managed, page, required, text
from trustspace.services import directory, negotiations, status
from trustspace.services import policy as pep
from trustspace.services.errors import NotFound
from trustspace.services.runtime import Runtime

ACTIONS = ("terminate", "accept", "verify", "agree", "offer", "finalize")


def routes(rt: Runtime) -> list[BaseRoute]:
    ctx = rt.ctx
    endpoint = managed(rt.management_key)

    def peer(body: Any) -> tuple[str, str]:
        return directory.find_peer(
            rt, required(body, "address"), text(body, "providerId", required=False)
        )

    def remote_catalog(request: Request, body: Any) -> Any:
        peer_id, address = peer(body)
        return directory.remote_catalog(rt, address, peer_id)

    def negotiation_start(request: Request, body: Any) -> Any:
        peer_id, address = peer(body)
        dataset_id = required(body, "datasetId")
        offer_id = text(body, "offerId", required=False)
        offer = body.get("offer")
        if not isinstance(offer, dict):
            remote = directory.remote_dataset(rt, address, peer_id, dataset_id)
            offers = [o for o in remote.get("hasPolicy", []) if isinstance(o, dict)]
            chosen = [o for o in offers if offer_id is None or o.get("@id") == offer_id]
            if not chosen:
                raise BadRequest(f"dataset {dataset_id} has no offer {offer_id}")
            offer = chosen[0]
        neg = negotiations.request(
            ctx, provider_id=peer_id, provider_address=address, dataset_id=dataset_id, offer=offer
        )
        return negotiations.view(neg)

    def negotiation_list(request: Request, body: Any) -> Any:
        return [negotiations.view(x) for x in negotiations.list_all(ctx, *page(request))]

    def negotiation_get(request: Request, body: Any) -> Any:
        pid = request.path_params["id"]
        return {**negotiations.view(negotiations.get(ctx, pid)),
                "history": status.history(ctx, pid)}  # fmt: skip

    def negotiation_act(request: Request, body: Any) -> Any:
        action = request.path_params["action"]
        if action not in ACTIONS:
            raise NotFound(f"no action {action}")
        reason = text(body, "reason", required=False)
        return negotiations.view(negotiations.act(ctx, request.path_params["id"], action, reason))

    def agreement_get(request: Request, body: Any) -> Any:
        return status.agreement_policy(ctx, request.path_params["id"])

    def payment_add(request: Request, body: Any) -> Any:
        return pep.record_payment(
            ctx,
            request.path_params["id"],
            amount=required(body, "amount"),
            unit=required(body, "unit"),
            reference=text(body, "reference", required=False),
        )

    return [
        Route("/api/catalog", endpoint(remote_catalog), methods=["POST"]),
        Route("/api/negotiations", endpoint(negotiation_list), methods=["GET"]),
        Route("/api/negotiations", endpoint(negotiation_start, 201), methods=["POST"]),
        Route("/api/negotiations/{id}", endpoint(negotiation_get), methods=["GET"]),
        Route("/api/negotiations/{id}/{action}", endpoint(negotiation_act), methods=["POST"]),
        Route("/api/agreements/{id}", endpoint(agreement_get), methods=["GET"]),
        Route("/api/agreements/{id}/payments", endpoint(payment_add, 201), methods=["POST"]),
    ]
