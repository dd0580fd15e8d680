"""TP_C scenarios: transfer processes with the node as consumer, the TCK as provider.

The node requests each transfer when the TCK calls its transfer webhook, under
the seeded agreements ATPC0101...; its part is scripted by agreement id
(``trustspace.tck.data.TRANSFER_CONSUMER_SCRIPTS``).
"""

from __future__ import annotations

import pytest

from tests.tck import harness as h
from tests.tck.counterparty import Scenario, TransferAsProvider

SCENARIOS: dict[str, h.ScenarioFn] = {}
scenario = h.collector(SCENARIOS)
DISABLED = {"TP_C_02_04": "TP_C:02-04 is @Disabled in the upstream DSP TCK (consumer-side resume)"}


def requested(sc: Scenario) -> TransferAsProvider:
    """The common opening: the webhook makes the node send its transfer request."""
    tck = sc.provider_transfer(*h.transfer_ids(sc.name))
    tck.expect_request()
    tck.initiate()
    tck.wait_state("REQUESTED")
    return tck


def started(sc: Scenario) -> TransferAsProvider:
    """Requested, checked on the node, then started by the TCK."""
    tck = requested(sc)
    tck.verify_consumer_state("REQUESTED")
    tck.send_start(h.data_address())
    tck.wait_state("STARTED")
    tck.verify_consumer_state("STARTED")
    return tck


@scenario
def tp_c_01_01(sc: Scenario) -> None:
    """The TCK starts, then terminates."""
    tck = requested(sc)
    tck.send_start(h.data_address())
    tck.wait_state("STARTED")
    tck.verify_consumer_state("STARTED")
    tck.send_termination()
    tck.wait_state("TERMINATED")
    tck.verify_consumer_state("TERMINATED")


@scenario
def tp_c_01_02(sc: Scenario) -> None:
    """The TCK starts, then completes."""
    tck = requested(sc)
    tck.send_start(h.data_address())
    tck.wait_state("STARTED")
    tck.verify_consumer_state("STARTED")
    tck.send_completion()
    tck.wait_state("COMPLETED")
    tck.verify_consumer_state("COMPLETED")


@scenario
def tp_c_01_03(sc: Scenario) -> None:
    """The TCK starts, suspends, then terminates."""
    tck = requested(sc)
    tck.send_start(h.data_address())
    tck.wait_state("STARTED")
    tck.verify_consumer_state("STARTED")
    tck.send_suspension()
    tck.wait_state("SUSPENDED")
    tck.verify_consumer_state("SUSPENDED")
    tck.send_termination()
    tck.wait_state("TERMINATED")
    tck.verify_consumer_state("TERMINATED")


@scenario
def tp_c_01_04(sc: Scenario) -> None:
    """The TCK starts, suspends, starts again, then completes."""
    tck = requested(sc)
    tck.send_start(h.data_address())
    tck.wait_state("STARTED")
    tck.verify_consumer_state("STARTED")
    tck.send_suspension()
    tck.wait_state("SUSPENDED")
    tck.verify_consumer_state("SUSPENDED")
    tck.send_start(h.data_address())
    tck.wait_state("STARTED")
    tck.verify_consumer_state("STARTED")
    tck.send_completion()
    tck.wait_state("COMPLETED")
    tck.verify_consumer_state("COMPLETED")


@scenario
def tp_c_01_05(sc: Scenario) -> None:
    """The TCK terminates in REQUESTED."""
    tck = requested(sc)
    tck.send_termination()
    tck.wait_state("TERMINATED")
    tck.verify_consumer_state("TERMINATED")


@scenario
def tp_c_02_01(sc: Scenario) -> None:
    """The TCK starts, the node terminates."""
    tck = requested(sc)
    tck.expect_termination()
    tck.send_start(h.data_address())
    tck.wait_state("TERMINATED")
    tck.verify_consumer_state("TERMINATED")


