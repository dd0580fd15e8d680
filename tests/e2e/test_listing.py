"""Compliance-gated listing end to end: scan, declarations, assessor review, approval,
certificates anyone can verify, the regulator's read-only view, and the cross-border rule."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_operator import _negotiate, _wait_directory, onboard, reports_for
from trustspace.cli.demo import DemoNode

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id(n: int) -> str:
    body = f"110101{1970 + n % 40}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, WEIGHTS, strict=True)) % 11]


def _without(key: str) -> Any:
    return lambda r: {k: v for k, v in r.items() if k != key}


def _with(**changes: Any) -> Any:
    return lambda r: {**r, **changes}


def _same(r: dict[str, Any]) -> dict[str, Any]:
    return r


# (compliance report, quality report, the field the refusal names)
BAD_REPORTS = [
    (_with(outcome="approved"), _same, "complianceReport.outcome must be one of pass, conditional, fail"),
    (_without("assessedAt"), _same, "complianceReport.assessedAt must be a non-empty string"),
    (_with(assessedAt="2 March 2026"), _same, "complianceReport.assessedAt must be an ISO 8601"),
    (_with(scope={"versionHash": "0" * 64}), _same, "complianceReport.scope.versionHash"),
    (lambda r: {**r, "findings": [{**r["findings"][0], "status": "ok"}]}, _same,
     "complianceReport.findings[0].status must be one of met, not-met, not-applicable"),
    (_with(outcome="pass"), _same, "complianceReport.outcome is pass, but findings[4] is not-met"),
    (_same, _with(completeness=1.5), "qualityReport.completeness must be a number from 0 to 1"),
    (_same, _with(sampleSize="200"), "qualityReport.sampleSize must be a whole number"),
    (_same, lambda r: {**_without("completeness")(r), "completness": 0.9},
     "qualityReport.completness is not a field of the report"),
]  # fmt: skip


class Nodes:
    def __init__(self, root: Path) -> None:
        self.operator = DemoNode("operator", root, {
            "TRUSTSPACE_ROLE": "operator", "TRUSTSPACE_CRAWL_INTERVAL": "0",
            "TRUSTSPACE_OPERATOR_REFRESH": "0.5", "TRUSTSPACE_REGULATOR_KEY": "regulator-secret"})  # fmt: skip
        env = {"TRUSTSPACE_OPERATORS": f"operator={self.operator.url}",
               "TRUSTSPACE_OPERATOR_REFRESH": "0.5"}  # fmt: skip
        self.provider = DemoNode("hospital", root, env)
        self.consumer = DemoNode("ai-lab", root, env)
        self.assessor = DemoNode("assessor", root, env)
        self.all = (self.operator, self.provider, self.consumer, self.assessor)


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Nodes]:
    n = Nodes(tmp_path)
    for node in n.all:
        node.start([])
    for node in n.all:
        node.wait_ready()
    yield n
    for node in n.all:
        node.stop()
    for node in n.all:
        print(f"--- {node.name} log ---\n{node.log_text()}")


def cli(node: DemoNode, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"TRUSTSPACE_NODE": node.url, "TRUSTSPACE_MANAGEMENT_KEY": node.key, "COLUMNS": "200",
           "PATH": "/usr/bin:/bin"}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "trustspace", *args], capture_output=True,
                          text=True, timeout=120, env=env)  # fmt: skip


def test_listing_review_certificates_and_cross_border(nodes: Nodes, tmp_path: Path) -> None:
    onboard(nodes.operator, nodes.provider)
    onboard(nodes.operator, nodes.consumer, region="DE", registrationNumber="HRB 12345")
    onboard(nodes.operator, nodes.assessor, roles=["assessor"], sector="public")
    data = tmp_path / "patients.csv"
    with data.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["patient", "resident_id", "email", "visits"])
        for i in range(300):
            w.writerow([f"p{i}", resident_id(i), f"patient{i}@mail.example", i % 9])
    base = {"source": "self-collected", "collectionLog": "ward-7/2026.log",
            "rights": {"holding": True, "processing": True, "operation": True}}  # fmt: skip
    (tmp_path / "no-basis.json").write_text(json.dumps(base))
    (tmp_path / "basis.json").write_text(json.dumps({
        **base, "legalBasis": {"kind": "consent", "consentRecords": ["urn:consent:ward-7"]}}))  # fmt: skip

    added = cli(nodes.provider, "product", "add", str(data), "--title", "Ward 7 visits",
                "--declaration", str(tmp_path / "no-basis.json"))  # fmt: skip
    assert added.returncode == 0, added.stdout + added.stderr
    assert "personal information: cn_resident_id, email" in added.stderr
    first = json.loads(added.stdout[added.stdout.index("{") :])
    refused = cli(nodes.provider, "product", "submit", first["id"])
    assert refused.returncode != 0
    assert "personal information without a legal basis cannot be listed" in refused.stdout

    # A new version with the consent records declared.
    data.write_text(data.read_text() + "p300," + resident_id(300) + ",x@y.example,1\n")
    added = cli(nodes.provider, "product", "add", str(data), "--title", "Ward 7 visits",
                "--declaration", str(tmp_path / "basis.json"), "--keywords", "visits,ward",
                "--update-frequency", "monthly", "--previous-version", first["id"])  # fmt: skip
    second = json.loads(added.stdout[added.stdout.index("{") :])
    assert second["product"] == first["id"]
    submitted = cli(nodes.provider, "product", "submit", second["id"])
    assert submitted.returncode == 0, submitted.stdout
    listing = json.loads(submitted.stdout)
    assert listing["status"] == "submitted"
    with nodes.operator.client() as o:
        assert o.call("POST", "/api/operator/crawl", {})["datasets"] == 0  # not before approval

    # Reports that do not follow the documented format are refused, naming the field, and
    # leave the listing as it was.
    good = reports_for(listing)
    for compliance, quality, field in BAD_REPORTS:
        (tmp_path / "compliance.json").write_text(json.dumps(compliance(good["complianceReport"])))
        (tmp_path / "quality.json").write_text(json.dumps(quality(good["qualityReport"])))
        refused = cli(nodes.assessor, "member", "assess", listing["id"], "--compliance",
                      str(tmp_path / "compliance.json"), "--quality", str(tmp_path / "quality.json"))  # fmt: skip
        assert refused.returncode != 0, refused.stdout
        assert f"the operator refused: {field}" in refused.stdout, (field, refused.stdout)
        assert "502" not in refused.stdout
        with nodes.operator.client() as o:
            after = o.call("GET", "/api/operator/listings")
        assert [(x["status"], x["assessment"]) for x in after] == [("submitted", None)]

    # The documented examples, about this version, are accepted.
    (tmp_path / "compliance.json").write_text(json.dumps(good["complianceReport"]))
    (tmp_path / "quality.json").write_text(json.dumps(good["qualityReport"]))
    assessed = cli(nodes.assessor, "member", "assess", listing["id"], "--compliance",
                   str(tmp_path / "compliance.json"), "--quality", str(tmp_path / "quality.json"))  # fmt: skip
    assert json.loads(assessed.stdout)["status"] == "assessed", assessed.stdout
    approved = cli(nodes.operator, "operator", "approve-listing", listing["id"])
    assert approved.returncode == 0, approved.stdout
    with nodes.operator.client() as o:
        certificate = o.call("GET", "/api/operator/listings?status=listed")[0]["certificate"]
        assert o.call("POST", "/api/operator/crawl", {})["datasets"] == 1
    (tmp_path / "registration.jwt").write_text(certificate)
    valid = cli(
        nodes.consumer, "verify", str(tmp_path / "registration.jwt"), "--keys", nodes.operator.url
    )
    assert valid.returncode == 0 and "VALID RegistrationCertificate" in valid.stdout, valid.stdout
    claims = json.loads(valid.stdout[valid.stdout.index("{") :])
    assert claims["product"]["versionHash"] == second["sha256"]
    assert claims["rights"]["operation"] is True
    head, body, sig = certificate.split(".")
    tampered = f"{head}.{body[:-2]}{'A' if body[-2] != 'A' else 'B'}{body[-1]}.{sig}"
    bad = cli(nodes.consumer, "verify", tampered, "--keys", nodes.operator.url)
    assert bad.returncode == 1 and "NOT VALID" in bad.stdout

    # A consumer in Germany concludes a contract, but personal information does not leave China
    # without a cross-border assessment; the trade is still certified.
    _wait_directory(nodes.consumer, nodes.provider.dsp)
    with nodes.consumer.client() as c:
        catalog = c.call("POST", "/api/catalog", {"address": nodes.provider.dsp})
    entry = next(d for d in catalog["dataset"] if d["@id"] == second["id"])
    assert entry["accrualPeriodicity"] == "monthly" and entry["keyword"] == ["visits", "ward"]
    neg = _negotiate(nodes.consumer, nodes.provider, second["id"])
    assert neg["state"] == "FINALIZED", neg
    with nodes.consumer.client() as c:
        tp = c.call("POST", "/api/transfers", {"agreementId": neg["agreementId"]})
        tp = c.wait(f"/api/transfers/{tp['id']}", ["STARTED", "TERMINATED"])
    assert tp["state"] == "TERMINATED"
    assert "personal information cannot be delivered from CN to a participant in DE" in tp["error"]
    with nodes.provider.client() as p:
        p.call("POST", "/api/certificates/trades", {})
        trade = next(c for c in p.call("GET", "/api/certificates") if c["kind"] == "trade")
    (tmp_path / "trade.jwt").write_text(trade["token"])
    valid = cli(nodes.consumer, "verify", str(tmp_path / "trade.jwt"), "--keys", nodes.operator.url)
    assert "VALID TradeCertificate" in valid.stdout, valid.stdout
    trade_claims: dict[str, Any] = json.loads(valid.stdout[valid.stdout.index("{") :])
    assert (trade_claims["provider"], trade_claims["consumer"]) == ("hospital", "ai-lab")

    # The regulator reads, and only reads.
    regulator = {"Authorization": "Bearer regulator-secret"}
    listed = httpx.get(f"{nodes.operator.url}/api/regulator/listings", headers=regulator)
    assert [x["status"] for x in listed.json()] == ["listed"]
    certs = httpx.get(f"{nodes.operator.url}/api/regulator/certificates", headers=regulator).json()
    assert {c["kind"] for c in certs} == {"registration", "trade"}
    write = httpx.post(f"{nodes.operator.url}/api/operator/listings/{listing['id']}/delist",
                       json={"reason": "x"}, headers=regulator)  # fmt: skip
    assert write.status_code == 401
