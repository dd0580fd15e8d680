"""TP scenarios: transfer processes with the node as provider, the TCK as consumer.

The TCK requests transfers under the seeded agreements ATP0101...; the node's
part is scripted by agreement id (``trustspace.tck.data.TRANSFER_PROVIDER_SCRIPTS``).
"""

from __future__ import annotations

import pytest

from tests.tck import harness as h
from tests.tck.counterparty import Scenario, TransferAsConsumer

SCENARIOS: dict[str, h.ScenarioFn] = {}
scenario = h.collector(SCENARIOS)
DISABLED = {"TP_02_04": "TP:02-04 is @Disabled in the upstream DSP TCK (consumer-side resume)"}


def start(sc: Scenario) -> TransferAsConsumer:
    return sc.consumer_transfer(*h.transfer_ids(sc.name))


def started(sc: Scenario) -> TransferAsConsumer:
    """The common opening of TP:02 and TP:03: request, the node starts."""
    tck = start(sc)
    tck.expect_start()
    tck.send_request()
    tck.wait_state("STARTED")
    tck.verify_provider_state("STARTED")
    return tck


def requested(sc: Scenario) -> TransferAsConsumer:
    """Request; the node must stay in REQUESTED."""
    tck = start(sc)
    tck.send_request()
    tck.wait_state("REQUESTED")
    tck.verify_provider_state("REQUESTED")
    return tck


@scenario
def tp_01_01(sc: Scenario) -> None:
    """Request, the node starts, then terminates."""
    tck = start(sc)
    tck.expect_start()
    tck.send_request()
    tck.wait_state("STARTED")
    tck.expect_termination()
    tck.wait_state("TERMINATED")
    tck.verify_provider_state("TERMINATED")


@scenario
def tp_01_02(sc: Scenario) -> None:
    """Request, the node starts, then completes."""
    tck = start(sc)
    tck.expect_start()
    tck.send_request()
    tck.wait_state("STARTED")
    tck.expect_completion()
    tck.wait_state("COMPLETED")
    tck.verify_provider_state("COMPLETED")


@scenario
def tp_01_03(sc: Scenario) -> None:
    """Request, the node starts, suspends, then terminates."""
    tck = start(sc)
    tck.expect_start()
    tck.send_request()
    tck.wait_state("STARTED")
    tck.expect_suspension()
    tck.wait_state("SUSPENDED")
    tck.expect_termination()
    tck.wait_state("TERMINATED")
    tck.verify_provider_state("TERMINATED")


@scenario
def tp_01_04(sc: Scenario) -> None:
    """Request, the node starts, suspends, starts again, then completes."""
    tck = start(sc)
    tck.expect_start()
    tck.send_request()
    tck.wait_state("STARTED")
    tck.expect_suspension()
    tck.wait_state("SUSPENDED")
    tck.expect_start()
    tck.wait_state("STARTED")
    tck.expect_completion()
    tck.wait_state("COMPLETED")
    tck.verify_provider_state("COMPLETED")


@scenario
def tp_01_05(sc: Scenario) -> None:
    """Request, the node terminates."""
    tck = start(sc)
    tck.expect_termination()
    tck.send_request()
    tck.wait_state("TERMINATED")
    tck.verify_provider_state("TERMINATED")


@scenario
def tp_02_01(sc: Scenario) -> None:
    """The node starts, the TCK terminates."""
    tck = started(sc)
    tck.send_termination()
    tck.wait_state("TERMINATED")
    tck.verify_provider_state("TERMINATED")


@scenario
def tp_02_02(sc: Scenario) -> None:
    """The node starts, the TCK completes."""
    tck = started(sc)
    tck.send_completion()
    tck.wait_state("COMPLETED")
    tck.verify_provider_state("COMPLETED")


@scenario
def tp_02_03(sc: Scenario) -> None:
    """The node starts, the TCK suspends, then terminates."""
    tck = started(sc)
    tck.send_suspension()
    tck.wait_state("SUSPENDED")
    tck.verify_provider_state("SUSPENDED")
    tck.send_termination()
    tck.wait_state("TERMINATED")
    tck.verify_provider_state("TERMINATED")


@scenario
def tp_02_04(sc: Scenario) -> None:
    """The node starts, the TCK suspends, resumes and completes."""
    tck = started(sc)
    tck.send_suspension()
    tck.wait_state("SUSPENDED")
    h.pause()
    tck.verify_provider_state("SUSPENDED")
    tck.send_start()
    tck.wait_state("STARTED")
    tck.verify_provider_state("STARTED")
    tck.send_completion()
    tck.wait_state("COMPLETED")
    tck.verify_provider_state("COMPLETED")


@scenario
def tp_02_05(sc: Scenario) -> None:
    """Request, the node stays REQUESTED, the TCK terminates."""
    tck = requested(sc)
    tck.send_termination()
    tck.wait_state("TERMINATED")
    tck.verify_provider_state("TERMINATED")


@scenario
def tp_03_01(sc: Scenario) -> None:
    """A completion in REQUESTED must be refused."""
    tck = requested(sc)
    tck.send_completion(expect_error=True)
    tck.wait_state("REQUESTED")
    tck.verify_provider_state("REQUESTED")


@scenario
def tp_03_02(sc: Scenario) -> None:
    """A suspension in REQUESTED must be refused."""
    tck = requested(sc)
    tck.send_suspension(expect_error=True)
    tck.wait_state("REQUESTED")
    tck.verify_provider_state("REQUESTED")


@scenario
def tp_03_03(sc: Scenario) -> None:
    """Started, the TCK suspends; a completion in SUSPENDED must be refused."""
    tck = started(sc)
    tck.send_suspension()
    tck.wait_state("SUSPENDED")
    tck.verify_provider_state("SUSPENDED")
    tck.send_completion(expect_error=True)
    tck.wait_state("SUSPENDED")
    tck.verify_provider_state("SUSPENDED")


def _terminated(sc: Scenario) -> TransferAsConsumer:
    tck = started(sc)
    tck.send_termination()
    tck.wait_state("TERMINATED")
    tck.verify_provider_state("TERMINATED")
    return tck


@scenario
def tp_03_04(sc: Scenario) -> None:
    """Started, the TCK terminates; a start after TERMINATED must be refused."""
    tck = _terminated(sc)
    tck.send_start(expect_error=True)
    tck.wait_state("TERMINATED")
    tck.verify_provider_state("TERMINATED")


@scenario
def tp_03_05(sc: Scenario) -> None:
    """Started, the TCK terminates; a suspension after TERMINATED must be refused."""
    tck = _terminated(sc)
    tck.send_suspension(expect_error=True)
    tck.wait_state("TERMINATED")
    tck.verify_provider_state("TERMINATED")


@scenario
def tp_03_06(sc: Scenario) -> None:
    """Started, the TCK terminates; a completion after TERMINATED must be refused."""
    tck = _terminated(sc)
    tck.send_completion(expect_error=True)
    tck.wait_state("TERMINATED")
    tck.verify_provider_state("TERMINATED")


@pytest.mark.parametrize("scenario", h.params(SCENARIOS, DISABLED))
def test_scenario(scenario: str, tck: Scenario) -> None:
    SCENARIOS[scenario](tck)
    tck.finish()
