"""An HTTP API as a data product: consumers call it through the provider's data plane.

A real backend (``http.server`` on loopback) stands behind a real provider node; the consumer
negotiates, starts a transfer and calls the API with ``trustspace call``.  The backend's address
and credential never reach the consumer, each call is checked against the agreement, and a call
cannot leave the API's base path.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Space, make_space
from tests.e2e.flow import negotiate, start_transfer
from tests.e2e.test_listing import cli
from trustspace.services.catalog import API_KEY


class Backend:
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append({"path": self.path, "headers": dict(self.headers)})
                if self.path.startswith("/v1/broken"):
                    self.send_response(500)
                    self.end_headers()
                    return
                if not self.path.startswith("/v1/stations"):
                    self.send_response(404)
                    body = b'{"error": "no such resource"}'
                else:
                    self.send_response(200)
                    body = json.dumps({"path": self.path, "stations": ["S1", "S2"]}).encode()
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
                answer = json.dumps({"path": self.path, "got": json.loads(body),
                                     "type": self.headers.get("Content-Type")}).encode()  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def backend() -> Iterator[Backend]:
    b = Backend()
    yield b
    b.server.shutdown()
    b.server.server_close()


@pytest.fixture
def api_space(tmp_path: Path) -> Iterator[Space]:
    s = make_space(tmp_path, provider_env={"WEATHER_TOKEN": "Bearer backend-secret"})
    yield s
    for node in s.nodes():
        node.stop()
    for node in s.nodes():
        print(f"--- {node.name} log ---\n{node.log_text()}")


def test_an_api_product_is_called_through_the_data_plane(
    api_space: Space, backend: Backend, tmp_path: Path
) -> None:
    space = api_space
    added = cli(space.provider, "product", "api", backend.url, "--title", "Weather stations",
                "--auth-env", "WEATHER_TOKEN", "--version", "v1")  # fmt: skip
    assert added.returncode == 0, added.stdout + added.stderr
    product = json.loads(added.stdout)

    with space.consumer.client() as c:
        catalog = c.call("POST", "/api/catalog", {"address": space.provider.dsp})
    (entry,) = [d for d in catalog["dataset"] if d["@id"] == product["id"]]
    assert entry[API_KEY] == {"kind": "http-api", "methods": ["GET"]}
    assert backend.url not in json.dumps(catalog) and "WEATHER_TOKEN" not in json.dumps(catalog)

    neg = negotiate(space.consumer, space.provider, product["id"])
    tp = start_transfer(space.consumer, neg["agreementId"])
    called = cli(space.consumer, "call", tp["id"], "stations?region=CN&limit=2")
    assert called.returncode == 0, called.stdout + called.stderr
    assert json.loads(called.stdout) == {"path": "/v1/stations?region=CN&limit=2",
                                         "stations": ["S1", "S2"]}  # fmt: skip
    (seen,) = backend.seen
    assert seen["headers"]["Authorization"] == "Bearer backend-secret"
    assert tp["authorization"] not in json.dumps(seen)  # the consumer's token stays here

    bearer = {"Authorization": f"Bearer {tp['authorization']}"}
    with httpx.Client() as http:
        missing = http.get(f"{tp['endpoint']}/nothing", headers=bearer)
        assert missing.status_code == 404 and missing.json() == {"error": "no such resource"}
        broken = http.get(f"{tp['endpoint']}/broken", headers=bearer)
        assert broken.status_code == 502 and "answered 500" in broken.json()["error"]
        calls = len(backend.seen)
        for escape in ("%2E%2E/admin", "stations/%2E%2E/%2E%2E/admin", "a//b"):
            refused = http.get(f"{tp['endpoint']}/{escape}", headers=bearer)
            assert refused.status_code == 400, (escape, refused.text)
            assert "plain segments" in refused.json()["error"]
        stranger = http.get(f"{tp['endpoint']}/stations", headers={"Authorization": "Bearer x"})
        assert stranger.status_code == 401
        assert len(backend.seen) == calls  # none of these reached the backend

    with space.consumer.client() as c:
        c.call("POST", f"/api/transfers/{tp['id']}/terminate", {"reason": "done"})
    with space.provider.client() as p:
        p.wait(f"/api/transfers/{tp['providerPid']}", ["TERMINATED"])
    with httpx.Client() as http:
        after = http.get(f"{tp['endpoint']}/stations", headers=bearer)
    assert after.status_code == 403 and len(backend.seen) == calls


def test_an_unreachable_backend_is_a_502_with_the_reason(api_space: Space) -> None:
    space = api_space
    with space.provider.client() as p:
        product = p.call("POST", "/api/datasets", {
            "title": "gone", "api": {"baseUrl": "http://127.0.0.1:9/v1"}})  # fmt: skip
    neg = negotiate(space.consumer, space.provider, product["id"])
    tp = start_transfer(space.consumer, neg["agreementId"])
    called = cli(space.consumer, "call", tp["id"], "stations")
    assert called.returncode != 0 and "HTTP 502" in called.stderr and "unreachable" in called.stderr


@pytest.mark.parametrize(
    ("api", "reason"),
    [
        ({"baseUrl": "ftp://example.org/x"}, "baseUrl must be an http(s) URL"),
        ({"baseUrl": "http://127.0.0.1/v1?key=1"}, "takes no query"),
        ({"baseUrl": "http://127.0.0.1/v1", "authEnv": "lower case"}, "authEnv names"),
        ({"baseUrl": "http://127.0.0.1/v1", "secret": "x"}, "unknown fields secret"),
    ],
)
def test_bad_api_descriptors_are_refused(
    api_space: Space, api: dict[str, Any], reason: str
) -> None:
    with api_space.provider.client() as p:
        before = p.call("GET", "/api/datasets")
        with pytest.raises(Exception, match=re.escape(reason)):
            p.call("POST", "/api/datasets", {"title": "x", "api": api})
        assert p.call("GET", "/api/datasets") == before


def test_an_api_product_is_files_or_api_not_both(api_space: Space, tmp_path: Path) -> None:
    data = tmp_path / "x.csv"
    data.write_text("a\n1\n")
    with api_space.provider.client() as p, pytest.raises(Exception, match="not both"):
        p.call("POST", "/api/datasets", {"path": str(data), "api": {"baseUrl": "http://h/v1"}})


def test_an_api_that_takes_post(api_space: Space, backend: Backend) -> None:
    space = api_space
    added = cli(space.provider, "product", "api", backend.url, "--title", "Search", "--post",
                "--auth-env", "WEATHER_TOKEN")  # fmt: skip
    assert added.returncode == 0, added.stdout + added.stderr
    product = json.loads(added.stdout)
    get_only = cli(space.provider, "product", "api", backend.url, "--title", "Read only")
    neg = negotiate(space.consumer, space.provider, product["id"])
    tp = start_transfer(space.consumer, neg["agreementId"])
    called = cli(space.consumer, "call", tp["id"], "search?page=2", "--data", '{"q": "rain"}')
    assert called.returncode == 0, called.stdout + called.stderr
    assert json.loads(called.stdout) == {"path": "/v1/search?page=2", "got": {"q": "rain"},
                                         "type": "application/json"}  # fmt: skip
    assert backend.seen[-1]["headers"]["Authorization"] == "Bearer backend-secret"

    bearer = {"Authorization": f"Bearer {tp['authorization']}"}
    calls = len(backend.seen)
    with httpx.Client() as http:
        big = http.post(f"{tp['endpoint']}/search", headers=bearer, content=b"x" * (2 << 20))
        assert big.status_code == 413 and "at most" in big.json()["error"]
    assert len(backend.seen) == calls  # refused before the backend

    other = negotiate(space.consumer, space.provider, json.loads(get_only.stdout)["id"])
    read_only = start_transfer(space.consumer, other["agreementId"])
    with httpx.Client() as http:
        posted = http.post(f"{read_only['endpoint']}/search", content=b"{}",
                           headers={"Authorization": f"Bearer {read_only['authorization']}"})  # fmt: skip
    assert posted.status_code == 405 and posted.json() == {"error": "this API takes GET"}
    assert len(backend.seen) == calls
