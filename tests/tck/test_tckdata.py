"""The node's TCK tables cover every id the TCK scenarios use (no node needed)."""

from __future__ import annotations

import re
from types import ModuleType

import pytest

from tests.tck import harness as h
from tests.tck import (
    test_catalog,
    test_negotiation_consumer,
    test_negotiation_provider,
    test_transfer_consumer,
    test_transfer_provider,
)
from trustspace.tck import data as tckdata

NEGOTIATION_STATES = {"REQUESTED", "OFFERED", "ACCEPTED", "AGREED", "VERIFIED"}
TRANSFER_STATES = {"REQUESTED", "STARTED", "SUSPENDED"}
PROVIDER_NEGOTIATION_ACTIONS = {"offer", "agree", "finalize", "terminate"}
CONSUMER_NEGOTIATION_ACTIONS = {"accept", "verify", "counter", "terminate"}
TRANSFER_ACTIONS = {"start", "complete", "suspend", "terminate"}


def scenario_names(module: ModuleType) -> list[str]:
    table: dict[str, h.ScenarioFn] = module.SCENARIOS
    return list(table)


def test_the_port_has_every_tck_scenario() -> None:
    modules = (
        test_catalog,
        test_negotiation_provider,
        test_negotiation_consumer,
        test_transfer_provider,
        test_transfer_consumer,
    )
    names = [name for module in modules for name in scenario_names(module)]
    disabled = {*test_transfer_provider.DISABLED, *test_transfer_consumer.DISABLED}
    assert len(names) == len(set(names)) == 67
    assert disabled == {"TP_02_04", "TP_C_02_04"}
    assert len(set(names) - disabled) == 65


def test_catalog_seed() -> None:
    assert h.catalog_dataset("CAT_01_01") in tckdata.SEED_DATASETS
    assert h.catalog_dataset("CAT_01_02") in tckdata.SEED_DATASETS
    assert h.catalog_dataset("CAT_01_03") == tckdata.ABSENT_DATASET
    assert tckdata.ABSENT_DATASET not in tckdata.SEED_DATASETS


@pytest.mark.parametrize("name", scenario_names(test_negotiation_provider))
def test_provider_negotiation_ids(name: str) -> None:
    dataset, offer = h.negotiation_ids(name)
    assert dataset in tckdata.SEED_DATASETS
    assert tckdata.SEED_OFFER_IDS[dataset] == offer
    assert dataset in tckdata.NEGOTIATION_PROVIDER_SCRIPTS


@pytest.mark.parametrize("name", scenario_names(test_negotiation_consumer))
def test_consumer_negotiation_ids(name: str) -> None:
    assert h.consumer_negotiation_dataset(name) in tckdata.NEGOTIATION_CONSUMER_SCRIPTS


@pytest.mark.parametrize("name", scenario_names(test_transfer_provider))
def test_provider_transfer_ids(name: str) -> None:
    agreement, fmt = h.transfer_ids(name)
    assert tckdata.PROVIDER_AGREEMENTS[agreement] in tckdata.SEED_DATASETS
    assert agreement in tckdata.TRANSFER_PROVIDER_SCRIPTS
    assert fmt == tckdata.TRANSFER_FORMAT


@pytest.mark.parametrize("name", scenario_names(test_transfer_consumer))
def test_consumer_transfer_ids(name: str) -> None:
    agreement, fmt = h.transfer_ids(name)
    assert agreement in tckdata.CONSUMER_AGREEMENTS
    assert agreement in tckdata.TRANSFER_CONSUMER_SCRIPTS
    assert fmt == tckdata.TRANSFER_FORMAT


def test_agreement_ids_are_disjoint() -> None:
    assert not set(tckdata.PROVIDER_AGREEMENTS) & set(tckdata.CONSUMER_AGREEMENTS)


def _check_script(script: tckdata.Script, states: set[str], actions: set[str]) -> None:
    for trigger, steps in script.items():
        match = re.fullmatch(r"([A-Z]+)(?:#([1-9][0-9]*))?", trigger)
        assert match, f"bad trigger {trigger!r}"
        assert match.group(1) in states | {"INITIAL"}, f"bad trigger {trigger!r}"
        for step in steps:
            if step.startswith("delay:"):
                assert float(step.split(":", 1)[1]) >= 0
            else:
                assert step in actions, f"unknown action {step!r} under {trigger!r}"


@pytest.mark.parametrize(
    ("table", "states", "actions"),
    [
        (tckdata.NEGOTIATION_PROVIDER_SCRIPTS, NEGOTIATION_STATES, PROVIDER_NEGOTIATION_ACTIONS),
        (tckdata.NEGOTIATION_CONSUMER_SCRIPTS, NEGOTIATION_STATES, CONSUMER_NEGOTIATION_ACTIONS),
        (tckdata.TRANSFER_PROVIDER_SCRIPTS, TRANSFER_STATES, TRANSFER_ACTIONS),
        (tckdata.TRANSFER_CONSUMER_SCRIPTS, TRANSFER_STATES, TRANSFER_ACTIONS),
    ],
    ids=["negotiation-provider", "negotiation-consumer", "transfer-provider", "transfer-consumer"],
)
def test_scripts_use_known_triggers_and_actions(
    table: dict[str, tckdata.Script], states: set[str], actions: set[str]
) -> None:
    for script in table.values():
        _check_script(script, states, actions)


def test_authorization_spellings() -> None:
    assert tckdata.DEFAULT_AUTHORIZATION in tckdata.ACCEPTED_AUTHORIZATIONS
    assert f'"{tckdata.DEFAULT_AUTHORIZATION}"' in tckdata.ACCEPTED_AUTHORIZATIONS
