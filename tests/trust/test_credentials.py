"""Membership credentials: every way a request can fail to prove membership is refused."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from trustspace.trust.credentials import (
    MemberClaims,
    MembershipVerifier,
    StatusList,
    issue_credential,
    issue_status_list,
    read_status_list,
)
from trustspace.trust.keys import NodeKey
from trustspace.trust.tokens import AuthError, MemoryReplayGuard, TokenVerifier, bearer, issue_token

NOW = 1_800_000_000.0
OPERATOR = NodeKey.generate()


class Anchors:
    """The operator keys and status list a connector would have fetched."""

    def __init__(self) -> None:
        self.keys = {("operator", OPERATOR.kid): OPERATOR.public_key}
        self.list: StatusList | None = StatusList("operator", NOW, NOW + 60)

    def key(self, operator_id: str, kid: str) -> Ed25519PublicKey | None:
        return self.keys.get((operator_id, kid))

    def status(self, operator_id: str) -> StatusList | None:
        return self.list


def member(name: str) -> MemberClaims:
    return MemberClaims(
        name, f"{name} Ltd", "CN", "health", ("consumer",), f"http://{name}", "operator"
    )


def credential(key: NodeKey, name: str, *, signer: NodeKey = OPERATOR, ttl: float = 3600,
               issuer: str = "operator") -> str:  # fmt: skip
    token, _ = issue_credential(
        signer, issuer, subject=member(name), public_b64=key.public_b64, now=NOW, ttl=ttl
    )
    return token


def header(key: NodeKey, sender: str, creds: list[str], *, audience: str = "provider",
           jti: str | None = None) -> str:  # fmt: skip
    return bearer(
        issue_token(key, sender, audience, now=NOW, jti=jti, extra={"credentials": creds})
    )


@pytest.fixture
def anchors() -> Anchors:
    return Anchors()


def verifier(anchors: Anchors) -> MembershipVerifier:
    tokens = TokenVerifier("provider", keys=Anchorless(), replay=MemoryReplayGuard())
    return MembershipVerifier("provider", anchors, ["operator"], tokens)


class Anchorless:
    def public_key(self, participant_id: str) -> Ed25519PublicKey | None:
        return None


ALICE = NodeKey.generate()
BOB = NodeKey.generate()


def test_a_member_with_a_valid_credential_is_accepted_with_its_claims(anchors: Anchors) -> None:
    principal = verifier(anchors).verify(
        header(ALICE, "alice", [credential(ALICE, "alice")]), now=NOW
    )
    assert principal.participant_id == "alice"
    assert principal.claims["membership"].region == "CN"


def _tampered(token: str) -> str:
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["vc"]["credentialSubject"]["region"] = "US"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{sig}"


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("expired credential", "expired"),
        ("revoked member", "is revoked"),
        ("suspended member", "is suspended"),
        ("revoked credential", "credential urn:cred:1 is revoked"),
        ("wrong audience", "audience"),
        ("replayed token", "replay"),
        ("credential of another participant", "not the sender"),
        ("tampered credential", "signature does not verify"),
        ("token signed by another key", "bad signature"),
        ("unknown issuer", "not an operator this node trusts"),
        ("unknown operator key", "has no key"),
        ("no status list", "no current revocation status"),
        ("no credential", "carries no membership credential"),
    ],
)
def test_every_failure_is_refused_with_its_reason(anchors: Anchors, case: str, reason: str) -> None:
    v = verifier(anchors)
    cred = credential(ALICE, "alice")
    auth = header(ALICE, "alice", [cred])
    if case == "expired credential":
        auth = header(ALICE, "alice", [credential(ALICE, "alice", ttl=-60)])
    elif case == "revoked member":
        anchors.list = StatusList("operator", NOW, NOW + 60, revoked={"alice": "fraud"})
    elif case == "suspended member":
        anchors.list = StatusList("operator", NOW, NOW + 60, suspended={"alice": "audit"})
    elif case == "revoked credential":
        token, _ = issue_credential(OPERATOR, "operator", subject=member("alice"),
                                    public_b64=ALICE.public_b64, now=NOW, ttl=60,
                                    jti="urn:cred:1")  # fmt: skip
        auth = header(ALICE, "alice", [token])
        anchors.list = StatusList(
            "operator", NOW, NOW + 60, revoked_credentials=frozenset({"urn:cred:1"})
        )
    elif case == "wrong audience":
        auth = header(ALICE, "alice", [cred], audience="someone-else")
    elif case == "replayed token":
        v.verify(header(ALICE, "alice", [cred], jti="urn:jti:1"), now=NOW)
        auth = header(ALICE, "alice", [cred], jti="urn:jti:1")
    elif case == "credential of another participant":
        auth = header(ALICE, "alice", [credential(BOB, "bob")])
    elif case == "tampered credential":
        auth = header(ALICE, "alice", [_tampered(cred)])
    elif case == "token signed by another key":
        auth = header(BOB, "alice", [cred])
    elif case == "unknown issuer":
        auth = header(ALICE, "alice", [credential(ALICE, "alice", issuer="rogue-operator")])
    elif case == "unknown operator key":
        auth = header(ALICE, "alice", [credential(ALICE, "alice", signer=NodeKey.generate())])
    elif case == "no status list":
        anchors.list = None
    elif case == "no credential":
        auth = header(ALICE, "alice", [])
    with pytest.raises(AuthError) as err:
        v.verify(auth, now=NOW)
    assert reason in err.value.reason


def test_status_lists_are_signed_and_expire() -> None:
    token = issue_status_list(OPERATOR, "operator", now=NOW, ttl=60, suspended={},
                              revoked={"x": "gone"}, revoked_credentials=["urn:c"])  # fmt: skip
    status = read_status_list(token, OPERATOR.public_key, NOW + 10)
    assert status.problem("x", "urn:other") == "member x is revoked: gone"
    assert status.problem("y", "urn:c") == "credential urn:c is revoked"
    with pytest.raises(AuthError, match="expired"):
        read_status_list(token, OPERATOR.public_key, NOW + 61)
    with pytest.raises(AuthError, match="does not verify"):
        read_status_list(token, NodeKey.generate().public_key, NOW)
