"""The operator client: a directory miss fetches the directory again, rate-limited; a status
list that is not current is fetched again when asked for, rate-limited."""

from __future__ import annotations

import time
from typing import Any

import httpx

from trustspace.services.operators import OperatorClient
from trustspace.trust.credentials import issue_status_list
from trustspace.trust.keys import NodeKey


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class FakeOperator:
    """The operator's public endpoints, counting the calls to each."""

    def __init__(self, clock: Clock) -> None:
        self.key, self.clock = NodeKey.generate(), clock
        self.members: list[dict[str, Any]] = []
        self.calls: dict[str, int] = {}
        self.status_ttl = 60.0

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.calls[path] = self.calls.get(path, 0) + 1
        if path == "/operator/keys":
            key = {"kty": "OKP", "crv": "Ed25519", "x": self.key.public_b64, "kid": self.key.kid}
            return httpx.Response(200, json={"keys": [key]})
        if path == "/operator/status":
            token = issue_status_list(self.key, "space-a", now=self.clock(), ttl=self.status_ttl,
                                      suspended={}, revoked={}, revoked_credentials=[])  # fmt: skip
            return httpx.Response(200, json={"statusList": token})
        return httpx.Response(200, json={"members": self.members})


def client(op: FakeOperator, clock: Clock) -> OperatorClient:
    http = httpx.Client(transport=httpx.MockTransport(op.handle))
    return OperatorClient(http, [("space-a", "http://op")], refresh=3600, clock=clock)


def test_a_new_member_is_found_at_once_and_misses_do_not_hammer_the_operator() -> None:
    clock = Clock()
    op = FakeOperator(clock)
    ops = client(op, clock)
    ops.refresh()
    assert op.calls["/operator/members"] == 1
    op.members.append({"participantId": "lab", "dspUrl": "http://lab/dsp", "region": "CN",
                       "sector": "research", "roles": ["consumer"]})  # fmt: skip
    found = ops.by_address("http://lab/dsp/")  # approved since the last refresh
    assert found is not None and found["participantId"] == "lab" and found["space"] == "space-a"
    assert op.calls["/operator/members"] == 2
    for _ in range(50):  # typos or an attacker's ids: one fetch per interval, not one each
        assert ops.by_address("http://nobody/dsp") is None
        assert ops.member("nobody") is None
    assert op.calls["/operator/members"] == 2  # the miss just before already fetched
    clock.now += 2.5
    for _ in range(50):
        assert ops.member("nobody") is None
    assert op.calls["/operator/members"] == 3
    assert ops.member("lab") is not None and op.calls["/operator/members"] == 3  # a hit: no fetch
    assert ops.directories() == "space-a's directory"


def test_an_expired_status_list_is_fetched_again_when_asked_for() -> None:
    clock = Clock()
    op = FakeOperator(clock)
    ops = client(op, clock)
    ops.refresh()
    assert ops.status("space-a") is not None and op.calls["/operator/status"] == 1
    clock.now += 61  # the list expired; the next refresh is an hour away
    assert ops.status("space-a") is not None
    assert op.calls["/operator/status"] == 2
    op.status_ttl = -1  # the operator now serves lists that are already expired
    clock.now += 61
    for _ in range(20):
        assert ops.status("space-a") is None  # fail closed
    assert op.calls["/operator/status"] == 3  # once a second at most
