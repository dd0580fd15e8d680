"""Four concurrent 100 MB bodies to the unauthenticated ``POST /operator/applications`` of a real
operator (its own process) barely move its resident set: declared ones are refused before they
are read, chunked ones as soon as they pass the limit, and the connection is closed after."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from trustspace.cli.localnode import DemoNode

BODY = 100 << 20
GROWTH_LIMIT = 50 << 20


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


class Peak:
    """The process's resident set at its highest while a load runs: the kernel's high-water
    mark reset before it (``clear_refs``), and sampled too in case the reset is not allowed."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before = status_kib(pid, "VmRSS") << 10
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        self.sampled = self.before
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(0.01):
            self.sampled = max(self.sampled, status_kib(self.pid, "VmRSS") << 10)

    def stop(self) -> int:
        self._done.set()
        self._thread.join()
        high = status_kib(self.pid, "VmHWM") << 10
        return max(self.sampled, high) - self.before


@pytest.fixture
def operator(tmp_path: Path) -> Iterator[DemoNode]:
    node = DemoNode("operator", tmp_path, {"TRUSTSPACE_ROLE": "operator",
                                           "TRUSTSPACE_CRAWL_INTERVAL": "0"})  # fmt: skip
    node.start([])
    node.wait_ready()
    yield node
    node.stop()
    print(f"--- operator log ---\n{node.log_text()}")


def concurrently(n: int, job: Callable[[int], None]) -> None:
    threads = [threading.Thread(target=job, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)


def test_four_hundred_mb_bodies_at_once_do_not_grow_the_operator(operator: DemoNode) -> None:
    url = operator.url + "/operator/applications"
    pid = operator.proc.pid if operator.proc else 0
    with httpx.Client() as http:  # warm up: imports, pools, the first connection
        assert http.post(url, json={"application": "x"}).status_code == 400

    declared: list[int] = []
    peak = Peak(pid)

    def send_declared(i: int) -> None:
        with httpx.Client(timeout=60) as http:
            declared.append(http.post(url, content=b"a" * BODY).status_code)

    concurrently(4, send_declared)
    grew_declared = peak.stop()

    chunked: list[int] = []
    sent = [0] * 4
    peak = Peak(pid)

    def send_chunked(i: int) -> None:
        def body() -> Iterator[bytes]:
            piece = b"c" * (64 << 10)
            for _ in range(BODY // len(piece)):
                sent[i] += len(piece)
                yield piece

        with httpx.Client(timeout=60) as http:
            chunked.append(http.post(url, content=body()).status_code)

    concurrently(4, send_chunked)
    grew_chunked = peak.stop()

    print(f"RSS before {peak.before >> 20} MiB; growth with 4 x 100 MB declared:"
          f" {grew_declared / 2**20:.1f} MiB, chunked: {grew_chunked / 2**20:.1f} MiB;"
          f" chunked bytes sent before the close: {[s >> 20 for s in sent]} MiB")  # fmt: skip
    assert declared == [413] * 4 and chunked == [413] * 4
    assert grew_declared < GROWTH_LIMIT and grew_chunked < GROWTH_LIMIT
    assert max(sent) < BODY // 4  # the node closed each connection long before the end
    with httpx.Client() as http:
        assert http.get(operator.url + "/operator/keys").status_code == 200
        assert http.post(url, json={"application": "x"}).status_code == 400
