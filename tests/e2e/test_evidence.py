"""Evidence end to end: a member's log is countersigned by the operator, verifies with the
operator's published keys, and neither a flipped byte nor a rewritten history goes unnoticed.
Held against the operator's own record, a truncation and a rewrite hidden by deleting the local
checkpoints are named too; an operator that cannot be reached is never a verification."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.e2e.flow import publish
from tests.e2e.test_operator import Space, _negotiate, _start, _wait_directory, onboard
from trustspace.cli.localnode import DemoNode
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
    (fifth,) = [i for i, line in enumerate(lines) if json.loads(line).get("seq") == 5
                and json.loads(line)["type"] == "entry"]  # fmt: skip
    target = lines[fifth]
    position = target.index('"subject"') + 12
    lines[fifth] = target[:position] + chr(ord(target[position]) ^ 1) + target[position + 1 :]
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


def _grow(node: DemoNode, n: int) -> None:
    """Grow the log by ``n`` entries: each compute product published records how its results
    are protected (refused logins no longer write one entry each: they are counted per window)."""
    data = node.dir / "grow.csv"
    data.write_text("id,ward\n" + "".join(f"{i},w{i % 2}\n" for i in range(20)))
    rule = {"table": "grow", "entity": "id", "columns": {"ward": ["group"]},
            "thresholdOnly": {"reason": "test data"}}  # fmt: skip
    with node.client() as c:
        for _ in range(n):
            c.call(
                "POST", "/api/datasets", {"path": str(data), "title": "grow", "computeRule": rule}
            )


def _checkpoint(node: DemoNode) -> int:
    with node.client() as c:
        (signed,) = c.call("POST", "/api/evidence/checkpoint", {})["signed"]
    return int(signed["seq"])


def _rechain(db: sqlite3.Connection, rewrite: int) -> None:
    """A careful forger: change entry ``rewrite`` and recompute every hash after it."""
    rows = db.execute("SELECT seq, at, kind, subject, data FROM evidence ORDER BY seq").fetchall()
    prev = "0" * 64
    for seq, at, kind, subject, data in rows:
        if seq == rewrite:
            data = json.dumps({**json.loads(data), "path": "/elsewhere"}, sort_keys=True,
                              separators=(",", ":"))  # fmt: skip
        entry = {"seq": seq, "at": at, "kind": kind, "subject": subject, "data": json.loads(data)}
        digest = chain(prev, entry)
        db.execute("UPDATE evidence SET data = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                   (data, prev, digest, seq))  # fmt: skip
        prev = digest
    db.execute("UPDATE evidence_head SET seq = ?, hash = ? WHERE id = 1", (len(rows), prev))


def _verify(node: DemoNode, *args: str) -> subprocess.CompletedProcess[str]:
    return _cli("verify", "--data-dir", str(node.dir), *args)


def test_truncation_after_a_checkpoint_is_named_by_the_operators_record(space: Space) -> None:
    onboard(space.operator, space.provider)
    _grow(space.provider, 30)
    vouched = _checkpoint(space.provider)
    _grow(space.provider, 10)
    space.provider.stop()
    keep = vouched - 5  # the forger removes the newest entries, the checkpointed one among them
    db = sqlite3.connect(space.provider.dir / "trustspace.db")
    db.execute("DELETE FROM evidence WHERE seq > ?", (keep,))
    db.commit()
    naive = _verify(space.provider)  # the store's head row and the local checkpoint remain
    assert naive.returncode == 1, naive.stdout
    assert f"the store's newest entry is {vouched + 10}" in naive.stdout

    (head_hash,) = db.execute("SELECT hash FROM evidence WHERE seq = ?", (keep,)).fetchone()
    db.execute("UPDATE evidence_head SET seq = ?, hash = ? WHERE id = 1", (keep, head_hash))
    db.execute("DELETE FROM checkpoints")
    db.commit()
    db.close()
    local = _verify(space.provider)  # nothing local is left to tell
    assert local.returncode == 0 and f"OK: {keep} entries" in local.stdout, local.stdout
    assert "not held against any operator's own record" in local.stdout

    caught = _verify(space.provider, "--operator", space.operator.url)
    assert caught.returncode == 1, caught.stdout + caught.stderr
    assert (f"BROKEN at entry {keep + 1}: the log ends at entry {keep}, but operator countersigned"
            f" entry {vouched} (the operator's record): at least entries {keep + 1}–{vouched}"
            " (5) were removed") in caught.stdout  # fmt: skip
    assert f"operator countersigned entry {vouched}, but this log holds no copy" in caught.stdout
    report = json.loads(_verify(space.provider, "--operator", space.operator.url, "--json").stdout)
    assert report["status"] == "broken" and report["end"] == keep
    assert {p["kind"] for p in report["problems"]} == {"truncated", "missing-checkpoint"}


def test_a_rewrite_hidden_by_deleting_the_local_checkpoint_is_caught_by_the_operator(
    space: Space, tmp_path: Path
) -> None:
    onboard(space.operator, space.provider)
    _grow(space.provider, 20)
    vouched = _checkpoint(space.provider)
    with space.operator.client() as o:  # what the regulator or operator can hand an auditor
        record = o.call("GET", "/api/operator/members/hospital/checkpoints")
    (tmp_path / "operator-record.json").write_text(json.dumps(record))
    space.provider.stop()
    db = sqlite3.connect(space.provider.dir / "trustspace.db")
    db.execute("DELETE FROM checkpoints")
    _rechain(db, rewrite=3)
    db.commit()
    db.close()
    assert _verify(space.provider).returncode == 0  # a consistent chain, and no local checkpoint

    caught = _verify(space.provider, "--operator", space.operator.url)
    assert caught.returncode == 1, caught.stdout + caught.stderr
    assert (f"BROKEN at entry {vouched}: entry {vouched} differs from the countersigned checkpoint"
            " (the operator's record, from operator)") in caught.stdout  # fmt: skip
    assert "no copy of that checkpoint" in caught.stdout

    exported = tmp_path / "log.jsonl"  # the same, for an exported log and the operator's file
    assert (
        _cli("export", "--data-dir", str(space.provider.dir), "-o", str(exported)).returncode == 0
    )
    offline = _cli("verify", str(exported), "--operator-checkpoints",
                   str(tmp_path / "operator-record.json"), "--keys", space.operator.url)  # fmt: skip
    assert offline.returncode == 1, offline.stdout + offline.stderr
    assert f"BROKEN at entry {vouched}: entry {vouched} differs" in offline.stdout
    unsigned = _cli("verify", str(exported), "--operator-checkpoints",
                    str(tmp_path / "operator-record.json"))  # fmt: skip
    assert unsigned.returncode == 2 and "need its keys" in unsigned.stderr
    forged = [{**record[0], "hash": "f" * 64}]  # a record that is not what the operator signed
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    refused = _cli("verify", str(exported), "--operator-checkpoints", str(tmp_path / "forged.json"),
                   "--keys", space.operator.url)  # fmt: skip
    assert refused.returncode == 1
    assert "(the operator's record): it does not say what operator signed" in refused.stdout


def test_an_untouched_log_verifies_and_says_what_nothing_vouches_for(space: Space) -> None:
    onboard(space.operator, space.provider)
    _grow(space.provider, 12)
    vouched = _checkpoint(space.provider)
    _grow(space.provider, 7)
    with space.provider.client() as p:
        end = p.call("GET", "/api/evidence")["seq"]
    assert end == vouched + 7
    ok = _verify(space.provider, "--operator", space.operator.url)  # the node keeps running
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"OK: {end} entries" in ok.stdout and "signatures verified" in ok.stdout
    assert "held against the operator's own record: operator (1 checkpoint(s))" in ok.stdout
    assert (f"entries {vouched + 1}–{end} (7) are after the last checkpoint: nothing outside this"
            " node vouches for them") in ok.stdout  # fmt: skip
    report = json.loads(_verify(space.provider, "--operator", space.operator.url, "--json").stdout)
    assert report["status"] == "verified" and report["ok"] is True
    assert report["participantId"] == "hospital" and report["lastCheckpoint"] == vouched
    assert report["unvouched"] == {"first": vouched + 1, "last": end, "count": 7}
    assert report["checkpoints"]["operator"] == 1 and report["problems"] == []
    # Only the member itself reads its record from the operator.
    assert httpx.get(space.operator.url + "/operator/checkpoints").status_code == 401


def test_an_unreachable_operator_is_not_a_verification(space: Space) -> None:
    onboard(space.operator, space.provider)
    _grow(space.provider, 5)
    _checkpoint(space.provider)
    space.operator.stop()
    down = _verify(space.provider, "--operator", space.operator.url)
    assert down.returncode == 3, down.stdout + down.stderr
    assert "NOT CHECKED: cannot read the operator's keys" in down.stdout
    assert "not verified against the operator" in down.stdout and "OK" not in down.stdout
    report = json.loads(_verify(space.provider, "--operator", space.operator.url, "--json").stdout)
    assert report["status"] == "unchecked" and report["ok"] is False and report["notChecked"]
    space.provider.stop()
    db = sqlite3.connect(space.provider.dir / "trustspace.db")
    db.execute("UPDATE evidence SET kind = 'forged' WHERE seq = 2")
    db.commit()
    db.close()
    broken = _verify(space.provider, "--operator", space.operator.url)
    assert broken.returncode == 1 and "BROKEN at entry 2" in broken.stdout  # a finding still counts


@pytest.mark.postgres
def test_a_truncated_log_on_postgresql_is_caught_by_the_operators_record(
    tmp_path: Path, pg_database: Callable[[], str]
) -> None:
    database = pg_database()
    operator = DemoNode("operator", tmp_path, {"TRUSTSPACE_ROLE": "operator",
                                               "TRUSTSPACE_CRAWL_INTERVAL": "0"})  # fmt: skip
    provider = DemoNode("hospital", tmp_path, {"TRUSTSPACE_OPERATORS": f"operator={operator.url}",
                                               "TRUSTSPACE_OPERATOR_REFRESH": "0.5",
                                               "TRUSTSPACE_DATABASE": database})  # fmt: skip
    try:
        for node in (operator, provider):
            node.start([])
        for node in (operator, provider):
            node.wait_ready()
        onboard(operator, provider)
        _grow(provider, 15)
        vouched = _checkpoint(provider)
        _grow(provider, 3)
        store = ("--database", database, "--operator", operator.url)
        ok = _verify(provider, *store)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert f"entries {vouched + 1}–{vouched + 3} (3) are after the last checkpoint" in ok.stdout
        provider.stop()
        with psycopg.connect(database) as conn:
            conn.execute("DELETE FROM evidence WHERE seq > %s", (vouched - 2,))
            conn.execute("DELETE FROM checkpoints")
            conn.execute("UPDATE evidence_head SET seq = %s, hash = (SELECT hash FROM evidence"
                         " WHERE seq = %s) WHERE id = 1", (vouched - 2, vouched - 2))  # fmt: skip
        assert _verify(provider, "--database", database).returncode == 0  # nothing local tells
        caught = _verify(provider, *store)
        assert caught.returncode == 1, caught.stdout + caught.stderr
        assert f"at least entries {vouched - 1}–{vouched} (2) were removed" in caught.stdout
    finally:
        for node in (operator, provider):
            node.stop()
