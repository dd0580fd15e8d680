"""``trustspace serve`` says a node is up only once it listens, and a port another program
holds is a plain message and a non-zero exit, before anything is created."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from trustspace.cli.demo import DemoNode


@pytest.fixture
def running(tmp_path: Path) -> Iterator[DemoNode]:
    node = DemoNode("first", tmp_path, {"TRUSTSPACE_LOG_LEVEL": "info"})
    node.start([])
    node.wait_ready()
    yield node
    node.stop()
    print(f"--- first log ---\n{node.log_text()}")


def test_a_port_in_use_is_a_plain_message_and_no_up_line(running: DemoNode, tmp_path: Path) -> None:
    assert f"node first up: DSP {running.dsp}" in running.log_text()
    second = tmp_path / "second"
    env = {**os.environ, "TRUSTSPACE_DATA_DIR": str(second), "TRUSTSPACE_LOG_LEVEL": "info",
           "TRUSTSPACE_MANAGEMENT_KEY": "k", "TRUSTSPACE_PARTICIPANT_ID": "second",
           "COLUMNS": "300"}  # fmt: skip
    out = subprocess.run([sys.executable, "-m", "trustspace", "serve", "--port", str(running.port)],
                         env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    assert (f"port {running.port} is already in use (another node or program listens on"
            f" 127.0.0.1:{running.port}); choose another with --port") in text  # fmt: skip
    assert " up" not in text and "Traceback" not in text and "Errno" not in text
    assert not second.exists()  # nothing was created for a node that could not listen
    assert "node first up" in running.log_text()  # the first one is unharmed
