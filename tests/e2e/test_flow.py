"""Two real nodes: catalog -> negotiation -> transfer -> download -> checksum."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Space, make_space
from tests.e2e.flow import fetch, negotiate, publish, start_transfer
from trustspace.dataplane.client import DownloadError


def _sample(path: Path, size: int = 3 << 20) -> str:
    data = os.urandom(size)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def test_catalog_negotiation_transfer_download(space: Space, tmp_path: Path) -> None:
    src = tmp_path / "data.bin"
    digest = _sample(src)
    published = publish(space.provider, src)
    assert published["sha256"] == digest

    with space.consumer.client() as c:
        catalog = c.call("POST", "/api/catalog", {"address": space.provider.dsp})
    assert catalog["participantId"] == "provider"
    (entry,) = [d for d in catalog["dataset"] if d["@id"] == published["id"]]
    assert entry["hasPolicy"][0]["@id"] == published["offerId"]
    assert entry["distribution"][0]["format"] == "HttpData-PULL"

    neg = negotiate(space.consumer, space.provider, published["id"])
    assert neg["state"] == "FINALIZED", neg
    with space.provider.client() as p:
        provider_side = p.call("GET", f"/api/negotiations/{neg['providerPid']}")
        agreement = p.call("GET", f"/api/agreements/{neg['agreementId']}")
    assert provider_side["state"] == "FINALIZED"
    assert agreement["assignee"] == "consumer" and agreement["assigner"] == "provider"
    assert agreement["target"] == published["id"]

    tp = start_transfer(space.consumer, neg["agreementId"])
    assert tp["endpoint"].startswith(space.provider.url)
    assert fetch(tp, tmp_path / "out.bin") == digest

    with space.consumer.client() as c:
        c.call("POST", f"/api/transfers/{tp['id']}/complete", {})
        done = c.wait(f"/api/transfers/{tp['id']}", ["COMPLETED"])
    assert done["state"] == "COMPLETED"
    with space.provider.client() as p:
        assert p.wait(f"/api/transfers/{tp['providerPid']}", ["COMPLETED"])["state"] == "COMPLETED"
    with pytest.raises(DownloadError) as err:  # the token dies with the transfer
        fetch(tp, tmp_path / "again.bin")
    assert err.value.status == 403


def test_suspend_closes_the_data_plane_and_resume_reopens_it(space: Space, tmp_path: Path) -> None:
    src = tmp_path / "d.bin"
    digest = _sample(src, 1 << 20)
    published = publish(space.provider, src)
    neg = negotiate(space.consumer, space.provider, published["id"])
    tp = start_transfer(space.consumer, neg["agreementId"])
    with space.consumer.client() as c:
        c.call("POST", f"/api/transfers/{tp['id']}/suspend", {"reason": "pause"})
    with space.provider.client() as p:
        assert p.wait(f"/api/transfers/{tp['providerPid']}", ["SUSPENDED"])["state"] == "SUSPENDED"
    with pytest.raises(DownloadError) as err:
        fetch(tp, tmp_path / "x.bin")
    assert err.value.status == 403
    with space.consumer.client() as c:
        c.call("POST", f"/api/transfers/{tp['id']}/resume", {})
    with space.provider.client() as p:
        assert p.wait(f"/api/transfers/{tp['providerPid']}", ["STARTED"])["state"] == "STARTED"
    assert fetch(tp, tmp_path / "y.bin") == digest


def test_termination_reason_reaches_the_other_side(space: Space, tmp_path: Path) -> None:
    src = tmp_path / "d.bin"
    _sample(src, 1000)
    published = publish(space.provider, src)
    neg = negotiate(space.consumer, space.provider, published["id"])
    tp = start_transfer(space.consumer, neg["agreementId"])
    with space.provider.client() as p:
        p.call(
            "POST", f"/api/transfers/{tp['providerPid']}/terminate", {"reason": "licence withdrawn"}
        )
    with space.consumer.client() as c:
        done = c.wait(f"/api/transfers/{tp['id']}", ["TERMINATED"])
    assert done["state"] == "TERMINATED"
    assert "licence withdrawn" in (done["error"] or "")


def test_unknown_offer_is_refused_with_a_reason(space: Space, tmp_path: Path) -> None:
    src = tmp_path / "d.bin"
    _sample(src, 10)
    published = publish(space.provider, src)
    with space.consumer.client() as c:
        neg = c.call(
            "POST",
            "/api/negotiations",
            {
                "address": space.provider.dsp,
                "datasetId": published["id"],
                "offer": {"@id": "urn:not-offered", "permission": [{"action": "use"}]},
            },
        )
        done = c.wait(f"/api/negotiations/{neg['id']}", ["FINALIZED"])
    assert done["state"] == "TERMINATED"
    assert "urn:not-offered" in done["error"]
    with space.provider.client() as p:
        assert p.call("GET", "/api/negotiations") == []


@pytest.mark.postgres
def test_flow_with_provider_on_postgresql(tmp_path: Path, pg_database) -> None:  # type: ignore[no-untyped-def]
    s = make_space(tmp_path, provider_env={"TRUSTSPACE_DATABASE": pg_database()})
    try:
        src = tmp_path / "data.bin"
        digest = _sample(src, 1 << 20)
        published = publish(s.provider, src)
        neg = negotiate(s.consumer, s.provider, published["id"])
        tp = start_transfer(s.consumer, neg["agreementId"])
        assert fetch(tp, tmp_path / "o.bin") == digest
        with s.provider.client() as p:
            assert p.call("GET", "/api/health")["status"] == "ok"
            assert len(p.call("GET", "/api/negotiations")) == 1
    finally:
        for node in s.nodes():
            node.stop()


def test_management_api_requires_its_key(space: Space) -> None:
    r = httpx.get(space.provider.url + "/api/negotiations")
    assert r.status_code == 401
    r = httpx.get(
        space.provider.url + "/api/negotiations", headers={"Authorization": "Bearer wrong"}
    )
    assert r.status_code == 401


@pytest.mark.postgres
def test_concurrent_negotiations_on_postgresql_lose_no_update(tmp_path: Path, pg_database) -> None:  # type: ignore[no-untyped-def]
    # Answers and callbacks for one process race each other; row locks keep every update.
    s = make_space(
        tmp_path,
        provider_env={"TRUSTSPACE_DATABASE": pg_database()},
        consumer_env={"TRUSTSPACE_DATABASE": pg_database()},
    )
    try:
        src = tmp_path / "d.txt"
        src.write_text("z")
        published = publish(s.provider, src)
        body = {
            "address": s.provider.dsp,
            "providerId": "provider",
            "datasetId": published["id"],
            "offer": {"@id": published["offerId"], "permission": [{"action": "use"}]},
        }

        def one(_: int) -> str:
            with s.consumer.client() as c:
                nid: str = c.call("POST", "/api/negotiations", body)["id"]
                return str(c.wait(f"/api/negotiations/{nid}", ["FINALIZED"], timeout=60)["state"])

        with ThreadPoolExecutor(16) as pool:
            states = list(pool.map(one, range(150)))
        assert states == ["FINALIZED"] * 150
    finally:
        for node in s.nodes():
            node.stop()
