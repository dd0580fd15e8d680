"""CN_C scenarios: contract negotiation with the node as consumer, the TCK as provider.

The node starts each negotiation when the TCK calls its negotiation webhook;
its part is scripted by dataset id
(``trustspace.tck.data.NEGOTIATION_CONSUMER_SCRIPTS``).
"""

from __future__ import annotations

import pytest

from tests.tck import harness as h
from tests.tck.counterparty import NegotiationAsProvider, Scenario

SCENARIOS: dict[str, h.ScenarioFn] = {}
scenario = h.collector(SCENARIOS)


def requested(sc: Scenario) -> NegotiationAsProvider:
    """The common opening: the webhook makes the node send its contract request."""
    tck = sc.provider_negotiation(h.consumer_negotiation_dataset(sc.name))
    tck.expect_initial_request()
    tck.initiate()
    tck.wait_state("REQUESTED")
    return tck


@scenario
def cn_c_01_01(sc: Scenario) -> None:
    """Offer, the node accepts, agreement, the node verifies, the TCK finalizes."""
    tck = requested(sc)
    tck.expect_accepted()
    tck.send_offer()
    tck.wait_state("ACCEPTED")
    tck.expect_verification()
    tck.send_agreement()
    tck.wait_state("VERIFIED")
    tck.send_finalized()
    tck.verify_consumer_state("FINALIZED")


@scenario
def cn_c_01_02(sc: Scenario) -> None:
    """Offer, the node counter-offers, the TCK terminates."""
    tck = requested(sc)
    tck.expect_counter_request()
    tck.send_offer()
    tck.wait_state("REQUESTED")
    tck.send_termination()
    tck.wait_state("TERMINATED")


@scenario
def cn_c_01_03(sc: Scenario) -> None:
    """Offer, the node terminates."""
    tck = requested(sc)
    tck.expect_termination()
    tck.send_offer()
    tck.wait_state("TERMINATED")
    tck.verify_consumer_state("TERMINATED")


@scenario
def cn_c_01_04(sc: Scenario) -> None:
    """Agreement at once, the node verifies, the TCK finalizes."""
    tck = requested(sc)
    tck.expect_verification()
    tck.send_agreement()
    tck.wait_state("VERIFIED")
    tck.send_finalized()
    tck.verify_consumer_state("FINALIZED")


@scenario
def cn_c_02_01(sc: Scenario) -> None:
    """The TCK terminates in REQUESTED."""
    tck = requested(sc)
    tck.send_termination()
    tck.wait_state("TERMINATED")
    tck.verify_consumer_state("TERMINATED")


@scenario
def cn_c_02_02(sc: Scenario) -> None:
    """The node terminates right after its request."""
    tck = requested(sc)
    tck.expect_termination()
    tck.wait_state("TERMINATED")
    tck.verify_consumer_state("TERMINATED")


@scenario
def cn_c_02_03(sc: Scenario) -> None:
    """Agreement, the node terminates."""
    tck = requested(sc)
    tck.expect_termination()
    tck.send_agreement()
    tck.wait_state("TERMINATED")
    tck.verify_consumer_state("TERMINATED")


@scenario
def cn_c_02_04(sc: Scenario) -> None:
    """Offer, the node stays OFFERED, the TCK terminates."""
    tck = requested(sc)
    tck.send_offer()
    tck.wait_state("OFFERED")
    tck.verify_consumer_state("OFFERED")
    tck.send_termination()
    tck.wait_state("TERMINATED")
    tck.verify_consumer_state("TERMINATED")


@scenario
def cn_c_02_05(sc: Scenario) -> None:
    """Offer, the node accepts, the TCK terminates."""
    tck = requested(sc)
    tck.expect_accepted()
    tck.send_offer()
    tck.wait_state("ACCEPTED")
    tck.send_termination()
    tck.wait_state("TERMINATED")
    tck.verify_consumer_state("TERMINATED")


@scenario
def cn_c_02_06(sc: Scenario) -> None:
    """Agreement, the node verifies, the TCK terminates."""
    tck = requested(sc)
    tck.expect_verification()
    tck.send_agreement()
    tck.wait_state("VERIFIED")
    tck.send_termination()
    tck.verify_consumer_state("TERMINATED")


@scenario
def cn_c_03_01(sc: Scenario) -> None:
    """A FINALIZED event in REQUESTED must be refused."""
    tck = requested(sc)
    tck.send_finalized(expect_error=True)
    tck.verify_consumer_state("REQUESTED")


@scenario
def cn_c_03_02(sc: Scenario) -> None:
    """Offer; an agreement in OFFERED must be refused."""
    tck = requested(sc)
    tck.send_offer()
    tck.wait_state("OFFERED")
    tck.verify_consumer_state("OFFERED")
    tck.send_agreement(expect_error=True)
    tck.verify_consumer_state("OFFERED")


@scenario
def cn_c_03_03(sc: Scenario) -> None:
    """Offer; a FINALIZED event in OFFERED must be refused."""
    tck = requested(sc)
    tck.send_offer()
    tck.wait_state("OFFERED")
    tck.send_finalized(expect_error=True)
    tck.verify_consumer_state("OFFERED")


@scenario
def cn_c_03_04(sc: Scenario) -> None:
    """Offer, the node accepts; a FINALIZED event in ACCEPTED must be refused."""
    tck = requested(sc)
    tck.expect_accepted()
    tck.send_offer()
    tck.wait_state("ACCEPTED")
    tck.send_finalized(expect_error=True)
    tck.verify_consumer_state("ACCEPTED")


@scenario
def cn_c_03_05(sc: Scenario) -> None:
    """Offer, the node accepts; a new offer in ACCEPTED must be refused."""
    tck = requested(sc)
    tck.expect_accepted()
    tck.send_offer()
    tck.wait_state("ACCEPTED")
    tck.send_offer(expect_error=True)
    tck.verify_consumer_state("ACCEPTED")


@scenario
def cn_c_03_06(sc: Scenario) -> None:
    """Offer, accept, agreement, the node does not verify; FINALIZED in AGREED must be refused."""
    tck = requested(sc)
    tck.expect_accepted()
    tck.send_offer()
    tck.wait_state("ACCEPTED")
    tck.send_agreement()
    tck.wait_state("AGREED")
    tck.send_finalized(expect_error=True)
    tck.verify_consumer_state("AGREED")


@pytest.mark.parametrize("scenario", h.params(SCENARIOS))
def test_scenario(scenario: str, tck: Scenario) -> None:
    SCENARIOS[scenario](tck)
    tck.finish()
