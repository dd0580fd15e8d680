"""An offer's terms in plain words: one line per term, for every operand and operator the engine
evaluates, and a line (never silence) for a term the table cannot phrase."""

from __future__ import annotations

from typing import Any

import pytest

from trustspace.core.odrl import PolicyError, vocab
from trustspace.core.odrl.words import _PHRASES, describe_offer


def _one(left: str, operator: str, right: Any, **extra: Any) -> list[str]:
    c = {"leftOperand": left, "operator": operator, "rightOperand": right, **extra}
    return describe_offer({"permission": [{"action": "use", "constraint": [c]}]})


P30D = {"@value": "P30D", "@type": "xsd:duration"}
CNY = "https://w3id.org/currency/CNY"

CASES = [
    ("purpose", "eq", "ai-training", "Use: AI training only"),
    ("purpose", "isA", "research", "Use: research only"),
    ("purpose", "isPartOf", "ai", "Use: AI only"),
    ("purpose", "isAnyOf", ["ai-training", "research"], "Use: AI training or research only"),
    ("purpose", "isAllOf", ["ai", "research"], "Use: declared for all of AI and research"),
    ("purpose", "hasPart", "ai-training", "Use: a purpose that includes AI training"),
    ("purpose", "neq", "marketing", "Use: not for marketing"),
    ("purpose", "isNoneOf", ["marketing", "analytics"], "Use: not for marketing or analytics"),
    ("spatial", "eq", "CN", "Consumers in: China (CN)"),
    ("spatial", "isA", "CN-BJ", "Consumers in: CN-BJ (China)"),
    ("spatial", "isPartOf", "DE", "Consumers in: Germany (DE)"),
    ("spatial", "isAnyOf", ["CN", "DE"], "Consumers in: China (CN) or Germany (DE)"),
    ("spatial", "isAllOf", ["CN", "CN-BJ"], "Consumers in all of: China (CN) and CN-BJ (China)"),
    ("spatial", "hasPart", "CN-SH", "Consumers in a region that contains CN-SH (China)"),
    ("spatial", "neq", "US", "Consumers not in: the United States (US)"),
    ("spatial", "isNoneOf", ["US", "ZZ"], "Consumers not in: the United States (US) or ZZ"),
    ("recipient", "eq", "ai-co", "Only for: ai-co"),
    ("recipient", "isAnyOf", ["ai-co", "lab"], "Only for: ai-co or lab"),
    ("recipient", "isPartOf", "urn:c:members", "Only for members of: urn:c:members"),
    ("recipient", "neq", "rival", "Not for: rival"),
    ("recipient", "isNoneOf", ["rival"], "Not for: rival"),
    ("count", "lteq", 3, "At most 3 downloads"),
    ("count", "lt", 4, "Fewer than 4 downloads"),
    ("count", "eq", 1, "Only download number 1"),
    ("count", "neq", 2, "Any download except number 2"),
    ("count", "gt", 3, "Only after the first 3 downloads"),
    ("count", "gteq", 2, "From download number 2 on"),
    ("elapsedTime", "lteq", P30D, "Within 30 days of the agreement"),
    ("elapsedTime", "lt", "PT12H", "Less than 12 hours after the agreement"),
    ("elapsedTime", "eq", "P1DT6H", "Exactly 1 day and 6 hours after the agreement"),
    ("elapsedTime", "neq", "P1D", "Not exactly 1 day after the agreement"),
    ("elapsedTime", "gt", "P7D", "More than 7 days after the agreement"),
    ("elapsedTime", "gteq", "PT90M", "From 1 hour and 30 minutes after the agreement on"),
    ("dateTime", "lt", "2027-01-01T00:00:00Z", "Before 2027-01-01 00:00 UTC"),
    ("dateTime", "lteq", "2026-12-31T23:59:00Z", "Until 2026-12-31 23:59 UTC"),
    ("dateTime", "eq", "2026-06-01T12:00:00Z", "Only at 2026-06-01 12:00 UTC"),
    ("dateTime", "neq", "2026-06-01T12:00:00Z", "Any time except 2026-06-01 12:00 UTC"),
    ("dateTime", "gt", "2026-06-01T08:00:00+08:00", "After 2026-06-01T08:00+08:00"),
    ("dateTime", "gteq", "2026-01-01T00:00:00Z", "From 2026-01-01 00:00 UTC"),
    ("trustspace:classification", "eq", "general", "Data classified: general"),
    ("trustspace:classification", "neq", "core", "Data not classified: core"),
    ("trustspace:classification", "lt", "core", "Data classified below core"),
    ("trustspace:classification", "lteq", "important", "Data classified important or lower"),
    ("trustspace:classification", "gt", "general", "Data classified above general"),
    ("trustspace:classification", "gteq", "important", "Data classified important or higher"),
    ("trustspace:classification", "isAnyOf", ["general"], "Data classified: general"),
    ("trustspace:classification", "isNoneOf", ["core"], "Data not classified: core"),
]

