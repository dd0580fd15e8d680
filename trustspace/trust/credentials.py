"""Membership credentials and the revocation status list (JWT, EdDSA).

A membership credential is a W3C Verifiable Credential in the JWT encoding, signed by the
operator of a data space:
- ``iss``: the operator;
- ``sub``: the member's participant id;
- ``jti``: the credential id;
- ``nbf``/``exp``: its validity;
- ``cnf.jwk``: the member connector's Ed25519 public key (the credential binds the id to the
  key);
- ``vc.credentialSubject``: the verified claims (legal name, region, sector, roles, DSP URL).

Its header names the operator key (``kid``), so operator keys can rotate: old keys stay
published until the credentials they signed expire.

A DSP request carries the member's self-issued token (:mod:`trustspace.trust.tokens`) with its
credentials in the ``credentials`` claim, signed along with the rest.  The receiver:
1. verifies each credential against the keys of an operator it trusts;
2. checks its validity;
3. checks that its subject is the token's issuer;
4. checks that neither the member nor the credential is revoked or suspended on that operator's
   status list;
5. verifies the token with the key the credential binds.

The first failure is the reason in the 401.

The status list is a JWT signed by the operator, with a short lifetime.  It lists suspended and
revoked members and revoked credentials.  A verifier with no fresh status list refuses (fail
closed).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from trustspace.trust.keys import NodeKey, public_key_from_b64
from trustspace.trust.tokens import AuthError, KeyResolver, Principal, TokenVerifier

VC_CONTEXT = "https://www.w3.org/2018/credentials/v1"
CREDENTIAL_TYPE = "TrustspaceMembershipCredential"
STATUS_TYPE = "TrustspaceStatusList"


def jwk(public_b64: str) -> dict[str, str]:
    return {"kty": "OKP", "crv": "Ed25519", "x": public_b64}


def jwk_key(value: object) -> Ed25519PublicKey:
    if not isinstance(value, Mapping) or value.get("kty") != "OKP" or value.get("crv") != "Ed25519":
        raise ValueError("not an Ed25519 JWK")
    x = value.get("x")
    if not isinstance(x, str):
        raise ValueError("the JWK has no key")
    return public_key_from_b64(x)


@dataclass(frozen=True)
class MemberClaims:
    participant_id: str
    legal_name: str
    region: str
    sector: str
    roles: tuple[str, ...]
    dsp_url: str
    space: str  # the operator that vouches for the member


def issue_credential(
    operator: NodeKey,
    operator_id: str,
    *,
    subject: MemberClaims,
    public_b64: str,
    now: float,
    ttl: float,
    jti: str | None = None,
) -> tuple[str, str]:
    """A signed membership credential and its id."""
    credential_id = jti or f"urn:uuid:{uuid.uuid4()}"
    claims = {
        "iss": operator_id,
        "sub": subject.participant_id,
        "jti": credential_id,
        "iat": int(now),
        "nbf": int(now),
        "exp": int(now + ttl),
        "cnf": {"jwk": jwk(public_b64)},
        "vc": {
            "@context": [VC_CONTEXT],
            "type": ["VerifiableCredential", CREDENTIAL_TYPE],
            "credentialSubject": {
                "id": subject.participant_id,
                "legalName": subject.legal_name,
                "region": subject.region,
                "sector": subject.sector,
                "roles": list(subject.roles),
                "dspUrl": subject.dsp_url,
            },
        },
    }
    token = jwt.encode(
        claims, operator.private_key, algorithm="EdDSA", headers={"kid": operator.kid}
    )
    return token, credential_id


@dataclass(frozen=True)
class StatusList:
    issuer: str
    issued_at: float
    expires_at: float
    suspended: Mapping[str, str] = field(default_factory=dict)  # participant -> reason
    revoked: Mapping[str, str] = field(default_factory=dict)  # participant -> reason
    revoked_credentials: frozenset[str] = frozenset()

    def problem(self, participant_id: str, credential_id: str) -> str | None:
        if participant_id in self.revoked:
            return f"member {participant_id} is revoked: {self.revoked[participant_id]}"
        if participant_id in self.suspended:
            return f"member {participant_id} is suspended: {self.suspended[participant_id]}"
        if credential_id in self.revoked_credentials:
            return f"credential {credential_id} is revoked"
        return None


def issue_status_list(
    operator: NodeKey,
    operator_id: str,
    *,
    now: float,
    ttl: float,
    suspended: Mapping[str, str],
    revoked: Mapping[str, str],
    revoked_credentials: Iterable[str],
) -> str:
    claims = {
        "iss": operator_id,
        "iat": int(now),
        "exp": int(now + ttl),
        "type": STATUS_TYPE,
        "suspended": dict(suspended),
        "revoked": dict(revoked),
        "revokedCredentials": sorted(revoked_credentials),
    }
    return jwt.encode(
        claims, operator.private_key, algorithm="EdDSA", headers={"kid": operator.kid}
    )


class OperatorKeys(Protocol):
    """What a verifier knows about the operators it trusts (kept fresh by its caller)."""

    def key(self, operator_id: str, kid: str) -> Ed25519PublicKey | None:
        """The operator's key with this id, refreshing once if it is not known yet."""

    def status(self, operator_id: str) -> StatusList | None:
        """The operator's current status list, or None if none is fresh."""