@scenario
def tp_c_02_02(sc: Scenario) -> None:
    """The TCK starts, the node completes."""
    tck = requested(sc)
    tck.expect_completion()
    tck.send_start(h.data_address())
    tck.wait_state("COMPLETED")
    tck.verify_consumer_state("COMPLETED")


@scenario
def tp_c_02_03(sc: Scenario) -> None:
    """The TCK starts, the node suspends, then terminates."""
    tck = requested(sc)
    tck.expect_suspension()
    tck.send_start(h.data_address())
    tck.wait_state("SUSPENDED")
    tck.expect_termination()
    tck.wait_state("TERMINATED")
    tck.verify_consumer_state("TERMINATED")


@scenario
def tp_c_02_04(sc: Scenario) -> None:
    """The TCK starts, the node suspends, starts again (resume), then completes."""
    tck = requested(sc)
    tck.expect_suspension()
    tck.send_start()
    tck.wait_state("SUSPENDED")
    tck.expect_start()
    tck.wait_state("STARTED")
    tck.expect_completion()
    tck.wait_state("COMPLETED")
    tck.verify_consumer_state("COMPLETED")


@scenario
def tp_c_02_05(sc: Scenario) -> None:
    """The node terminates right after its request."""
    tck = requested(sc)
    tck.expect_termination()
    tck.wait_state("TERMINATED")
    tck.verify_consumer_state("TERMINATED")


@scenario
def tp_c_03_01(sc: Scenario) -> None:
    """A completion in REQUESTED must be refused."""
    tck = requested(sc)
    tck.verify_consumer_state("REQUESTED")
    tck.send_completion(expect_error=True)
    tck.wait_state("REQUESTED")
    tck.verify_consumer_state("REQUESTED")


@scenario
def tp_c_03_02(sc: Scenario) -> None:
    """A suspension in REQUESTED must be refused."""
    tck = requested(sc)
    tck.verify_consumer_state("REQUESTED")
    tck.send_suspension(expect_error=True)
    tck.wait_state("REQUESTED")
    tck.verify_consumer_state("REQUESTED")


@scenario
def tp_c_03_03(sc: Scenario) -> None:
    """Started, suspended; a completion in SUSPENDED must be refused."""
    tck = started(sc)
    tck.send_suspension()
    tck.wait_state("SUSPENDED")
    tck.verify_consumer_state("SUSPENDED")
    tck.send_completion(expect_error=True)
    tck.wait_state("SUSPENDED")
    tck.verify_consumer_state("SUSPENDED")


def _terminated(sc: Scenario) -> TransferAsProvider:
    tck = started(sc)
    tck.send_termination()
    tck.wait_state("TERMINATED")
    tck.verify_consumer_state("TERMINATED")
    return tck


@scenario
def tp_c_03_04(sc: Scenario) -> None:
    """Started, terminated; a start after TERMINATED must be refused."""
    tck = _terminated(sc)
    tck.send_start(expect_error=True)
    tck.wait_state("TERMINATED")
    tck.verify_consumer_state("TERMINATED")


@scenario
def tp_c_03_05(sc: Scenario) -> None:
    """Started, terminated; a suspension after TERMINATED must be refused."""
    tck = _terminated(sc)
    tck.send_suspension(expect_error=True)
    tck.wait_state("TERMINATED")
    tck.verify_consumer_state("TERMINATED")


@scenario
def tp_c_03_06(sc: Scenario) -> None:
    """Started, terminated; a completion after TERMINATED must be refused."""
    tck = _terminated(sc)
    tck.send_completion(expect_error=True)
    tck.wait_state("TERMINATED")
    tck.verify_consumer_state("TERMINATED")


@pytest.mark.parametrize("scenario", h.params(SCENARIOS, DISABLED))
def test_scenario(scenario: str, tck: Scenario) -> None:
    SCENARIOS[scenario](tck)
    tck.finish()
