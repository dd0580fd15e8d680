"""A data buyer's pages on the ai-lab node of a whole space: finding a product, its page,
asking for access, the agreement, the transfer and its download in a real browser; and the
refusals (another participant's ids, a form without its token, a role without the right)."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.flow import negotiate, start_transfer
from tests.web.portal import PASSWORD, Browser, add_user, check, csrf_of, session, sign_in
from tests.web.space import Space, listed_product, space
from trustspace.products.profile import profile_file
from trustspace.store import certs
from trustspace.store.db import Database

__all__ = ["space"]

THREE_USES = {"permission": [{"action": "use", "constraint": [
    {"leftOperand": "count", "operator": "lteq", "rightOperand": 3}]}]}  # fmt: skip


def _profile(tmp: Path, rows: int = 500) -> dict[str, Any]:
    """The scan of the file :func:`listed_product` writes (the same rows)."""
    path = tmp / "same.csv"
    with path.open("w") as fh:
        fh.write("ward,age,visits\n")
        for i in range(rows):
            fh.write(f"w{i % 7},{20 + i % 60},{i % 9}\n")
    return profile_file(path)


def _product(s: Space, name: str, tmp: Path) -> dict[str, Any]:
    return listed_product(s, name, profile=_profile(tmp), price="100", currency="CNY",
                          policy=THREE_USES, license="CC-BY-4.0")  # fmt: skip


def _rows(node: Any, sql: str, *args: Any) -> list[dict[str, Any]]:
    db = Database(f"sqlite:///{node.dir / 'trustspace.db'}")
    try:
        with db.tx() as tx:
            return [dict(r) for r in tx.all(sql, args)]
    finally:
        db.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_buyer_finds_a_product_gets_access_and_downloads_it(
    space: Space, browser: Browser, lang: str, tmp_path: Path
) -> None:
    name = f"ward-visits-{lang}"
    item = _product(space, name, tmp_path)
    node = space.buyer
    page = browser.page(lang)
    sign_in(page, node, "buyer")

    page.goto(f"{node.url}/portal/search")
    page.fill("#q", f"ward visits {lang}")
    page.select_option("#classification", "general")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_load_state()
    assert "classification=general" in page.url
    link = page.locator("ol.results a", has_text=name)
    assert link.count() == 1, page.content()
    check(page, "buyer-search")

    link.click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == name
    assert item["sha256"] in page.content()
    assert page.locator("[data-chart]").count() == 2  # empty values and distinct values
    assert page.locator("table th[scope=row]", has_text="visits").count() == 1
    terms = page.locator("ul.terms").inner_text()
    assert ("At most 3 downloads" if lang == "en" else "最多下载 3 次") in terms, terms
    check(page, "buyer-dataset")

    page.click(".offer button[type=submit]")
    page.wait_for_load_state()
    assert re.search(r"/portal/negotiations/[^/]+$", page.url), page.url
    page.wait_for_selector('#negotiation-state[data-state="FINALIZED"]', timeout=30_000)
    check(page, "buyer-negotiation")
    negotiation_id = page.url.rsplit("/", 1)[1]
    assert _rows(node, "SELECT state FROM negotiations WHERE id = ?", negotiation_id) == [
        {"state": "FINALIZED"}
    ]
    asked = _rows(node, "SELECT data FROM evidence WHERE kind = 'portal.request-access'"
                  " AND subject = ?", negotiation_id)  # fmt: skip
    assert len(asked) == 1 and item["offerId"] in asked[0]["data"], asked

    page.click("#negotiation-status form button[type=submit]")
    page.wait_for_load_state()
    assert re.search(r"/portal/transfers/[^/]+$", page.url), page.url
    page.wait_for_selector('#transfer-state[data-state="STARTED"]', timeout=30_000)
    page.wait_for_selector("a.download", timeout=10_000)
    check(page, "buyer-transfer")
    transfer_id = page.url.rsplit("/", 1)[1]

    with page.expect_download() as waiting:
        page.click("a.download")
    got = waiting.value
    assert got.suggested_filename == f"{name}.csv"
    assert hashlib.sha256(Path(got.path()).read_bytes()).hexdigest() == item["sha256"]

    page.click("form[action$='/complete'] button")
    page.wait_for_load_state()
    page.wait_for_selector('#transfer-state[data-state="COMPLETED"]', timeout=10_000)
    assert _rows(node, "SELECT state FROM transfers WHERE id = ?", transfer_id) == [
        {"state": "COMPLETED"}
    ]
    kinds = [(r["kind"], r["data"]) for r in _rows(
        node, "SELECT kind, data FROM evidence WHERE subject = ?", transfer_id)]  # fmt: skip
    assert any(k == "portal.download" and '"buyer"' in d for k, d in kinds), kinds
    assert any(k == "portal.transfer-complete" for k, _ in kinds), kinds

    page.goto(f"{node.url}/portal/agreements")
    agreement = page.locator("section.agreement", has_text=item["id"])
    assert agreement.locator(".uses-left").inner_text().replace(" ", "") in (
        "2of3",
        "2/3",
        "剩余2次，共3次",
    )
    check(page, "buyer-agreements")
    page.goto(f"{node.url}/portal/transfers")
    assert page.locator(f"a[href='/portal/transfers/{transfer_id}']").count() == 1
    check(page, "buyer-transfers")
    page.context.close()


@pytest.fixture(scope="module")
def deal(space: Space, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A product the buyer holds an agreement on, with a started transfer (management API)."""
    item = _product(space, "ward-visits-api", tmp_path_factory.mktemp("deal"))
    done = negotiate(space.buyer, space.provider, item["id"])
    started = start_transfer(space.buyer, done["agreementId"])
    with space.provider.client() as p:
        theirs = [t for t in p.call("GET", "/api/transfers") if t["consumerPid"] == started["id"]]
        negs = [x for x in p.call("GET", "/api/negotiations") if x["consumerPid"] == done["id"]]
    add_user(space.provider, "hbuyer", "buyer")
    yield {"item": item, "negotiation": done, "transfer": started,
           "provider_transfer": theirs[0]["id"], "provider_negotiation": negs[0]["id"],
           "provider_agreement": negs[0]["agreementId"]}  # fmt: skip