def _header_kid(token: str) -> str:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError as exc:
        raise AuthError(f"malformed credential: {exc}") from exc
    if not isinstance(kid, str):
        raise AuthError("the credential names no operator key")
    return kid


def verify_signed(token: str, key: Ed25519PublicKey, what: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=["EdDSA"],
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                     "verify_aud": False},
        )  # fmt: skip
    except jwt.PyJWTError as exc:
        raise AuthError(f"{what} signature does not verify: {exc}") from exc
    return claims


def read_status_list(token: str, key: Ed25519PublicKey, now: float) -> StatusList:
    claims = verify_signed(token, key, "status list")
    if claims.get("type") != STATUS_TYPE:
        raise AuthError("not a status list")
    if now > float(claims.get("exp", 0)):
        raise AuthError("the status list has expired")
    return StatusList(
        issuer=str(claims.get("iss")),
        issued_at=float(claims.get("iat", 0)),
        expires_at=float(claims["exp"]),
        suspended=dict(claims.get("suspended", {})),
        revoked=dict(claims.get("revoked", {})),
        revoked_credentials=frozenset(claims.get("revokedCredentials", [])),
    )


def verify_credential(
    token: str, operators: OperatorKeys, trusted: Sequence[str], *, now: float, leeway: float = 5.0
) -> tuple[MemberClaims, Ed25519PublicKey, str]:
    """A credential's verified claims, the key it binds, and its id; raises AuthError."""
    kid = _header_kid(token)
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise AuthError(f"malformed credential: {exc}") from exc
    issuer = unverified.get("iss")
    if not isinstance(issuer, str) or issuer not in trusted:
        raise AuthError(f"credential issuer {issuer!r} is not an operator this node trusts")
    key = operators.key(issuer, kid)
    if key is None:
        raise AuthError(f"operator {issuer} has no key {kid}")
    claims = verify_signed(token, key, "credential")
    try:
        exp, nbf = float(claims["exp"]), float(claims.get("nbf", claims["iat"]))
        subject = claims["vc"]["credentialSubject"]
        bound = jwk_key(claims["cnf"]["jwk"])
        member = MemberClaims(
            participant_id=str(claims["sub"]),
            legal_name=str(subject["legalName"]),
            region=str(subject["region"]),
            sector=str(subject["sector"]),
            roles=tuple(str(r) for r in subject["roles"]),
            dsp_url=str(subject["dspUrl"]),
            space=issuer,
        )
        credential_id = str(claims["jti"])
        if CREDENTIAL_TYPE not in claims["vc"]["type"]:
            raise AuthError("not a membership credential")
    except (KeyError, TypeError, ValueError) as exc:
        raise AuthError(f"malformed credential: {exc}") from exc
    if now > exp + leeway:
        raise AuthError(f"credential {credential_id} expired")
    if now + leeway < nbf:
        raise AuthError(f"credential {credential_id} is not valid yet")
    status = operators.status(issuer)
    if status is None:
        raise AuthError(f"no current revocation status from operator {issuer}")
    problem = status.problem(member.participant_id, credential_id)
    if problem is not None:
        raise AuthError(problem)
    return member, bound, credential_id


class _Bound:
    """The key a verified credential binds, for exactly one participant."""

    def __init__(self, participant_id: str, key: Ed25519PublicKey) -> None:
        self.participant_id, self.key = participant_id, key

    def public_key(self, participant_id: str) -> Ed25519PublicKey | None:
        return self.key if participant_id == self.participant_id else None


NO_CREDENTIAL = (
    "the token carries no membership credential: the caller has not been approved by an operator"
    " this node trusts yet, or has not picked up its credential; run `trustspace member status`"
    " on the calling node"
)
"""The refusal of a token without credentials, worded for whoever reads it on the calling side."""


