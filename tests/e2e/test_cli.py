"""The command line drives real nodes: publish, catalog, negotiate, list, transfer, download."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import Space


def run(
    node_url: str, key: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = {
        **os.environ,
        "TRUSTSPACE_NODE": node_url,
        "TRUSTSPACE_MANAGEMENT_KEY": key,
        "COLUMNS": "200",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "trustspace", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_drives_a_whole_exchange(space: Space, tmp_path: Path) -> None:
    p, c = space.provider, space.consumer
    data = tmp_path / "readings.csv"
    data.write_text("id,value\n" + "".join(f"{i},{i * 3}\n" for i in range(5000)))
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"permission": [{"action": "use"}]}))

    out = run(p.url, p.key, "publish", str(data), "--title", "Readings", "--policy", str(policy))
    assert out.returncode == 0, out.stderr
    published = json.loads(out.stdout)
    assert published["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()

    out = run(c.url, c.key, "catalog", p.dsp)
    assert out.returncode == 0, out.stderr
    assert published["id"] in out.stdout and "HttpData-PULL" in out.stdout

    out = run(c.url, c.key, "negotiate", p.dsp, published["id"])
    assert out.returncode == 0, out.stderr + out.stdout
    neg = json.loads(out.stdout)  # the document alone: the progress went to stderr
    assert neg["state"] == "FINALIZED" and "-> FINALIZED" in out.stderr

    out = run(c.url, c.key, "negotiations")
    assert out.returncode == 0 and "FINALIZED" in out.stdout

    out = run(c.url, c.key, "transfer", "start", neg["agreementId"])
    assert out.returncode == 0, out.stderr
    tp = json.loads(out.stdout)
    assert tp["state"] == "STARTED"

    # A hash that does not match: the bytes never take the destination's name.
    bad = tmp_path / "bad.csv"
    out = run(c.url, c.key, "download", tp["id"], "-o", str(bad), "--sha256", "0" * 64)
    assert out.returncode == 1, out.stdout
    assert "checksum mismatch: expected sha256 " + "0" * 64 in " ".join(out.stderr.split())
    assert not bad.exists() and not (tmp_path / "bad.csv.part").exists()
    kept = tmp_path / "bad.csv.sha256-mismatch"
    assert kept.read_bytes() == data.read_bytes() and str(kept) in out.stderr.replace("\n", "")

    target = tmp_path / "got.csv"
    out = run(
        c.url, c.key, "download", tp["id"], "-o", str(target), "--sha256", published["sha256"]
    )
    assert out.returncode == 0, out.stderr + out.stdout
    assert target.read_bytes() == data.read_bytes()
    # A good file already at the destination stays as it was.
    target.write_bytes(b"the good copy")
    out = run(c.url, c.key, "download", tp["id"], "-o", str(target), "--sha256", "1" * 64)
    assert out.returncode == 1 and target.read_bytes() == b"the good copy", out.stdout

    out = run(c.url, c.key, "transfer", "complete", tp["id"])
    assert out.returncode == 0 and json.loads(out.stdout)["state"] == "COMPLETED"
    out = run(c.url, c.key, "transfers")
    assert out.returncode == 0 and "COMPLETED" in out.stdout

    out = run(c.url, c.key, "download", tp["id"], "-o", str(tmp_path / "again.csv"))
    assert out.returncode == 1 and "COMPLETED" in out.stderr


def test_cli_errors_are_clear_and_non_zero(space: Space, tmp_path: Path) -> None:
    p = space.provider
    out = run(p.url, "wrong-key", "negotiations")
    assert out.returncode == 1 and "401" in out.stderr and "management key" in out.stderr
    out = run(p.url, p.key, "publish", str(tmp_path / "missing.csv"))
    assert out.returncode == 2 and "does not exist" in out.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    data = tmp_path / "d.txt"
    data.write_text("x")
    out = run(p.url, p.key, "publish", str(data), "--policy", str(bad))
    assert out.returncode == 2 and "not valid JSON" in out.stderr
    out = run(p.url, p.key, "terminate", "urn:uuid:unknown")
    assert out.returncode == 1 and "404" in out.stderr
    out = run("http://127.0.0.1:9", p.key, "negotiations")
    assert out.returncode == 3 and "cannot reach" in out.stderr and out.stdout == ""
    with p.client() as api:
        assert api.call("GET", "/api/datasets") == []


def test_help_is_useful() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "trustspace", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("serve", "demo", "publish", "catalog", "negotiate", "transfer", "download"):
        assert command in out.stdout
    out = subprocess.run(
        [sys.executable, "-m", "trustspace", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--database" in out.stdout and "postgresql://" in out.stdout


def test_settings_command_shows_sources(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text('participant_id = "from-file"\nport = 9001\nmanagement_key = "s3cret"\n')
    env = {**os.environ, "TRUSTSPACE_PORT": "9002", "COLUMNS": "250"}
    out = subprocess.run(
        [sys.executable, "-m", "trustspace", "settings", "-c", str(config), "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    lines = {
        line.split("│")[1].strip(): line for line in out.stdout.splitlines() if line.count("│") > 3
    }
    assert "from-file" in lines["participant_id"] and "file" in lines["participant_id"]
    assert "9002" in lines["port"] and "TRUSTSPACE_PORT" in lines["port"]
    assert "0.0.0.0" in lines["host"] and "flag" in lines["host"]
    assert "s3cret" not in out.stdout and "***" in lines["management_key"]


def test_catalog_shows_the_terms_in_words_and_the_odrl_with_json(
    space: Space, tmp_path: Path
) -> None:
    from trustspace.cli.demo import DEMO_TERMS

    p, c = space.provider, space.consumer
    data = tmp_path / "readings.csv"
    data.write_text("id,value\n1,2\n")
    terms = tmp_path / "terms.json"
    terms.write_text(json.dumps(DEMO_TERMS))
    unknown = tmp_path / "unknown.json"
    unknown.write_text("{}")
    out = run(p.url, p.key, "publish", str(data), "--title", "Readings", "--policy", str(terms))
    assert out.returncode == 0, out.stderr + out.stdout
    published = json.loads(out.stdout)

    out = run(c.url, c.key, "catalog", p.dsp)
    assert out.returncode == 0, out.stderr + out.stdout
    lines = [line.strip() for line in out.stdout.splitlines()]
    assert "catalog of provider: 1 dataset(s)" in lines
    assert f"Readings  {published['id']}" in lines
    assert "formats: HttpData-PULL" in lines
    assert f"offer {published['offerId']}" in lines, out.stdout
    at = lines.index(f"offer {published['offerId']}")
    assert lines[at + 1 : at + 5] == [
        "Use: AI training only",
        "Consumers in: China (CN)",
        "At most 3 downloads",
        "Within 30 days of the agreement",
    ]
    assert "lteq" not in out.stdout and "leftOperand" not in out.stdout

    out = run(c.url, c.key, "catalog", p.dsp, "--json")
    assert out.returncode == 0, out.stderr + out.stdout
    catalog = json.loads(out.stdout)  # one JSON document, nothing else on stdout
    (dataset,) = catalog["dataset"]
    (offer,) = dataset["hasPolicy"]
    assert offer["@type"] == "Offer" and offer["permission"] == DEMO_TERMS["permission"]

    out = run(c.url, c.key, "catalog", "http://127.0.0.1:9/dsp/2025-1")
    assert out.returncode != 0 and out.stderr.strip(), out.stderr  # errors go to stderr
