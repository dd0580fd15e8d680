"""An operator and two members, over real HTTP: onboarding, credentials, authenticated DSP,
revocation, the federated catalog."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.flow import fetch, publish
from trustspace.cli.client import ApiError
from trustspace.cli.localnode import DemoNode
from trustspace.core.registry import uscc_check_char
from trustspace.dataplane.client import DownloadError
from trustspace.trust.keys import NodeKey
from trustspace.trust.tokens import bearer, issue_token


def uscc(body: str) -> str:
    return body + uscc_check_char(body)


@dataclass
class Space:
    operator: DemoNode
    provider: DemoNode
    consumer: DemoNode


def _start(root: Path) -> Space:
    operator = DemoNode("operator", root, {"TRUSTSPACE_ROLE": "operator",
                                           "TRUSTSPACE_CRAWL_INTERVAL": "0",
                                           "TRUSTSPACE_OPERATOR_REFRESH": "0.5"})  # fmt: skip
    member_env = {"TRUSTSPACE_OPERATORS": f"operator={operator.url}",
                  "TRUSTSPACE_OPERATOR_REFRESH": "0.5"}  # fmt: skip
    provider = DemoNode("hospital", root, member_env)
    consumer = DemoNode("ai-lab", root, member_env)
    for node in (operator, provider, consumer):
        node.start([])
    for node in (operator, provider, consumer):
        node.wait_ready()
    return Space(operator, provider, consumer)


@pytest.fixture
def space(tmp_path: Path) -> Iterator[Space]:
    s = _start(tmp_path)
    yield s
    for node in (s.operator, s.provider, s.consumer):
        node.stop()
    for node in (s.operator, s.provider, s.consumer):
        print(f"--- {node.name} log ---\n{node.log_text()}")


def onboard(operator: DemoNode, member: DemoNode, **details: Any) -> dict[str, Any]:
    application = {
        "operator": "operator",
        "legalName": f"{member.name} Co., Ltd.",
        "registrationNumber": uscc("91110108MA01KPGG0"),
        "region": "CN-BJ",
        "sector": "health",
        "contact": f"data@{member.name}.example",
        "roles": ["provider", "consumer"],
        **details,
    }
    with member.client() as m:
        applied = m.call("POST", "/api/membership/apply", application)
    assert applied["status"] == "pending"
    with operator.client() as o:
        pending = o.call("GET", "/api/operator/applications?status=pending")
        assert [a["participantId"] for a in pending] == [member.name]
        o.call("POST", f"/api/operator/applications/{applied['id']}/approve", {})
    with member.client() as m:
        deadline = time.monotonic() + 10
        while True:
            state: dict[str, Any] = m.call("GET", "/api/membership")
            if state["credentials"]:
                return state
            assert time.monotonic() < deadline, state
            time.sleep(0.2)


DECLARATION = {
    "source": "self-collected",
    "collectionLog": "log-2026",
    "rights": {"holding": True, "processing": True, "operation": True},
}


EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def reports_for(listing: dict[str, Any]) -> dict[str, Any]:
    """The documented example reports, about this listing's version."""
    compliance = json.loads((EXAMPLES / "compliance-report.json").read_text())
    compliance["scope"] = {"datasetId": listing["datasetId"], "versionHash": listing["versionHash"]}
    quality = json.loads((EXAMPLES / "quality-report.json").read_text())
    return {"complianceReport": compliance, "qualityReport": quality}


def list_dataset(
    operator: DemoNode, provider: DemoNode, assessor: DemoNode, dataset_id: str
) -> dict[str, Any]:
    """Submit, assess (by an assessor member), approve: the dataset may reach the catalog."""
    with provider.client() as p:
        listing = p.call("POST", f"/api/datasets/{dataset_id}/listing", {})
    with assessor.client() as a:
        a.call("POST", "/api/operator-call", {
            "method": "POST", "path": f"/operator/listings/{listing['id']}/assessment",
            "body": reports_for(listing)})  # fmt: skip
    with operator.client() as o:
        listed: dict[str, Any] = o.call(
            "POST", f"/api/operator/listings/{listing['id']}/approve", {}
        )
    return listed


