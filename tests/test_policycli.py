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


DOCS = Path(__file__).resolve().parents[1] / "docs" / "policy.md"


def _documented_example() -> dict[str, str]:
    """The fenced blocks of docs/policy.md's complete example, by the name after the language."""
    import re

    text = DOCS.read_text()
    blocks = re.findall(r"^```\w+ ([\w.-]+)\n(.*?)^```$", text, flags=re.M | re.S)
    return dict(blocks)


def test_the_documented_offer_example_runs_as_written(tmp_path: Path) -> None:
    import os
    import shlex
    import subprocess
    import sys

    example = _documented_example()
    assert {"offer.json", "request.json", "world.json", "command", "stderr", "stdout"} <= set(
        example
    )
    for name in ("offer.json", "request.json", "world.json"):
        (tmp_path / name).write_text(example[name])
    # The offer is the one `publish --policy` takes: no @id, no @type.
    assert "@id" not in json.loads(example["offer.json"])
    words = shlex.split(example["command"])
    assert words[0] == "trustspace"
    env = {**os.environ, "COLUMNS": "200"}
    out = subprocess.run([sys.executable, "-m", "trustspace", *words[1:]], cwd=tmp_path,
                         capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == json.loads(example["stdout"])
    assert out.stderr == example["stderr"]

    # What the docs say after it: one more download is one too many.
    world = json.loads(example["world.json"])
    (tmp_path / "world.json").write_text(json.dumps({**world, "counts": {"read": 3}}))
    out = subprocess.run([sys.executable, "-m", "trustspace", *words[1:]], cwd=tmp_path,
                         capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert out.returncode == 1, out.stderr
    assert json.loads(out.stdout)["reasons"] == [
        "the use count (this use included) is 4; the policy requires it to be at most 3"
    ]


def test_an_offer_takes_its_parties_from_the_options(tmp_path: Path) -> None:
    offer = {"permission": AGREEMENT["permission"]}
    args = _files(tmp_path, offer, {**REQUEST, "purpose": "ai-training"},
                  {"now": "2026-11-24T10:00:00Z", "region": "CN"})  # fmt: skip
    code, out, err = _run(args)
    assert code == 0, err
    assert json.loads(out)["policy"] == "urn:trustspace:agreement-to-be"
    assert "is an offer: evaluated as the agreement it would become" in err
    assert "assignee did:web:ai-co, target urn:ds:1" in err
    # Bound to another consumer, the agreement does not cover this requester.
    code, out, err = _run([*args, "--assignee", "did:web:other", "--assigner", "did:web:p"])
    assert code == 1
    assert "assigner did:web:p, assignee did:web:other" in err
    assert json.loads(out)["reasons"] == [
        "the party did:web:ai-co is not did:web:other and not part of it"
    ]
    # An agreement without an @id is still refused: an agreement names itself.
    code, _, err = _run(_files(tmp_path, {"@type": "Agreement", **offer}, REQUEST, {}))
    assert code == 2 and "the policy needs an @id" in err
    # An offer with an @id is an offer too.
    code, out, _ = _run(_files(tmp_path, {"@id": "urn:o:1", "@type": "Offer", **offer},
                               {**REQUEST, "purpose": "ai-training"}, {"region": "CN"}))  # fmt: skip
    assert code == 0 and json.loads(out)["policy"] == "urn:trustspace:agreement-to-be"