def _state(node: Any, table: str, pid: str) -> str:
    found = _rows(node, f"SELECT state FROM {table} WHERE id = ?", pid)
    return str(found[0]["state"]) if found else ""


def test_another_participants_ids_are_not_found_and_change_nothing(
    space: Space, deal: dict[str, Any]
) -> None:
    # the hospital holds the provider's side of the same negotiation and transfer
    other = session(space.provider, "hbuyer")
    pid = deal["provider_transfer"]
    for path in (f"/portal/transfers/{pid}", f"/portal/transfers/{pid}/download",
                 f"/portal/negotiations/{deal['provider_negotiation']}"):  # fmt: skip
        assert other.get(path).status_code == 404, path
    token = csrf_of(other)
    before = _state(space.provider, "transfers", pid)
    assert before == "STARTED"
    for action in ("suspend", "complete"):
        answer = other.post(f"/portal/transfers/{pid}/{action}", data={"csrf": token})
        assert answer.status_code == 404
    assert _state(space.provider, "transfers", pid) == before
    count = len(_rows(space.provider, "SELECT id FROM transfers"))
    answer = other.post("/portal/transfers", data={"csrf": token,
                                                   "agreement": deal["provider_agreement"]})  # fmt: skip
    assert answer.status_code == 404
    assert len(_rows(space.provider, "SELECT id FROM transfers")) == count
    # and the buyer's own node knows no id of the hospital's
    buyer = session(space.buyer, "buyer")
    nobody = buyer.get("/portal/datasets", params={"provider": "nobody", "id": "x"})
    assert nobody.status_code == 404
    assert buyer.get(f"/portal/transfers/{pid}").status_code == 404
    assert buyer.get(f"/portal/transfers/{deal['transfer']['id']}").status_code == 200


