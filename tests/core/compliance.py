"""Comparing our compliance report with an expected one (SolidLab's format, read by
``trustspace.core.odrl.turtle.load_expected``): per rule the report type and activation state, the premise
reports (Target/Party/Action) with their satisfaction, every constraint report by constraint id
(recursively into logical constraints), and whether a condition (duty) report is present."""

from __future__ import annotations

from collections import Counter
from typing import Any

PREMISES = ("TargetReport", "PartyReport", "ActionReport")


def expected_decision(expected: dict[str, Any]) -> str:
    """The stated outcome when the case gives one (conflicts, offers and obligations decide
    beyond rule states); otherwise: some permission active and no prohibition active."""
    if expected.get("outcome"):
        return "permit" if expected["outcome"] == "permit" else "deny"
    rules = expected["ruleReport"]
    permitted = any(
        r["@type"] == "PermissionReport" and r["activationState"] == "Active" for r in rules
    )
    prohibited = any(
        r["@type"] == "ProhibitionReport" and r["activationState"] == "Active" for r in rules
    )
    return "permit" if permitted and not prohibited else "deny"


def _constraints(parts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {p["constraint"]: p for p in parts if p["@type"] == "ConstraintReport"}


def _compare_constraints(
    ours: list[dict[str, Any]], theirs: list[dict[str, Any]], where: str
) -> list[str]:
    problems = []
    mine = _constraints(ours)
    for uid, expected in _constraints(theirs).items():
        got = mine.get(uid)
        if got is None:
            problems.append(f"{where}: no report for constraint {uid}")
            continue
        if got["satisfactionState"] != expected["satisfactionState"]:
            problems.append(
                f"{where}: constraint {uid} is {got['satisfactionState']}, "
                f"expected {expected['satisfactionState']}"
            )
        if "premiseReport" in expected:
            problems += _compare_constraints(
                got.get("premiseReport", []), expected["premiseReport"], f"{where}/{uid}"
            )
    return problems


def _premises(parts: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    return Counter((p["@type"], p["satisfactionState"]) for p in parts if p["@type"] in PREMISES)


def compare(report: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """Every difference, in words; empty when the reports agree."""
    problems = []
    decision = expected_decision(expected)
    if report["decision"] != decision:
        problems.append(f"decision {report['decision']}, expected {decision}")
    ours = {r["rule"]: r for r in report["ruleReport"]}
    if len(ours) != len(expected["ruleReport"]):
        problems.append(f"{len(ours)} rule reports, expected {len(expected['ruleReport'])}")
    for theirs in expected["ruleReport"]:
        rule = theirs["rule"]
        got = ours.get(rule)
        if got is None:
            problems.append(f"no report for rule {rule}")
            continue
        for key in ("@type", "activationState"):
            if got[key] != theirs[key]:
                problems.append(f"rule {rule}: {key} {got[key]}, expected {theirs[key]}")
        mine = got.get("premiseReport", [])
        wanted = _premises(theirs["premiseReport"])
        # testcase-065 links premise reports that are not in its file (their ids differ from the
        # reports it does contain); for such a case only the reports that resolve are compared.
        dangling = any(not p["@type"] for p in theirs["premiseReport"])
        if (wanted - _premises(mine)) if dangling else (_premises(mine) != wanted):
            problems.append(
                f"rule {rule}: premises {sorted(_premises(mine).items())}, "
                f"expected {sorted(_premises(theirs['premiseReport']).items())}"
            )
        problems += _compare_constraints(mine, theirs["premiseReport"], f"rule {rule}")
        if bool(got.get("conditionReport")) != bool(theirs["conditions"]):
            problems.append(f"rule {rule}: condition report presence differs")
    return problems