def _wait_directory(node: DemoNode, address: str) -> None:
    deadline = time.monotonic() + 10
    with node.client() as c:
        while True:
            try:
                c.call("POST", "/api/catalog", {"address": address})
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def _negotiate(consumer: DemoNode, provider: DemoNode, dataset_id: str) -> dict[str, Any]:
    with consumer.client() as c:
        neg = c.call(
            "POST", "/api/negotiations", {"address": provider.dsp, "datasetId": dataset_id}
        )
        done: dict[str, Any] = c.wait(
            f"/api/negotiations/{neg['id']}", ["FINALIZED", "TERMINATED"], timeout=30
        )
    return done


def test_onboarding_credentials_authenticated_exchange_and_revocation(
    space: Space, tmp_path: Path
) -> None:
    held = onboard(space.operator, space.provider)
    (credential,) = held["credentials"]
    assert credential["operator"] == "operator"
    assert credential["claims"]["region"] == "CN-BJ"
    onboard(space.operator, space.consumer, sector="research", region="CN-SH")

    data = os.urandom(1 << 20)
    (tmp_path / "scans.bin").write_bytes(data)
    # Only members verified to be in China may use it: the region comes from the credential.
    terms = {"permission": [{"action": "use", "constraint": [
        {"leftOperand": "spatial", "operator": "isPartOf", "rightOperand": "CN"}]}]}  # fmt: skip
    published = publish(space.provider, tmp_path / "scans.bin", policy=terms)
    _wait_directory(space.consumer, space.provider.dsp)  # the provider found through the operator

    neg = _negotiate(space.consumer, space.provider, published["id"])
    assert neg["state"] == "FINALIZED", neg
    with space.consumer.client() as c:
        tp = c.call("POST", "/api/transfers", {"agreementId": neg["agreementId"]})
        tp = c.wait(f"/api/transfers/{tp['id']}", ["STARTED"])
    assert fetch(tp, tmp_path / "copy.bin") == hashlib.sha256(data).hexdigest()

    # Revocation reaches the provider within a refresh: the member's requests are refused.
    with space.operator.client() as o:
        revoked = o.call("POST", "/api/operator/members/ai-lab/revoke", {"reason": "data misuse"})
    assert revoked["status"] == "revoked"
    time.sleep(1.5)
    with pytest.raises(
        ApiError, match="the provider refused: member ai-lab is revoked: data misuse"
    ):
        _negotiate(space.consumer, space.provider, published["id"])
    with pytest.raises(DownloadError) as err:  # its transfer in flight is refused too
        fetch(tp, tmp_path / "again.bin")
    assert err.value.status == 403 and "revoked" in str(err.value)
    with space.provider.client() as p:
        failures = p.call("GET", "/api/auth-failures")
    assert any(f["issuer"] == "ai-lab" and "revoked" in f["reason"] for f in failures)
    # Revocation is final.
    with space.operator.client() as o, pytest.raises(Exception, match="revocation is final"):
        o.call("POST", "/api/operator/members/ai-lab/reinstate", {})


