"""Running the space in the portal, on real nodes: a member's admin applies in the browser and
the operator's reviewer decides; the reviewer reads the assessor's reports and lists, rejects or
delists; crawls, checkpoints and the dashboard; and who may do what (the regulator reads only)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.test_operator import DECLARATION, onboard, reports_for, uscc
from tests.web.portal import Browser, add_user, check, csrf_of, session, sign_in
from tests.web.space import Space, space
from trustspace.cli.localnode import DemoNode
from trustspace.store.db import Database

__all__ = ["space"]

APPLICANTS = {"en": ("hospital", "hadmin", "health"), "zh": ("ai-lab", "labadmin", "research")}
"""Per language: the member node onboarded in the browser, its admin, its sector."""


@pytest.fixture(scope="module")
def people(space: Space) -> Space:
    """Besides the space's own people: an admin on ai-lab, a buyer-only person on the operator's
    node and a buyer on ai-lab."""
    add_user(space.buyer, "labadmin", "admin")
    add_user(space.operator, "opbuyer", "buyer")
    return space


def rows(node: DemoNode, sql: str, *args: Any) -> list[dict[str, Any]]:
    db = Database(f"sqlite:///{node.dir / 'trustspace.db'}")
    try:
        with db.tx() as tx:
            return [dict(r) for r in tx.all(sql, args)]
    finally:
        db.close()


def actions(node: DemoNode, kind: str) -> list[dict[str, Any]]:
    """The portal's evidence entries of one kind, with their data."""
    found = rows(node, "SELECT subject, data FROM evidence WHERE kind = ? ORDER BY seq", kind)
    return [{"subject": r["subject"], **json.loads(r["data"])} for r in found]


def member_ids(s: Space) -> dict[str, str]:
    with s.operator.client() as o:
        return {m["participantId"]: m["status"] for m in o.call("GET", "/api/operator/members")}


def ensure_members(s: Space, *nodes: DemoNode) -> None:
    """The nodes a journey needs as members, onboarded through the API if not yet."""
    known = member_ids(s)
    for node in nodes:
        if node.name not in known:
            roles = ["assessor"] if node is s.assessor else ["provider", "consumer"]
            onboard(s.operator, node, roles=roles)


TABLES = ("applications", "members", "listings", "operator_keys", "checkpoints", "certificates")


def state(s: Space) -> dict[str, Any]:
    """What the operator's decisions change: applications, members, listings, keys, checkpoints."""
    return {table: rows(s.operator, f"SELECT * FROM {table} ORDER BY 1") for table in TABLES}


def fill_application(page: Any, node: DemoNode, sector: str) -> None:
    page.fill("#m-legalName", f"{node.name} 数据有限公司")
    page.fill("#m-registrationNumber", uscc("91110108MA01KPGG0"))
    page.fill("#m-region", "CN-BJ")
    page.fill("#m-contact", f"data@{node.name}.example")
    page.select_option("#m-sector", sector)
    page.check("#apply input[name=roles][value=provider]")
    page.check("#apply input[name=roles][value=consumer]")
    page.click("#apply button[type=submit]")
    page.wait_for_load_state()


