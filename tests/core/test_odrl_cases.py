"""Our own ODRL cases, in the SolidLab format (``odrl_cases/*.ttl``: policy, request, state of
the world, expected compliance report), for every left operand, each operator, the logical
constraints, conflicts, refinements and unknown terms.  Each expected report was written from
the semantics in ``trustspace/core/odrl/evaluate.py``; the case also names the expected outcome
and words its reasons must contain."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.core.compliance import compare
from trustspace.core import odrl
from trustspace.core.odrl.turtle import load_expected, load_policy, load_request, load_world

CASES = sorted((Path(__file__).parent / "odrl_cases").glob("*.ttl"))


def test_there_are_cases() -> None:
    assert len(CASES) >= 50


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case(path: Path) -> None:
    text = path.read_text()
    expected = load_expected(text)
    policy = odrl.parse_policy(load_policy(text, expected["policy"]))
    request = odrl.parse_request(load_request(text, expected["request"]))
    report = odrl.to_json(odrl.evaluate(policy, request, load_world(text, expected["sotw"])))
    assert compare(report, expected) == [], expected["title"]
    assert report["outcome"] == expected["outcome"], report["reasons"]
    reasons = " | ".join(report["reasons"])
    for words in expected["reasonMentions"]:
        assert words in reasons