def test_requests_without_a_valid_membership_are_refused_and_logged(space: Space) -> None:
    onboard(space.operator, space.provider)
    stranger = NodeKey.generate()
    body = {"@context": ["https://w3id.org/dspace/2025/1/context.jsonld"],
            "@type": "CatalogRequestMessage"}  # fmt: skip
    token = issue_token(stranger, "stranger", "hospital", now=time.time())
    r = httpx.post(
        space.provider.dsp + "/catalog/request", json=body, headers={"Authorization": bearer(token)}
    )
    assert r.status_code == 401
    assert "carries no membership credential" in r.json()["reason"][0]
    # A member's credential presented by someone else.
    with space.provider.client():
        own = (space.provider.dir / "credentials" / "operator.jwt").read_text()
    token = issue_token(stranger, "hospital", "hospital", now=time.time(),
                        extra={"credentials": [own]})  # fmt: skip
    r = httpx.post(
        space.provider.dsp + "/catalog/request", json=body, headers={"Authorization": bearer(token)}
    )
    assert r.status_code == 401
    assert "bad signature" in r.json()["reason"][0]
    with space.provider.client() as p:
        failures = p.call("GET", "/api/auth-failures")
        assert p.call("GET", "/api/negotiations") == []
    reasons = [f["reason"] for f in failures]
    assert any("no membership credential" in x for x in reasons)
    assert any("bad signature" in x for x in reasons)


def test_applications_are_validated_and_rejections_carry_a_reason(space: Space) -> None:
    with space.provider.client() as m:
        bad = httpx.post(
            f"{space.provider.url}/api/membership/apply",
            json={"operator": "operator", "legalName": "X", "registrationNumber": "91110108MA01KPGG0A",
                  "region": "CN", "sector": "health", "contact": "x", "roles": ["provider"]},
            headers={"Authorization": f"Bearer {space.provider.key}"},
        )  # fmt: skip
        assert bad.status_code == 400
        assert "check character" in bad.json()["error"]
        applied = m.call("POST", "/api/membership/apply", {
            "operator": "operator", "legalName": "Hospital", "registrationNumber":
            uscc("91110108MA01KPGG0"), "region": "CN", "sector": "health", "contact": "x",
            "roles": ["provider"]})  # fmt: skip
    with space.operator.client() as o:
        o.call("POST", f"/api/operator/applications/{applied['id']}/reject",
               {"reason": "registration number does not match the legal name"})  # fmt: skip
    with space.provider.client() as m:
        state = m.call("GET", "/api/membership")
    assert state["credentials"] == []
    assert state["applications"]["operator"]["status"] == "rejected"
    assert "does not match" in state["applications"]["operator"]["reason"]


def test_key_rotation_without_downtime(space: Space, tmp_path: Path) -> None:
    onboard(space.operator, space.provider)
    onboard(space.operator, space.consumer)
    (tmp_path / "d.bin").write_bytes(b"x" * 1000)
    published = publish(space.provider, tmp_path / "d.bin")
    _wait_directory(space.consumer, space.provider.dsp)
    with space.operator.client() as o:
        before = o.call("POST", "/api/operator/keys/rotate", {})
    assert [k["status"] for k in before["keys"]] == ["retired", "active"]
    with space.consumer.client() as c:
        rotated = c.call("POST", "/api/membership/rotate-key", {})
    assert rotated["operators"] == ["operator"]
    # Old credentials (signed by the retired operator key) and new ones both work.
    neg = _negotiate(space.consumer, space.provider, published["id"])
    assert neg["state"] == "FINALIZED", neg


def test_federated_catalog_search(space: Space, tmp_path: Path) -> None:
    onboard(space.operator, space.provider)
    onboard(space.operator, space.consumer, sector="research", roles=["consumer", "assessor"])
    for name, title, keywords in (
        ("ct.bin", "Chest CT scans 2025", ["radiology", "lung"]),
        ("ecg.bin", "ECG recordings", ["cardiology"]),
    ):
        (tmp_path / name).write_bytes(name.encode() * 100)
        item = publish(space.provider, tmp_path / name, title=title, keywords=keywords,
                       license="https://creativecommons.org/licenses/by/4.0/", price="100",
                       currency="CNY", declaration=DECLARATION)  # fmt: skip
        if name == "ct.bin":  # nothing reaches the catalog before approval
            with space.operator.client() as o:
                assert o.call("POST", "/api/operator/crawl", {})["datasets"] == 0
        list_dataset(space.operator, space.provider, space.consumer, item["id"])
    with space.operator.client() as o:
        report = o.call("POST", "/api/operator/crawl", {})
    assert report["datasets"] == 2, report
    with space.consumer.client() as c:
        found = c.call("POST", "/api/search", {"q": "lung", "sector": "health", "region": "CN"})
        assert [r["title"] for r in found["results"]] == ["Chest CT scans 2025"]
        assert found["results"][0]["dspUrl"] == space.provider.dsp
        cheap = c.call("POST", "/api/search", {"maxPrice": "50"})
        assert cheap["results"] == []
        every = c.call("POST", "/api/search", {"q": "recordings scans"})
        assert every["results"] == []  # all words must match
        prefix = c.call("POST", "/api/search", {"q": "cardio"})
        assert [r["title"] for r in prefix["results"]] == ["ECG recordings"]
    r = httpx.get(f"{space.operator.url}/operator/catalog/search?q=lung")
    assert r.status_code == 401  # members only


