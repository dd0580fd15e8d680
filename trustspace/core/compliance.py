"""Listing and delivery rules for regulated data.  Pure: the caller supplies every fact.

Listing:
- core data is never listed;
- personal information needs a legal basis: consent records, or evidence that it was anonymised;
- the provider must declare where the data came from (self-collected with a collection log,
  purchased with a contract id, an open licence with its id, or user-authorised with an
  authorisation reference);
- the provider must hold the right to operate the data as a product. It also declares holding
  and processing/use rights.

Cross-border delivery (the consumer's verified region is in another country than the
provider's):
- important data and personal information need a cross-border assessment reference;
- year-to-date counts of distinct persons, from 1 January and per provider, decide what basis
  is required:
  - more than 1,000,000 persons, or more than 10,000 persons' sensitive personal information,
    need a security assessment;
  - more than 100,000 persons need a standard contract, a certification or a security assessment.

  A delivery that would cross a threshold without that basis is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SOURCES = {
    "self-collected": "collectionLog",
    "purchased": "contractId",
    "open-licence": "licenceId",
    "user-authorised": "authorisationRef",
}
LEGAL_BASES = {"consent": "consentRecords", "anonymised": "anonymisationEvidence"}
RIGHTS = ("holding", "processing", "operation")
CROSS_BORDER_BASES = ("standard-contract", "certification", "security-assessment")
PI_STANDARD = 100_000
PI_ASSESSMENT = 1_000_000
SENSITIVE_ASSESSMENT = 10_000


def declaration_problems(declaration: Mapping[str, Any] | None) -> list[str]:
    """What is missing from a provider's declaration, in words."""
    if not isinstance(declaration, Mapping):
        return ["declare the data's source, acquisition basis and the rights you hold"]
    problems = []
    source = declaration.get("source")
    if not isinstance(source, str) or source not in SOURCES:
        problems.append(f"source must be one of {', '.join(SOURCES)}")
    elif not declaration.get(SOURCES[source]):
        problems.append(f"a {source} source needs its {SOURCES[source]}")
    rights = declaration.get("rights")
    if not isinstance(rights, Mapping):
        problems.append(f"declare the rights you hold: {', '.join(RIGHTS)}")
    elif not rights.get("operation"):
        problems.append("listing needs the right to operate the data as a product")
    return problems


def legal_basis_problem(declaration: Mapping[str, Any] | None) -> str | None:
    basis = declaration.get("legalBasis") if isinstance(declaration, Mapping) else None
    kind = basis.get("kind") if isinstance(basis, Mapping) else None
    if not isinstance(basis, Mapping) or not isinstance(kind, str) or kind not in LEGAL_BASES:
        return (
            "personal information without a legal basis cannot be listed: declare consent"
            " records or anonymisation evidence"
        )
    field = LEGAL_BASES[str(basis["kind"])]
    if not basis.get(field):
        return f"a {basis['kind']} legal basis needs its {field}"
    return None


def listing_problems(
    classification: str, pii_kinds: list[str], declaration: Mapping[str, Any] | None
) -> list[str]:
    """Why a product version cannot be listed (empty: it may go to review)."""
    if classification == "core":
        return ["core data cannot be listed"]
    problems = declaration_problems(declaration)
    if pii_kinds:
        problem = legal_basis_problem(declaration)
        if problem:
            problems.append(f"{problem} (found: {', '.join(pii_kinds)})")
    return problems


def country(region: str | None) -> str | None:
    return None if not region else region.split("-", 1)[0]


@dataclass(frozen=True)
class CrossBorder:
    """This year's counts for one provider before a delivery, and the delivery itself."""

    persons_so_far: int
    sensitive_so_far: int
    persons: int  # distinct persons in the product, counted once per product per year
    sensitive: bool
    already_counted: bool  # the product already went abroad this year


def required_basis(cb: CrossBorder) -> tuple[str, ...] | None:
    """The bases of which one is needed after this delivery, or None."""
    add = 0 if cb.already_counted else cb.persons
    persons = cb.persons_so_far + add
    sensitive = cb.sensitive_so_far + (add if cb.sensitive else 0)
    if persons > PI_ASSESSMENT or sensitive > SENSITIVE_ASSESSMENT:
        return ("security-assessment",)
    if persons > PI_STANDARD:
        return CROSS_BORDER_BASES
    return None


def delivery_problem(
    *,
    provider_region: str | None,
    consumer_region: str | None,
    classification: str,
    has_pi: bool,
    declaration: Mapping[str, Any] | None,
    counts: CrossBorder | None,
) -> str | None:
    """Why this delivery may not leave the provider's country, or None."""
    home, away = country(provider_region), country(consumer_region)
    if home is None or away is None or home == away:
        return None
    if classification == "core":
        return "core data never leaves its country"
    if classification != "important" and not has_pi:
        return None
    cross = (declaration or {}).get("crossBorder")
    cross = cross if isinstance(cross, Mapping) else {}
    if not cross.get("assessmentRef"):
        kind = "important data" if classification == "important" else "personal information"
        return (
            f"{kind} cannot be delivered from {home} to a participant in {away} without a"
            " cross-border assessment reference"
        )
    if has_pi and counts is not None:
        needed = required_basis(counts)
        if needed is not None and cross.get("basis") not in needed:
            return (
                f"this delivery takes the year's cross-border personal information past a"
                f" threshold that needs {' or '.join(needed)}; declared: {cross.get('basis') or 'none'}"
            )
    return None
