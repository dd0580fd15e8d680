"""Compute-to-data in the portal, on real nodes over loopback: a buyer tries a query on mock
data, submits it, follows the job to its released table and sees the privacy budget left, and
sees a refused query's reason with the clause it names; provider staff approve and reject
jobs waiting for review.  Roles, CSRF and other participants' jobs are checked over HTTP."""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.flow import negotiate, publish
from tests.web.portal import Browser, add_user, check, csrf_of, session, sign_in
from trustspace.cli.localnode import DemoNode

FINAL = ("RELEASED", "REFUSED", "REJECTED", "FAILED")
DP_RULE = {
    "table": "visits",
    "entity": "patient_id",
    "columns": {"ward": ["group"], "age": ["filter"], "amount": ["aggregate"]},
    "aggregates": ["count", "sum"],
    "minGroupSize": 5,
    "maxRows": 100,
    "dp": {"epsilonPerQuery": 1.0, "budget": 5.0, "bounds": {"amount": [0, 1000]}},
}
REVIEW_RULE = {
    "table": "visits",
    "entity": "patient_id",
    "columns": {"ward": ["group"], "age": ["filter"], "amount": ["aggregate"]},
    "aggregates": ["count", "sum", "avg"],
    "minGroupSize": 5,
    "approval": "manual",
    "thresholdOnly": {"reason": "ward totals are published yearly"},
}
GOOD = "SELECT ward, COUNT(*) AS n FROM visits GROUP BY ward ORDER BY ward"
TOTAL = "SELECT COUNT(*) AS n, SUM(amount) AS total FROM visits"
REFUSED = "SELECT COUNT(*) AS n FROM visits WHERE patient_id = 7"
SERIAL = itertools.count()


@dataclass
class Lab:
    provider: DemoNode  # hospital: steward (provider), hbuyer (buyer)
    consumer: DemoNode  # ai-lab: buyer (buyer)
    other: DemoNode  # clinic: cbuyer (buyer), another consumer of the hospital
    root: Path

    def nodes(self) -> tuple[DemoNode, ...]:
        return (self.provider, self.consumer, self.other)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("compute")
    made = Lab(DemoNode("hospital", root), DemoNode("ai-lab", root), DemoNode("clinic", root), root)
    entries = [n.entry() for n in made.nodes()]
    for node in made.nodes():
        node.start([e for e in entries if e["id"] != node.name])
    for node in made.nodes():
        node.wait_ready()
    add_user(made.provider, "steward", "provider")
    add_user(made.provider, "hbuyer", "buyer")
    add_user(made.consumer, "buyer", "buyer")
    add_user(made.other, "cbuyer", "buyer")
    yield made
    for node in made.nodes():
        node.stop()
    for node in made.nodes():  # shown by pytest only when a test fails
        print(f"--- {node.name} log ---\n{node.log_text()}")


def _product(lab: Lab, rule: dict[str, Any], rows: int = 2000) -> str:
    """A new compute product of the hospital (its one file is the rule's table)."""
    folder = lab.root / f"product-{next(SERIAL)}"
    folder.mkdir()
    path = folder / "visits.csv"
    with path.open("w") as fh:
        fh.write("patient_id,ward,age,amount\n")
        for i in range(rows):
            ward = "icu" if i == 7 else f"ward-{i % 5}"
            fh.write(f"{i},{ward},{20 + i % 60},{(i % 97) * 10}\n")
    return str(publish(lab.provider, path, computeRule=rule)["id"])


def _agreement(lab: Lab, dataset_id: str, consumer: DemoNode | None = None) -> str:
    neg = negotiate(consumer or lab.consumer, lab.provider, dataset_id)
    assert neg["state"] == "FINALIZED", neg
    return str(neg["agreementId"])


