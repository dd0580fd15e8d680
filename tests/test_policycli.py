"""``trustspace policy eval``: the report on stdout, exit 0 permit / 1 deny / 2 invalid input."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from trustspace.cli import main

AGREEMENT = {
    "@id": "urn:agreement:1",
    "@type": "Agreement",
    "assignee": "did:web:ai-co",
    "target": "urn:ds:1",
    "permission": [
        {
            "action": "use",
            "constraint": [
                {"leftOperand": "purpose", "operator": "eq", "rightOperand": "ai-training"},
                {"leftOperand": "spatial", "operator": "eq", "rightOperand": "CN"},
            ],
        }
    ],
}
REQUEST = {"action": "read", "assignee": "did:web:ai-co", "target": "urn:ds:1"}


def _files(tmp_path: Path, policy: object, request: object, world: object) -> list[str]:
    args = []
    for name, content in (("policy", policy), ("request", request), ("sotw", world)):
        path = tmp_path / f"{name}.json"
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        args += [f"--{name}", str(path)]
    return args


def _run(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["policy", "eval", *args])
    return result.exit_code, result.stdout, result.stderr


def test_permit_exits_0_with_the_report(tmp_path: Path) -> None:
    code, out, _ = _run(
        _files(
            tmp_path,
            AGREEMENT,
            {**REQUEST, "purpose": "ai-fine-tuning"},
            {"now": "2026-11-24T10:00:00Z", "region": "CN"},
        )
    )
    report = json.loads(out)
    assert code == 0
    assert report["decision"] == "permit"
    assert report["ruleReport"][0]["activationState"] == "Active"


def test_deny_exits_1_and_says_why(tmp_path: Path) -> None:
    code, out, _ = _run(
        _files(
            tmp_path,
            AGREEMENT,
            {**REQUEST, "purpose": "marketing"},
            {"now": "2026-11-24T10:00:00Z", "region": "US"},
        )
    )
    report = json.loads(out)
    assert code == 1
    assert report["decision"] == "deny"
    assert report["reasons"] == [
        "the declared purpose is marketing; the policy requires it to be ai-training",
        "the requester's verified region is US; the policy requires it to be CN",
    ]


def test_invalid_input_exits_2_naming_the_file(tmp_path: Path) -> None:
    args = _files(tmp_path, "{not json", REQUEST, {"now": "2026-11-24T10:00:00Z"})
    code, out, err = _run(args)
    assert code == 2
    assert out == ""
    assert "policy.json" in err
    args = _files(tmp_path, AGREEMENT, REQUEST, {"now": "yesterday"})
    code, _, err = _run(args)
    assert code == 2
    assert "not an xsd:dateTime" in err
    code, _, err = _run(_files(tmp_path, AGREEMENT, {"assignee": "x"}, {}))
    assert code == 2
    assert "the request needs an action" in err


def test_turtle_files_are_read_too() -> None:
    cases = Path(__file__).parent / "core" / "odrl_cases"
    for name, code in (("count-under", 0), ("count-spent", 1)):
        path = str(cases / f"{name}.ttl")
        exit_code, out, _ = _run(["--policy", path, "--request", path, "--sotw", path])
        assert exit_code == code, out
        assert json.loads(out)["policy"] == f"urn:policy:{name}"
