"""Assessing listings (an assessor member's node) and supervision (the regulator, read-only, on
the operator's node), in a real browser on a whole space, and what neither role may do."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.routing import Route

from tests.e2e.test_operator import DECLARATION, EXAMPLES, _negotiate, reports_for
from tests.web import space as whole_space
from tests.web.portal import Browser, add_user, check, csrf_of, session, sign_in
from tests.web.space import Space, listed_product, members
from trustspace import web
from trustspace.cli.localnode import DemoNode
from trustspace.services import oversight_views as views
from trustspace.store.db import Database
from trustspace.web.page import Portal

ASSESSED = {"en": "assessed", "zh": "已评估"}
VALID = {"en": "VALID", "zh": "有效"}
NOT_VALID = {"en": "NOT VALID", "zh": "无效"}
space = whole_space.space  # the module-scoped space of tests.web.space, for these journeys
REGULATOR_PAGES = ("", "/listings", "/trades", "/cross-border", "/evidence", "/certificates")


def _db(node: DemoNode) -> Database:
    return Database(f"sqlite:///{node.dir / 'trustspace.db'}")


def _head(node: DemoNode) -> tuple[int, str]:
    db = _db(node)
    try:
        with db.tx() as tx:
            row = tx.one("SELECT seq, hash FROM evidence_head WHERE id = 1")
            assert row is not None
            return int(row["seq"]), str(row["hash"])
    finally:
        db.close()


def _evidence(node: DemoNode, kind: str) -> list[dict[str, Any]]:
    db = _db(node)
    try:
        with db.tx() as tx:
            rows = tx.all("SELECT subject, data FROM evidence WHERE kind = ? ORDER BY seq", (kind,))
            return [{"subject": r["subject"], **json.loads(r["data"])} for r in rows]
    finally:
        db.close()


def _listing(s: Space, listing_id: str) -> dict[str, Any]:
    with s.operator.client() as o:
        found: list[dict[str, Any]] = o.call("GET", "/api/operator/listings")
    return next(x for x in found if x["id"] == listing_id)


def submitted_product(s: Space, name: str) -> dict[str, Any]:
    """A CSV product of the hospital, published and submitted for listing (not yet assessed);
    the operator's listing."""
    members(s)
    path = s.root / f"{name.lower().replace(' ', '-')}.csv"
    with path.open("w") as fh:
        fh.write("ward,age,visits\n")
        for i in range(120):
            fh.write(f"w{i % 5},{30 + i % 40},{i % 6}\n")
    with s.provider.client() as p:
        item = p.call("POST", "/api/datasets", {"path": str(path), "title": name,
                                                "declaration": DECLARATION})  # fmt: skip
        listing: dict[str, Any] = p.call("POST", f"/api/datasets/{item['id']}/listing", {})
    assert listing["status"] == "submitted"
    return listing


