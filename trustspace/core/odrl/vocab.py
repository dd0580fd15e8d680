"""The node's published policy vocabulary: every term a policy may use, and what it means.

A policy created on this node may use only these terms; anything else is refused at creation with
the offending term named.  Policies that arrive from elsewhere (an agreement from a provider, a
Turtle file given to ``policy eval``) are not refused, but an unknown term never grants anything:
an unknown constraint makes a permission inactive and a prohibition active.

Names are stored in the short form used by the DSP compact JSON: ODRL terms by their local name
(``dateTime``), trustspace terms with the ``trustspace:`` prefix (``trustspace:classification``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

ODRL = "http://www.w3.org/ns/odrl/2/"
TRUSTSPACE = "https://w3id.org/trustspace/ns/"
PURPOSE_NS = "https://w3id.org/trustspace/purpose/"
XSD = "http://www.w3.org/2001/XMLSchema#"

POLICY_KINDS = ("Set", "Offer", "Agreement", "Policy", "Request", "Privacy", "Ticket", "Assertion")
GRANTING_KINDS = frozenset({"Set", "Agreement", "Policy"})
CONFLICT_STRATEGIES = ("perm", "prohibit", "invalid")
LOGICAL_OPERATORS = ("and", "or", "xone", "andSequence")

# Action hierarchy: action -> the action it is included in (ODRL 2.2 core and common vocabulary).
# ``use`` and ``transfer`` are the two roots.  ``write`` is ODRL 2.1's name for ``modify``.
ACTION_PARENT: Mapping[str, str | None] = {
    "use": None,
    "transfer": None,
    "give": "transfer",
    "sell": "transfer",
    "acceptTracking": "use",
    "aggregate": "use",
    "annotate": "use",
    "anonymize": "use",
    "archive": "use",
    "attribute": "use",
    "compensate": "use",
    "concurrentUse": "use",
    "delete": "use",
    "derive": "use",
    "digitize": "use",
    "display": "use",
    "distribute": "use",
    "ensureExclusivity": "use",
    "execute": "use",
    "extract": "use",
    "grantUse": "use",
    "include": "use",
    "index": "use",
    "inform": "use",
    "install": "use",
    "modify": "use",
    "write": "use",
    "move": "use",
    "nextPolicy": "use",
    "obtainConsent": "use",
    "play": "display",
    "present": "use",
    "print": "use",
    "read": "use",
    "reproduce": "use",
    "reviewPolicy": "use",
    "stream": "use",
    "synchronize": "use",
    "textToSpeech": "read",
    "transform": "use",
    "translate": "use",
    "uninstall": "use",
    "watermark": "use",
}

OPERATORS = (
    "eq",
    "neq",
    "lt",
    "lteq",
    "gt",
    "gteq",
    "isA",
    "isPartOf",
    "hasPart",
    "isAnyOf",
    "isAllOf",
    "isNoneOf",
)


@dataclass(frozen=True)
class Operand:
    """A left operand: what it measures, the kind of value, where the node gets the fact."""

    name: str
    kind: str  # dateTime | duration | count | decimal | purpose | region | party | classification
    operators: tuple[str, ...]
    source: str


_ORDERED = ("eq", "neq", "lt", "lteq", "gt", "gteq")
_HIERARCHY = ("eq", "neq", "isA", "isPartOf", "hasPart", "isAnyOf", "isNoneOf", "isAllOf")

LEFT_OPERANDS: Mapping[str, Operand] = {
    o.name: o
    for o in (
        Operand("dateTime", "dateTime", _ORDERED, "the node's clock at the moment of the request"),
        Operand(
            "elapsedTime",
            "duration",
            _ORDERED,
            "time since the agreement was concluded (xsd:duration, e.g. P30D)",
        ),
        Operand(
            "count",
            "count",
            _ORDERED,
            "how many times the action has been exercised under this agreement, this one included",
        ),
        Operand(
            "payAmount",
            "decimal",
            _ORDERED,
            "the sum paid under this agreement in the constraint's unit (in a compensate duty)",
        ),
        Operand(
            "purpose",
            "purpose",
            _HIERARCHY,
            "the purpose declared for the transfer; a narrower purpose satisfies a broader one",
        ),
        Operand(
            "spatial",
            "region",
            _HIERARCHY,
            "ISO 3166 region of the requesting participant, from its verified identity",
        ),
        Operand(
            "recipient",
            "party",
            ("eq", "neq", "isAnyOf", "isNoneOf", "isPartOf"),
            "the party receiving the data: the verified requester",
        ),
        Operand(
            "trustspace:classification",
            "classification",
            (*_ORDERED, "isAnyOf", "isNoneOf"),
            "the data classification of the product: general < important < core",
        ),
    )
}

CLASSIFICATIONS = ("general", "important", "core")

# Purpose vocabulary: purpose -> broader purpose.  A request for a narrower purpose satisfies a
# constraint on a broader one (fine-tuning is training; training is AI development).
PURPOSE_PARENT: Mapping[str, str | None] = {
    "any": None,
    "ai": "any",
    "ai-training": "ai",
    "ai-fine-tuning": "ai-training",
    "ai-evaluation": "ai",
    "ai-retrieval": "ai",
    "research": "any",
    "academic-research": "research",
    "commercial-research": "research",
    "analytics": "any",
    "service-provision": "any",
    "marketing": "any",
    "public-interest": "any",
    "regulatory-compliance": "any",
}


def ancestors(parents: Mapping[str, str | None], term: str) -> tuple[str, ...]:
    """``term`` and everything it is included in, nearest first."""
    if parents is ACTION_PARENT:
        return _action_ancestors(term)
    if parents is PURPOSE_PARENT:
        return _purpose_ancestors(term)
    return _walk(parents, term)


@lru_cache(maxsize=1024)
def _action_ancestors(term: str) -> tuple[str, ...]:
    return _walk(ACTION_PARENT, term)


@lru_cache(maxsize=1024)
def _purpose_ancestors(term: str) -> tuple[str, ...]:
    return _walk(PURPOSE_PARENT, term)


def _walk(parents: Mapping[str, str | None], term: str) -> tuple[str, ...]:
    chain = [term]
    seen = {term}
    parent = parents.get(term)
    while parent is not None and parent not in seen:
        chain.append(parent)
        seen.add(parent)
        parent = parents.get(parent)
    return tuple(chain)


def region_ancestors(code: str) -> tuple[str, ...]:
    """An ISO 3166-2 subdivision lies inside its country: ``CN-BJ`` -> (``CN-BJ``, ``CN``)."""
    return (code, code.split("-", 1)[0]) if "-" in code else (code,)


def is_region(code: str) -> bool:
    head, _, tail = code.partition("-")
    if len(head) != 2 or not head.isascii() or not head.isalpha() or not head.isupper():
        return False
    return not tail or (1 <= len(tail) <= 3 and tail.isascii() and tail.isalnum())


def describe() -> dict[str, object]:
    """The vocabulary as published at ``GET /api/policy/vocabulary`` and in docs/policy.md."""
    return {
        "policyTypes": list(POLICY_KINDS),
        "grantingPolicyTypes": sorted(GRANTING_KINDS),
        "conflict": list(CONFLICT_STRATEGIES),
        "actions": {a: p for a, p in ACTION_PARENT.items()},
        "leftOperands": {
            o.name: {"kind": o.kind, "operators": list(o.operators), "source": o.source}
            for o in LEFT_OPERANDS.values()
        },
        "operators": list(OPERATORS),
        "logicalOperators": list(LOGICAL_OPERATORS),
        "purposes": {p: q for p, q in PURPOSE_PARENT.items()},
        "classifications": list(CLASSIFICATIONS),
    }
