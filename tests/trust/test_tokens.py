from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import jwt
import pytest

from trustspace.trust.keys import NodeKey, public_key_from_b64
from trustspace.trust.tokens import AuthError, MemoryReplayGuard, TokenVerifier, bearer, issue_token
from trustspace.trust.trustlist import Participant, TrustList

NOW = 1_800_000_000.0


@pytest.fixture
def alice() -> NodeKey:
    return NodeKey.generate()


@pytest.fixture
def verifier(alice: NodeKey) -> TokenVerifier:
    trust = TrustList([Participant("alice", alice.public_b64)])
    return TokenVerifier("bob", trust, MemoryReplayGuard())


def header(key: NodeKey, **kw: object) -> str:
    args: dict[str, object] = {"issuer": "alice", "audience": "bob", "now": NOW}
    args.update(kw)
    return bearer(issue_token(key, **args))  # type: ignore[arg-type]


def test_round_trip(alice: NodeKey, verifier: TokenVerifier) -> None:
    p = verifier.verify(header(alice, extra={"membership": "vc"}), now=NOW + 1)
    assert p.participant_id == "alice"
    assert p.claims["aud"] == "bob" and p.claims["membership"] == "vc"
    assert jwt.get_unverified_header(header(alice).split()[1])["kid"] == alice.kid


def test_replay_is_refused_after_one_success(alice: NodeKey, verifier: TokenVerifier) -> None:
    h = header(alice)
    verifier.verify(h, now=NOW)
    with pytest.raises(AuthError, match="replay"):
        verifier.verify(h, now=NOW)


def _tamper(h: str) -> str:
    head, payload, sig = h.split()[1].split(".")
    flipped = ("A" if sig[5] != "A" else "B") + sig[6:]
    return f"Bearer {head}.{payload}.{sig[:5]}{flipped}"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda k: None, "missing"),
        (lambda k: "Basic abc", "missing"),
        (lambda k: "Bearer ", "missing"),
        (lambda k: "Bearer not.a.jwt", "malformed"),
        (lambda k: _tamper(header(k)), "signature"),
        (lambda k: header(NodeKey.generate()), "signature"),
        (lambda k: header(k, now=NOW - 120), "expired"),
        (lambda k: header(k, now=NOW + 60), "not yet valid"),
        (lambda k: header(k, audience="carol"), "audience"),
        (lambda k: header(k, issuer="mallory"), "unknown participant"),
        (lambda k: header(k, ttl=3600), "lifetime"),
        (lambda k: header(k, extra={"iss": "x", "aud": "bob", "exp": NOW + 9e9}), None),
    ],
)
def test_refusals(
    alice: NodeKey, verifier: TokenVerifier, make: object, reason: str | None
) -> None:
    h = make(alice)  # type: ignore[operator]
    if reason is None:  # reserved claims cannot be overridden through `extra`
        p = verifier.verify(h, now=NOW)
        assert p.claims["iss"] == "alice" and p.claims["exp"] == int(NOW + 60)
        return
    with pytest.raises(AuthError, match=reason):
        verifier.verify(h, now=NOW)


def test_subject_must_equal_issuer(alice: NodeKey, verifier: TokenVerifier) -> None:
    token = jwt.encode(
        {"iss": "alice", "sub": "carol", "aud": "bob", "iat": NOW, "exp": NOW + 60, "jti": "j"},
        alice.private_key,
        algorithm="EdDSA",
    )
    with pytest.raises(AuthError, match="subject"):
        verifier.verify(bearer(token), now=NOW)


def test_hs256_and_none_tokens_are_refused(alice: NodeKey, verifier: TokenVerifier) -> None:
    claims = {"iss": "alice", "sub": "alice", "aud": "bob", "iat": NOW, "exp": NOW + 60, "jti": "j"}
    hs = jwt.encode(claims, alice.public_b64, algorithm="HS256")
    with pytest.raises(AuthError, match="signature"):
        verifier.verify(bearer(hs), now=NOW)
    head = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(AuthError):
        verifier.verify(f"Bearer {head}.{body}.", now=NOW)


def test_junk_tokens_do_not_fill_the_replay_cache(alice: NodeKey) -> None:
    guard = MemoryReplayGuard()
    v = TokenVerifier("bob", TrustList([Participant("alice", alice.public_b64)]), guard)
    h = header(alice, audience="carol", jti="j1")
    with pytest.raises(AuthError):
        v.verify(h, now=NOW)
    assert guard.remember("j1", NOW + 60)  # never recorded by the refused attempt


def test_key_file_is_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "node.key"
    key = NodeKey.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = NodeKey.load_or_create(path)
    assert again.public_b64 == key.public_b64 and again.kid == key.kid
    assert len(key.kid) == 16


def test_bad_public_keys() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        public_key_from_b64("AAAA")
    with pytest.raises(ValueError):
        public_key_from_b64("***")


def test_trust_list_load_and_errors(tmp_path: Path) -> None:
    a, b = NodeKey.generate(), NodeKey.generate()
    path = tmp_path / "t.json"
    TrustList(
        [Participant("a", a.public_b64, "http://a/dsp/2025-1"), Participant("b", b.public_b64)]
    ).dump(path)
    trust = TrustList.load(path)
    assert len(trust) == 2 and trust.get("a") is not None
    assert trust.by_address("http://a/dsp/2025-1/") == trust.get("a")
    assert trust.by_address("http://nowhere") is None
    assert trust.public_key("zz") is None
    assert len(trust.add(Participant("c", NodeKey.generate().public_b64))) == 3
    for content, fragment in [
        ("{", "cannot read"),
        ('{"participants": 3}', "expected"),
        ('{"participants": [{"id": "x"}]}', "public_key"),
        ('{"participants": [{"id": "x", "public_key": "AAAA"}]}', "entry 0 \\(x\\)"),
        (
            json.dumps(
                {
                    "participants": [
                        {"id": "x", "public_key": a.public_b64},
                        {"id": "x", "public_key": b.public_b64},
                    ]
                }
            ),
            "twice",
        ),
    ]:
        path.write_text(content)
        with pytest.raises(ValueError, match=fragment):
            TrustList.load(path)