def application_section(page: Any, participant: str) -> Any:
    return page.locator("section.application", has_text=participant)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_member_applies_and_the_reviewer_decides_in_the_browser(
    people: Space, browser: Browser, lang: str
) -> None:
    s = people
    node, admin, sector = APPLICANTS[lang]
    member = s.provider if node == "hospital" else s.buyer
    applicant = browser.page(lang)
    sign_in(applicant, member, admin)
    applicant.goto(f"{member.url}/portal/membership")
    expect(applicant.locator("h1")).to_have_count(1)
    check(applicant, "operator-membership-new")

    # 1. the application, rejected with a reason the member then sees
    fill_application(applicant, member, sector)
    assert applicant.locator("p.flash").count() == 1, applicant.content()
    expect(applicant.locator("tr.application .state")).to_have_class(re.compile("state-pending"))
    reviewer = browser.page(lang)
    sign_in(reviewer, s.operator, "reviewer")
    reviewer.goto(f"{s.operator.url}/portal/operator/applications")
    mine = application_section(reviewer, node)
    expect(mine).to_have_count(1)
    expect(mine).to_contain_text(f"{node} 数据有限公司")
    expect(mine).to_contain_text(f"data@{node}.example")
    check(reviewer, "operator-applications")
    reason = f"the registration certificate is unreadable ({lang})"
    mine.locator("input[name=reason]").fill(reason)
    mine.locator("button.danger").click()
    reviewer.wait_for_load_state()
    assert reviewer.locator("p.flash").count() == 1
    with s.operator.client() as o:
        (rejected,) = [a for a in o.call("GET", "/api/operator/applications?status=rejected")
                       if a["participantId"] == node]  # fmt: skip
    assert rejected["reason"] == reason
    assert node not in member_ids(s)
    # the member's page follows the decision by itself (it polls while one is pending)
    expect(applicant.locator("tr.application .reason")).to_have_text(reason, timeout=20_000)
    expect(applicant.locator("#apply")).to_be_visible(timeout=20_000)  # the page came back whole
    applicant.wait_for_load_state()
    expect(applicant.locator("tr.application .state")).to_have_class(re.compile("state-rejected"))
    check(applicant, "operator-membership-rejected")

    # 2. applied again, approved: the member's page shows the credential
    fill_application(applicant, member, sector)
    reviewer.goto(f"{s.operator.url}/portal/operator/applications")
    mine = application_section(reviewer, node)
    expect(mine).to_have_count(1)
    mine.locator("button.primary").click()
    reviewer.wait_for_load_state()
    assert reviewer.locator("p.flash").count() == 1
    assert member_ids(s)[node] == "active"
    expect(applicant.locator("tr.credential")).to_have_count(1, timeout=20_000)
    expect(applicant.locator("tr.credential")).to_contain_text("CN-BJ")
    applicant.reload()
    check(applicant, "operator-membership")
    with member.client() as m:
        (held,) = m.call("GET", "/api/membership")["credentials"]
    assert held["operator"] == "operator" and held["claims"]["sector"] == sector
    # who did it is in each node's evidence
    approved = [a for a in actions(s.operator, "portal.operator.application.approve")
                if a["participant"] == node]  # fmt: skip
    assert [a["actor"]["user"] for a in approved] == ["reviewer"]
    applied = actions(member, "portal.membership.apply")
    assert [a["actor"]["user"] for a in applied] == [admin, admin]
    reviewer.goto(f"{s.operator.url}/portal/operator/members")
    expect(reviewer.locator("section.member", has_text=node)).to_have_count(1)
    check(reviewer, "operator-members")
    applicant.context.close()
    reviewer.context.close()


def submitted(s: Space, name: str, *, assess: bool = True) -> dict[str, Any]:
    """A product of the hospital submitted for listing, and assessed (not yet decided)."""
    path = s.root / f"{name}.csv"
    with path.open("w") as fh:
        fh.write("ward,age,visits\n")
        for i in range(200):
            fh.write(f"w{i % 7},{20 + i % 60},{i % 9}\n")
    with s.provider.client() as p:
        item = p.call("POST", "/api/datasets", {"path": str(path), "title": name,
                                                "declaration": DECLARATION,
                                                "keywords": ["visits"]})  # fmt: skip
        listing: dict[str, Any] = p.call("POST", f"/api/datasets/{item['id']}/listing", {})
    if assess:
        with s.assessor.client() as a:
            a.call("POST", "/api/operator-call", {
                "method": "POST", "path": f"/operator/listings/{listing['id']}/assessment",
                "body": reports_for(listing)})  # fmt: skip
    return listing