def _sha(value: Any) -> str:
    return hashlib.sha256(
        json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_assessor_attaches_the_two_reports_in_the_browser(
    space: Space, browser: Browser, lang: str, tmp_path: Path
) -> None:
    listing = submitted_product(space, f"Ward visits {lang}")
    good = reports_for(listing)
    page = browser.page(lang)
    sign_in(page, space.assessor, "auditor")
    page.goto(f"{space.assessor.url}/portal/assess")
    row = page.locator("table tr", has_text=f"Ward visits {lang}")
    assert row.count() == 1
    check(page, "oversight-assess")
    row.locator("a").click()
    page.wait_for_load_state()
    assert page.locator("#listing-dataset").inner_text() == listing["datasetId"]
    assert page.locator("#listing-version-hash").inner_text() == listing["versionHash"]
    check(page, "oversight-assess-listing")

    # A report that does not follow the format: the operator's refusal names the field.
    bad = {**good["complianceReport"], "outcome": "approved"}
    page.fill("#compliance-text", json.dumps(bad))
    page.fill("#quality-text", json.dumps(good["qualityReport"]))
    page.click("#assess-form button[type=submit]")
    page.wait_for_selector("#assess-error", timeout=15000)
    assert "complianceReport.outcome must be one of pass, conditional, fail" in page.inner_text(
        "#assess-error"
    )
    assert _listing(space, listing["id"])["status"] == "submitted"
    assert _listing(space, listing["id"])["assessment"] is None
    check(page, "oversight-assess-refused")

    # The documented examples about this version: one as a file, one pasted.
    compliance = tmp_path / f"compliance-{lang}.json"
    compliance.write_text(json.dumps(good["complianceReport"]))
    page.set_input_files("#compliance-file", str(compliance))
    page.fill("#quality-text", (EXAMPLES / "quality-report.json").read_text())
    page.click("#assess-form button[type=submit]")
    page.wait_for_load_state()
    page.wait_for_selector("p.flash", timeout=15000)
    assert page.inner_text("#listing-status") == ASSESSED[lang]
    check(page, "oversight-assessed")
    page.context.close()

    after = _listing(space, listing["id"])
    assert after["status"] == "assessed"
    assert after["assessment"]["assessor"] == "assessor"
    assert after["assessment"]["complianceReportSha256"] == _sha(good["complianceReport"])
    assert after["assessment"]["qualityReportSha256"] == _sha(good["qualityReport"])
    acts = [e for e in _evidence(space.assessor, "portal.assess-listing")
            if e["subject"] == listing["id"]]  # fmt: skip
    assert [(a["actor"]["user"], a["status"]) for a in acts] == [("auditor", "assessed")]


def _trade(s: Space, dataset_id: str) -> None:
    """The buyer agrees a contract for the dataset; the provider reports it for a certificate."""
    deadline = time.monotonic() + 20
    while True:
        done = _negotiate(s.buyer, s.provider, dataset_id)
        if done["state"] == "FINALIZED" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert done["state"] == "FINALIZED", done
    with s.provider.client() as p:
        p.call("POST", "/api/certificates/trades", {})


def _tamper(token: str) -> str:
    head, body, sig = token.split(".")
    middle = len(body) // 2
    return f"{head}.{body[:middle]}{'A' if body[middle] != 'A' else 'B'}{body[middle + 1 :]}.{sig}"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_regulator_supervises_and_checks_certificates_in_the_browser(
    space: Space, browser: Browser, lang: str
) -> None:
    item = listed_product(space, f"clinic-visits-{lang}")
    _trade(space, item["id"])
    with space.operator.client() as o:
        listed = o.call("GET", "/api/operator/listings?status=listed")
    certificate = next(x for x in listed if x["datasetId"] == item["id"])["certificate"]
    page = browser.page(lang)
    sign_in(page, space.operator, "inspector")
    for suffix in REGULATOR_PAGES[:-1]:
        page.goto(f"{space.operator.url}/portal/regulator{suffix}")
        assert page.locator("main form[method=post]").count() == 0, suffix  # nothing to change
        check(page, f"oversight-regulator{suffix.replace('/', '-')}")
        if suffix == "/listings":
            assert page.locator("#regulator-listings tr", has_text=f"clinic-visits-{lang}").count()
            assert page.locator(".chart[data-chart=chart-sector] svg").count() == 1
        if suffix == "/trades":
            assert page.locator("#regulator-trades tr", has_text=item["id"]).count() == 1
        if suffix == "/cross-border":
            assert page.locator("#cross-border tr", has_text="hospital").count() == 1
        if suffix == "/evidence":
            assert str(_head(space.operator)[0]) in page.inner_text("#evidence-head").replace(
                ",", ""
            )

    page.goto(f"{space.operator.url}/portal/regulator/certificates")
    check(page, "oversight-regulator-certificates")
    before = _head(space.operator)
    page.fill("#certificate", certificate)
    page.click("main form button[type=submit]")
    page.wait_for_selector("#verdict", timeout=15000)
    assert page.inner_text("#verdict").startswith(VALID[lang] + " RegistrationCertificate")
    claims = json.loads(page.inner_text("#claims"))
    assert claims["product"]["dataset"] == item["id"]
    assert claims["product"]["versionHash"] == item["sha256"]
    check(page, "oversight-certificate-valid")

    page.fill("#certificate", _tamper(certificate))
    page.click("main form button[type=submit]")
    page.wait_for_selector("#why", timeout=15000)
    assert page.inner_text("#verdict") == NOT_VALID[lang]
    assert "signature does not verify" in page.inner_text("#why")
    check(page, "oversight-certificate-invalid")
    page.context.close()
    assert _head(space.operator) == before  # checking wrote nothing, not even evidence


def _portal_routes() -> list[Route]:
    """The portal's routes as the app mounts them (built without a node: nothing is called)."""
    portal = Portal(SimpleNamespace(ctx=None), idle=60, absolute=60,  # type: ignore[arg-type]
                    secure_cookies=False, assets=None)  # fmt: skip
    return [r for r in web.routes(portal) if isinstance(r, Route)]


SESSION_ROUTES = {"/portal/login", "/portal/logout"}
CHECKER = "/portal/regulator/certificates"


def test_the_regulator_reaches_no_route_that_changes_anything(space: Space) -> None:
    members(space)
    regulator = session(space.operator, "inspector")
    token = csrf_of(regulator, "/portal/regulator")
    before = _head(space.operator)
    posts = [r for r in _portal_routes() if "POST" in (r.methods or set())]
    assert any(r.path == CHECKER for r in posts)
    assert len(posts) > 3
    for r in posts:
        if r.path in SESSION_ROUTES or r.path == CHECKER:
            continue
        path = r.path.replace("{id}", "urn:uuid:0").replace("{name}", "x")
        answer = regulator.post(path, data={"csrf": token, "reason": "x"})
        assert answer.status_code == 403, (path, answer.status_code)
    # every route of supervision is a GET but the checker, and the checker writes nothing
    mine = [r for r in _portal_routes() if r.path.startswith("/portal/regulator")]
    assert {r.path for r in mine} == {f"/portal/regulator{s}" for s in REGULATOR_PAGES}
    assert [r.path for r in mine if r.methods != {"GET", "HEAD"}] == [CHECKER]
    for suffix in REGULATOR_PAGES:
        assert regulator.get(f"/portal/regulator{suffix}").status_code == 200
    answer = regulator.post(CHECKER, data={"csrf": token, "certificate": "not.a.certificate"})
    assert answer.status_code == 200 and "NOT VALID" in answer.text
    assert _head(space.operator) == before


def test_other_roles_get_403_and_change_nothing(space: Space) -> None:
    listing = submitted_product(space, "Ward roles")
    reports = reports_for(listing)
    form = {"compliance_text": json.dumps(reports["complianceReport"]),
            "quality_text": json.dumps(reports["qualityReport"])}  # fmt: skip
    for username in ("opadmin", "reviewer"):
        other = session(space.operator, username)
        for suffix in REGULATOR_PAGES:
            assert other.get(f"/portal/regulator{suffix}").status_code == 403, (username, suffix)
        answer = other.post(CHECKER, data={"csrf": csrf_of(other), "certificate": "x"})
        assert answer.status_code == 403
    regulator = session(space.operator, "inspector")
    buyer = session(space.buyer, "buyer")
    for person in (regulator, buyer):
        assert person.get("/portal/assess").status_code == 403
        assert person.get(f"/portal/assess/{listing['id']}").status_code == 403
        answer = person.post(f"/portal/assess/{listing['id']}",
                             data={**form, "csrf": csrf_of(person)})  # fmt: skip
        assert answer.status_code == 403
    assert _listing(space, listing["id"])["status"] == "submitted"
    # at the operator, a member that is no assessor reads its own listings only
    read = {"method": "GET", "path": "/operator/listings"}
    with space.buyer.client() as b:
        assert b.call("POST", "/api/operator-call", read) == []
    with space.provider.client() as p:
        own = p.call("POST", "/api/operator-call", read)
    assert listing["id"] in {x["id"] for x in own}
    assert {x["providerId"] for x in own} == {"hospital"}


def test_forms_without_their_csrf_token_are_refused(space: Space) -> None:
    listing = submitted_product(space, "Ward csrf")
    reports = reports_for(listing)
    form = {"compliance_text": json.dumps(reports["complianceReport"]),
            "quality_text": json.dumps(reports["qualityReport"])}  # fmt: skip
    auditor = session(space.assessor, "auditor")
    for sent in (form, {**form, "csrf": "not-the-token"}):
        answer = auditor.post(f"/portal/assess/{listing['id']}", data=sent)
        assert answer.status_code == 403 and "did not come from this portal" in answer.text
    assert _listing(space, listing["id"])["status"] == "submitted"
    regulator = session(space.operator, "inspector")
    answer = regulator.post(CHECKER, data={"certificate": "x"})
    assert answer.status_code == 403
    # with the token the same form works
    answer = auditor.post(f"/portal/assess/{listing['id']}",
                          data={**form, "csrf": csrf_of(auditor, "/portal/assess")})  # fmt: skip
    assert answer.status_code == 303
    assert _listing(space, listing["id"])["status"] == "assessed"


def test_supervision_is_only_on_the_operators_node(space: Space) -> None:
    add_user(space.buyer, "watcher", "regulator")
    watcher = session(space.buyer, "watcher")
    for suffix in REGULATOR_PAGES:
        answer = watcher.get(f"/portal/regulator{suffix}")
        assert answer.status_code == 404 and "not a data space operator" in answer.text


def test_an_unknown_listing_is_not_found(space: Space) -> None:
    members(space)
    auditor = session(space.assessor, "auditor")
    answer = auditor.get("/portal/assess/urn:uuid:00000000-0000-0000-0000-000000000000")
    assert answer.status_code == 404
    answer = auditor.post("/portal/assess/urn:uuid:00000000-0000-0000-0000-000000000000",
                          data={"csrf": csrf_of(auditor), "compliance_text": "{}",
                                "quality_text": "{}"})  # fmt: skip
    assert answer.status_code in (400, 404)
    assert "no listing" in answer.text


def test_cross_border_counters_hold_persons_once_per_product_against_the_thresholds() -> None:
    at = time.mktime((2026, 6, 1, 12, 0, 0, 0, 0, 0))
    people = [
        {"participantId": "cn-hospital", "region": "CN-BJ", "roles": ["provider"]},
        {"participantId": "cn-lab", "region": "CN-SH", "roles": ["consumer"]},
        {"participantId": "de-lab", "region": "DE", "roles": ["consumer"]},
    ]

    def listing(lid: str, dataset: str, persons: int, sensitive: bool) -> dict[str, Any]:
        return {"id": lid, "providerId": "cn-hospital", "datasetId": dataset, "status": "listed",
                "updatedAt": at, "submission": {"piiKinds": ["email"], "persons": persons,
                                                "sensitive": sensitive}}  # fmt: skip

    def trade(dataset: str, lid: str, consumer: str, when: float = at) -> dict[str, Any]:
        return {"provider": "cn-hospital", "consumer": consumer, "dataset": dataset,
                "listing": lid, "issuedAt": when}  # fmt: skip

    listings = [listing("l1", "d1", 80_000, False), listing("l2", "d2", 30_000, True)]
    trades = [trade("d1", "l1", "de-lab"), trade("d1", "l1", "de-lab"),  # counted once
              trade("d2", "l2", "cn-lab"),  # not abroad
              trade("d2", "l2", "de-lab", at - 365 * 86400)]  # another year  # fmt: skip
    (c,) = views.cross_border(trades, listings, people, 2026)
    assert (c.trades, c.persons, c.sensitive, c.level) == (2, 80_000, 0, "below")
    trades.append(trade("d2", "l2", "de-lab"))
    (c,) = views.cross_border(trades, listings, people, 2026)
    assert (c.trades, c.persons, c.sensitive, c.level) == (3, 110_000, 30_000, "assessment")
    assert views.per_month([{"month": "2025-11"}, {"month": "2026-02"}]) == [
        ("2025-11", 1), ("2025-12", 0), ("2026-01", 0), ("2026-02", 1)]  # fmt: skip
