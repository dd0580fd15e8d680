"""Listing and cross-border rules, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from trustspace.core.compliance import (
    CrossBorder,
    delivery_problem,
    listing_problems,
    required_basis,
)

GOOD = {
    "source": "self-collected",
    "collectionLog": "log-2026-01",
    "rights": {"holding": True, "processing": True, "operation": True},
}
CONSENT = {**GOOD, "legalBasis": {"kind": "consent", "consentRecords": ["urn:consent:1"]}}


@pytest.mark.parametrize(
    ("classification", "pii", "declaration", "problem"),
    [
        ("general", [], GOOD, None),
        ("core", [], GOOD, "core data cannot be listed"),
        ("general", ["cn_resident_id"], GOOD, "personal information without a legal basis"),
        ("general", ["email"], CONSENT, None),
        ("general", ["email"], {**GOOD, "legalBasis": {"kind": "anonymised"}}, "needs its anonymisationEvidence"),
        ("general", [], {**GOOD, "source": "found-it"}, "source must be one of"),
        ("general", [], {**GOOD, "source": "purchased"}, "needs its contractId"),
        ("general", [], {**GOOD, "rights": {"holding": True}}, "right to operate"),
        ("important", [], None, "declare the data's source"),
        # Declarations of the wrong shape are problems too, never errors.
        ("general", ["email"], "a text", "declare the data's source"),
        ("general", ["email"], {**GOOD, "legalBasis": "consent"}, "without a legal basis"),
        ("general", ["email"], {**GOOD, "legalBasis": {"kind": ["consent"]}}, "without a legal"),
        ("general", [], {**GOOD, "source": {"a": 1}}, "source must be one of"),
    ],
)  # fmt: skip
def test_listing_rules(
    classification: str, pii: list[str], declaration: Any, problem: str | None
) -> None:
    problems = listing_problems(classification, pii, declaration)
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


def cb(so_far: int, persons: int, *, sensitive: bool = False, sensitive_so_far: int = 0,
       counted: bool = False) -> CrossBorder:  # fmt: skip
    return CrossBorder(so_far, sensitive_so_far, persons, sensitive, counted)


@pytest.mark.parametrize(
    ("counts", "needed"),
    [
        (cb(0, 100_000), None),
        (cb(0, 100_001), ("standard-contract", "certification", "security-assessment")),
        (cb(99_000, 2_000), ("standard-contract", "certification", "security-assessment")),
        (cb(999_999, 1), ("standard-contract", "certification", "security-assessment")),
        (cb(999_999, 2), ("security-assessment",)),
        (cb(0, 10_001, sensitive=True), ("security-assessment",)),
        (cb(0, 10_000, sensitive=True), None),
        (cb(0, 5_000, sensitive=True, sensitive_so_far=6_000), ("security-assessment",)),
        (cb(2_000_000, 10, counted=True), ("security-assessment",)),
        (cb(50_000, 60_000, counted=True), None),  # already counted this year: adds nobody
    ],
)  # fmt: skip
def test_thresholds_from_the_first_of_january(counts: CrossBorder, needed: Any) -> None:
    assert required_basis(counts) == needed


def _delivery(**overrides: Any) -> str | None:
    args: dict[str, Any] = {
        "provider_region": "CN-BJ",
        "consumer_region": "DE",
        "classification": "general",
        "has_pi": False,
        "declaration": GOOD,
        "counts": None,
        **overrides,
    }
    return delivery_problem(**args)


def test_cross_border_rules() -> None:
    assert _delivery() is None  # general data without personal information
    assert _delivery(consumer_region="CN-SH", classification="important") is None  # domestic
    assert "important data cannot be delivered from CN to a participant in DE" in str(
        _delivery(classification="important"))  # fmt: skip
    assert "personal information cannot be delivered" in str(_delivery(has_pi=True))
    assessed = {**GOOD, "crossBorder": {"assessmentRef": "CAC-2026-001"}}
    assert _delivery(classification="important", declaration=assessed) is None
    over = cb(90_000, 20_000)
    assert "needs standard-contract or certification or security-assessment" in str(
        _delivery(has_pi=True, declaration=assessed, counts=over))  # fmt: skip
    contract = {**GOOD, "crossBorder": {"assessmentRef": "x", "basis": "standard-contract"}}
    assert _delivery(has_pi=True, declaration=contract, counts=over) is None
    assert "needs security-assessment" in str(
        _delivery(has_pi=True, declaration=contract, counts=cb(999_000, 2_000)))  # fmt: skip
    assert "core data never leaves" in str(_delivery(classification="core"))