def provider_view(s: Space, listing_id: str) -> dict[str, Any]:
    """The listing as its provider reads it from the operator."""
    with s.provider.client() as p:
        found: dict[str, Any] = p.call("POST", "/api/operator-call", {
            "method": "GET", "path": f"/operator/listings/{listing_id}"})  # fmt: skip
    return found


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_reviewer_reads_the_reports_and_lists_or_rejects(
    people: Space, browser: Browser, lang: str
) -> None:
    s = people
    ensure_members(s, s.provider, s.assessor)
    good = submitted(s, f"ward-visits-{lang}")
    poor = submitted(s, f"ward-notes-{lang}", assess=False)
    page = browser.page(lang)
    sign_in(page, s.operator, "reviewer")
    page.goto(f"{s.operator.url}/portal/operator/listings")
    row = page.locator("tr.listing", has_text=f"ward-visits-{lang}")
    expect(row).to_have_count(1)
    expect(row.locator(".state")).to_have_class(re.compile("state-assessed"))
    check(page, "operator-listings")

    row.locator("a").click()
    page.wait_for_load_state()
    # the reports, as fields: outcome, five findings, the quality measures
    expect(page.locator("#compliance-outcome")).to_have_class(re.compile("outcome-conditional"))
    findings = page.locator("table.findings tbody tr")
    expect(findings).to_have_count(5)
    expect(findings.nth(4)).to_contain_text("cross-border")
    expect(findings.nth(4).locator(".finding")).to_have_class(re.compile("finding-not-met"))
    expect(page.locator("table.metrics tbody tr")).to_have_count(4)
    expect(page.locator("table.metrics")).to_contain_text("98")
    expect(page.locator("dl.quality")).to_contain_text("200")
    check(page, "operator-listing")
    page.click("form[action$='/approve'] button")
    page.wait_for_load_state()
    assert page.locator("p.flash").count() == 1
    expect(page.locator("#listing-status")).to_have_class(re.compile("state-listed"))
    with s.operator.client() as o:
        (listed,) = [x for x in o.call("GET", "/api/operator/listings?status=listed")
                     if x["id"] == good["id"]]  # fmt: skip
        certificates = o.call("GET", "/api/operator/certificates")
    assert listed["certificate"]
    assert [c["subject"] for c in certificates if c["kind"] == "registration"].count(
        good["id"]
    ) == 1
    assert provider_view(s, good["id"])["status"] == "listed"
    decided = actions(s.operator, "portal.operator.listing.approve")
    assert [d["actor"]["user"] for d in decided if d["subject"] == good["id"]] == ["reviewer"]

    # rejected with a reason: the provider reads that reason from the operator
    page.goto(f"{s.operator.url}/portal/operator/listings?status=submitted")
    page.locator("tr.listing", has_text=f"ward-notes-{lang}").locator("a").click()
    page.wait_for_load_state()
    assert page.locator("form[action$='/approve']").count() == 0  # not assessed: no approval
    reason = f"the collection log does not cover these notes ({lang})"
    page.fill("#reject-reason", reason)
    page.click("form[action$='/reject'] button")
    page.wait_for_load_state()
    expect(page.locator("#listing-status")).to_have_class(re.compile("state-rejected"))
    expect(page.locator("dd.reason")).to_have_text(reason)
    check(page, "operator-listing-rejected")
    seen = provider_view(s, poor["id"])
    assert seen["status"] == "rejected" and seen["reasons"] == [reason]

    # delisted with a reason
    page.goto(f"{s.operator.url}/portal/operator/listings/{good['id']}")
    page.fill("#delist-reason", "withdrawn by the provider")
    page.click("form[action$='/delist'] button")
    page.wait_for_load_state()
    expect(page.locator("#listing-status")).to_have_class(re.compile("state-delisted"))
    assert provider_view(s, good["id"])["reasons"] == ["withdrawn by the provider"]
    page.context.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_crawl_checkpoint_members_and_the_dashboard(
    people: Space, browser: Browser, lang: str
) -> None:
    s = people
    ensure_members(s, s.provider, s.assessor)
    listing = submitted(s, f"ward-beds-{lang}")
    with s.operator.client() as o:
        o.call("POST", f"/api/operator/listings/{listing['id']}/approve", {})
    page = browser.page(lang)
    sign_in(page, s.operator, "reviewer")

    page.goto(f"{s.operator.url}/portal/operator/crawl")
    page.click("form[action$='/operator/crawl'] button")
    page.wait_for_load_state()
    assert page.locator("p.flash").count() == 1
    expect(page.locator("#last-crawl")).to_contain_text("reviewer")
    catalog = rows(s.operator, "SELECT title FROM catalog_entries WHERE provider_id = 'hospital'")
    assert f"ward-beds-{lang}" in {r["title"] for r in catalog}
    expect(page.locator("table", has_text="hospital").last).to_be_visible()
    check(page, "operator-crawl")
    (last, *_) = reversed(actions(s.operator, "portal.crawl"))
    assert last["actor"]["user"] == "reviewer" and last["datasets"] >= 1

    before = len(rows(s.operator, "SELECT seq FROM checkpoints"))
    page.goto(f"{s.operator.url}/portal/operator/checkpoints")
    page.click("form[action$='/operator/checkpoints'] button")
    page.wait_for_load_state()
    assert page.locator("p.flash").count() == 1
    signed = rows(s.operator, "SELECT seq, operator FROM checkpoints ORDER BY seq")
    assert len(signed) == before + 1 and signed[-1]["operator"] == "operator"
    expect(page.locator("tr.checkpoint").first).to_contain_text(f"{signed[-1]['seq']:,}")
    check(page, "operator-checkpoints")

    # suspend with a reason, then reinstate
    page.goto(f"{s.operator.url}/portal/operator/members")
    card = page.locator("section.member", has_text="assessor Co., Ltd.")
    card.locator("form[action$='/suspend'] input[name=reason]").fill("audit overdue")
    card.locator("form[action$='/suspend'] button").click()
    page.wait_for_load_state()
    assert member_ids(s)["assessor"] == "suspended"
    expect(card.locator("dd.reason")).to_have_text("audit overdue")
    check(page, "operator-members-suspended")
    card.locator("form[action$='/reinstate'] button").click()
    page.wait_for_load_state()
    assert member_ids(s)["assessor"] == "active"

    # the dashboard: charts with their tables
    page.goto(f"{s.operator.url}/portal/operator")
    region = page.locator("section[aria-labelledby=h-region] tbody")
    expect(region).to_contain_text("CN-BJ")
    listing_counts = page.locator("section[aria-labelledby=h-listings] tbody tr")
    expect(listing_counts.first).to_be_visible()
    expect(page.locator(".chart svg").first).to_be_attached(timeout=10_000)
    data = json.loads(page.locator("#chart-members-status").text_content())
    assert sum(data["values"]) == len(member_ids(s))
    check(page, "operator-dashboard")
    page.context.close()


