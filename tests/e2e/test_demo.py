"""``trustspace demo``: one description everywhere, business words by default and protocol
detail with --verbose, and no folder left behind unless asked for (--keep, --dir)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from rich.console import Console

from trustspace.cli import demo
from trustspace.cli.client import ApiError

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL_WORDS = ("Message", "lteq", " eq ", "FINALIZED", "STARTED", "urn:uuid:", "pid ")


def _demo(tmpdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    tmpdir.mkdir(exist_ok=True)
    env = {**os.environ, "COLUMNS": "200", "TMPDIR": str(tmpdir)}
    return subprocess.run(
        [sys.executable, "-m", "trustspace", "demo", "--once", "--size-mib", "2", *args],
        capture_output=True, text=True, timeout=180, env=env,
    )  # fmt: skip


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_one_description_of_the_demo_everywhere() -> None:
    texts = {
        "README.md": (ROOT / "README.md").read_text(),
        "docs/cli.md": (ROOT / "docs" / "cli.md").read_text(),
        "docs/operator.md": (ROOT / "docs" / "operator.md").read_text(),
    }
    out = subprocess.run([sys.executable, "-m", "trustspace", "demo", "--help"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    texts["demo --help"] = out.stdout
    assert [name for name, text in texts.items() if demo.DESCRIPTION not in _flat(text)] == []
    # What it says is what it starts: four nodes, with these roles.
    assert demo.DESCRIPTION.startswith("four nodes") and all(
        role in demo.DESCRIPTION for role in ("operator", "provider", "consumer", "assessor")
    )
    for stale in ("two nodes", "three nodes", "a provider and a consumer node"):
        assert [n for n, text in texts.items() if stale in _flat(text)] == [], stale


def test_demo_speaks_business_words_and_leaves_no_folder(tmp_path: Path) -> None:
    tmpdir = tmp_path / "tmp"
    out = _demo(tmpdir)
    assert out.returncode == 0, out.stdout + out.stderr
    assert list(tmpdir.iterdir()) == []  # the 99 MB folder is gone
    text = out.stdout
    assert demo.DESCRIPTION in _flat(text)
    for line in ("Use: AI training only", "Consumers in: China (CN)", "At most 3 downloads",
                 "Within 30 days of the agreement"):  # fmt: skip
        assert f"     {line}\n" in text
    for words in (
        "operator onboarded provider (CN-GD, manufacturing): membership credential issued",
        "operator onboarded consumer (CN-SH, technology)",
        "the provider agreed: the contract is concluded",
        "the consumer asked for the data, for AI training",
        "the data arrived intact: its checksum matches the one in the catalog",
        "the provider checked the terms before starting the transfer: allowed",
        "the provider checked the terms at the download: allowed",
        "the consumer confirmed receipt: the transfer is complete",
        "the operator approved the listing and issued a registration certificate",
        "the operator certified the trade: 1 trade certificate(s)",
        "federated search 'sensor readings' finds 1 dataset(s)",
        "FROM readings\n   -> result released\n      (the total",
        "-> refused\n",
        "may not be grouped on",
    ):
        assert words in text, words
    assert "'plant-0'" in text and "plant-x'" not in text  # one machine: suppressed
    assert [w for w in PROTOCOL_WORDS if w in text] == []


def test_verbose_shows_the_protocol_and_keep_keeps_the_folder(tmp_path: Path) -> None:
    tmpdir = tmp_path / "tmp"
    out = _demo(tmpdir, "--keep", "--verbose")
    assert out.returncode == 0, out.stdout + out.stderr
    (kept,) = tmpdir.iterdir()
    assert f"the demo's files are kept in {kept}" in out.stdout
    assert (kept / "provider" / "node.log").exists() and (
        kept / "consumer" / "trustspace.db"
    ).exists()
    text = out.stdout
    assert [w for w in PROTOCOL_WORDS if w not in text] == []
    assert "ContractAgreementVerificationMessage" in text
    assert "spatial CN-SH eq CN" in text  # the region from the consumer's credential
    assert "count 1 lteq 3" in text
    assert re.search(r"pid \d+, DSP http://127\.0\.0\.1:\d+/dsp/2025-1", text)
    assert "sha256 verified: " in text and "transfer COMPLETED" in text


class _Boom:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __call__(self, *args: object, **kwargs: object) -> None:
        raise self.error


@pytest.mark.parametrize("error", [ApiError("the operator is down"), KeyboardInterrupt()])
def test_the_folder_goes_on_failure_and_ctrl_c_but_a_given_dir_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    monkeypatch.setattr(demo, "_flow", _Boom(error))
    console = Console(file=open(os.devnull, "w"), width=200)  # noqa: SIM115
    started: list[demo.DemoNode] = []
    real_start = demo.DemoNode.start

    def start(self: demo.DemoNode, trusted: list[dict[str, str]] | None = None) -> None:
        started.append(self)
        real_start(self, trusted)

    monkeypatch.setattr(demo.DemoNode, "start", start)
    code = demo.run_demo(console, once=True, workdir=None, size_mib=1)
    assert code == (1 if isinstance(error, ApiError) else 0)
    assert list(tmpdir.iterdir()) == []
    assert len(started) == 4 and all(n.proc is not None and n.proc.poll() is not None
                                     for n in started)  # fmt: skip

    given = tmp_path / "mine"
    code = demo.run_demo(console, once=True, workdir=given, size_mib=1)
    assert (given / "provider" / "node.log").exists()
    assert list(tmpdir.iterdir()) == []
    console.file.close()