def test_a_form_without_its_token_is_refused_and_changes_nothing(
    space: Space, deal: dict[str, Any]
) -> None:
    buyer = session(space.buyer, "buyer")
    negotiations = len(_rows(space.buyer, "SELECT id FROM negotiations"))
    transfers = len(_rows(space.buyer, "SELECT id FROM transfers"))
    tid = deal["transfer"]["id"]
    sent = [
        ("/portal/negotiations", {"provider": "hospital", "dataset": deal["item"]["id"],
                                  "offer": deal["item"]["offerId"]}),
        ("/portal/transfers", {"agreement": deal["negotiation"]["agreementId"]}),
        (f"/portal/transfers/{tid}/suspend", {}),
    ]  # fmt: skip
    for path, form in sent:
        for token in (None, "", "not-the-token"):
            data = form if token is None else {**form, "csrf": token}
            answer = buyer.post(path, data=data)
            assert answer.status_code == 403, (path, answer.text)
    assert len(_rows(space.buyer, "SELECT id FROM negotiations")) == negotiations
    assert len(_rows(space.buyer, "SELECT id FROM transfers")) == transfers
    assert _state(space.buyer, "transfers", tid) == "STARTED"
    # with the token the same suspend works, and resume brings it back
    token = csrf_of(buyer)
    assert buyer.post(f"/portal/transfers/{tid}/suspend", data={"csrf": token}).status_code == 303
    assert _state(space.buyer, "transfers", tid) == "SUSPENDED"
    stopped = buyer.get(f"/portal/transfers/{tid}/download")
    assert stopped.status_code in (400, 403) and "STARTED" in stopped.text
    assert buyer.post(f"/portal/transfers/{tid}/resume", data={"csrf": token}).status_code == 303


def test_a_provider_only_person_may_not_open_the_buyers_pages(
    space: Space, deal: dict[str, Any]
) -> None:
    steward = session(space.provider, "steward")
    for path in ("/portal/search", "/portal/agreements", "/portal/transfers",
                 f"/portal/datasets?provider=hospital&id={deal['item']['id']}",
                 f"/portal/transfers/{deal['provider_transfer']}"):  # fmt: skip
        assert steward.get(path).status_code == 403, path
    count = len(_rows(space.provider, "SELECT id FROM negotiations"))
    answer = steward.post("/portal/negotiations", data={
        "csrf": csrf_of(steward), "provider": "hospital", "dataset": deal["item"]["id"],
        "offer": deal["item"]["offerId"]})  # fmt: skip
    assert answer.status_code == 403
    assert len(_rows(space.provider, "SELECT id FROM negotiations")) == count


def test_a_download_streams_the_file_with_its_name(space: Space, deal: dict[str, Any]) -> None:
    buyer = session(space.buyer, "buyer")
    tid = deal["transfer"]["id"]
    with buyer.stream("GET", f"/portal/transfers/{tid}/download") as answer:
        assert answer.status_code == 200
        assert answer.headers["content-disposition"].startswith("attachment;")
        assert "ward-visits-api.csv" in answer.headers["content-disposition"]
        body = b"".join(answer.iter_bytes())
    assert hashlib.sha256(body).hexdigest() == deal["item"]["sha256"]
    assert isinstance(buyer, httpx.Client)


def test_a_version_of_several_files_is_downloaded_file_by_file(
    space: Space, deal: dict[str, Any], tmp_path: Path
) -> None:
    paths = []
    for name, rows in (("wards.csv", 5), ("visits.csv", 9)):
        path = tmp_path / name
        path.write_text("n\n" + "".join(f"{i}\n" for i in range(rows)))
        paths.append(path)
    with space.provider.client() as p:
        item = p.call("POST", "/api/datasets", {"paths": [str(x) for x in paths],
                                                "title": "two files"})  # fmt: skip
    done = negotiate(space.buyer, space.provider, item["id"])
    started = start_transfer(space.buyer, done["agreementId"])
    buyer = session(space.buyer, "buyer")
    page = buyer.get(f"/portal/transfers/{started['id']}")
    assert page.status_code == 200
    links = re.findall(r'href="(/portal/transfers/[^"]+/download\?file=[^"]+)"', page.text)
    assert sorted(links) == sorted(
        f"/portal/transfers/{started['id']}/download?file={x.name}" for x in paths
    )
    for path in paths:
        answer = buyer.get(f"/portal/transfers/{started['id']}/download",
                           params={"file": path.name})  # fmt: skip
        assert answer.status_code == 200, answer.text
        assert path.name in answer.headers["content-disposition"]
        assert answer.content == path.read_bytes()
    whole = buyer.get(f"/portal/transfers/{started['id']}/download")
    assert whole.status_code == 409 and "several files" in whole.text


