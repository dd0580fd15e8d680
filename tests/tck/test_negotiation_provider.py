"""CN scenarios: contract negotiation with the node as provider, the TCK as consumer.

Each function follows the TCK's test of the same name step by step; the node's
part is scripted by dataset id (``trustspace.tck.data.NEGOTIATION_PROVIDER_SCRIPTS``).
"""

from __future__ import annotations

import pytest

from tests.tck import harness as h
from tests.tck.counterparty import NegotiationAsConsumer, Scenario

SCENARIOS: dict[str, h.ScenarioFn] = {}
scenario = h.collector(SCENARIOS)


def start(sc: Scenario) -> NegotiationAsConsumer:
    return sc.consumer_negotiation(*h.negotiation_ids(sc.name))


@scenario
def cn_01_01(sc: Scenario) -> None:
    """Request, the node offers, the TCK terminates."""
    tck = start(sc)
    tck.expect_offer()
    tck.send_request()
    tck.wait_state("OFFERED")
    tck.send_termination()
    tck.verify_provider_state("TERMINATED")


@scenario
def cn_01_02(sc: Scenario) -> None:
    """Request, the node offers, the TCK counter-offers, the node terminates."""
    tck = start(sc)
    tck.expect_offer()
    tck.send_request()
    tck.wait_state("OFFERED")
    tck.expect_termination()
    tck.send_counter_offer("CD123:ACN0102:456", "ACN0102")
    tck.wait_state("TERMINATED")


@scenario
def cn_01_03(sc: Scenario) -> None:
    """Request, offer, the TCK accepts, agreement, the TCK verifies, the node finalizes."""
    tck = start(sc)
    tck.expect_offer()
    tck.send_request()
    tck.wait_state("OFFERED")
    tck.expect_agreement()
    tck.accept_last_offer()
    tck.wait_state("AGREED")
    tck.expect_finalized()
    tck.send_verification()
    tck.wait_state("FINALIZED")


@scenario
def cn_01_04(sc: Scenario) -> None:
    """Request, the node agrees at once, the TCK verifies, the node finalizes."""
    tck = start(sc)
    tck.expect_agreement()
    tck.send_request()
    tck.wait_state("AGREED")
    tck.expect_finalized()
    tck.send_verification()
    tck.wait_state("FINALIZED")


@scenario
def cn_02_01(sc: Scenario) -> None:
    """Request, the node terminates."""
    tck = start(sc)
    tck.send_request()
    tck.expect_termination()
    tck.wait_state("TERMINATED")


@scenario
def cn_02_02(sc: Scenario) -> None:
    """Request, the TCK terminates in REQUESTED."""
    tck = start(sc)
    tck.send_request()
    tck.send_termination()
    tck.verify_provider_state("TERMINATED")


@scenario
def cn_02_03(sc: Scenario) -> None:
    """Request, the node agrees, the TCK terminates in AGREED."""
    tck = start(sc)
    tck.expect_agreement()
    tck.send_request()
    tck.wait_state("AGREED")
    tck.send_termination()
    tck.verify_provider_state("TERMINATED")


@scenario
def cn_02_04(sc: Scenario) -> None:
    """Request, the node offers, the TCK terminates."""
    tck = start(sc)
    tck.expect_offer()
    tck.send_request()
    tck.wait_state("OFFERED")
    tck.send_termination()
    tck.verify_provider_state("TERMINATED")


@scenario
def cn_02_05(sc: Scenario) -> None:
    """Request, the node offers and then terminates on its own."""
    tck = start(sc)
    tck.expect_offer()
    tck.send_request()
    tck.wait_state("OFFERED")
    tck.expect_termination()
    tck.wait_state("TERMINATED")


@scenario
def cn_02_06(sc: Scenario) -> None:
    """Request, offer, the TCK accepts, the node terminates."""
    tck = start(sc)
    tck.expect_offer()
    tck.send_request()
    tck.wait_state("OFFERED")
    tck.accept_last_offer()
    tck.expect_termination()
    tck.wait_state("TERMINATED")


@scenario
def cn_02_07(sc: Scenario) -> None:
    """Request, the node agrees, the TCK verifies, the node terminates."""
    tck = start(sc)
    tck.expect_agreement()
    tck.send_request()
    tck.wait_state("AGREED")
    tck.expect_termination()
    tck.send_verification()
    tck.wait_state("TERMINATED")


@scenario
def cn_03_01(sc: Scenario) -> None:
    """Full flow to FINALIZED; a later termination from the TCK must be refused."""
    tck = start(sc)
    tck.expect_agreement()
    tck.send_request()
    tck.wait_state("AGREED")
    tck.expect_finalized()
    tck.send_verification()
    tck.wait_state("FINALIZED")
    tck.verify_provider_state("FINALIZED")
    tck.send_termination(expect_error=True)
    tck.verify_provider_state("FINALIZED")


@scenario
def cn_03_02(sc: Scenario) -> None:
    """Request, offer; a verification in OFFERED must be refused."""
    tck = start(sc)
    tck.expect_offer()
    tck.send_request()
    tck.wait_state("OFFERED")
    tck.send_verification(expect_error=True)
    tck.verify_provider_state("OFFERED")


@scenario
def cn_03_03(sc: Scenario) -> None:
    """Request, offer, the TCK accepts; a verification in ACCEPTED must be refused."""
    tck = start(sc)
    tck.expect_offer()
    tck.send_request()
    tck.wait_state("OFFERED")
    tck.accept_last_offer()
    tck.send_verification(expect_error=True)
    tck.verify_provider_state("ACCEPTED")


@scenario
def cn_03_04(sc: Scenario) -> None:
    """Request, offer, counter-offer; a second counter-offer in REQUESTED must be refused."""
    tck = start(sc)
    tck.expect_offer()
    tck.send_request()
    tck.wait_state("OFFERED")
    tck.send_counter_offer(tck.proc.offer_id, tck.proc.dataset_id)
    tck.send_counter_offer(tck.proc.offer_id, tck.proc.dataset_id, expect_error=True)
    tck.verify_provider_state("REQUESTED")


@pytest.mark.parametrize("scenario", h.params(SCENARIOS))
def test_scenario(scenario: str, tck: Scenario) -> None:
    SCENARIOS[scenario](tck)
    tck.finish()
