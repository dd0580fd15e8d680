"""A peer that is down, slow or failing: every management call that needs it answers 502 (or
504 when the peer accepted but did not answer within ``peer_timeout``) with the reason, never
500, and the node goes on answering."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import make_space
from tests.e2e.flow import negotiate, publish
from trustspace.cli.demo import COMPUTE_RULE
from trustspace.cli.localnode import DemoNode, demo_uscc, free_port
from trustspace.trust.keys import NodeKey

APPLICATION = {"operator": "down", "legalName": "X Co., Ltd.", "registrationNumber": demo_uscc(),
               "region": "CN-BJ", "sector": "health", "contact": "x@example.org",
               "roles": ["consumer"]}  # fmt: skip


class Silent:
    """Accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        for conn in self.held:
            conn.close()
        self.sock.close()


class Broken(BaseHTTPRequestHandler):
    """Answers every request with a 500 page, or 200 with text that is not JSON."""

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        status, body = (200, b"all good!") if "/ok-but-text" in self.path else (
            500, b"<html><body>Internal Server Error" + b" " * 2000 + b"</body></html>")  # fmt: skip
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Peers:
    consumer: DemoNode
    dead: str
    silent: str
    broken: str
    text: str


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[Peers]:
    silent, broken = Silent(), ThreadingHTTPServer(("127.0.0.1", 0), Broken)
    threading.Thread(target=broken.serve_forever, daemon=True).start()
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    addresses = {"dead": f"{dead}/dsp/2025-1", "silent": f"http://127.0.0.1:{silent.port}/dsp",
                 "broken": f"http://127.0.0.1:{broken.server_port}/dsp",
                 "text": f"http://127.0.0.1:{broken.server_port}/ok-but-text/dsp"}  # fmt: skip
    key = NodeKey.generate().public_b64
    operators = ",".join(f"{name}={address.rsplit('/dsp', 1)[0]}"
                         for name, address in addresses.items())  # fmt: skip
    consumer = DemoNode("consumer", tmp_path, {"TRUSTSPACE_PEER_TIMEOUT": "1",
                                               "TRUSTSPACE_OPERATORS": operators})  # fmt: skip
    consumer.start([{"id": name, "public_key": key, "address": address}
                    for name, address in addresses.items()])  # fmt: skip
    try:
        consumer.wait_ready()
        yield Peers(consumer, addresses["dead"], addresses["silent"], addresses["broken"],
                    addresses["text"])  # fmt: skip
    finally:
        consumer.stop()
        silent.close()
        broken.shutdown()
        broken.server_close()
        print(f"--- consumer log ---\n{consumer.log_text()}")


def call(node: DemoNode, method: str, path: str, body: Any = None) -> httpx.Response:
    with httpx.Client(timeout=30) as http:
        return http.request(method, node.url + path, json=body,
                            headers={"Authorization": f"Bearer {node.key}"})  # fmt: skip


def calls_to(address: str, operator: str, dataset: str) -> list[tuple[str, str, Any]]:
    """Every management call that needs the peer at ``address`` (a connector that is also
    configured as the operator ``operator``)."""
    return [
        ("POST", "/api/catalog", {"address": address}),
        ("POST", "/api/negotiations", {"address": address, "datasetId": "urn:x"}),
        ("POST", "/api/search", {"operator": operator, "q": "x"}),
        (
            "POST",
            "/api/operator-call",
            {"operator": operator, "method": "GET", "path": "/operator/listings/x"},
        ),
        ("POST", "/api/membership/apply", {**APPLICATION, "operator": operator}),
        ("POST", f"/api/datasets/{dataset}/listing", {"operator": operator}),
    ]


def own_dataset(node: DemoNode, tmp_path: Path) -> str:
    (tmp_path / "d.csv").write_text("a\n1\n")
    return str(publish(node, tmp_path / "d.csv")["id"])


def test_a_peer_with_nothing_listening_is_502_with_the_reason(peers: Peers, tmp_path: Path) -> None:
    dataset = own_dataset(peers.consumer, tmp_path)
    for method, path, body in calls_to(peers.dead, "dead", dataset):
        r = call(peers.consumer, method, path, body)
        assert r.status_code == 502, (path, r.text)
        assert "is unreachable" in r.json()["error"] and "127.0.0.1" in r.json()["error"], path
    assert call(peers.consumer, "GET", "/api/health").status_code == 200


def test_a_peer_that_accepts_but_never_answers_is_504(peers: Peers, tmp_path: Path) -> None:
    dataset = own_dataset(peers.consumer, tmp_path)
    for method, path, body in calls_to(peers.silent, "silent", dataset):
        r = call(peers.consumer, method, path, body)
        assert r.status_code == 504, (path, r.text)
        assert "did not answer in time" in r.json()["error"], path
    assert call(peers.consumer, "GET", "/api/health").status_code == 200


def test_a_failing_peer_is_502_with_its_status_and_clipped_text(
    peers: Peers, tmp_path: Path
) -> None:
    dataset = own_dataset(peers.consumer, tmp_path)
    for method, path, body in calls_to(peers.broken, "broken", dataset):
        r = call(peers.consumer, method, path, body)
        assert r.status_code == 502, (path, r.text)
        error = r.json()["error"]
        assert "answered 500: <html><body>Internal Server Error" in error, path
        assert len(error) < 600, path
    for method, path, body in calls_to(peers.text, "text", dataset)[:3]:
        r = call(peers.consumer, method, path, body)
        assert r.status_code == 502, (path, r.text)
        assert "answered no JSON, not a JSON object" in r.json()["error"], path


def test_a_provider_that_stopped_is_502_for_catalog_negotiation_and_compute(
    tmp_path: Path,
) -> None:
    space = make_space(tmp_path, consumer_env={"TRUSTSPACE_PEER_TIMEOUT": "2"})
    try:
        data = tmp_path / "t.csv"
        data.write_text("machine_id,plant,temperature\n" + "".join(
            f"m{i},p{i % 3},{60 + i % 7}\n" for i in range(60)))  # fmt: skip
        product = publish(space.provider, data, formats=["Compute-SQL"], computeRule=COMPUTE_RULE)
        agreement = negotiate(space.consumer, space.provider, product["id"])["agreementId"]
        space.provider.stop()
        for method, path, body in [
            ("POST", "/api/catalog", {"address": space.provider.dsp}),
            (
                "POST",
                "/api/negotiations",
                {"address": space.provider.dsp, "datasetId": product["id"]},
            ),
            (
                "POST",
                "/api/compute/jobs",
                {"agreementId": agreement, "query": "SELECT COUNT(*) FROM readings"},
            ),
        ]:
            r = call(space.consumer, method, path, body)
            assert r.status_code == 502, (path, r.text)
            assert "is unreachable" in r.json()["error"], path
    finally:
        for node in space.nodes():
            node.stop()
        for node in space.nodes():
            print(f"--- {node.name} log ---\n{node.log_text()}")
