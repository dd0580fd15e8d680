"""The outbound seam: every way a call to a peer can fail is one RemoteError, 502 or 504."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from trustspace.services import peers
from trustspace.services.peers import RemoteError


def client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def failing(exc: Exception) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return client(handler)


def answer(status: int, content: bytes | str, **kw: str) -> httpx.Client:
    return client(lambda request: httpx.Response(status, content=content, headers=kw or None))


def test_a_signed_call_carries_the_peers_token_and_the_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    got = peers.call(client(handler), "POST", "http://peer/x", peer_id="p1",
                     authorization=lambda p: f"Bearer for-{p}", body={"a": 1},
                     params={"q": "v"})  # fmt: skip
    assert got == {"ok": True}
    assert seen[0].headers["authorization"] == "Bearer for-p1"
    assert json.loads(seen[0].content) == {"a": 1} and seen[0].url.params["q"] == "v"


def test_an_unsigned_call_carries_no_authorization() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    peers.call(client(handler), "GET", "http://op/operator/keys")
    assert "authorization" not in seen[0].headers


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("connection refused"),
        httpx.RemoteProtocolError("server disconnected"),
        httpx.UnsupportedProtocol("no scheme"),
    ],
)
def test_an_unreachable_peer_is_502(exc: Exception) -> None:
    with pytest.raises(RemoteError) as err:
        peers.call(failing(exc), "GET", "http://peer/x")
    assert err.value.status is None and err.value.http_status == 502
    assert "http://peer/x is unreachable" in err.value.reason and not err.value.refused


@pytest.mark.parametrize(
    "exc", [httpx.ReadTimeout("slow"), httpx.ConnectTimeout("slow"), httpx.PoolTimeout("busy")]
)
def test_a_peer_that_does_not_answer_in_time_is_504(exc: Exception) -> None:
    with pytest.raises(RemoteError) as err:
        peers.call(failing(exc), "GET", "http://peer/x")
    assert err.value.timeout and err.value.http_status == 504
    assert "did not answer in time" in err.value.reason


def test_a_real_socket_that_never_answers_times_out() -> None:
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with httpx.Client(timeout=0.3) as http, pytest.raises(RemoteError) as err:
            peers.call(http, "GET", f"http://127.0.0.1:{port}/x")
    assert err.value.http_status == 504


def test_a_failing_peer_gives_its_status_and_clipped_text() -> None:
    html = "<html>" + "oops " * 1000 + "</html>"
    with pytest.raises(RemoteError) as err:
        peers.call(answer(500, html), "GET", "http://peer/x")
    assert err.value.status == 500 and err.value.http_status == 502
    assert err.value.reason.startswith("http://peer/x answered 500: <html>oops")
    assert len(err.value.detail) <= peers.MAX_TEXT + 3


def test_error_text_comes_from_dsp_reasons_or_error_fields() -> None:
    dsp = json.dumps({"@type": "CatalogError", "code": "x", "reason": ["one", "two"]})
    with pytest.raises(RemoteError) as err:
        peers.call(answer(401, dsp), "POST", "http://peer/x")
    assert err.value.detail == "one; two" and err.value.refused
    with pytest.raises(RemoteError) as err:
        peers.call(answer(409, '{"error": "already"}'), "POST", "http://peer/x")
    assert err.value.reason == "http://peer/x answered 409: already"


@pytest.mark.parametrize("content", [b"not json", b"[1, 2]", b"", b"null", b"[" * 5000])
def test_an_answer_that_is_not_an_object_where_one_is_expected_fails(content: bytes) -> None:
    with pytest.raises(RemoteError) as err:
        peers.call(answer(200, content), "GET", "http://peer/x")
    assert err.value.status == 200 and err.value.http_status == 502
    assert "not a JSON object" in err.value.reason


def test_without_expecting_an_object_any_json_or_nothing_is_returned() -> None:
    assert peers.call(answer(200, b"[1]"), "GET", "http://p/x", expect_object=False) == [1]
    assert peers.call(answer(204, b""), "GET", "http://p/x", expect_object=False) is None


def test_an_answer_past_the_size_bound_is_abandoned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(peers, "MAX_ANSWER", 1000)
    with pytest.raises(RemoteError, match="more than 1000 bytes"):
        peers.call(answer(200, b'{"a": "' + b"x" * 5000 + b'"}'), "GET", "http://peer/x")


def test_a_url_that_is_not_one_is_unreachable() -> None:
    with httpx.Client() as http, pytest.raises(RemoteError) as err:
        peers.call(http, "GET", "http://[not-a-host/x")
    assert err.value.http_status == 502
