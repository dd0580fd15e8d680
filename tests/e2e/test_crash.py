"""SIGKILL in the middle of negotiations: after a restart every process resumes,
nothing is duplicated and nothing is lost."""

from __future__ import annotations

import time
from pathlib import Path

from tests.e2e.conftest import Space, make_space
from tests.e2e.flow import publish


def test_outbox_survives_sigkill_of_both_nodes(space: Space, tmp_path: Path) -> None:
    f = tmp_path / "d.txt"
    f.write_text("x" * 1000)
    published = publish(space.provider, f)
    space.provider.kill()  # the consumer's requests cannot be delivered now
    with space.consumer.client() as c:
        ids = [
            c.call(
                "POST",
                "/api/negotiations",
                {
                    "address": space.provider.dsp,
                    "providerId": "provider",
                    "datasetId": published["id"],
                    "offer": {"@id": published["offerId"], "permission": [{"action": "use"}]},
                },
            )["id"]
            for _ in range(5)
        ]
        assert c.call("GET", "/api/health")["outboxPending"] >= 5
    space.consumer.kill()  # with its outbox full
    space.provider.start()
    space.consumer.start()
    space.provider.wait_ready()
    space.consumer.wait_ready()
    with space.consumer.client() as c:
        states = [c.wait(f"/api/negotiations/{i}", ["FINALIZED"], timeout=60)["state"] for i in ids]
    assert states == ["FINALIZED"] * 5
    with space.provider.client() as p:
        provider_side = p.call("GET", "/api/negotiations")
    assert len(provider_side) == 5
    assert {n["state"] for n in provider_side} == {"FINALIZED"}
    assert len({n["agreementId"] for n in provider_side}) == 5


def test_killing_nodes_mid_flight_loses_and_duplicates_nothing(
    space: Space, tmp_path: Path
) -> None:
    f = tmp_path / "d.txt"
    f.write_text("y" * 1000)
    published = publish(space.provider, f)
    offer = {"@id": published["offerId"], "permission": [{"action": "use"}]}
    with space.consumer.client() as c:
        ids = [
            c.call(
                "POST",
                "/api/negotiations",
                {"address": space.provider.dsp, "datasetId": published["id"], "offer": offer},
            )["id"]
            for _ in range(30)
        ]
    time.sleep(0.05)  # some are on the wire, some are agreed, some are still queued
    space.provider.kill()
    space.consumer.kill()
    space.provider.start()
    space.consumer.start()
    space.provider.wait_ready()
    space.consumer.wait_ready()
    with space.consumer.client() as c:
        final = [c.wait(f"/api/negotiations/{i}", ["FINALIZED"], timeout=90) for i in ids]
    assert [n["state"] for n in final] == ["FINALIZED"] * 30, [n.get("error") for n in final]
    with space.provider.client() as p:
        provider_side = p.call("GET", "/api/negotiations")
    assert len(provider_side) == 30
    assert sorted(n["consumerPid"] for n in provider_side) == sorted(ids)
    assert {n["state"] for n in provider_side} == {"FINALIZED"}


def test_after_the_retry_budget_the_process_is_terminated_with_a_reason(tmp_path: Path) -> None:
    s = make_space(
        tmp_path,
        consumer_env={"TRUSTSPACE_OUTBOX_ATTEMPTS": "3", "TRUSTSPACE_OUTBOX_BACKOFF": "0.05"},
    )
    try:
        s.provider.kill()
        with s.consumer.client() as c:
            neg = c.call(
                "POST",
                "/api/negotiations",
                {
                    "address": s.provider.dsp,
                    "providerId": "provider",
                    "datasetId": "urn:ds",
                    "offer": {"@id": "urn:o", "permission": [{"action": "use"}]},
                },
            )
            done = c.wait(f"/api/negotiations/{neg['id']}", ["FINALIZED"], timeout=30)
        assert done["state"] == "TERMINATED"
        assert "could not be delivered" in done["error"] and "after 3 attempts" in done["error"]
        assert [e["direction"] for e in done["history"]] == ["out", "local"]
    finally:
        for node in s.nodes():
            node.stop()