def test_the_regulator_reads_every_page_and_changes_nothing(people: Space) -> None:
    s = people
    ensure_members(s, s.provider, s.assessor)
    listing = submitted(s, "ward-regulated")
    inspector = session(s.operator, "inspector")
    pages = ["", "/applications?status=all", "/members", "/listings",
             f"/listings/{listing['id']}", "/crawl", "/checkpoints"]  # fmt: skip
    for path in pages:
        answer = inspector.get(f"/portal/operator{path}")
        assert answer.status_code == 200, (path, answer.text)
        assert 'action="/portal/operator' not in answer.text, path  # no decision forms
    token = csrf_of(inspector, "/portal/operator")
    before = state(s)
    posts = [
        (f"/listings/{listing['id']}/approve", {}),
        (f"/listings/{listing['id']}/reject", {"reason": "no"}),
        ("/members/hospital/suspend", {"reason": "no"}),
        ("/members/hospital/revoke", {"reason": "no"}),
        ("/keys/rotate", {}),
        ("/crawl", {}),
        ("/checkpoints", {}),
        ("/applications/urn:uuid:0/approve", {}),
    ]
    for path, form in posts:
        answer = inspector.post(f"/portal/operator{path}", data={**form, "csrf": token})
        assert answer.status_code == 403, (path, answer.status_code)
    assert state(s) == before
    decisions = rows(s.operator, "SELECT data FROM evidence WHERE kind LIKE 'portal.operator.%'"
                     " OR kind IN ('portal.crawl', 'portal.checkpoint')")  # fmt: skip
    assert not [e for e in decisions if '"inspector"' in e["data"]]