def _join(
    operator: DemoNode, member: DemoNode, region: str = "CN", roles: list[str] | None = None
) -> None:
    with member.client() as m:
        applied = m.call("POST", "/api/membership/apply", {
            "operator": operator.name, "legalName": f"{member.name} Ltd",
            "registrationNumber": uscc("91310000MA1FL0000"), "region": region,
            "sector": "research", "contact": "x", "roles": roles or ["provider", "consumer"]})  # fmt: skip
    with operator.client() as o:
        o.call("POST", f"/api/operator/applications/{applied['id']}/approve", {})
    deadline = time.monotonic() + 10
    with member.client() as m:
        while operator.name not in {
            c["operator"] for c in m.call("GET", "/api/membership")["credentials"]
        }:
            assert time.monotonic() < deadline
            time.sleep(0.2)


def test_linked_spaces_and_a_member_of_two_spaces(tmp_path: Path) -> None:
    env = {"TRUSTSPACE_ROLE": "operator", "TRUSTSPACE_CRAWL_INTERVAL": "0",
           "TRUSTSPACE_OPERATOR_REFRESH": "0.5"}  # fmt: skip
    space_a = DemoNode("space-a", tmp_path, env)
    space_b = DemoNode("space-b", tmp_path, {**env, "TRUSTSPACE_LINKED_SPACES": space_a.url})
    provider = DemoNode("maker", tmp_path, {"TRUSTSPACE_OPERATORS": f"space-a={space_a.url}",
                                             "TRUSTSPACE_OPERATOR_REFRESH": "0.5"})  # fmt: skip
    consumer = DemoNode("ai-lab", tmp_path, {
        "TRUSTSPACE_OPERATORS": f"space-a={space_a.url},space-b={space_b.url}",
        "TRUSTSPACE_OPERATOR_REFRESH": "0.5"})  # fmt: skip
    nodes = (space_a, space_b, provider, consumer)
    try:
        for node in nodes:
            node.start([])
        for node in nodes:
            node.wait_ready()
        _join(space_a, provider)
        _join(space_a, consumer, roles=["consumer", "assessor"])
        _join(space_b, consumer)
        (tmp_path / "defects.bin").write_bytes(b"x" * 100)
        published = publish(provider, tmp_path / "defects.bin", title="Weld defect images",
                            declaration=DECLARATION)  # fmt: skip
        with provider.client() as p:
            listing = p.call(
                "POST", f"/api/datasets/{published['id']}/listing", {"operator": "space-a"}
            )
        with consumer.client() as c:
            c.call("POST", "/api/operator-call", {
                "operator": "space-a", "method": "POST",
                "path": f"/operator/listings/{listing['id']}/assessment",
                "body": reports_for(listing)})  # fmt: skip
        with space_a.client() as a:
            a.call("POST", f"/api/operator/listings/{listing['id']}/approve", {})
        with space_a.client() as a:
            assert a.call("POST", "/api/operator/crawl", {})["datasets"] == 1
        with space_b.client() as b:
            report = b.call("POST", "/api/operator/crawl", {})
        assert report["datasets"] == 1 and report["errors"] == {}
        with consumer.client() as c:
            found = c.call("POST", "/api/search", {"q": "weld", "operator": "space-b"})
        (hit,) = found["results"]
        assert (hit["space"], hit["providerId"], hit["datasetId"]) == (
            "space-a",
            "maker",
            published["id"],
        )
        # The consumer presents both credentials; the provider trusts space-a's.
        _wait_directory(consumer, provider.dsp)
        neg = _negotiate(consumer, provider, published["id"])
        assert neg["state"] == "FINALIZED", neg
    finally:
        for node in nodes:
            node.stop()
        for node in nodes:
            print(f"--- {node.name} log ---\n{node.log_text()}")


