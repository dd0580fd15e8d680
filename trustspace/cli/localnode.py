"""Nodes on loopback for the demo, the benchmarks and the tests: each a separate
``trustspace serve`` process with its own data folder, SQLite file, key and management key,
driven only through its management API."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

from trustspace.cli.client import ApiError, ManagementClient
from trustspace.trust.keys import NodeKey


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sample_csv(path: Path, size_mib: int) -> str:
    """Write a deterministic CSV of about ``size_mib`` MiB; return its SHA-256."""
    digest = hashlib.sha256()
    target = size_mib << 20
    written = 0
    regions = ("CN-SH", "CN-BJ", "CN-GD", "DE-BY", "FR-IDF")
    with path.open("wb") as f:
        header = b"reading_id,region,sensor,timestamp,value\n"
        f.write(header)
        digest.update(header)
        written += len(header)
        i = 0
        while written < target:
            rows = []
            for j in range(i, i + 5000):
                rows.append(
                    f"{j},{regions[j % 5]},s{j % 97},2026-01-01T00:{j % 60:02d}:00Z,{(j * 7919) % 10007 / 100:.2f}\n"
                )
            chunk = "".join(rows).encode()
            f.write(chunk)
            digest.update(chunk)
            written += len(chunk)
            i += 5000
    return digest.hexdigest()


class DemoNode:
    """One node in its own process, driven through its management API."""

    def __init__(self, name: str, root: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.extra_env = dict(env or {})
        self.port = free_port()
        self.dir = root / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.key = secrets.token_urlsafe(24)
        self.url = f"http://127.0.0.1:{self.port}"
        self.dsp = f"{self.url}/dsp/2025-1"
        self.public_key = NodeKey.load_or_create(self.dir / "node.key").public_b64
        self.proc: subprocess.Popen[bytes] | None = None

    def entry(self) -> dict[str, str]:
        return {"id": self.name, "public_key": self.public_key, "address": self.dsp}

    def start(self, trusted: list[dict[str, str]] | None = None) -> None:
        trust_file = self.dir / "trust.json"
        if trusted is not None:
            trust_file.write_text(json.dumps({"participants": trusted}, indent=2))
        env = {
            **os.environ,
            "TRUSTSPACE_PARTICIPANT_ID": self.name,
            "TRUSTSPACE_PORT": str(self.port),
            "TRUSTSPACE_DATA_DIR": str(self.dir),
            "TRUSTSPACE_TRUST_LIST": str(trust_file),
            "TRUSTSPACE_MANAGEMENT_KEY": self.key,
            "TRUSTSPACE_LOG_LEVEL": "warning",
            **self.extra_env,
        }
        log = (self.dir / "node.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "trustspace", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        with ManagementClient(self.url, self.key, timeout=2) as c:
            while True:
                if self.proc is not None and self.proc.poll() is not None:
                    raise ApiError(f"{self.name} exited; see {self.dir / 'node.log'}")
                try:
                    c.call("GET", "/api/health")
                    return
                except ApiError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers run (crash tests)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def client(self) -> ManagementClient:
        return ManagementClient(self.url, self.key)

    def log_text(self) -> str:
        path = self.dir / "node.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def demo_uscc(body: str = "91440300MA5G0000") -> str:
    """A well-formed unified social credit code (sample data)."""
    from trustspace.core.registry import uscc_check_char

    first17 = (body + "0" * 17)[:17]
    return first17 + uscc_check_char(first17)
