"""The SolidLab ODRL test suite (``../shared/conformance/odrl-test-suite``): all 68 cases.

Each case names a policy, a request and a state of the world (Turtle files listed in
``data/index.ttl``) and the expected compliance report.  Our report must reach the same decision
and agree rule by rule: activation, premise and constraint satisfaction, duty conditions.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rdflib import Namespace, URIRef

from tests.core.compliance import compare
from trustspace.core import odrl
from trustspace.core.odrl.turtle import graph, load_expected, load_policy, load_request, load_world

SUITE = Path(__file__).resolve().parents[2].parent / "shared/conformance/odrl-test-suite/data"
EX = Namespace("http://example.org/")

if not SUITE.is_dir():
    pytest.skip(
        f"the SolidLab ODRL test suite is not at {SUITE} (it is read from ../shared/)",
        allow_module_level=True,
    )

CASES = sorted((SUITE / "test_cases").glob("testcase-*.ttl"))
INDEX = graph((SUITE / "index.ttl").read_text())


def _source(case: URIRef, prop: str, folder: str) -> str:
    url = INDEX.value(case, EX[prop])
    assert url is not None, f"index.ttl lacks ex:{prop} for {case}"
    return (SUITE / folder / str(url).rsplit("/", 1)[-1]).read_text()


def test_the_suite_has_all_its_cases() -> None:
    assert len(CASES) == 68


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case(path: Path) -> None:
    expected = load_expected(path.read_text())
    case = next(
        s
        for s, url in INDEX.subject_objects(EX.expectedReportSource)
        if str(url).endswith("/" + path.name)
    )
    policy = odrl.parse_policy(
        load_policy(_source(case, "policySource", "policies"), expected["policy"])
    )
    request = odrl.parse_request(
        load_request(_source(case, "requestSource", "requests"), expected["request"])
    )
    world = load_world(_source(case, "sotwSource", "sotw"), expected["sotw"])
    report = odrl.to_json(odrl.evaluate(policy, request, world))
    assert compare(report, expected) == [], expected["title"]