PAY = [
    ("eq", "100", "Price: 100.00 CNY"),
    ("gteq", "100", "Price: 100.00 CNY"),
    ("gt", "99.5", "Price: more than 99.50 CNY"),
    ("lteq", "0.125", "Paid: at most 0.125 CNY"),
    ("lt", "10", "Paid: less than 10.00 CNY"),
    ("neq", "0", "Paid: any amount but 0.00 CNY"),
]


@pytest.mark.parametrize(("left", "operator", "right", "line"), CASES)
def test_each_operand_and_operator_in_words(
    left: str, operator: str, right: Any, line: str
) -> None:
    assert _one(left, operator, right) == [line]


@pytest.mark.parametrize(("operator", "amount", "line"), PAY)
def test_a_price_in_words(operator: str, amount: str, line: str) -> None:
    assert _one("payAmount", operator, amount, unit=CNY) == [line]


def test_the_tables_cover_every_operator_the_engine_accepts() -> None:
    covered = {(c[0], c[1]) for c in CASES} | {("payAmount", p[0]) for p in PAY}
    wanted = {(o.name, op) for o in vocab.LEFT_OPERANDS.values() for op in o.operators}
    assert wanted - covered == set()
    phrased = {(o.name, op) for o in vocab.LEFT_OPERANDS.values() for op in o.operators
               if (o.kind, op) in _PHRASES}  # fmt: skip
    assert phrased == wanted


def test_a_term_it_cannot_phrase_still_gets_a_line() -> None:
    assert _one("moonPhase", "eq", "full") == [
        "Other term: moonPhase eq full (unknown left operand 'moonPhase')"
    ]
    assert _one("count", "isA", 3) == [
        "Other term: count isA 3 (operator 'isA' does not apply to 'count')"
    ]
    assert _one("count", "lteq", "three") == [
        "Other term: count lteq three (right operand of 'count': 'three' is not a non-negative "
        "integer)"
    ]


def test_the_demo_terms_read_as_the_readme_says() -> None:
    from trustspace.cli.demo import DEMO_TERMS

    assert describe_offer(DEMO_TERMS) == [
        "Use: AI training only",
        "Consumers in: China (CN)",
        "At most 3 downloads",
        "Within 30 days of the agreement",
    ]


def test_rules_duties_prohibitions_and_combinations() -> None:
    offer = {
        "permission": [
            {
                "action": "read",
                "constraint": [
                    {"or": [
                        {"leftOperand": "spatial", "operator": "eq", "rightOperand": "CN"},
                        {"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"},
                    ]},
                ],
                "duty": [
                    {"action": "compensate", "constraint": [{"leftOperand": "payAmount",
                     "operator": "gteq", "rightOperand": "100", "unit": CNY}]},
                    {"action": "attribute"},
                ],
            },
            {"action": {"rdf:value": "aggregate", "refinement": [
                {"leftOperand": "count", "operator": "lteq", "rightOperand": 10}]}},
        ],
        "prohibition": [
            {"action": "distribute",
             "constraint": [{"leftOperand": "spatial", "operator": "neq", "rightOperand": "CN"}]}
        ],
        "obligation": [{"action": "delete", "constraint": [
            {"leftOperand": "dateTime", "operator": "lteq", "rightOperand": "2027-01-01T00:00:00Z"}]}],
    }  # fmt: skip
    assert describe_offer(offer) == [
        "Allowed: read (download) the data",
        "Any one of: (Consumers in: China (CN)); (Use: research only)",
        "Price: 100.00 CNY (before use)",
        "Before use: credit the provider",
        "Or, alternatively:",
        "Allowed: run aggregate queries (compute-to-data)",
        "At most 10 compute jobs",
        "Not allowed: pass the data on to others, when: Consumers not in: China (CN)",
        "Required: delete the data (Until 2027-01-01 00:00 UTC)",
    ]


def test_no_permission_and_no_condition_are_said_too() -> None:
    assert describe_offer({"permission": [{"action": "use"}]}) == [
        "Use: any purpose, no conditions"
    ]
    assert describe_offer({"prohibition": [{"action": "use"}]}) == [
        "Nothing is allowed (the offer holds no permission)",
        "Not allowed: use the data",
    ]


def test_an_unreadable_structure_is_an_error() -> None:
    with pytest.raises(PolicyError):
        describe_offer({"permission": ["use"]})


def test_docs_show_the_words_the_catalog_prints() -> None:
    from pathlib import Path

    from trustspace.cli.demo import DEMO_TERMS

    docs = (Path(__file__).resolve().parents[2] / "docs" / "policy.md").read_text()
    assert "```\n" + "\n".join(describe_offer(DEMO_TERMS)) + "\n```" in docs