class MembershipVerifier:
    """Verifies DSP request tokens that carry membership credentials.

    Without credentials, a token may still be accepted through ``static`` (a trust list) for a
    space without operator; with neither, it is refused."""

    def __init__(
        self,
        own_id: str,
        operators: OperatorKeys,
        trusted: Sequence[str],
        token_verifier: TokenVerifier,
        *,
        static: KeyResolver | None = None,
    ) -> None:
        self.own_id = own_id
        self.operators = operators
        self.trusted = tuple(trusted)
        self.tokens = token_verifier
        self.static = static

    def verify(self, authorization_header: str | None, *, now: float) -> Principal:
        if not authorization_header:
            raise AuthError("missing bearer token")
        scheme, _, token = authorization_header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("missing bearer token")
        try:
            unverified = jwt.decode(token.strip(), options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise AuthError(f"malformed token: {exc}") from exc
        issuer = unverified.get("iss")
        credentials = unverified.get("credentials")
        if not credentials:
            if (
                self.static is not None
                and isinstance(issuer, str)
                and self.static.public_key(issuer) is not None
            ):
                return self.tokens.verify(authorization_header, now=now, keys=self.static)
            raise AuthError(NO_CREDENTIAL)
        if not isinstance(credentials, list) or not all(isinstance(c, str) for c in credentials):
            raise AuthError("the credentials claim must be a list of credentials")
        failures: list[str] = []
        for credential in credentials:
            try:
                member, key, credential_id = verify_credential(
                    credential, self.operators, self.trusted, now=now
                )
            except AuthError as exc:
                failures.append(exc.reason)
                continue
            if member.participant_id != issuer:
                failures.append(
                    f"the credential is for {member.participant_id}, not the sender {issuer}"
                )
                continue
            principal = self.tokens.verify(
                authorization_header, now=now, keys=_Bound(member.participant_id, key)
            )
            return Principal(
                principal.participant_id,
                {**principal.claims, "membership": member, "credentialId": credential_id},
            )
        raise AuthError(failures[0] if failures else "no usable membership credential")


CHECKPOINT_TYPE = "TrustspaceEvidenceCheckpoint"


def issue_checkpoint(
    operator: NodeKey, operator_id: str, *, participant: str, seq: int, digest: str, now: float
) -> str:
    """The operator's countersignature of a member's evidence log head."""
    claims = {"iss": operator_id, "sub": participant, "type": CHECKPOINT_TYPE, "seq": seq,
              "hash": digest, "iat": int(now)}  # fmt: skip
    return jwt.encode(
        claims, operator.private_key, algorithm="EdDSA", headers={"kid": operator.kid}
    )


def read_checkpoint(token: str, keys: Mapping[str, Ed25519PublicKey]) -> dict[str, Any]:
    """A checkpoint's claims, verified against the operator keys by key id; raises AuthError."""
    kid = _header_kid(token)
    key = keys.get(kid)
    if key is None:
        raise AuthError(f"checkpoint signed with unknown operator key {kid}")
    claims = verify_signed(token, key, "checkpoint")
    if claims.get("type") != CHECKPOINT_TYPE:
        raise AuthError("not an evidence checkpoint")
    return claims


CERTIFICATE_TYPES = ("RegistrationCertificate", "TradeCertificate")


def issue_certificate(
    operator: NodeKey, operator_id: str, *, kind: str, subject: str, claims: Mapping[str, Any],
    now: float,
) -> tuple[str, str]:  # fmt: skip
    """A signed certificate (registration of a product version, or a trade) and its id."""
    if kind not in CERTIFICATE_TYPES:
        raise ValueError(f"unknown certificate type {kind!r}")
    cert_id = f"urn:uuid:{uuid.uuid4()}"
    body = {**claims, "iss": operator_id, "sub": subject, "jti": cert_id, "iat": int(now),
            "type": kind}  # fmt: skip
    token = jwt.encode(body, operator.private_key, algorithm="EdDSA", headers={"kid": operator.kid})
    return token, cert_id


def read_certificate(token: str, keys: Mapping[str, Ed25519PublicKey]) -> dict[str, Any]:
    """A certificate's claims, verified against the operator's keys; raises AuthError."""
    kid = _header_kid(token)
    key = keys.get(kid)
    if key is None:
        raise AuthError(
            f"the certificate is signed with key {kid}, which the operator does not publish"
        )
    claims = verify_signed(token, key, "certificate")
    if claims.get("type") not in CERTIFICATE_TYPES:
        raise AuthError("not a trustspace certificate")
    return claims