def _tamper(token: str) -> str:
    import base64
    import json

    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["vc"]["credentialSubject"]["region"] = "US"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{sig}"


def test_each_way_of_failing_membership_is_refused_logged_and_changes_nothing(
    space: Space, tmp_path: Path
) -> None:
    from trustspace.core import messages as msg
    from trustspace.trust.credentials import MemberClaims, issue_credential

    onboard(space.operator, space.provider)
    onboard(space.operator, space.consumer)
    (tmp_path / "d.bin").write_bytes(b"x" * 100)
    published = publish(space.provider, tmp_path / "d.bin")
    lab_key = NodeKey.load_or_create(space.consumer.dir / "node.key")
    lab_credential = (space.consumer.dir / "credentials" / "operator.jwt").read_text()
    (op_pem,) = (space.operator.dir / "operator-keys").glob("*.pem")
    operator_key = NodeKey.from_pem(op_pem.read_bytes())
    claims = MemberClaims(
        "ai-lab", "AI Lab", "CN", "research", ("consumer",), "http://x", "operator"
    )
    expired, _ = issue_credential(operator_key, "operator", subject=claims,
                                  public_b64=lab_key.public_b64, now=time.time() - 7200, ttl=3600)  # fmt: skip
    rogue, _ = issue_credential(NodeKey.generate(), "rogue", subject=claims,
                                public_b64=lab_key.public_b64, now=time.time(), ttl=3600)  # fmt: skip

    def token(creds: list[str], *, audience: str = "hospital", jti: str | None = None) -> str:
        return bearer(issue_token(lab_key, "ai-lab", audience, now=time.time(), jti=jti,
                                  extra={"credentials": creds}))  # fmt: skip

    replayed = token([lab_credential], jti="urn:uuid:once")
    body = msg.contract_request(
        consumer_pid="urn:uuid:c-1",
        offer={"@id": published["offerId"], "@type": "Offer", "target": published["id"],
               "permission": [{"action": "use"}]},
        callback_address=space.consumer.dsp,
    )  # fmt: skip
    ok = httpx.post(space.provider.dsp + "/negotiations/request", json=body,
                    headers={"Authorization": replayed})  # fmt: skip
    assert ok.status_code == 201, ok.text
    cases = {
        "expired": (token([expired]), "expired"),
        "wrong audience": (token([lab_credential], audience="someone-else"), "audience"),
        "replayed": (replayed, "replay"),
        "tampered": (token([_tamper(lab_credential)]), "signature does not verify"),
        "unknown issuer": (token([rogue]), "not an operator this node trusts"),
    }
    for name, (authorization, reason) in cases.items():
        r = httpx.post(
            space.provider.dsp + "/negotiations/request",
            json={**body, "consumerPid": f"urn:uuid:{name.replace(' ', '-')}"},
            headers={"Authorization": authorization},
        )
        assert r.status_code == 401, (name, r.text)
        assert reason in r.json()["reason"][0], name
    with space.provider.client() as p:
        negotiations = p.call("GET", "/api/negotiations")
        failures = p.call("GET", "/api/auth-failures")
    assert len(negotiations) == 1  # only the accepted request created anything
    for _, reason in cases.values():
        assert any(reason in f["reason"] for f in failures), reason
