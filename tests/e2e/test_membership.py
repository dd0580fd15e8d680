"""Joining a space through the real `trustspace` command, against real nodes over loopback
HTTP: an approved member holds its credential without anyone asking for it, other members find
it at once, and every refusal on the way says what to do.

The members refresh from the operator only once an hour, so nothing here works by waiting for a
periodic refresh: the credential is picked up by the membership poll, the directory by a miss.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.test_cli import run
from trustspace.cli.localnode import DemoNode
from trustspace.core.registry import uscc_check_char


@dataclass
class Space:
    operator: DemoNode
    hospital: DemoNode
    lab: DemoNode


@pytest.fixture
def space(tmp_path: Path) -> Iterator[Space]:
    operator = DemoNode("operator", tmp_path, {"TRUSTSPACE_ROLE": "operator",
                                               "TRUSTSPACE_CRAWL_INTERVAL": "0"})  # fmt: skip
    member_env = {"TRUSTSPACE_OPERATORS": f"operator={operator.url}",
                  "TRUSTSPACE_OPERATOR_REFRESH": "3600", "TRUSTSPACE_MEMBERSHIP_POLL": "0.2"}  # fmt: skip
    s = Space(operator, DemoNode("hospital", tmp_path, member_env),
              DemoNode("ai-lab", tmp_path, member_env))  # fmt: skip
    nodes = (s.operator, s.hospital, s.lab)
    for node in nodes:
        node.start([])
    for node in nodes:
        node.wait_ready()
    yield s
    for node in nodes:
        node.stop()
    for node in nodes:  # shown by pytest only when the test fails
        print(f"--- {node.name} log ---\n{node.log_text()}")


def cli(node: DemoNode, *args: str) -> tuple[int, str]:
    out = run(node.url, node.key, *args)
    return out.returncode, " ".join((out.stdout + out.stderr).split())  # undo console wrapping


def apply(node: DemoNode) -> str:
    code, text = cli(node, "member", "apply", "--operator", "operator", "--legal-name",
                     f"{node.name} Ltd", "--registration-number",
                     "91110108MA01KPGG0" + uscc_check_char("91110108MA01KPGG0"), "--region",
                     "CN-BJ", "--sector", "health", "--contact", "x")  # fmt: skip
    assert code == 0, text
    answer = json.loads(text[text.index("{") :])
    assert answer["status"] == "pending"
    return str(answer["id"])


def wait_for_credential(node: DemoNode) -> None:
    """Looks at the data folder only: asking the node (`member status`) would poll for it."""
    held = node.dir / "credentials" / "operator.jwt"
    deadline = time.monotonic() + 20
    while not held.exists():
        assert time.monotonic() < deadline, f"{node.name} never picked up its credential"
        time.sleep(0.1)


def test_an_approved_member_holds_its_credential_and_is_found_at_once(
    space: Space, tmp_path: Path
) -> None:
    hospital, lab = space.hospital, space.lab
    # Not yet a member: the refusals say what to do, on both sides.
    code, text = cli(lab, "catalog", hospital.dsp)
    assert code == 1
    assert f"no member of operator's directory has address {hospital.dsp}" in text, text
    assert "--provider-id" in text and "trust list" not in text
    code, text = cli(lab, "catalog", hospital.dsp, "--provider-id", "hospital")
    assert code == 1
    assert (
        "this node holds no membership credential yet: apply with `trustspace member apply`" in text
    )
    assert "run `trustspace member status` on the calling node" in text, text  # hospital's 401

    applications = {node.name: apply(node) for node in (hospital, lab)}
    code, text = cli(lab, "catalog", hospital.dsp, "--provider-id", "hospital")
    assert code == 1 and "its application to operator awaits the operator's approval" in text, text

    for application in applications.values():
        code, text = cli(space.operator, "operator", "approve", application)
        assert code == 0 and '"approved"' in text, text
    for node in (hospital, lab):
        wait_for_credential(node)

    data = tmp_path / "scans.csv"
    data.write_text("id,value\n1,2\n")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"permission": [{"action": "use", "constraint": [
        {"leftOperand": "spatial", "operator": "isPartOf", "rightOperand": "CN"}]}]}))  # fmt: skip
    code, text = cli(hospital, "publish", str(data), "--policy", str(policy))
    assert code == 0, text
    dataset = json.JSONDecoder().raw_decode(text[text.index("{") :])[0]["id"]  # then stderr
    # The lab's directory predates both approvals: the miss fetches it again.
    code, text = cli(lab, "negotiate", hospital.dsp, dataset)
    assert code == 0, text
    assert '"state": "FINALIZED"' in text, text
    code, text = cli(lab, "catalog", "http://127.0.0.1:9/dsp/2025-1")
    assert code == 1 and "no member of operator's directory has address" in text, text
