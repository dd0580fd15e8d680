"""Usage control end to end: real nodes, real HTTP, the agreement enforced at every point.

The provider offers a dataset for AI training only, to consumers in China, three downloads
within 30 days.  Its trust list says which region each consumer is verified to be in.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.flow import fetch, publish
from trustspace.cli.client import ApiError
from trustspace.cli.demo import DEMO_TERMS
from trustspace.cli.localnode import DemoNode
from trustspace.dataplane.client import DownloadError

TERMS = DEMO_TERMS  # AI training only, verified in CN, 3 downloads within 30 days


@dataclass
class Market:
    provider: DemoNode
    cn: DemoNode  # verified to be in CN
    us: DemoNode  # verified to be in US

    def nodes(self) -> list[DemoNode]:
        return [self.provider, self.cn, self.us]


def _market(root: Path, monitor: float) -> Iterator[Market]:
    # The monitor also ends a started transfer once its agreement's uses are spent; tests that
    # count downloads keep it off so that the data plane's own refusal is what they see.
    provider = DemoNode("provider", root, {"TRUSTSPACE_POLICY_MONITOR_INTERVAL": str(monitor)})
    cn, us = DemoNode("ai-cn", root), DemoNode("ai-us", root)
    provider.start([{**cn.entry(), "region": "CN"}, {**us.entry(), "region": "US"}])
    for consumer in (cn, us):
        consumer.start([provider.entry()])
    for node in (provider, cn, us):
        node.wait_ready()
    yield Market(provider, cn, us)
    for node in (provider, cn, us):
        node.stop()
    for node in (provider, cn, us):
        print(f"--- {node.name} log ---\n{node.log_text()}")


@pytest.fixture
def market(tmp_path: Path) -> Iterator[Market]:
    yield from _market(tmp_path, monitor=0)


@pytest.fixture
def monitored(tmp_path: Path) -> Iterator[Market]:
    yield from _market(tmp_path, monitor=0.3)


def _sample(path: Path) -> str:
    data = os.urandom(1 << 20)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _negotiate(consumer: DemoNode, provider: DemoNode, dataset_id: str) -> dict[str, Any]:
    with consumer.client() as c:
        neg = c.call(
            "POST", "/api/negotiations", {"address": provider.dsp, "datasetId": dataset_id}
        )
        done: dict[str, Any] = c.wait(
            f"/api/negotiations/{neg['id']}", ["FINALIZED", "TERMINATED"], timeout=30
        )
    return done


def _transfer(consumer: DemoNode, agreement_id: str, purpose: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"agreementId": agreement_id}
    if purpose:
        body["purpose"] = purpose
    with consumer.client() as c:
        tp = c.call("POST", "/api/transfers", body)
        done: dict[str, Any] = c.wait(
            f"/api/transfers/{tp['id']}", ["STARTED", "TERMINATED"], timeout=30
        )
    return done


def _decisions(provider: DemoNode, **query: str) -> list[dict[str, Any]]:
    params = "&".join(f"{k}={v}" for k, v in query.items())
    with provider.client() as p:
        rows: list[dict[str, Any]] = p.call("GET", f"/api/decisions?limit=1000&{params}")
    return rows


def test_purpose_region_and_count_are_enforced_with_readable_reasons(
    market: Market, tmp_path: Path
) -> None:
    digest = _sample(tmp_path / "corpus.bin")
    published = publish(market.provider, tmp_path / "corpus.bin", policy=TERMS)

    # A consumer verified to be in the US cannot conclude the agreement.
    refused = _negotiate(market.us, market.provider, published["id"])
    assert refused["state"] == "TERMINATED"
    assert (
        "the requester's verified region is US; the policy requires it to be CN"
        in (refused["error"])
    )
    denials = [d for d in _decisions(market.provider) if d["decision"] == "deny"]
    assert [(d["point"], d["principal"]) for d in denials] == [("negotiation", "ai-us")]
    assert denials[0]["report"]["@type"] == "PolicyReport"

    # The consumer in China concludes it; the agreement is the offer with the parties bound.
    neg = _negotiate(market.cn, market.provider, published["id"])
    assert neg["state"] == "FINALIZED", neg
    agreement_id = neg["agreementId"]
    with market.provider.client() as p:
        agreement = p.call("GET", f"/api/agreements/{agreement_id}")
    assert agreement["assignee"] == "ai-cn"
    assert agreement["permission"] == TERMS["permission"]

    # A transfer must declare an allowed purpose.
    undeclared = _transfer(market.cn, agreement_id, None)
    assert undeclared["state"] == "TERMINATED"
    assert "the declared purpose is not known" in undeclared["error"]
    marketing = _transfer(market.cn, agreement_id, "marketing")
    assert marketing["state"] == "TERMINATED"
    assert (
        "the declared purpose is marketing; the policy requires it to be ai-training"
        in (marketing["error"])
    )

    # Four transfers for fine-tuning (a kind of training) start; three downloads succeed.
    started = [_transfer(market.cn, agreement_id, "ai-fine-tuning") for _ in range(4)]
    assert [t["state"] for t in started] == ["STARTED"] * 4
    for i, tp in enumerate(started[:3]):
        assert fetch(tp, tmp_path / f"copy{i}.bin") == digest

    # The fourth download is refused, with the reason, and consumes nothing.
    with pytest.raises(DownloadError) as err:
        fetch(started[3], tmp_path / "copy3.bin")
    assert err.value.status == 403
    assert "the use count (this use included) is 4; the policy requires it to be at most 3" in (
        str(err.value)
    )
    assert not (tmp_path / "copy3.bin").exists()
    # An earlier transfer may still re-read what it already paid a use for.
    assert fetch(started[0], tmp_path / "again.bin") == digest

    # A fifth transfer is refused when requested.
    fifth = _transfer(market.cn, agreement_id, "ai-training")
    assert fifth["state"] == "TERMINATED"
    assert "the use count (this use included) is 4" in fifth["error"]

    log = _decisions(market.provider, agreement=agreement_id)
    points = {(d["point"], d["decision"]) for d in log}
    assert {("transfer", "deny"), ("transfer", "permit"), ("dataplane", "permit")} <= points
    assert ("dataplane", "deny") in points
    permits = [d for d in log if d["point"] == "dataplane" and d["decision"] == "permit"]
    assert {d["processId"] for d in permits} == {t["providerPid"] for t in started[:3]}


def test_concurrent_downloads_cannot_exceed_the_count(market: Market, tmp_path: Path) -> None:
    digest = _sample(tmp_path / "corpus.bin")
    published = publish(market.provider, tmp_path / "corpus.bin", policy=TERMS)
    neg = _negotiate(market.cn, market.provider, published["id"])
    assert neg["state"] == "FINALIZED", neg
    started = [_transfer(market.cn, neg["agreementId"], "ai-training") for _ in range(8)]
    assert all(t["state"] == "STARTED" for t in started)

    def one(i: int) -> str:
        try:
            return fetch(started[i], tmp_path / f"c{i}.bin")
        except DownloadError as exc:
            return f"refused {exc.status}"

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    assert results.count(digest) == 3, results
    assert results.count("refused 403") == 5, results


def test_access_policy_hides_a_dataset_from_those_it_does_not_admit(
    market: Market, tmp_path: Path
) -> None:
    _sample(tmp_path / "regional.bin")
    access = {
        "permission": [
            {
                "action": "read",
                "constraint": [{"leftOperand": "spatial", "operator": "eq", "rightOperand": "CN"}],
            }
        ]
    }
    published = publish(market.provider, tmp_path / "regional.bin", accessPolicy=access)
    for consumer, visible in ((market.cn, True), (market.us, False)):
        with consumer.client() as c:
            catalog = c.call("POST", "/api/catalog", {"address": market.provider.dsp})
        ids = {d["@id"] for d in catalog.get("dataset", [])}
        assert (published["id"] in ids) is visible, consumer.name
    # Asking for it directly looks exactly like asking for a dataset that does not exist.
    with pytest.raises(ApiError, match=f"the provider answered: no dataset {published['id']}"):
        _negotiate(market.us, market.provider, published["id"])
    hidden = [d for d in _decisions(market.provider) if d["point"] == "catalog"]
    assert hidden and all(d["principal"] == "ai-us" for d in hidden)


def test_monitor_terminates_a_transfer_when_its_window_closes(
    monitored: Market, tmp_path: Path
) -> None:
    market = monitored
    _sample(tmp_path / "short.bin")
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 4))
    terms = {
        "permission": [
            {
                "action": "use",
                "constraint": [
                    {"leftOperand": "dateTime", "operator": "lt", "rightOperand": until}
                ],
            }
        ]
    }
    published = publish(market.provider, tmp_path / "short.bin", policy=terms)
    neg = _negotiate(market.cn, market.provider, published["id"])
    assert neg["state"] == "FINALIZED", neg
    tp = _transfer(market.cn, neg["agreementId"], None)
    assert tp["state"] == "STARTED", tp
    with market.cn.client() as c:
        ended = c.wait(f"/api/transfers/{tp['id']}", ["TERMINATED"], timeout=20)
    assert "the agreement no longer permits use" in ended["error"]
    assert f"the policy requires it to be before {until}" in ended["error"]
    r = httpx.get(tp["endpoint"], headers={"Authorization": tp["authorization"]})
    assert r.status_code in (401, 403)  # the data plane is closed with the process


def test_offer_with_a_term_outside_the_vocabulary_is_refused_naming_it(
    market: Market, tmp_path: Path
) -> None:
    _sample(tmp_path / "x.bin")
    bad = {
        "permission": [
            {
                "action": "use",
                "constraint": [
                    {"leftOperand": "moonPhase", "operator": "eq", "rightOperand": "full"}
                ],
            }
        ]
    }
    with market.provider.client() as p:
        r = httpx.post(
            f"{market.provider.url}/api/datasets",
            json={"path": str(tmp_path / "x.bin"), "title": "x", "policy": bad},
            headers={"Authorization": f"Bearer {market.provider.key}"},
        )
        assert r.status_code == 400, r.text
        assert "unknown left operand 'moonPhase'" in r.text
        assert p.call("GET", "/api/datasets") == []
