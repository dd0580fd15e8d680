"""The data provider's pages on a real space: a steward publishes a product of two files
through the wizard in Chromium (uploads with progress, the profile and personal-information
report, declarations, terms and their ODRL) and submits it for listing; what comes in and
how the products are used; and who may do none of it."""

from __future__ import annotations

import calendar
import hashlib
import json
import re
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.flow import fetch
from tests.e2e.test_operator import _negotiate, reports_for
from tests.web.portal import Browser, check, session, sign_in
from tests.web.space import Space, listed_product, members, space  # noqa: F401
from trustspace.cli.localnode import DemoNode
from trustspace.store.db import Database


def _csvs(folder: Path, tag: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    wards = folder / "wards.csv"
    with wards.open("w") as fh:
        fh.write("ward,beds,contact\n")
        for i in range(40):
            fh.write(f"w{i},{10 + i % 7},ward{i}.{tag}@hospital.example\n")
    visits = folder / "visits.csv"
    with visits.open("w") as fh:
        fh.write("ward,day,visits\n")
        for i in range(3000):
            fh.write(f"w{i % 40},2026-01-{1 + i % 28:02d},{i % 13}\n")
    return [wards, visits]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rows(node: DemoNode, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    db = Database(f"sqlite:///{node.dir / 'trustspace.db'}")
    try:
        with db.tx() as tx:
            return [dict(r) for r in tx.all(sql, params)]
    finally:
        db.close()


def _datasets(node: DemoNode) -> list[dict[str, Any]]:
    with node.client() as c:
        found: list[dict[str, Any]] = c.call("GET", "/api/datasets")
    return found


def _blobs(node: DemoNode) -> set[str]:
    return (
        {p.name for p in (node.dir / "blobs").iterdir()} if (node.dir / "blobs").is_dir() else set()
    )


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_steward_publishes_a_two_file_product_and_submits_it_for_listing(
    space: Space,  # noqa: F811
    browser: Browser,
    lang: str,
    tmp_path: Path,
) -> None:
    members(space)
    node = space.provider
    files = _csvs(tmp_path, lang)
    title = f"Ward visits {lang}"
    page = browser.page(lang)
    sign_in(page, node, "steward")
    page.goto(f"{node.url}/portal/publish")
    check(page, "provider-publish")

    page.set_input_files("#files", [str(f) for f in files])
    page.click("form[data-files] button[type=submit]")
    expect(page.locator("#upload-next")).to_be_visible(timeout=30_000)
    value, top = page.evaluate(
        "() => { const b = document.getElementById('upload-progress'); return [b.value, b.max]; }"
    )
    assert value == top == sum(f.stat().st_size for f in files)
    assert page.locator("#upload-next input[name=file]").count() == 2
    check(page, "provider-uploaded")
    page.click("#upload-continue")
    page.wait_for_load_state()

    # the report: both files profiled, the e-mail addresses found
    expect(page.locator(".pi-kinds")).to_contain_text("email")
    assert page.locator("table.profile").count() == 2
    for f in files:
        expect(page.locator("table.files")).to_contain_text(_sha(f))
    check(page, "provider-report")

    page.fill("#title", title)
    page.fill("#keywords", "visits, wards")
    page.select_option("#source", "self-collected")
    page.fill("#source_ref", "ward-log/2026")
    page.check("input[name=personal]")
    page.select_option("#basis", "consent")
    page.fill("#basis_refs", "urn:consent:wards-2026")
    for right in ("holding", "processing", "operation"):
        page.check(f"input[name=rights][value={right}]")
    page.select_option("#purpose", "research")
    page.fill("#uses", "5")

    # a region the policy engine refuses: the reason is shown and nothing is published
    before = len(_datasets(node))
    page.fill("#region", "China")
    page.click("#publish")
    page.wait_for_load_state()
    expect(page.locator("#wizard-error")).to_contain_text("ISO 3166")
    assert len(_datasets(node)) == before
    assert page.input_value("#title") == title  # what was filled in stays
    check(page, "provider-refused")

    page.fill("#region", "CN")
    page.click("button[name=do][value=preview]")
    page.wait_for_load_state()
    odrl = json.loads(page.locator("#odrl").text_content() or "")
    assert odrl["permission"][0]["action"] == "use"
    constraints = {c["leftOperand"]: c["rightOperand"] for c in odrl["permission"][0]["constraint"]}
    assert constraints == {"purpose": "research", "spatial": "CN", "count": 5}
    assert page.locator(".listing-warnings").count() == 0  # the declarations are complete
    check(page, "provider-terms")
    assert len(_datasets(node)) == before  # a check publishes nothing

    page.click("#publish")
    page.wait_for_url(re.compile(r".*/portal/products/.+"))
    assert page.locator("p.flash").count() == 1
    dataset_id = page.locator(".dataset-id").text_content()
    check(page, "provider-product")

    published = next(d for d in _datasets(node) if d["id"] == dataset_id)
    assert published["title"] == title
    assert sorted((f["name"], f["sha256"]) for f in published["files"]) == sorted(
        (f.name, _sha(f)) for f in files
    )
    offer = published["offers"][0]
    assert offer["permission"][0]["constraint"] == odrl["permission"][0]["constraint"]
    acted = _rows(node, "SELECT data FROM evidence WHERE kind = 'portal.product-publish'"
                  " AND subject = ?", (dataset_id,))  # fmt: skip
    assert [json.loads(a["data"])["actor"]["user"] for a in acted] == ["steward"]

    page.click("#submit-listing")
    page.wait_for_load_state()
    expect(page.locator(".listing-status").first).to_have_attribute("data-status", "submitted")
    with space.operator.client() as o:
        listings = o.call("GET", "/api/operator/listings")
    mine = [x for x in listings if x["datasetId"] == dataset_id]
    assert [x["status"] for x in mine] == ["submitted"], listings
    assert mine[0]["versionHash"] == published["sha256"]
    expect(page.locator(".listing-live")).to_have_attribute("data-status", "submitted")
    check(page, "provider-submitted")

    # assessed and approved at the operator: the product page shows it listed
    with space.assessor.client() as a:
        a.call("POST", "/api/operator-call", {
            "method": "POST", "path": f"/operator/listings/{mine[0]['id']}/assessment",
            "body": reports_for(mine[0])})  # fmt: skip
    with space.operator.client() as o:
        o.call("POST", f"/api/operator/listings/{mine[0]['id']}/approve", {})
    page.reload()
    expect(page.locator(".listing-live")).to_have_attribute("data-status", "listed")
    check(page, "provider-listed")

    page.goto(f"{node.url}/portal/products")
    expect(page.locator("table")).to_contain_text(title)
    check(page, "provider-products")
    page.context.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_incoming_requests_and_usage_over_time(
    space: Space,  # noqa: F811
    browser: Browser,
    lang: str,
    tmp_path: Path,
) -> None:
    item = listed_product(space, f"beds-{lang}")
    neg = _negotiate(space.buyer, space.provider, item["id"])
    assert neg["state"] == "FINALIZED", neg
    with space.buyer.client() as c:
        tp = c.call("POST", "/api/transfers", {"agreementId": neg["agreementId"]})
        tp = c.wait(f"/api/transfers/{tp['id']}", ["STARTED"])
    assert fetch(tp, tmp_path / "copy.csv") == item["sha256"]
    page = browser.page(lang)
    sign_in(page, space.provider, "steward")
    page.goto(f"{space.provider.url}/portal/incoming")
    row = page.locator("table.negotiations tbody tr", has_text=f"beds-{lang}")
    expect(row).to_contain_text("ai-lab")
    expect(row.locator(".state-FINALIZED")).to_have_count(1)
    transfer = page.locator("table.transfers tbody tr", has_text=f"beds-{lang}")
    expect(transfer.locator(".state-STARTED")).to_have_count(1)
    check(page, "provider-incoming")

    uses = _rows(space.provider, "SELECT COUNT(*) AS n FROM usage WHERE agreement_id = ?",
                 (neg["agreementId"],))[0]["n"]  # fmt: skip
    assert uses >= 1
    page.goto(f"{space.provider.url}/portal/usage")
    day = time.strftime("%Y-%m-%d", time.gmtime())
    today = page.locator("table.usage-days tbody tr", has_text=day)
    expect(today).to_have_count(1)
    midnight = calendar.timegm(time.strptime(day, "%Y-%m-%d"))
    expected = _rows(space.provider, "SELECT COUNT(*) AS n FROM usage u JOIN agreements a"
                     " ON a.id = u.agreement_id WHERE a.provider_id = 'hospital' AND u.at >= ?"
                     " AND u.at < ?", (midnight, midnight + 86400))[0]["n"]  # fmt: skip
    assert int(today.locator("td").text_content() or "0") == expected
    product = page.locator("table.usage-products tbody tr", has_text=f"beds-{lang}")
    expect(product.locator("td")).to_have_text(str(uses))
    page.wait_for_selector(".chart svg", timeout=10_000)
    check(page, "provider-usage")
    page.context.close()


def test_a_buyer_may_open_no_provider_page_and_upload_nothing(space: Space) -> None:  # noqa: F811
    node = space.provider
    from tests.web.portal import add_user

    add_user(node, "shopper", "buyer")
    buyer = session(node, "shopper")
    for path in ("/portal/publish", "/portal/products", "/portal/incoming", "/portal/usage"):
        assert buyer.get(path).status_code == 403, path
    token = re.search(r'name="csrf" value="([^"]+)"', buyer.get("/portal").text)
    assert token
    before, datasets = _blobs(node), len(_datasets(node))
    answer = buyer.post("/portal/uploads", content=b"ward,beds\nw1,3\n",
                        headers={"X-CSRF-Token": token.group(1)})  # fmt: skip
    assert answer.status_code == 403
    answer = buyer.post("/portal/uploads", data={"csrf": token.group(1)},
                        files={"files": ("a.csv", b"ward,beds\nw1,4\n")})  # fmt: skip
    assert answer.status_code == 403
    answer = buyer.post("/portal/publish", data={"csrf": token.group(1), "do": "publish",
                                                 "file": "0" * 64 + ":a.csv"})  # fmt: skip
    assert answer.status_code == 403
    assert _blobs(node) == before and len(_datasets(node)) == datasets


def test_an_upload_without_its_csrf_header_or_session_stores_nothing(space: Space) -> None:  # noqa: F811
    node = space.provider
    steward = session(node, "steward")
    before = _blobs(node)
    body = b"ward,beds\nw9,99\n" * 1000
    for headers in ({}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": "not-the-token"}):
        answer = steward.post("/portal/uploads", content=body, headers=headers)
        assert answer.status_code == 403, answer.text
    from tests.web.portal import client

    assert client(node).post("/portal/uploads", content=body).status_code == 401
    answer = steward.post("/portal/uploads", files={"files": ("b.csv", body)})
    assert answer.status_code == 403
    assert _blobs(node) == before
    # with the token the same upload is stored under its hash
    token = re.search(r'name="csrf" value="([^"]+)"', steward.get("/portal/publish").text)
    assert token
    answer = steward.post("/portal/uploads", content=body, headers={"X-CSRF-Token": token.group(1)})
    assert answer.status_code == 201
    sha = hashlib.sha256(body).hexdigest()
    assert answer.json() == {"upload": sha, "sha256": sha, "size": len(body)}
    assert sha in _blobs(node)
    acted = _rows(node, "SELECT data FROM evidence WHERE kind = 'portal.upload' AND subject = ?",
                  (sha,))  # fmt: skip
    assert [json.loads(a["data"])["actor"]["user"] for a in acted] == ["steward"]


def test_the_form_upload_works_without_a_script_and_another_nodes_id_is_404(
    space: Space,  # noqa: F811
) -> None:
    node = space.provider
    steward = session(node, "steward")
    token = re.search(r'name="csrf" value="([^"]+)"', steward.get("/portal/publish").text)
    assert token
    body = b"ward,beds\nw7,12\nw8,13\n"
    answer = steward.post("/portal/uploads", data={"csrf": token.group(1)},
                          files={"files": ("plain.csv", body)})  # fmt: skip
    assert answer.status_code == 303
    sha = hashlib.sha256(body).hexdigest()
    assert answer.headers["location"] == f"/portal/publish?file={sha}%3Aplain.csv"
    report = steward.get(answer.headers["location"])
    assert report.status_code == 200 and "plain.csv" in report.text and sha in report.text
    assert steward.get("/portal/products/urn:uuid:not-here").status_code == 404
    answer = steward.post("/portal/listing/urn:uuid:not-here", data={"csrf": token.group(1)})
    assert answer.status_code in (400, 404)
    assert _rows(node, "SELECT seq FROM evidence WHERE kind = 'portal.listing-submit'"
                 " AND subject = 'urn:uuid:not-here'") == []  # fmt: skip


def test_a_product_is_published_without_a_script_and_a_bad_rule_publishes_nothing(
    space: Space,  # noqa: F811
) -> None:
    node = space.provider
    steward = session(node, "steward")
    token = re.search(r'name="csrf" value="([^"]+)"', steward.get("/portal/publish").text)
    assert token
    body = b"patient,age,visits\n" + b"".join(f"p{i},{20 + i % 50},{i % 7}\n".encode()
                                              for i in range(200))  # fmt: skip
    sent = steward.post("/portal/uploads", data={"csrf": token.group(1)},
                        files={"files": ("ages.csv", body)})  # fmt: skip
    sha = hashlib.sha256(body).hexdigest()
    form = {"csrf": token.group(1), "file": f"{sha}:ages.csv", "title": "Ages", "do": "publish",
            "source": "self-collected", "source_ref": "log-1", "rights": ["holding", "operation"]}  # fmt: skip
    assert sent.status_code == 303
    before = len(_datasets(node))
    for rule, reason in (("{", "not valid JSON"), ('{"table": "ages"}', "analysis rule: "),
                         ("[1]", "must be an object")):  # fmt: skip
        answer = steward.post("/portal/publish", data={**form, "rule": rule})
        assert answer.status_code == 400 and "Not published" in answer.text, answer.text
        assert reason in answer.text, (rule, answer.text)
    preview = steward.post("/portal/publish", data={**form, "do": "preview", "start": "2026-01-01",
                                                    "end": "2026-12-31"})  # fmt: skip
    assert preview.status_code == 200 and "Not published" not in preview.text
    assert "2026-01-01T00:00:00Z" in preview.text and "2026-12-31T23:59:59Z" in preview.text
    backwards = steward.post("/portal/publish", data={**form, "start": "2026-12-31",
                                                      "end": "2026-01-01"})  # fmt: skip
    assert "the time window ends before it starts" in backwards.text
    answer = steward.post("/portal/publish", data={**form, "uses": "-3"})
    assert "Not published" in answer.text and "count" in answer.text
    assert len(_datasets(node)) == before
    answer = steward.post("/portal/publish", data=form)
    assert answer.status_code == 303, answer.text
    dataset_id = urllib.parse.unquote(answer.headers["location"].rsplit("/", 1)[-1])
    published = next(d for d in _datasets(node) if d["id"] == dataset_id)
    assert [(f["name"], f["sha256"]) for f in published["files"]] == [("ages.csv", sha)]
    assert published["offers"][0]["permission"] == [{"action": "use"}]
    page = steward.get(answer.headers["location"])
    assert page.status_code == 200 and sha in page.text and "Not submitted for listing" in page.text
