"""Reading policies: the vocabulary is enforced at creation, and named when it is not met."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from trustspace.core.odrl import PolicyError, parse_policy
from trustspace.core.odrl.model import Constraint
from trustspace.core.odrl.parse import parse_duration


def _with(constraint: dict[str, Any], action: Any = "use") -> dict[str, Any]:
    return {"@id": "urn:p", "permission": [{"action": action, "constraint": [constraint]}]}


@pytest.mark.parametrize(
    ("constraint", "named"),
    [
        ({"leftOperand": "moonPhase", "operator": "eq", "rightOperand": "full"}, "'moonPhase'"),
        ({"leftOperand": "count", "operator": "around", "rightOperand": 3}, "'around'"),
        ({"leftOperand": "purpose", "operator": "lt", "rightOperand": "ai"}, "'lt'"),
        ({"leftOperand": "purpose", "operator": "eq", "rightOperand": "world-domination"}, "world-domination"),
        ({"leftOperand": "spatial", "operator": "eq", "rightOperand": "China"}, "'China'"),
        ({"leftOperand": "count", "operator": "lteq", "rightOperand": "three"}, "'three'"),
        ({"leftOperand": "elapsedTime", "operator": "lteq", "rightOperand": "30 days"}, "'30 days'"),
        ({"leftOperand": "dateTime", "operator": "lt", "rightOperand": "soon"}, "'soon'"),
        ({"leftOperand": "payAmount", "operator": "gteq", "rightOperand": "10"}, "needs a unit"),
        ({"leftOperand": "trustspace:classification", "operator": "lteq", "rightOperand": "secret"}, "'secret'"),
        ({"leftOperand": "spatial", "operator": "isAnyOf", "rightOperand": []}, "empty list"),
    ],
)  # fmt: skip
def test_an_unknown_term_is_refused_at_creation_and_named(
    constraint: dict[str, Any], named: str
) -> None:
    with pytest.raises(PolicyError, match=r"permission\[0\]\.constraint\[0\]") as err:
        parse_policy(_with(constraint), strict=True)
    assert named in str(err.value)
    # Received from elsewhere, the same policy is kept, with the constraint marked unusable.
    rule = parse_policy(_with(constraint)).permissions[0]
    (kept,) = rule.constraints
    assert isinstance(kept, Constraint) and not kept.known and kept.problem


def test_an_unknown_action_is_refused_at_creation() -> None:
    with pytest.raises(PolicyError, match="unknown action 'teleport'"):
        parse_policy({"@id": "urn:p", "permission": [{"action": "teleport"}]}, strict=True)
    assert parse_policy({"@id": "urn:p", "permission": [{"action": "teleport"}]}).permissions


@pytest.mark.parametrize(
    "term",
    ["dateTime", "odrl:dateTime", "http://www.w3.org/ns/odrl/2/dateTime", {"@id": "odrl:dateTime"}],
)
def test_terms_may_be_compact_prefixed_or_full(term: object) -> None:
    policy = parse_policy(
        _with({"leftOperand": term, "operator": "lt", "rightOperand": "2030-01-01T00:00:00Z"}),
        strict=True,
    )
    (c,) = policy.permissions[0].constraints
    assert isinstance(c, Constraint) and c.left == "dateTime"


def test_policy_level_parties_and_target_reach_every_rule() -> None:
    policy = parse_policy(
        {
            "@id": "urn:p",
            "@type": "Agreement",
            "assigner": "provider",
            "assignee": "consumer",
            "target": "urn:ds:1",
            "permission": [{"action": "use"}],
            "prohibition": [{"action": "distribute", "target": "urn:ds:2"}],
        }
    )
    perm, prohib = policy.permissions[0], policy.prohibitions[0]
    assert (perm.assignee and perm.assignee.uid, perm.target and perm.target.uid) == (
        "consumer",
        "urn:ds:1",
    )
    assert prohib.target is not None and prohib.target.uid == "urn:ds:2"  # its own wins


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P30D", timedelta(days=30)),
        ("PT12H", timedelta(hours=12)),
        ("P1W", timedelta(days=7)),
        ("P1Y2M", timedelta(days=425)),
        ("P1DT1H30M15S", timedelta(days=1, hours=1, minutes=30, seconds=15)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["P", "PT", "30D", "P1DT", "-P1D"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_structural_errors_are_named() -> None:
    with pytest.raises(PolicyError, match="needs an @id"):
        parse_policy({"permission": [{"action": "use"}]})
    with pytest.raises(PolicyError, match="unknown conflict strategy 'maybe'"):
        parse_policy({"@id": "x", "conflict": "maybe", "permission": [{"action": "use"}]})
    with pytest.raises(PolicyError, match="one operator"):
        parse_policy(_with({"and": [], "or": []}))
    with pytest.raises(PolicyError, match="every rule needs an action"):
        parse_policy({"@id": "x", "permission": [{}]}, strict=True)
