"""Slow and idle clients over real sockets: connections that do not finish their headers (or
their body) in time are answered 408 and closed, the connection limit holds, and a normal request
succeeds afterwards.  Waits are generous socket timeouts; no duration is asserted."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from trustspace.cli.localnode import DemoNode

LIMIT = 20


@pytest.fixture
def node(tmp_path: Path) -> Iterator[DemoNode]:
    n = DemoNode("connector", tmp_path, {"TRUSTSPACE_HEADER_TIMEOUT": "1",
                                         "TRUSTSPACE_BODY_TIMEOUT": "1",
                                         "TRUSTSPACE_MAX_CONNECTIONS": str(LIMIT)})  # fmt: skip
    n.start([])
    n.wait_ready()
    yield n
    n.stop()
    print(f"--- node log ---\n{n.log_text()}")


def connect(node: DemoNode, first: bytes = b"") -> socket.socket:
    s = socket.create_connection(("127.0.0.1", node.port), timeout=30)
    if first:
        s.sendall(first)
    return s


def answer(s: socket.socket) -> tuple[int, bytes]:
    """Read until the server closes; the status and body of what it said (0 if nothing)."""
    data = b""
    try:
        while chunk := s.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    finally:
        s.close()
    if not data:
        return 0, b""
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def healthy(node: DemoNode) -> bool:
    with node.client() as c:
        return bool(c.call("GET", "/api/health")["status"] == "ok")


def test_half_open_connections_are_closed_and_the_limit_holds(node: DemoNode) -> None:
    partial = b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: "
    held = [connect(node, partial) for _ in range(LIMIT)]
    extra = connect(node, partial)
    status, body = answer(extra)  # over the limit: answered at once, before the others time out
    assert status == 503 and "too many connections" in json.loads(body)["error"]
    answers = [answer(s) for s in held]
    assert {a[0] for a in answers} == {408}
    assert "did not arrive within 1 seconds" in json.loads(answers[0][1])["error"]
    assert healthy(node)


def test_idle_and_dripping_connections_are_closed(node: DemoNode) -> None:
    idle = connect(node)
    drip = connect(node, b"G")
    for byte in b"ET /api/health HTTP/1.1\r\nHost: x\r\nX-Drip: " + b"d" * 200:
        try:
            drip.sendall(bytes([byte]))  # bytes keep coming, the deadline does not move
        except OSError:
            break
        time.sleep(0.02)
    assert answer(drip)[0] == 408
    assert answer(idle)[0] == 408
    assert healthy(node)


def test_a_kept_alive_connection_has_the_same_deadline_for_its_next_request(
    node: DemoNode,
) -> None:
    s = connect(node, f"GET /api/health HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {node.key}"
                      "\r\n\r\n".encode())  # fmt: skip
    first = s.recv(65536)
    assert first.startswith(b"HTTP/1.1 200")
    s.sendall(b"GET /api/health HTTP/1.1\r\nHo")  # the next request, never finished
    assert answer(s)[0] == 408


def test_a_header_block_over_the_limit_sent_in_pieces_is_431(node: DemoNode) -> None:
    s = connect(node, b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: ")
    try:
        for _ in range(12):
            s.sendall(b"b" * 8192)
            time.sleep(0.01)
    except OSError:
        pass
    status, body = answer(s)
    assert status == 431 and "at most 65536 bytes" in json.loads(body)["error"]


def test_a_body_that_trickles_is_408_and_the_node_still_answers(node: DemoNode) -> None:
    head = (f"POST /api/datasets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {node.key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 200\r\n\r\n").encode()  # fmt: skip
    s = connect(node, head)
    try:
        for _ in range(100):
            s.sendall(b" ")
            time.sleep(0.05)
    except OSError:
        pass
    status, body = answer(s)
    assert status == 408 and "body did not arrive within 1 seconds" in json.loads(body)["error"]
    with httpx.Client() as http:
        ok = http.post(node.url + "/api/datasets", json={"title": "after"},
                       headers={"Authorization": f"Bearer {node.key}"})  # fmt: skip
    assert ok.status_code == 201, ok.text
