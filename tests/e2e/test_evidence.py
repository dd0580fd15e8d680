"""Evidence end to end: a member's log is countersigned by the operator, verifies with the
operator's published keys, and neither a flipped byte nor a rewritten history goes unnoticed."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.flow import publish
from tests.e2e.test_operator import Space, _negotiate, _start, _wait_directory, onboard
from trustspace.core.evidence import chain


@pytest.fixture
def space(tmp_path: Path) -> Iterator[Space]:
    s = _start(tmp_path)
    yield s
    for node in (s.operator, s.provider, s.consumer):
        node.stop()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trustspace", "evidence", *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_countersigned_log_verifies_and_tampering_is_found(space: Space, tmp_path: Path) -> None:
    onboard(space.operator, space.provider)
    onboard(space.operator, space.consumer)
    (tmp_path / "d.bin").write_bytes(b"x" * 1000)
    published = publish(space.provider, tmp_path / "d.bin")
    _wait_directory(space.consumer, space.provider.dsp)
    assert _negotiate(space.consumer, space.provider, published["id"])["state"] == "FINALIZED"
    with space.provider.client() as p:
        signed = p.call("POST", "/api/evidence/checkpoint", {})["signed"]
        head = p.call("GET", "/api/evidence")
    assert [s["operator"] for s in signed] == ["operator"]
    checkpoint_seq = head["seq"]
    kinds = {json.loads(line)["kind"] for line in _cli(
        "export", "--data-dir", str(space.provider.dir)).stdout.splitlines()
        if json.loads(line)["type"] == "entry"}  # fmt: skip
    assert {"process-message", "agreement", "policy-decision"} <= kinds

    ok = _cli("verify", "--data-dir", str(space.provider.dir), "--keys", space.operator.url)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"OK: {checkpoint_seq} entries" in ok.stdout and "signatures verified" in ok.stdout

    # A flipped byte in an exported copy.
    exported = tmp_path / "log.jsonl"
    assert (
        _cli("export", "--data-dir", str(space.provider.dir), "-o", str(exported)).returncode == 0
    )
    lines = exported.read_text().splitlines()
    target = lines[4]
    position = target.index('"subject"') + 12
    lines[4] = target[:position] + chr(ord(target[position]) ^ 1) + target[position + 1 :]
    exported.write_text("\n".join(lines) + "\n")
    bad = _cli("verify", str(exported))
    assert bad.returncode == 1 and "BROKEN at entry 5" in bad.stdout, bad.stdout

    # A consistent rewrite of the stored history before the checkpoint.
    space.provider.stop()
    db = sqlite3.connect(space.provider.dir / "trustspace.db")
    rows = db.execute("SELECT seq, at, kind, subject, data FROM evidence ORDER BY seq").fetchall()
    prev = "0" * 64
    for seq, at, kind, subject, data in rows:
        if seq == 3:
            data = json.dumps({**json.loads(data), "detail": "rewritten"}, sort_keys=True,
                              separators=(",", ":"))  # fmt: skip
        entry = {"seq": seq, "at": at, "kind": kind, "subject": subject, "data": json.loads(data)}
        digest = chain(prev, entry)
        db.execute("UPDATE evidence SET data = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                   (data, prev, digest, seq))  # fmt: skip
        prev = digest
    db.execute("UPDATE evidence_head SET hash = ? WHERE id = 1", (prev,))
    db.commit()
    db.close()
    caught = _cli("verify", "--data-dir", str(space.provider.dir), "--keys", space.operator.url)
    assert caught.returncode == 1
    assert f"BROKEN at entry {checkpoint_seq}" in caught.stdout, caught.stdout
    assert "countersigned checkpoint" in caught.stdout
    # The operator keeps its own copy of what it countersigned.
    with space.operator.client() as o:
        kept = o.call("GET", "/api/operator/members/hospital/checkpoints")
    assert [c["seq"] for c in kept] == [checkpoint_seq]
