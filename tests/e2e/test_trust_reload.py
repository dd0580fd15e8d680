"""An edited trust list takes effect without a restart, driven through the real command."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.e2e.test_cli import run
from trustspace.cli.localnode import DemoNode


def test_a_participant_added_to_the_trust_list_is_accepted_without_a_restart(
    tmp_path: Path,
) -> None:
    provider, consumer = DemoNode("provider", tmp_path), DemoNode("consumer", tmp_path)
    try:
        provider.start([])  # trusts no one yet
        consumer.start([provider.entry()])
        for node in (provider, consumer):
            node.wait_ready()
        out = run(consumer.url, consumer.key, "catalog", provider.dsp)
        assert out.returncode == 1 and "unknown participant 'consumer'" in out.stderr, out.stderr
        pid = provider.proc.pid if provider.proc else None

        trust = provider.dir / "trust.json"
        tmp = trust.with_suffix(".new")
        tmp.write_text(json.dumps({"participants": [{**consumer.entry(), "region": "CN"}]}))
        tmp.replace(trust)
        deadline = time.monotonic() + 15
        while (out := run(consumer.url, consumer.key, "catalog", provider.dsp)).returncode != 0:
            assert time.monotonic() < deadline, out.stderr
            time.sleep(0.2)
        assert "catalog of provider" in out.stdout
        assert provider.proc is not None and provider.proc.pid == pid  # the same process

        trust.write_text(json.dumps({"participants": []}))  # and removed again
        deadline = time.monotonic() + 15
        while (out := run(consumer.url, consumer.key, "catalog", provider.dsp)).returncode == 0:
            assert time.monotonic() < deadline, out.stderr
            time.sleep(0.2)
        assert "unknown participant 'consumer'" in out.stderr
    finally:
        for node in (provider, consumer):
            node.stop()
        for node in (provider, consumer):
            print(f"--- {node.name} log ---\n{node.log_text()}")
