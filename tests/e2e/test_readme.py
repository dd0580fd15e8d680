"""The README's commands work as written: its "Running a node" commands start a provider
(acme) and the consumer its trust list names (ai-co), and its "Driving a node" commands, with
its policy, run a whole exchange between them through the real `trustspace` command.

Only what a reader has to fill in is substituted: free ports for 8001/8002, the management
key for "$KEY", the ids the previous command printed for DATASET_ID, AGREEMENT_ID and
TRANSFER_ID, and each node's own public key in the trust-list example.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from trustspace.cli.client import ApiError, ManagementClient
from trustspace.cli.localnode import free_port

README = Path(__file__).resolve().parents[2] / "README.md"


def section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, re.DOTALL)


def commands(block: str) -> list[list[str]]:
    """Each command of a shell block, continuation lines joined, comments dropped."""
    out: list[list[str]] = []
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        while words:
            cut = words.index(";") if ";" in words else len(words)
            out.append(words[:cut])
            words = words[cut + 1 :]
    return out


def readme_json(text: str, key: str) -> Any:
    (found,) = [json.loads(b) for b in blocks(text, "json") if f'"{key}"' in b]
    return found


class Shell:
    """Runs README command lines as a reader would, in a folder of one's own."""

    def __init__(self, cwd: Path, ports: dict[str, str], key: str) -> None:
        self.cwd, self.ports, self.key = cwd, ports, key
        cwd.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "COLUMNS": "200"}

    def argv(self, words: list[str], values: dict[str, str]) -> list[str]:
        assert Path(words[0]).name == "trustspace", words
        out = []
        for word in words[1:]:
            for readme_port, port in self.ports.items():
                word = word.replace(readme_port, port)
            out.append(values.get(word, self.key if word == "$KEY" else word))
        return [sys.executable, "-m", "trustspace", *out]

    def run(self, words: list[str], **values: str) -> str:
        out = subprocess.run(self.argv(words, values), cwd=self.cwd, env=self.env,
                             capture_output=True, text=True, timeout=120)  # fmt: skip
        assert out.returncode == 0, (words, out.stdout, out.stderr)
        return out.stdout

    def start(self, words: list[str]) -> subprocess.Popen[bytes]:
        log = (self.cwd / "node.log").open("ab")
        proc = subprocess.Popen(self.argv(words, {}), cwd=self.cwd, env=self.env, stdout=log,
                                stderr=subprocess.STDOUT)  # fmt: skip
        log.close()
        return proc


def last_json(text: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(text[text.index("{") :])
    return found


def wait_ready(url: str, key: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    with ManagementClient(url, key, timeout=2) as c:
        while True:
            assert proc.poll() is None, "the node exited; its log is below"
            try:
                c.call("GET", "/api/health")
                return
            except ApiError:
                assert time.monotonic() < deadline, f"{url} never answered"
                time.sleep(0.1)


def test_the_readme_commands_run_an_exchange_as_written(tmp_path: Path) -> None:
    running, driving = section("Running a node"), section("Driving a node")
    init, serve, _settings = commands(blocks(running, "bash")[0])
    example = readme_json(running, "participants")["participants"][0]
    assert example.get("region"), "the trust-list example names no region"
    policy = readme_json(driving, "permission")
    publish, catalog, negotiate, listing, listing2, start, download = commands(
        blocks(driving, "bash")[0]
    )[:7]
    assert (start[1:3], download[1]) == (["transfer", "start"], "download"), (start, download)

    ports = {"8001": str(free_port()), "8002": str(free_port())}
    key = secrets.token_urlsafe(16)
    provider, consumer = Shell(tmp_path / "acme", ports, key), Shell(tmp_path / "ai-co", ports, key)
    as_consumer = {"acme": "ai-co", "./acme": "./ai-co", "8001": "8002"}  # the README's ai-co

    def consumer_words(words: list[str]) -> list[str]:
        return [as_consumer.get(w, w) for w in words]

    acme = json.loads(provider.run(init))
    ai_co = json.loads(consumer.run(consumer_words(init)))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for shell, listed, words in (
            (provider, ai_co, serve),
            (consumer, acme, consumer_words(serve)),
        ):
            entry = {**example, **listed}  # the README's fields, the other node's key and address
            (shell.cwd / "trust.json").write_text(json.dumps({"participants": [entry]}))
            procs.append(shell.start(words))
        for shell, port, proc in ((provider, "8001", procs[0]), (consumer, "8002", procs[1])):
            shell.env["TRUSTSPACE_NODE"] = f"http://127.0.0.1:{ports[port]}"
            shell.env["TRUSTSPACE_MANAGEMENT_KEY"] = key
            wait_ready(shell.env["TRUSTSPACE_NODE"], key, proc)

        data = "id,value\n" + "".join(f"{i},{i * 7}\n" for i in range(99))
        (provider.cwd / "data.csv").write_text(data)
        (provider.cwd / "policy.json").write_text(json.dumps(policy))
        dataset = last_json(provider.run(publish))["id"]
        assert dataset in consumer.run(catalog)
        agreement = last_json(consumer.run(negotiate, DATASET_ID=dataset))["agreementId"]
        consumer.run(listing)
        consumer.run(listing2)
        transfer = last_json(consumer.run(start, AGREEMENT_ID=agreement))
        assert transfer["state"] == "STARTED", transfer
        consumer.run(download, TRANSFER_ID=transfer["id"])
        assert (consumer.cwd / "data.csv").read_text() == data
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        for shell in (provider, consumer):
            log = shell.cwd / "node.log"
            print(f"--- {shell.cwd.name} log ---\n{log.read_text() if log.exists() else ''}")
