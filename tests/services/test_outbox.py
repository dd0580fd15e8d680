"""The outbox worker against a scripted peer (httpx.MockTransport): the worker is real,
the peer is the fake."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from trustspace.services import negotiations
from trustspace.services.context import NodeContext
from trustspace.services.outbox import OutboxWorker
from trustspace.store import outbox as outbox_rows
from trustspace.store.db import Database

OFFER = {"@id": "urn:offer:1", "permission": [{"action": "use"}]}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ctx(tmp_path: Path, clock: Clock) -> Iterator[NodeContext]:
    db = Database(f"sqlite:///{tmp_path / 'n.db'}")
    db.migrate()
    yield NodeContext(
        db=db,
        participant_id="consumer",
        dsp_base="http://consumer/dsp/2025-1",
        data_base="http://consumer/data",
        blob_dir=tmp_path / "blobs",
        clock=clock,
    )
    db.close()


def worker(
    ctx: NodeContext, handler: Callable[[httpx.Request], httpx.Response], **kw: object
) -> OutboxWorker:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return OutboxWorker(ctx, client, lambda peer: f"Bearer token-for-{peer}", backoff=1.0, **kw)  # type: ignore[arg-type]


def start(ctx: NodeContext) -> str:
    return negotiations.request(
        ctx,
        provider_id="provider",
        provider_address="http://provider/dsp/2025-1",
        dataset_id="urn:ds:1",
        offer=OFFER,
    ).id


def test_delivery_records_the_providers_pid(ctx: NodeContext) -> None:
    seen: list[httpx.Request] = []

    def peer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = json.loads(request.content)
        return httpx.Response(
            201,
            json={
                "@type": "ContractNegotiation",
                "providerPid": "urn:p:1",
                "consumerPid": body["consumerPid"],
                "state": "REQUESTED",
            },
        )

    nid = start(ctx)
    w = worker(ctx, peer)
    assert w.run_once()
    assert not w.run_once()
    assert seen[0].url == "http://provider/dsp/2025-1/negotiations/request"
    assert seen[0].headers["authorization"] == "Bearer token-for-provider"
    assert negotiations.get(ctx, nid).provider_pid == "urn:p:1"


def test_a_refusal_terminates_with_the_peers_reason(ctx: NodeContext) -> None:
    def peer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400,
            json={
                "@type": "ContractNegotiationError",
                "reason": ["offer urn:offer:1 is not in this catalog"],
            },
        )

    nid = start(ctx)
    worker(ctx, peer).run_once()
    neg = negotiations.get(ctx, nid)
    assert neg.state == "TERMINATED"
    assert neg.error is not None and "not in this catalog" in neg.error and "HTTP 400" in neg.error
    with ctx.db.tx() as tx:
        assert outbox_rows.pending_count(tx) == 0  # the peer knows no process: nothing more is sent


def test_retries_with_backoff_then_terminates(ctx: NodeContext, clock: Clock) -> None:
    calls: list[float] = []

    def peer(request: httpx.Request) -> httpx.Response:
        calls.append(clock.now)
        return httpx.Response(503, text="busy")

    nid = start(ctx)
    w = worker(ctx, peer, max_attempts=4)
    for _ in range(40):
        w.run_once()
        clock.now += 0.5
    assert len(calls) == 4
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert gaps == sorted(gaps) and gaps[0] >= 1.0 and gaps[-1] >= 4.0  # 1 s, 2 s, 4 s
    neg = negotiations.get(ctx, nid)
    assert neg.state == "TERMINATED" and "after 4 attempts" in (neg.error or "")


def test_connection_errors_are_retried_not_fatal(ctx: NodeContext, clock: Clock) -> None:
    answers = iter([httpx.ConnectError("refused"), None])

    def peer(request: httpx.Request) -> httpx.Response:
        failure = next(answers)
        if failure is not None:
            raise failure
        return httpx.Response(
            201, json={"providerPid": "urn:p:2", "consumerPid": "x", "state": "REQUESTED"}
        )

    nid = start(ctx)
    w = worker(ctx, peer)
    w.run_once()
    assert negotiations.get(ctx, nid).state == "REQUESTED"
    clock.now += 1.0
    w.run_once()
    assert negotiations.get(ctx, nid).provider_pid == "urn:p:2"


def test_messages_of_one_process_leave_in_order(ctx: NodeContext) -> None:
    order: list[str] = []
    sent: list[tuple[str, dict[str, object]]] = []

    def peer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        order.append(body["@type"])
        sent.append((str(request.url), body))
        return httpx.Response(
            201 if body["@type"] == "ContractRequestMessage" else 200,
            json={
                "providerPid": "urn:p:3",
                "consumerPid": body["consumerPid"],
                "state": "REQUESTED",
            },
        )

    nid = start(ctx)
    negotiations.act(
        ctx, nid, "terminate", "changed my mind"
    )  # queued before the provider's pid is known
    w = worker(ctx, peer)
    while w.run_once():
        pass
    assert order == ["ContractRequestMessage", "ContractNegotiationTerminationMessage"]
    url, body = sent[-1]
    assert body["providerPid"] == "urn:p:3"  # filled in at send time
    assert url == "http://provider/dsp/2025-1/negotiations/urn:p:3/termination"
