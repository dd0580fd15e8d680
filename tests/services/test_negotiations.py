"""Negotiation use cases on a real SQLite store, with the peer played by the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from trustspace.core import messages as m
from trustspace.services import negotiations
from trustspace.services.context import NodeContext
from trustspace.services.errors import NotFound, Refused
from trustspace.store import history
from trustspace.store.db import Database

OFFER = {"@id": "urn:offer:1", "permission": [{"action": "use", "constraint": []}]}


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[NodeContext]:
    db = Database(f"sqlite:///{tmp_path / 'n.db'}")
    db.migrate()
    yield NodeContext(
        db=db,
        participant_id="consumer",
        dsp_base="http://c/dsp/2025-1",
        data_base="http://c/data",
        blob_dir=tmp_path,
    )
    db.close()


def agreement_message(neg_id: str, rules: dict[str, object], assignee: str = "consumer") -> m.Json:
    agreement = m.agreement(
        agreement_id="urn:agr:1",
        offer=rules,
        target="urn:ds:1",
        assigner="provider",
        assignee=assignee,
        timestamp="2026-11-24T10:00:00Z",
    )
    return m.contract_agreement(provider_pid="urn:p:1", consumer_pid=neg_id, agreement=agreement)


def opened(ctx: NodeContext) -> str:
    return negotiations.request(
        ctx,
        provider_id="provider",
        provider_address="http://p/dsp/2025-1",
        dataset_id="urn:ds:1",
        offer=OFFER,
    ).id


def test_an_agreement_with_the_offered_terms_is_taken(ctx: NodeContext) -> None:
    nid = opened(ctx)
    neg = negotiations.receive(
        ctx,
        "provider",
        nid,
        "ContractAgreementMessage",
        agreement_message(nid, {"permission": [{"action": "use"}]}),
    )
    assert neg.agreement_id == "urn:agr:1"
    assert neg.provider_pid == "urn:p:1"
    assert neg.state == "VERIFIED"  # the default consumer script verifies at once


@pytest.mark.parametrize(
    ("rules", "assignee", "reason"),
    [
        ({"permission": [{"action": "use"}, {"action": "distribute"}]}, "consumer", "terms differ"),
        ({"prohibition": [{"action": "use"}]}, "consumer", "terms differ"),
        ({"permission": [{"action": "use"}]}, "someone-else", "assigned to someone-else"),
    ],
)
def test_a_different_agreement_is_refused_and_changes_nothing(
    ctx: NodeContext, rules: dict[str, object], assignee: str, reason: str
) -> None:
    nid = opened(ctx)
    with pytest.raises(Refused, match=reason):
        negotiations.receive(
            ctx,
            "provider",
            nid,
            "ContractAgreementMessage",
            agreement_message(nid, rules, assignee),
        )
    neg = negotiations.get(ctx, nid)
    assert neg.state == "REQUESTED" and neg.agreement_id is None and neg.provider_pid is None


def test_another_participant_cannot_address_the_process(ctx: NodeContext) -> None:
    nid = opened(ctx)
    with pytest.raises(NotFound):
        negotiations.receive(
            ctx,
            "intruder",
            nid,
            "ContractAgreementMessage",
            agreement_message(nid, {"permission": [{"action": "use"}]}),
        )
    assert negotiations.get(ctx, nid).state == "REQUESTED"


def test_a_redelivered_message_is_applied_once(ctx: NodeContext) -> None:
    nid = opened(ctx)
    body = agreement_message(nid, {"permission": [{"action": "use"}]})
    body["@id"] = "urn:msg:1"
    first = negotiations.receive(ctx, "provider", nid, "ContractAgreementMessage", body)
    again = negotiations.receive(ctx, "provider", nid, "ContractAgreementMessage", body)
    assert first.state == again.state == "VERIFIED"
    with ctx.db.tx() as tx:
        assert [e["message"] for e in history.events(tx, nid)].count(
            "ContractAgreementMessage"
        ) == 1
