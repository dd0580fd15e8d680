"""The DSP TCK test profile (``trustspace serve --tck``); off unless asked for.

What the Eclipse DSP TCK needs from a connector under test, in remote mode:
seed datasets and finalized agreements with the TCK's default ids, scripted
behaviour per dataset / agreement id (the same script hook every node has,
with other scripts), two webhooks that make the node start a negotiation or a
transfer as consumer, and one ``Authorization`` value accepted as the TCK's
participant.  The facts themselves live in :mod:`trustspace.tck.data`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from trustspace.api.endpoint import PUBLIC, BadRequest, managed
from trustspace.core import negotiation as n
from trustspace.core.machine import Role
from trustspace.core.records import Agreement, DataFile, Dataset, Negotiation, Offer
from trustspace.services import negotiations, transfers
from trustspace.services.context import NodeContext
from trustspace.services.transfers import PULL_FORMAT
from trustspace.store import agreements, datasets
from trustspace.store import negotiations as negotiation_rows
from trustspace.tck import data as tckdata

TCK_PARTICIPANT = tckdata.TCK_PARTICIPANT
USE = {"permission": [{"action": "use"}]}


def install(ctx: NodeContext) -> list[BaseRoute]:
    behaviour = ctx.behaviour
    behaviour.negotiation_overrides[Role.PROVIDER] = dict(tckdata.NEGOTIATION_PROVIDER_SCRIPTS)
    behaviour.negotiation_overrides[Role.CONSUMER] = dict(tckdata.NEGOTIATION_CONSUMER_SCRIPTS)
    behaviour.transfer_overrides[Role.PROVIDER] = dict(tckdata.TRANSFER_PROVIDER_SCRIPTS)
    behaviour.transfer_overrides[Role.CONSUMER] = dict(tckdata.TRANSFER_CONSUMER_SCRIPTS)
    seed(ctx)
    return routes(ctx)


def seed(ctx: NodeContext) -> None:
    now = ctx.clock()
    sample = ctx.blob_dir / "tck-sample.txt"
    sample.parent.mkdir(parents=True, exist_ok=True)
    sample.write_text("trustspace TCK sample data\n")
    sample_sha = hashlib.sha256(sample.read_bytes()).hexdigest()
    dataset_ids = set(tckdata.SEED_DATASETS) | set(tckdata.PROVIDER_AGREEMENTS.values())
    with ctx.db.tx() as tx:
        for dataset_id in sorted(dataset_ids):
            if datasets.get_dataset(tx, dataset_id) is None:
                datasets.insert_dataset(
                    tx,
                    Dataset(
                        id=dataset_id,
                        title=f"TCK dataset {dataset_id}",
                        description="",
                        formats=(PULL_FORMAT,),
                        created_at=now,
                        path=str(sample),
                        filename="tck-sample.txt",
                        media_type="text/plain",
                        size=sample.stat().st_size,
                        sha256=sample_sha,
                        files=(
                            DataFile(
                                "tck-sample.txt",
                                str(sample),
                                sample.stat().st_size,
                                sample_sha,
                                "text/plain",
                            ),
                        ),
                    ),
                )
            offer_id = tckdata.SEED_OFFER_IDS.get(dataset_id, f"{dataset_id}:offer")
            if datasets.get_offer(tx, offer_id) is None:
                datasets.insert_offer(
                    tx, Offer(id=offer_id, dataset_id=dataset_id, policy=USE, created_at=now)
                )
        for agreement_id, dataset_id in tckdata.PROVIDER_AGREEMENTS.items():
            _seed_agreement(ctx, tx, agreement_id, dataset_id, Role.PROVIDER, now)
        for agreement_id, dataset_id in tckdata.CONSUMER_AGREEMENTS.items():
            _seed_agreement(ctx, tx, agreement_id, dataset_id, Role.CONSUMER, now)


def _seed_agreement(
    ctx: NodeContext, tx: Any, agreement_id: str, dataset_id: str, role: Role, now: float
) -> None:
    if agreements.get_agreement(tx, agreement_id) is not None:
        return
    neg_id = f"urn:tck:negotiation:{agreement_id}"
    provider, consumer = (
        (ctx.participant_id, TCK_PARTICIPANT)
        if role is Role.PROVIDER
        else (TCK_PARTICIPANT, ctx.participant_id)
    )
    policy = {
        "@id": agreement_id,
        "@type": "Agreement",
        "target": dataset_id,
        "assigner": provider,
        "assignee": consumer,
        **USE,
    }
    negotiation_rows.insert_negotiation(
        tx,
        Negotiation(
            id=neg_id,
            role=role,
            state=n.FINALIZED,
            counterparty_id=TCK_PARTICIPANT,
            counterparty_address="",
            dataset_id=dataset_id,
            offer={"@id": f"{dataset_id}:offer", "target": dataset_id, **USE},
            created_at=now,
            updated_at=now,
            provider_pid=neg_id if role is Role.PROVIDER else f"urn:tck:peer:{agreement_id}",
            consumer_pid=neg_id if role is Role.CONSUMER else f"urn:tck:peer:{agreement_id}",
            agreement_id=agreement_id,
        ),
    )
    agreements.insert_agreement(
        tx, Agreement(agreement_id, neg_id, dataset_id, provider, consumer, policy, now)
    )


def routes(ctx: NodeContext) -> list[BaseRoute]:
    """The TCK's trigger endpoints (open, like the TCK expects): start a negotiation or a
    transfer with the TCK's connector."""
    endpoint = managed(PUBLIC)

    def need(body: dict[str, Any], *keys: str) -> None:
        missing = [k for k in keys if not isinstance(body.get(k), str) or not body[k]]
        if missing:
            raise BadRequest(f"missing {', '.join(missing)}")

    def negotiation_request(request: Request, body: Any) -> Any:
        need(body, "providerId", "offerId", "datasetId", "connectorAddress")
        offer = {"@id": body["offerId"], "@type": "Offer", **USE}
        neg = negotiations.request(ctx, provider_id=body["providerId"],
                                   provider_address=body["connectorAddress"],
                                   dataset_id=body["datasetId"], offer=offer)  # fmt: skip
        return negotiations.view(neg)

    def transfer_request(request: Request, body: Any) -> Any:
        need(body, "agreementId", "format", "connectorAddress")
        tp = transfers.request(ctx, agreement_id=body["agreementId"], format=body["format"],
                               provider_address=body["connectorAddress"])  # fmt: skip
        return transfers.view(tp)

    return [
        Route("/tck/negotiations/requests", endpoint(negotiation_request, 201), methods=["POST"]),
        Route("/tck/transfers/requests", endpoint(transfer_request, 201), methods=["POST"]),
    ]
