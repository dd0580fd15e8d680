"""2,000 refused unauthenticated requests to a real operator node (DSP, the data plane with bogus
tokens, member-only operator routes), some carrying 40 KB of attacker text, grow its store by a
bounded amount: counted rows per window, text cut, one evidence entry per window, which still
records how many refusals there were."""

from __future__ import annotations

import base64
import json
import random
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from trustspace.cli.localnode import DemoNode

WINDOW = 3.0
ROWS = 20
CLIP = 200  # what the store keeps of each text the caller chose
TOTAL = 2000


def unsigned_token(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'EdDSA', 'typ': 'JWT'})}.{part(claims)}.c2ln"


@pytest.fixture
def operator(tmp_path: Path) -> Iterator[DemoNode]:
    node = DemoNode("operator", tmp_path, {"TRUSTSPACE_ROLE": "operator",
                                           "TRUSTSPACE_CRAWL_INTERVAL": "0",
                                           "TRUSTSPACE_REFUSAL_WINDOW": str(WINDOW),
                                           "TRUSTSPACE_REFUSAL_ROWS": str(ROWS)})  # fmt: skip
    node.start([])
    node.wait_ready()
    yield node
    node.stop()
    print(f"--- operator log ---\n{node.log_text()}")


def store(node: DemoNode) -> dict[str, Any]:
    with sqlite3.connect(f"file:{node.dir / 'trustspace.db'}?mode=ro", uri=True) as db:
        refusals = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(count), 0), COUNT(DISTINCT window_start),"
            " COALESCE(SUM(length(surface) + length(issuer) + length(reason)), 0),"
            " COALESCE(MAX(max(length(surface), length(issuer), length(reason))), 0)"
            " FROM refusals"
        ).fetchone()
        per_window = [n for (n,) in db.execute(
            "SELECT COUNT(*) FROM refusals GROUP BY window_start")]  # fmt: skip
        evidence = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(length(data) + length(subject)), 0) FROM evidence"
        ).fetchone()
        summaries = [json.loads(d) for (d,) in db.execute(
            "SELECT data FROM evidence WHERE kind = 'refusals' ORDER BY seq")]  # fmt: skip
        kinds = {k for (k,) in db.execute("SELECT DISTINCT kind FROM evidence")}
    return {"rows": refusals[0], "count": refusals[1], "windows": refusals[2],
            "text": refusals[3], "longest": refusals[4], "per_window": per_window,
            "evidence": evidence[0], "evidence_bytes": evidence[1], "summaries": summaries,
            "kinds": kinds}  # fmt: skip


def refused_requests(node: DemoNode, rng: random.Random) -> Iterator[tuple[str, str, str]]:
    """(method, url, Authorization) of TOTAL requests that are refused before anyone is known:
    junk and forged tokens, bogus transfer ids, some with 40 KB of attacker text."""
    attack = "A" * (40 << 10)
    for i in range(TOTAL):
        kind = i % 5
        if kind == 0:
            token = unsigned_token({"iss": f"mallory-{rng.randrange(10**6)}", "sub": "x"})
            yield "POST", node.dsp + "/catalog/request", f"Bearer {token}"
        elif kind == 1:
            long = i % 50 == 1
            token = unsigned_token({"iss": attack}) if long else f"junk-{i}"
            yield "GET", node.url + "/operator/catalog/search?q=x", f"Bearer {token}"
        elif kind == 2:
            transfer = attack if i % 50 == 2 else f"urn:uuid:bogus-{i}"
            yield "GET", f"{node.url}/data/{transfer}", f"Bearer bogus-{i}"
        elif kind == 3:
            yield "POST", node.url + "/operator/checkpoints", f"Bearer {attack[: 1000 + i]}"
        else:
            listing = attack if i % 50 == 4 else f"l-{i}"
            yield "GET", f"{node.url}/operator/listings/{listing}", "Basic " + "x" * (i % 300)


def test_refusals_grow_the_store_by_a_bounded_amount(operator: DemoNode) -> None:
    before = store(operator)
    statuses: dict[int, int] = {}
    with httpx.Client(timeout=30) as http:
        for method, url, authorization in refused_requests(operator, random.Random(7)):
            status = http.request(method, url, headers={"Authorization": authorization}).status_code
            statuses[status] = statuses.get(status, 0) + 1
    assert statuses == {401: TOTAL}

    # Wait (no time is asserted) until every window has closed and has its summary.
    deadline = time.monotonic() + 60
    after = store(operator)
    while sum(s["refusals"] for s in after["summaries"]) < TOTAL and time.monotonic() < deadline:
        time.sleep(0.5)
        after = store(operator)

    windows = after["windows"] - before["windows"]
    print(f"{TOTAL} refusals over {windows} windows of {WINDOW:g} s: refusal rows"
          f" {before['rows']} -> {after['rows']} ({after['text'] - before['text']} bytes of text),"
          f" evidence entries {before['evidence']} -> {after['evidence']}"
          f" (+{after['evidence_bytes'] - before['evidence_bytes']} bytes)")  # fmt: skip
    assert after["count"] - before["count"] == TOTAL  # every refusal is counted
    assert max(after["per_window"]) <= ROWS + 1  # at most the cap and one overflow row
    assert after["longest"] <= CLIP
    assert after["text"] - before["text"] <= windows * (ROWS + 1) * 3 * CLIP
    # Evidence: one summary per window, nothing per refusal, and the counts add up.
    assert after["evidence"] - before["evidence"] == windows == len(after["summaries"])
    assert after["kinds"] <= {"refusals"} | before["kinds"]
    assert sum(s["refusals"] for s in after["summaries"]) == TOTAL
    assert all(s["rows"] <= ROWS + 1 for s in after["summaries"])
    assert any(s["overflow"] > 0 for s in after["summaries"])  # distinct junk hit the cap

    with operator.client() as c:
        listed = c.call("GET", "/api/auth-failures")
    assert listed and all(isinstance(f["count"], int) and f["count"] >= 1 for f in listed)
    assert any(f["path"] == "/operator/checkpoints" and f["count"] > 1 for f in listed)
    assert any(f["path"] == "data" and f["reason"] == "unknown transfer or token" for f in listed)