def test_the_dataset_page_shows_the_registration_certificate_the_provider_collected(
    space: Space, deal: dict[str, Any]
) -> None:
    # The provider collects the certificates of its listed versions at each operator refresh
    # (0.5 s here), as it does its trade certificates; nothing is written in by the test.
    deadline = time.monotonic() + 20
    while True:
        db = Database(f"sqlite:///{space.provider.dir / 'trustspace.db'}")
        try:
            with db.tx() as tx:
                held = [c for c in certs.held(tx) if c["kind"] == "registration"]
        finally:
            db.close()
        if any(c["subject"] == deal["item"]["id"] for c in held):
            break
        assert time.monotonic() < deadline, held
        time.sleep(0.2)
    buyer = session(space.buyer, "buyer")
    page = buyer.get("/portal/datasets", params={"provider": space.provider.dsp,
                                                 "id": deal["item"]["id"]})  # fmt: skip
    assert page.status_code == 200, page.text
    assert "Registration certificate" in page.text
    assert 'state-valid">verified' in page.text
    assert deal["item"]["sha256"] in page.text and "operator" in page.text


def test_search_results_come_in_pages_with_previous_and_next(
    space: Space, deal: dict[str, Any], tmp_path: Path
) -> None:
    _product(space, "ward-visits-paged", tmp_path)  # with the deal's: two products match
    buyer = session(space.buyer, "buyer")
    first = buyer.get("/portal/search", params={"q": "ward visits", "limit": "1"})
    assert first.status_code == 200
    shown = re.findall(r"<h3><a href=\"[^\"]+\">([^<]+)</a></h3>", first.text)
    assert len(shown) == 1 and 'rel="prev"' not in first.text
    after = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert after, first.text
    second = buyer.get(after.group(1).replace("&amp;", "&"))
    again = re.findall(r"<h3><a href=\"[^\"]+\">([^<]+)</a></h3>", second.text)
    assert len(again) == 1 and again != shown and 'rel="prev"' in second.text
    priced = buyer.get("/portal/search", params={"q": "ward visits", "maxPrice": "50"})
    assert "ward-visits" not in priced.text  # every product here costs 100 CNY


def test_a_refused_request_shows_its_reason(space: Space, deal: dict[str, Any]) -> None:
    us_only = {"permission": [{"action": "use", "constraint": [
        {"leftOperand": "spatial", "operator": "eq", "rightOperand": "US"}]}]}  # fmt: skip
    with space.provider.client() as p:
        item = p.call("POST", "/api/datasets", {"path": str(space.root / "ward-visits-api.csv"),
                                                "title": "US only", "policy": us_only})  # fmt: skip
    buyer = session(space.buyer, "buyer")
    page = buyer.get("/portal/datasets", params={"provider": "hospital", "id": item["id"]})
    assert "Consumers in: the United States (US)" in page.text
    answer = buyer.post("/portal/negotiations", data={
        "csrf": csrf_of(buyer, "/portal/agreements"), "provider": "hospital",
        "dataset": item["id"], "offer": item["offerId"]})  # fmt: skip
    assert answer.status_code == 303
    where = answer.headers["location"]
    deadline = time.monotonic() + 30
    while True:
        shown = buyer.get(where)
        if 'data-state="TERMINATED"' in shown.text:
            break
        assert 'data-state="FINALIZED"' not in shown.text
        assert time.monotonic() < deadline, shown.text
        time.sleep(0.3)
    ended = re.search(r'<p class="error">([^<]+)</p>', shown.text)
    assert ended and "The request ended:" in ended.group(1) and "no reason" not in ended.group(1)
    assert "hx-get" not in shown.text  # no more polling once it ended


def test_the_pages_work_without_javascript(
    space: Space, browser: Browser, deal: dict[str, Any]
) -> None:
    context = browser.browser.new_context(java_script_enabled=False, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{space.buyer.url}/portal/login")
    page.fill("#username", "buyer")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit].primary")
    page.goto(f"{space.buyer.url}/portal/search?q=ward+visits+api")
    page.click("ol.results a")
    page.click(".offer button[type=submit]")
    deadline = time.monotonic() + 30
    while page.locator('#negotiation-state[data-state="FINALIZED"]').count() == 0:
        assert time.monotonic() < deadline, page.content()
        page.click("#negotiation-status a[href^='/portal/negotiations/']")  # the plain refresh
    page.click("#negotiation-status form button[type=submit]")
    while page.locator("a.download").count() == 0:
        assert time.monotonic() < deadline, page.content()
        page.click("#transfer-status a[href^='/portal/transfers/']")
    with page.expect_download() as waiting:
        page.click("a.download")
    body = Path(waiting.value.path()).read_bytes()
    assert hashlib.sha256(body).hexdigest() == deal["item"]["sha256"]
    context.close()