def test_others_are_refused_and_a_form_needs_its_csrf_token(people: Space) -> None:
    s = people
    ensure_members(s, s.provider, s.assessor)
    listing = submitted(s, "ward-guarded")
    before = state(s)
    # a buyer on the operator's node: neither the pages nor the decisions
    buyer = session(s.operator, "opbuyer")
    assert buyer.get("/portal/operator").status_code == 403
    assert buyer.get("/portal/operator/listings").status_code == 403
    assert "/portal/operator" not in buyer.get("/portal").text  # not in the navigation
    answer = buyer.post(f"/portal/operator/listings/{listing['id']}/approve",
                        data={"csrf": csrf_of(buyer)})  # fmt: skip
    assert answer.status_code == 403
    # the reviewer without the form's token
    reviewer = session(s.operator, "reviewer")
    for sent in ({}, {"csrf": ""}, {"csrf": "not-the-token"}):
        answer = reviewer.post(f"/portal/operator/listings/{listing['id']}/approve", data=sent)
        assert answer.status_code == 403, answer.text
        answer = reviewer.post("/portal/operator/members/hospital/revoke",
                               data={**sent, "reason": "x"})  # fmt: skip
        assert answer.status_code == 403
    assert state(s) == before
    # a listing that does not exist is not found, and nothing changes
    token = csrf_of(reviewer, "/portal/operator")
    assert reviewer.get("/portal/operator/listings/urn:uuid:nothing").status_code == 404
    answer = reviewer.post("/portal/operator/listings/urn:uuid:nothing/approve",
                           data={"csrf": token})  # fmt: skip
    assert answer.status_code in (400, 404) and state(s) == before
    # a decision that needs a reason is not taken without one
    answer = reviewer.post(f"/portal/operator/listings/{listing['id']}/reject",
                           data={"csrf": token, "reason": "  "})  # fmt: skip
    assert answer.status_code == 400 and state(s) == before
    # the operator's pages exist on the operator's node only
    hadmin = session(s.provider, "hadmin")
    assert hadmin.get("/portal/operator").status_code == 404
    assert "/portal/operator" not in hadmin.get("/portal").text
    assert "/portal/membership" in hadmin.get("/portal").text
    # the membership page is for the node's admins
    lab_buyer = session(s.buyer, "buyer")
    assert lab_buyer.get("/portal/membership").status_code == 403
    pending_before = (s.buyer.dir / "membership.json").read_text() if (
        s.buyer.dir / "membership.json").exists() else None  # fmt: skip
    answer = lab_buyer.post("/portal/membership/apply", data={
        "csrf": csrf_of(lab_buyer), "operator": "operator", "legalName": "x"})  # fmt: skip
    assert answer.status_code == 403
    after = (s.buyer.dir / "membership.json").read_text() if (
        s.buyer.dir / "membership.json").exists() else None  # fmt: skip
    assert after == pending_before


def test_a_refused_application_shows_the_operators_reason_on_the_form(people: Space) -> None:
    s = people
    labadmin = session(s.buyer, "labadmin")
    before = rows(s.operator, "SELECT id FROM applications")
    answer = labadmin.post("/portal/membership/apply", data={
        "csrf": csrf_of(labadmin, "/portal/membership"), "operator": "operator",
        "legalName": "AI Lab", "registrationNumber": "123", "region": "CN-SH",
        "sector": "research", "contact": "x@ai-lab.example", "roles": ["consumer"]})  # fmt: skip
    assert answer.status_code == 400
    assert (
        "unified social credit code" in answer.text and 'value="AI Lab"' in answer.text
    )  # the form keeps its values
    assert rows(s.operator, "SELECT id FROM applications") == before
