"""Usage control in the provider's services, on SQLite and the local PostgreSQL.

The peer is played by the test; the store, the services and the policy engine are real.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.store.conftest import db  # noqa: F401  (the SQLite + PostgreSQL fixture)
from trustspace.core import messages as m
from trustspace.core.machine import Role
from trustspace.core.records import Agreement, Transfer
from trustspace.services import catalog, negotiations, transfers
from trustspace.services import policy as pep
from trustspace.services.catalog import FileSource, VersionSpec
from trustspace.services.context import Identity, NodeContext
from trustspace.services.errors import Refused
from trustspace.store import agreements, usage
from trustspace.store import negotiations as negotiation_rows
from trustspace.store import transfers as transfer_rows
from trustspace.store.db import Database

LIMITED = {
    "permission": [
        {
            "action": "use",
            "constraint": [
                {"leftOperand": "count", "operator": "lteq", "rightOperand": 3},
                {"leftOperand": "spatial", "operator": "eq", "rightOperand": "CN"},
            ],
        }
    ]
}
REGIONS = {"ai-cn": "CN", "ai-us": "US"}


@pytest.fixture
def provider(db: Database, tmp_path: Path) -> Iterator[NodeContext]:  # noqa: F811
    yield NodeContext(
        db=db,
        participant_id="provider",
        dsp_base="http://p/dsp/2025-1",
        data_base="http://p/data",
        blob_dir=tmp_path / "blobs",
        identity=lambda who: Identity(region=REGIONS.get(who)),
    )


def _publish(ctx: NodeContext, tmp_path: Path, terms: dict[str, Any]) -> str:
    src = tmp_path / "d.bin"
    src.write_bytes(b"x" * 1000)
    dataset, _ = catalog.publish(
        ctx, VersionSpec("d", (FileSource.at(src),), policy=terms, offer_id="urn:offer:1")
    )
    return dataset.id


def _started_transfers(ctx: NodeContext, dataset_id: str, n: int) -> list[str]:
    with ctx.db.tx() as tx:
        agreements.insert_agreement(
            tx,
            Agreement(
                id="urn:agr:1",
                negotiation_id="urn:neg:1",
                dataset_id=dataset_id,
                provider_id="provider",
                consumer_id="ai-cn",
                policy={
                    "@id": "urn:agr:1",
                    "@type": "Agreement",
                    "assigner": "provider",
                    "assignee": "ai-cn",
                    "target": dataset_id,
                    **LIMITED,
                },
                created_at=ctx.clock(),
            ),
        )
        ids = []
        for i in range(n):
            tp = Transfer(
                id=f"urn:tp:{i}",
                role=Role.PROVIDER,
                state="STARTED",
                counterparty_id="ai-cn",
                counterparty_address="http://c/dsp/2025-1",
                agreement_id="urn:agr:1",
                dataset_id=dataset_id,
                format=transfers.PULL_FORMAT,
                created_at=ctx.clock(),
                updated_at=ctx.clock(),
                provider_pid=f"urn:tp:{i}",
                consumer_pid=f"urn:c:{i}",
            )
            transfer_rows.insert_transfer(tx, tp)
            ids.append(tp.id)
    return ids


def test_concurrent_uses_never_exceed_the_count(provider: NodeContext, tmp_path: Path) -> None:
    dataset_id = _publish(provider, tmp_path, LIMITED)
    ids = _started_transfers(provider, dataset_id, 12)
    barrier = threading.Barrier(len(ids))
    outcome: dict[str, str] = {}

    def use(tid: str) -> None:
        barrier.wait()
        try:
            transfers.consume(provider, tid)
            outcome[tid] = "used"
        except pep.PolicyDenied as denied:
            outcome[tid] = denied.reason

    threads = [threading.Thread(target=use, args=(tid,)) for tid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert list(outcome.values()).count("used") == 3, outcome
    refusals = [r for r in outcome.values() if r != "used"]
    assert all("the use count (this use included) is 4" in r for r in refusals), refusals
    with provider.db.tx() as tx:
        assert usage.usage_counts(tx, "urn:agr:1") == {"read": 3}
        logged = usage.decisions(tx, agreement_id="urn:agr:1", limit=100)
    assert sorted(d["decision"] for d in logged) == ["deny"] * 9 + ["permit"] * 3
    # A transfer that already used its share may read again without using more.
    used = next(tid for tid, r in outcome.items() if r == "used")
    transfers.consume(provider, used)
    with provider.db.tx() as tx:
        assert usage.usage_counts(tx, "urn:agr:1") == {"read": 3}


def _request(offer_terms: dict[str, Any], dataset_id: str, cpid: str = "urn:c:1") -> m.Json:
    return m.contract_request(
        consumer_pid=cpid,
        offer={"@id": "urn:offer:1", "@type": "Offer", "target": dataset_id, **offer_terms},
        callback_address="http://c/dsp/2025-1",
    )


def test_a_request_may_narrow_the_offer(provider: NodeContext, tmp_path: Path) -> None:
    dataset_id = _publish(provider, tmp_path, LIMITED)
    narrower = {
        "permission": [
            {
                "action": "read",  # included in the offered "use"
                "constraint": [
                    *LIMITED["permission"][0]["constraint"],
                    {"leftOperand": "purpose", "operator": "eq", "rightOperand": "ai-evaluation"},
                ],
            }
        ]
    }
    neg, created = negotiations.receive_initial_request(
        provider, "ai-cn", _request(narrower, dataset_id)
    )
    assert created
    assert neg.offer["permission"] == narrower["permission"]  # the agreement will say this


@pytest.mark.parametrize(
    ("terms", "why"),
    [
        ({"permission": [{"action": "use"}]}, "it drops the constraint"),
        (
            {"permission": [{**LIMITED["permission"][0], "action": "sell"}]},
            "action 'sell' is not included in the offered 'use'",
        ),
    ],
)
def test_a_wider_request_is_refused_and_changes_nothing(
    provider: NodeContext, tmp_path: Path, terms: dict[str, Any], why: str
) -> None:
    dataset_id = _publish(provider, tmp_path, LIMITED)
    with pytest.raises(Refused, match="wider than offer urn:offer:1") as err:
        negotiations.receive_initial_request(provider, "ai-cn", _request(terms, dataset_id))
    assert why in err.value.reason
    with provider.db.tx() as tx:
        assert negotiation_rows.list_negotiations(tx) == []


def test_a_counter_request_that_widens_is_refused_and_the_state_stays(
    provider: NodeContext, tmp_path: Path
) -> None:
    dataset_id = _publish(provider, tmp_path, LIMITED)
    provider.behaviour.negotiation_overrides[Role.PROVIDER] = {
        dataset_id: {"REQUESTED": ("offer",)}
    }
    opened, _ = negotiations.receive_initial_request(
        provider, "ai-cn", _request(LIMITED, dataset_id)
    )
    with provider.db.tx() as tx:
        neg = negotiation_rows.get_negotiation(tx, opened.id)
    assert neg is not None and neg.state == "OFFERED"  # the provider made an offer back
    counter = m.contract_request(
        consumer_pid="urn:c:1",
        provider_pid=neg.id,
        offer={
            "@id": "urn:offer:1",
            "@type": "Offer",
            "target": dataset_id,
            "permission": [{"action": "use"}],
        },
    )
    with pytest.raises(Refused, match="drops the constraint"):
        negotiations.receive(provider, "ai-cn", neg.id, "ContractRequestMessage", counter)
    with provider.db.tx() as tx:
        after = negotiation_rows.get_negotiation(tx, neg.id)
    assert after is not None and after.state == "OFFERED"
    assert after.offer["permission"] == LIMITED["permission"]


def test_a_consumer_outside_the_region_cannot_conclude(
    provider: NodeContext, tmp_path: Path
) -> None:
    dataset_id = _publish(provider, tmp_path, LIMITED)
    with pytest.raises(pep.PolicyDenied) as err:
        negotiations.receive_initial_request(provider, "ai-us", _request(LIMITED, dataset_id))
    assert err.value.reasons == [
        "the requester's verified region is US; the policy requires it to be CN"
    ]
    with provider.db.tx() as tx:
        assert negotiation_rows.list_negotiations(tx) == []
        (logged,) = usage.decisions(tx)
    assert (logged["point"], logged["principal"], logged["decision"]) == (
        "negotiation",
        "ai-us",
        "deny",
    )
    # count was not held against the consumer at negotiation: it is checked at each use
    constraints = logged["report"]["ruleReport"][0]["premiseReport"]
    count = next(c for c in constraints if c.get("constraintLeftOperandName") == "count")
    assert count["satisfactionState"] == "Satisfied" and "note" in count
