"""Every message the node builds validates against the official DSP 2025-1 schema for its @type;
the official examples pass our incoming-message checker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.schemas import SCHEMA_FILES, Schemas
from trustspace.core import messages as m


@pytest.fixture(scope="module")
def schemas(spec_dir: Path) -> Schemas:
    return Schemas(spec_dir)


@pytest.fixture(scope="module")
def validate(schemas: Schemas) -> Any:
    def run(body: dict[str, Any]) -> None:
        assert schemas.errors(body) == [], body

    return run


OFFER = {
    "@id": "urn:offer:1",
    "@type": "Offer",
    "permission": [
        {
            "action": "use",
            "constraint": [
                {"leftOperand": "purpose", "operator": "eq", "rightOperand": "ai-training"}
            ],
        }
    ],
}


def built() -> list[dict[str, Any]]:
    offer = m.offer_for_request("urn:offer:1", "urn:ds:1", OFFER)
    agreement = m.agreement(
        agreement_id="urn:agr:1",
        offer=offer,
        target="urn:ds:1",
        assigner="provider",
        assignee="consumer",
        timestamp="2026-11-24T10:00:00Z",
    )
    dataset = m.dataset(
        dataset_id="urn:ds:1",
        offers=[m.offer_for_catalog("urn:offer:1", OFFER)],
        formats=["HttpData-PULL"],
        service_id="urn:svc",
        title="t",
        description="d",
        extra={"byteSize": 3},
    )
    return [
        m.catalog(
            catalog_id="urn:cat",
            participant_id="provider",
            service_id="urn:svc",
            endpoint_url="http://x/dsp/2025-1",
            datasets=[dataset],
        ),
        m.with_context(dataset),
        {"@context": list(m.CONTEXT), "@type": "CatalogRequestMessage"},
        m.error("CatalogError", code="not-found", reason=["no dataset"]),
        m.contract_request(
            consumer_pid="c1", offer=offer, callback_address="http://consumer/dsp/2025-1"
        ),
        m.contract_request(consumer_pid="c1", provider_pid="p1", offer=offer),
        m.contract_offer(provider_pid="p1", consumer_pid="c1", offer=offer),
        m.contract_offer(provider_pid="p1", offer=offer, callback_address="http://provider/cb"),
        m.contract_agreement(provider_pid="p1", consumer_pid="c1", agreement=agreement),
        m.agreement_verification(provider_pid="p1", consumer_pid="c1"),
        m.negotiation_event(provider_pid="p1", consumer_pid="c1", event="ACCEPTED"),
        m.negotiation_event(provider_pid="p1", consumer_pid="c1", event="FINALIZED"),
        m.negotiation_termination(
            provider_pid="p1", consumer_pid="c1", code="x", reason=["because"]
        ),
        m.negotiation(provider_pid="p1", consumer_pid="c1", state="AGREED"),
        m.error("ContractNegotiationError", code="invalid-state", reason=["no"], provider_pid="p1"),
        m.transfer_request(
            consumer_pid="c1",
            agreement_id="urn:agr:1",
            format="HttpData-PULL",
            callback_address="http://c",
        ),
        m.transfer_start(
            provider_pid="p1",
            consumer_pid="c1",
            data_address=m.data_address("http://p/data/1", "tok"),
        ),
        m.transfer_start(provider_pid="p1", consumer_pid="c1"),
        m.transfer_signal(
            "TransferSuspensionMessage",
            provider_pid="p1",
            consumer_pid="c1",
            code="suspend",
            reason=["pause"],
        ),
        m.transfer_signal("TransferCompletionMessage", provider_pid="p1", consumer_pid="c1"),
        m.transfer_signal(
            "TransferTerminationMessage",
            provider_pid="p1",
            consumer_pid="c1",
            code="t",
            reason=["r"],
        ),
        m.transfer_process(provider_pid="p1", consumer_pid="c1", state="STARTED"),
        m.error("TransferError", code="x", reason=["y"]),
    ]


@pytest.mark.parametrize("body", built(), ids=lambda b: str(b["@type"]))
def test_built_messages_validate(validate: Any, body: dict[str, Any]) -> None:
    validate(body)
    assert m.DSP_CONTEXT in body["@context"]


def test_every_message_type_has_a_schema() -> None:
    built_types = {b["@type"] for b in built()}
    assert built_types <= set(SCHEMA_FILES)


def test_the_schema_check_is_real(validate: Any) -> None:
    broken = m.contract_request(
        consumer_pid="c1", offer={"@id": "x", "@type": "Offer"}, callback_address="http://c"
    )
    with pytest.raises(AssertionError):
        validate(broken)


def test_catalog_offers_have_no_target(validate: Any) -> None:
    offer = m.offer_for_catalog("urn:offer:1", {**OFFER, "target": "urn:ds:1"})
    assert "target" not in offer


def test_version_metadata(schemas: Schemas) -> None:
    assert schemas.check_version(m.version_metadata("/dsp/2025-1"), "version endpoint")


INCOMING = {
    "negotiation/example/contract-request-message_initial.json": "ContractRequestMessage",
    "negotiation/example/contract-request-message.json": "ContractRequestMessage",
    "negotiation/example/contract-offer-message.json": "ContractOfferMessage",
    "negotiation/example/contract-offer-message_initial.json": "ContractOfferMessage",
    "negotiation/example/contract-agreement-message.json": "ContractAgreementMessage",
    "negotiation/example/contract-agreement-message-full.json": "ContractAgreementMessage",
    "negotiation/example/contract-agreement-verification-message.json": "ContractAgreementVerificationMessage",
    "negotiation/example/contract-negotiation-event-message.json": "ContractNegotiationEventMessage",
    "negotiation/example/contract-negotiation-termination-message.json": "ContractNegotiationTerminationMessage",
    "transfer/example/transfer-request-message.json": "TransferRequestMessage",
    "transfer/example/transfer-start-message.json": "TransferStartMessage",
    "transfer/example/transfer-suspension-message.json": "TransferSuspensionMessage",
    "transfer/example/transfer-completion-message.json": "TransferCompletionMessage",
    "transfer/example/transfer-termination-message.json": "TransferTerminationMessage",
    "catalog/example/catalog-request-message.json": "CatalogRequestMessage",
}


@pytest.mark.parametrize(("example", "kind"), sorted(INCOMING.items()))
def test_official_examples_pass_our_checker(spec_dir: Path, example: str, kind: str) -> None:
    body = json.loads((spec_dir / example).read_text())
    assert m.check(body, kind) is body


def test_tolerated_extras() -> None:
    body = m.contract_request(
        consumer_pid="c1",
        offer=m.offer_for_request("o", "d", {"permission": [{"action": "use", "constraint": []}]}),
        callback_address="http://c",
    )
    body["@id"] = "urn:msg:1"
    body["offer"]["assigner"] = "someone"
    assert m.check(body, "ContractRequestMessage") is body
    term = m.negotiation_termination(provider_pid="p", consumer_pid="c")
    term["reason"] = [{"message": "done"}]
    m.check(term, "ContractNegotiationTerminationMessage")
    assert m.reasons(term) == ["done"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([], "JSON object"),
        ({"@type": "ContractRequestMessage"}, "@context"),
        ({"@context": [], "@type": 3}, "@type"),
        ({"@context": [], "@type": "TransferStartMessage"}, "expected @type"),
        ({"@context": [], "@type": "ContractRequestMessage", "consumerPid": "c"}, "offer"),
        (
            {
                "@context": [],
                "@type": "ContractRequestMessage",
                "consumerPid": "c",
                "offer": {
                    "@id": "o",
                    "@type": "Offer",
                    "target": "d",
                    "permission": [{"action": "use"}],
                },
            },
            "exactly one",
        ),
        (
            {
                "@context": [],
                "@type": "ContractRequestMessage",
                "consumerPid": "c",
                "callbackAddress": "x",
                "offer": {"@id": "o", "@type": "Offer", "permission": [{"action": "use"}]},
            },
            "target",
        ),
        (
            {
                "@context": [],
                "@type": "ContractNegotiationEventMessage",
                "providerPid": "p",
                "consumerPid": "c",
                "eventType": "DONE",
            },
            "eventType",
        ),
        (
            {
                "@context": [],
                "@type": "ContractNegotiationTerminationMessage",
                "providerPid": "p",
                "consumerPid": 5,
            },
            "consumerPid",
        ),
    ],
)
def test_bad_messages_are_refused_with_a_reason(body: Any, fragment: str) -> None:
    expected = (
        "ContractRequestMessage"
        if not isinstance(body, dict)
        else body.get("@type")
        if isinstance(body.get("@type"), str) and body["@type"] != "TransferStartMessage"
        else "ContractRequestMessage"
    )
    with pytest.raises(m.MessageError, match=fragment):
        m.check(body, expected)