def _rows(node: DemoNode, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(node.dir / "trustspace.db")
    try:
        return [tuple(r) for r in db.execute(sql, params).fetchall()]
    finally:
        db.close()


def _jobs(node: DemoNode, agreement_id: str) -> list[tuple[Any, ...]]:
    return _rows(node, "SELECT id, role, state, reason FROM compute_jobs WHERE agreement_id = ?"
                 " ORDER BY created_at", (agreement_id,))  # fmt: skip


def _evidence(node: DemoNode, kind: str, subject: str) -> list[dict[str, Any]]:
    found = _rows(node, "SELECT data FROM evidence WHERE kind = ? AND subject = ?",
                  (kind, subject))  # fmt: skip
    return [json.loads(r[0]) for r in found]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_buyer_tries_submits_and_reads_a_released_result(
    lab: Lab, browser: Browser, lang: str
) -> None:
    from playwright.sync_api import expect

    dataset = _product(lab, DP_RULE)
    agreement = _agreement(lab, dataset)
    page = browser.page(lang)
    sign_in(page, lab.consumer, "buyer")
    page.goto(f"{lab.consumer.url}/portal/compute")
    check(page, "compute-index")
    page.select_option("#agreement", agreement)
    page.click("form[method=get] button[type=submit]")
    page.wait_for_load_state()
    expect(page.locator("#rule-heading")).to_be_visible()
    assert "patient_id" in page.locator(".compute-rule").inner_text()  # the rule, beside
    expect(page.locator(".budget-left")).to_have_text("5")
    check(page, "compute-editor")

    # Trying on mock data: a result from synthetic rows, nothing at the provider, no budget.
    page.fill("#query", TOTAL)
    page.click("#try")
    page.wait_for_load_state()
    mock = page.locator("#mock-result table.result")
    expect(mock.locator("tbody tr td.num")).to_have_count(2)  # one row: n and total
    expect(page.locator("#query")).to_have_value(TOTAL)
    expect(page.locator(".budget-left")).to_have_text("5")
    assert _jobs(lab.provider, agreement) == [] and _jobs(lab.consumer, agreement) == []
    check(page, "compute-mock")

    # Submitting: the job page follows the job until its table is released.
    page.fill("#query", GOOD)
    page.click("#submit")
    page.wait_for_selector("table.result", timeout=90_000)
    expect(page.locator("[data-state]")).to_have_attribute("data-state", "RELEASED")
    released = page.locator("table.result tbody").inner_text()
    assert all(f"ward-{i}" in released for i in range(5)) and "icu" not in released
    expect(page.locator(".budget-left")).to_have_text("4")
    expect(page.locator("div.chart svg").first).to_be_visible()
    check(page, "compute-job")
    [(job_id, _role, state, _reason)] = _jobs(lab.provider, agreement)
    assert state == "RELEASED" and job_id in page.url
    [entry] = _evidence(lab.consumer, "portal.compute-submit", job_id)
    assert entry["actor"]["user"] == "buyer" and entry["agreement"] == agreement

    # A query the guard refuses: the reason as the provider gave it, naming the clause.
    page.goto(f"{lab.consumer.url}/portal/compute?agreement={agreement}")
    page.fill("#query", REFUSED)
    page.click("#submit")
    page.wait_for_load_state()
    expect(page.locator("[data-state]")).to_have_attribute("data-state", "REFUSED")
    refusal = page.locator(".compute-refusal")
    expect(refusal.locator("code.clause")).to_have_text("WHERE")
    expect(refusal.locator(".reason")).to_contain_text(
        "WHERE: column 'patient_id' may not be filtered on"
    )
    check(page, "compute-refused")
    states = sorted(s for _id, _role, s, _r in _jobs(lab.provider, agreement))
    assert states == ["REFUSED", "RELEASED"]
    page.goto(f"{lab.consumer.url}/portal/compute?agreement={agreement}")
    expect(page.locator(".budget-left")).to_have_text("4")  # a refusal spends nothing
    page.context.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_provider_staff_approve_and_reject_jobs_in_review(
    lab: Lab, browser: Browser, lang: str
) -> None:
    from playwright.sync_api import expect

    agreement = _agreement(lab, _product(lab, REVIEW_RULE))
    buyer = session(lab.consumer, "buyer")
    token = csrf_of(buyer, f"/portal/compute?agreement={agreement}")
    for query in (GOOD, "SELECT ward, AVG(amount) AS mean FROM visits GROUP BY ward"):
        sent = buyer.post("/portal/compute/jobs", data={"csrf": token, "agreement": agreement,
                                                        "query": query})  # fmt: skip
        assert sent.status_code == 303, sent.text
    first, second = (j[0] for j in _jobs(lab.provider, agreement))
    waiting = buyer.get(f"/portal/compute/jobs/{first}")
    assert 'data-state="PENDING_REVIEW"' in waiting.text and "hx-get" in waiting.text

    # The buyer keeps the job's page open: it follows the job by itself.
    following = browser.page(lang)
    sign_in(following, lab.consumer, "buyer")
    following.goto(f"{lab.consumer.url}/portal/compute/jobs/{first}")
    expect(following.locator("[data-state]")).to_have_attribute("data-state", "PENDING_REVIEW")
    assert following.locator("table.result").count() == 0
    check(following, "compute-waiting")

    page = browser.page(lang)
    sign_in(page, lab.provider, "steward")
    page.goto(f"{lab.provider.url}/portal/compute/reviews")
    check(page, "compute-reviews")
    page.click(f'form[action$="{first}"] button.primary')
    page.wait_for_load_state()
    assert page.locator("p.flash").count() == 1
    rejecting = page.locator(f'form.reject[action$="{second}"]')
    rejecting.locator("input[name=reason]").fill("not before the ethics board meets")
    rejecting.locator("button").click()
    page.wait_for_load_state()
    assert page.locator(f'form[action$="{first}"]').count() == 0
    assert page.locator(f'form[action$="{second}"]').count() == 0
    page.context.close()
    following.wait_for_selector("table.result", timeout=90_000)  # no reload by the test
    expect(following.locator("[data-state]")).to_have_attribute("data-state", "RELEASED")
    assert "ward-0" in following.locator("table.result").inner_text()
    following.context.close()

    with lab.consumer.client() as c:
        rejected = c.call("GET", f"/api/compute/jobs/{second}")
        assert rejected["state"] == "REJECTED"
        assert rejected["reason"] == "not before the ethics board meets"
        c.wait(f"/api/compute/jobs/{first}", ["RELEASED"], timeout=60)
    assert [
        e["actor"]["user"] for e in _evidence(lab.provider, "portal.compute-approve", first)
    ] == ["steward"]
    assert _evidence(lab.provider, "portal.compute-reject", second)[0]["reason"] == (
        "not before the ethics board meets"
    )
    shown = buyer.get(f"/portal/compute/jobs/{second}").text
    assert 'data-state="REJECTED"' in shown and "not before the ethics board meets" in shown


def test_another_participants_agreement_and_job_are_not_found(lab: Lab) -> None:
    dataset = _product(lab, DP_RULE, rows=300)
    theirs = _agreement(lab, dataset, lab.other)
    with lab.other.client() as c:
        job = c.call("POST", "/api/compute/jobs", {"agreementId": theirs, "query": GOOD})
    ours = _agreement(lab, dataset)
    buyer = session(lab.consumer, "buyer")
    for path in (f"/portal/compute/jobs/{job['id']}", f"/portal/compute/jobs/{job['id']}/status",
                 f"/portal/compute?agreement={theirs}"):  # fmt: skip
        answer = buyer.get(path)
        assert answer.status_code == 404, (path, answer.text)
        assert GOOD not in answer.text
    before = _jobs(lab.provider, theirs)
    token = csrf_of(buyer, f"/portal/compute?agreement={ours}")
    for route in ("/portal/compute/jobs", "/portal/compute/try"):
        answer = buyer.post(route, data={"csrf": token, "agreement": theirs, "query": GOOD})
        assert answer.status_code == 404, answer.text
    assert _jobs(lab.provider, theirs) == before and _jobs(lab.consumer, theirs) == []
    # On the provider's own node, a buyer there cannot open the job it holds as provider.
    hbuyer = session(lab.provider, "hbuyer")
    assert hbuyer.get(f"/portal/compute/jobs/{job['id']}").status_code == 404
    assert hbuyer.get(f"/portal/compute?agreement={theirs}").status_code == 404


def test_a_post_without_csrf_submits_nothing(lab: Lab) -> None:
    agreement = _agreement(lab, _product(lab, DP_RULE, rows=300))
    buyer = session(lab.consumer, "buyer")
    form = {"agreement": agreement, "query": GOOD}
    for route in ("/portal/compute/jobs", "/portal/compute/try"):
        for sent in (form, {**form, "csrf": ""}, {**form, "csrf": "not-the-token"}):
            answer = buyer.post(route, data=sent)
            assert answer.status_code == 403, answer.text
            assert "did not come from this portal" in answer.text
    assert _jobs(lab.provider, agreement) == [] and _jobs(lab.consumer, agreement) == []
    answer = buyer.post("/portal/compute/jobs", data={**form, "csrf": csrf_of(buyer)})
    assert answer.status_code == 303
    assert [j[2] for j in _jobs(lab.provider, agreement)] in (["QUEUED"], ["RUNNING"], ["RELEASED"])


def test_only_provider_staff_open_and_decide_the_review_queue(lab: Lab) -> None:
    agreement = _agreement(lab, _product(lab, REVIEW_RULE, rows=300))
    with lab.consumer.client() as c:
        job = c.call("POST", "/api/compute/jobs", {"agreementId": agreement, "query": GOOD})
    assert job["state"] == "PENDING_REVIEW"
    hbuyer = session(lab.provider, "hbuyer")
    answer = hbuyer.get("/portal/compute/reviews")
    assert answer.status_code == 403 and job["id"] not in answer.text
    answer = hbuyer.post(f"/portal/compute/reviews/{job['id']}",
                         data={"csrf": csrf_of(hbuyer), "decision": "approve"})  # fmt: skip
    assert answer.status_code == 403
    assert [j[2] for j in _jobs(lab.provider, agreement)] == ["PENDING_REVIEW"]
    assert _evidence(lab.provider, "portal.compute-approve", job["id"]) == []
    steward = session(lab.provider, "steward")
    assert steward.get("/portal/compute").status_code == 403  # provider staff are no buyers
    # Without CSRF the provider's own staff change nothing either.
    answer = steward.post(f"/portal/compute/reviews/{job['id']}", data={"decision": "approve"})
    assert answer.status_code == 403
    assert [j[2] for j in _jobs(lab.provider, agreement)] == ["PENDING_REVIEW"]
    queue = steward.get("/portal/compute/reviews")
    assert queue.status_code == 200 and job["id"] in queue.text


def test_a_submission_key_means_one_job(lab: Lab) -> None:
    agreement = _agreement(lab, _product(lab, DP_RULE, rows=300))
    buyer = session(lab.consumer, "buyer")
    page = buyer.get(f"/portal/compute?agreement={agreement}").text
    key = re.search(r'name="key" value="([^"]+)"', page)
    assert key is not None
    form = {"csrf": csrf_of(buyer), "agreement": agreement, "query": TOTAL, "key": key.group(1)}
    once, twice = (buyer.post("/portal/compute/jobs", data=form) for _ in range(2))
    assert once.status_code == twice.status_code == 303
    assert once.headers["location"] == twice.headers["location"]  # the same job, spent once
    assert len(_jobs(lab.provider, agreement)) == 1
    other = buyer.post("/portal/compute/jobs", data={**form, "query": GOOD})
    assert other.status_code == 400 and "was used for another job" in other.text
    assert 'id="query"' in other.text and GOOD in other.text  # the editor, with the query kept
    assert len(_jobs(lab.provider, agreement)) == 1


def test_a_query_past_the_budget_is_refused_naming_the_budget(lab: Lab) -> None:
    rule = {
        **DP_RULE,
        "dp": {"epsilonPerQuery": 1.0, "budget": 1.0, "bounds": {"amount": [0, 1000]}},
    }
    agreement = _agreement(lab, _product(lab, rule, rows=300))
    with lab.consumer.client() as c:
        spent = c.call("POST", "/api/compute/jobs", {"agreementId": agreement, "query": TOTAL})
        c.wait(f"/api/compute/jobs/{spent['id']}", ["RELEASED"], timeout=60)
        past = c.call("POST", "/api/compute/jobs", {"agreementId": agreement, "query": TOTAL})
    assert past["state"] == "REFUSED"
    buyer = session(lab.consumer, "buyer")
    shown = buyer.get(f"/portal/compute/jobs/{past['id']}", headers={"accept-language": "en"})
    assert shown.status_code == 200 and 'data-state="REFUSED"' in shown.text
    assert '<code class="clause">the privacy budget</code>' in shown.text
    assert "privacy budget of this product is exhausted: 1 of 1 spent" in shown.text
    assert '<strong class="budget-left">0</strong>' in shown.text
    assert "As the provider counts it" in shown.text  # the provider's own figure, not a guess
    zh = buyer.get(f"/portal/compute/jobs/{past['id']}", headers={"accept-language": "zh-CN"})
    assert '<code class="clause">隐私预算</code>' in zh.text
