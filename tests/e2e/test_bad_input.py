"""Bad input over real HTTP: a clear 4xx with a DSP error body, and nothing changes."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Space
from tests.e2e.flow import negotiate, publish
from trustspace.core import messages as m
from trustspace.trust.keys import NodeKey
from trustspace.trust.tokens import bearer, issue_token


def auth(
    space: Space,
    *,
    audience: str = "provider",
    issuer: str = "tester",
    key: NodeKey | None = None,
    now: float | None = None,
    ttl: float = 60,
) -> dict[str, str]:
    token = issue_token(
        key or space.tester_key, issuer, audience, now=time.time() if now is None else now, ttl=ttl
    )
    return {"Authorization": bearer(token)}


def post(
    space: Space,
    path: str,
    body: Any,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> httpx.Response:
    url = space.provider.dsp + path
    h = auth(space) if headers is None else headers
    if raw is not None:
        return httpx.post(url, content=raw, headers={**h, "Content-Type": "application/json"})
    return httpx.post(url, json=body, headers=h)


def request_body(dataset_id: str, offer_id: str, consumer_pid: str | None = None) -> dict[str, Any]:
    offer = {
        "@id": offer_id,
        "@type": "Offer",
        "target": dataset_id,
        "permission": [{"action": "use"}],
    }
    return m.contract_request(
        consumer_pid=consumer_pid or f"urn:uuid:{uuid.uuid4()}",
        offer=offer,
        callback_address="http://127.0.0.1:9/cb",
    )


@pytest.fixture
def dataset(space: Space, tmp_path: Path) -> dict[str, Any]:
    f = tmp_path / "d.txt"
    f.write_text("hello")
    return publish(space.provider, f)


def provider_negotiations(space: Space) -> list[dict[str, Any]]:
    with space.provider.client() as p:
        result: list[dict[str, Any]] = p.call("GET", "/api/negotiations")
    return result


def assert_error(r: httpx.Response, status: int, kind: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["@type"] == kind and body["reason"], body
    assert m.DSP_CONTEXT in body["@context"]


def test_version_endpoint_is_open(space: Space) -> None:
    r = httpx.get(space.provider.url + "/.well-known/dspace-version")
    assert r.status_code == 200
    assert r.json()["protocolVersions"][0] == {
        "version": "2025-1",
        "path": "/dsp/2025-1",
        "binding": "HTTPS",
    }


def test_malformed_json_and_wrong_type(space: Space, dataset: dict[str, Any]) -> None:
    assert_error(
        post(space, "/negotiations/request", None, raw=b"{not json"),
        400,
        "ContractNegotiationError",
    )
    wrong = request_body(dataset["id"], dataset["offerId"])
    wrong["@type"] = "TransferRequestMessage"
    assert_error(post(space, "/negotiations/request", wrong), 400, "ContractNegotiationError")
    no_offer = request_body(dataset["id"], dataset["offerId"])
    del no_offer["offer"]
    assert_error(post(space, "/negotiations/request", no_offer), 400, "ContractNegotiationError")
    assert_error(post(space, "/catalog/request", [1, 2]), 400, "CatalogError")
    assert provider_negotiations(space) == []


@pytest.mark.parametrize(
    "make_headers",
    [
        pytest.param(lambda s: {}, id="missing"),
        pytest.param(lambda s: {"Authorization": "Bearer not-a-jwt"}, id="garbage"),
        pytest.param(lambda s: auth(s, key=NodeKey.generate()), id="forged-signature"),
        pytest.param(lambda s: auth(s, now=time.time() - 3600), id="expired"),
        pytest.param(lambda s: auth(s, audience="consumer"), id="wrong-audience"),
        pytest.param(
            lambda s: auth(s, issuer="stranger", key=NodeKey.generate()), id="unknown-issuer"
        ),
    ],
)
def test_unauthenticated_requests_get_401_and_change_nothing(
    space: Space, dataset: dict[str, Any], make_headers: Any
) -> None:
    r = post(
        space,
        "/negotiations/request",
        request_body(dataset["id"], dataset["offerId"]),
        headers=make_headers(space),
    )
    assert_error(r, 401, "ContractNegotiationError")
    r = post(
        space,
        "/catalog/request",
        {"@context": list(m.CONTEXT), "@type": "CatalogRequestMessage"},
        headers=make_headers(space),
    )
    assert_error(r, 401, "CatalogError")
    assert provider_negotiations(space) == []


def test_replayed_token_is_refused(space: Space, dataset: dict[str, Any]) -> None:
    headers = auth(space)
    first = post(
        space,
        "/negotiations/request",
        request_body(dataset["id"], dataset["offerId"]),
        headers=headers,
    )
    assert first.status_code == 201, first.text
    again = post(
        space,
        "/negotiations/request",
        request_body(dataset["id"], dataset["offerId"]),
        headers=headers,
    )
    assert_error(again, 401, "ContractNegotiationError")
    assert "replay" in again.json()["reason"][0]
    assert len(provider_negotiations(space)) == 1


def test_unknown_ids_get_404_on_get_and_400_on_post(space: Space) -> None:
    r = httpx.get(space.provider.dsp + "/negotiations/urn:uuid:nope", headers=auth(space))
    assert_error(r, 404, "ContractNegotiationError")
    r = httpx.get(space.provider.dsp + "/transfers/urn:uuid:nope", headers=auth(space))
    assert_error(r, 404, "TransferError")
    r = httpx.get(space.provider.dsp + "/catalog/datasets/urn:uuid:nope", headers=auth(space))
    assert_error(r, 404, "CatalogError")
    body = m.agreement_verification(provider_pid="urn:uuid:nope", consumer_pid="c")
    assert_error(
        post(space, "/negotiations/urn:uuid:nope/agreement/verification", body),
        400,
        "ContractNegotiationError",
    )
    body = m.transfer_signal(
        "TransferCompletionMessage", provider_pid="urn:uuid:nope", consumer_pid="c"
    )
    assert_error(post(space, "/transfers/urn:uuid:nope/completion", body), 400, "TransferError")


def test_unknown_offer_and_dataset_mismatch_are_refused(
    space: Space, dataset: dict[str, Any]
) -> None:
    assert_error(
        post(space, "/negotiations/request", request_body(dataset["id"], "urn:no-such-offer")),
        400,
        "ContractNegotiationError",
    )
    assert_error(
        post(space, "/negotiations/request", request_body("urn:other", dataset["offerId"])),
        400,
        "ContractNegotiationError",
    )
    widened = request_body(dataset["id"], dataset["offerId"])
    # "sell" is not included in the offered "use" (it belongs to "transfer"): wider terms
    widened["offer"]["permission"] = [{"action": "use"}, {"action": "sell"}]
    r = post(space, "/negotiations/request", widened)
    assert_error(r, 400, "ContractNegotiationError")
    assert "wider than offer" in r.json()["reason"][0]
    assert "'sell' is not included in the offered 'use'" in r.json()["reason"][0]
    assert provider_negotiations(space) == []


def test_wrong_state_gets_409_and_state_is_unchanged(space: Space, dataset: dict[str, Any]) -> None:
    neg = negotiate(space.consumer, space.provider, dataset["id"])
    pid, cpid = neg["providerPid"], neg["consumerPid"]
    for path, body in [
        ("agreement/verification", m.agreement_verification(provider_pid=pid, consumer_pid=cpid)),
        ("events", m.negotiation_event(provider_pid=pid, consumer_pid=cpid, event="ACCEPTED")),
        ("termination", m.negotiation_termination(provider_pid=pid, consumer_pid=cpid)),
    ]:
        # the consumer's own identity is needed to address its negotiation
        r = httpx.post(
            space.provider.dsp + f"/negotiations/{pid}/{path}",
            json=body,
            headers=_as_consumer(space),
        )
        assert r.status_code == 409, r.text
        assert r.json()["@type"] == "ContractNegotiationError"
    with space.provider.client() as p:
        assert p.call("GET", f"/api/negotiations/{pid}")["state"] == "FINALIZED"


def _as_consumer(space: Space) -> dict[str, str]:
    key = NodeKey.load_or_create(space.consumer.dir / "node.key")
    return {"Authorization": bearer(issue_token(key, "consumer", "provider", now=time.time()))}


def test_another_participant_never_sees_or_changes_a_process(
    space: Space, dataset: dict[str, Any]
) -> None:
    neg = negotiate(space.consumer, space.provider, dataset["id"])
    pid = neg["providerPid"]
    r = httpx.get(
        space.provider.dsp + f"/negotiations/{pid}", headers=auth(space)
    )  # tester, not the consumer
    assert_error(r, 404, "ContractNegotiationError")
    body = m.negotiation_termination(provider_pid=pid, consumer_pid=neg["consumerPid"])
    assert_error(
        post(space, f"/negotiations/{pid}/termination", body), 400, "ContractNegotiationError"
    )
    r = httpx.get(space.provider.dsp + f"/negotiations/{pid}", headers=_as_consumer(space))
    assert r.status_code == 200 and r.json()["state"] == "FINALIZED"


def test_transfer_request_needs_an_agreement_of_the_caller(
    space: Space, dataset: dict[str, Any]
) -> None:
    neg = negotiate(space.consumer, space.provider, dataset["id"])
    body = m.transfer_request(
        consumer_pid="urn:uuid:t1",
        agreement_id=neg["agreementId"],
        format="HttpData-PULL",
        callback_address="http://127.0.0.1:9/cb",
    )
    r = post(space, "/transfers/request", body)  # the tester is not party to that agreement
    assert_error(r, 400, "TransferError")
    bad_format = m.transfer_request(
        consumer_pid="urn:uuid:t2",
        agreement_id=neg["agreementId"],
        format="Carrier-PIGEON",
        callback_address="http://127.0.0.1:9/cb",
    )
    r = httpx.post(
        space.provider.dsp + "/transfers/request", json=bad_format, headers=_as_consumer(space)
    )
    assert_error(r, 400, "TransferError")
    with space.provider.client() as p:
        assert p.call("GET", "/api/transfers") == []


def test_data_plane_rejects_missing_and_wrong_tokens(space: Space) -> None:
    r = httpx.get(space.provider.url + "/data/urn:uuid:x")
    assert r.status_code == 401
    r = httpx.get(space.provider.url + "/data/urn:uuid:x", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
