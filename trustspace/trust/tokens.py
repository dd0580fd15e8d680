"""Short-lived self-issued DSP request tokens (JWT, EdDSA).

A sender signs ``iss = sub = its participant id``, ``aud = the receiver``,
``iat``/``nbf``/``exp`` and a unique ``jti``.  The receiver checks, in order:
a bearer token is present; its issuer is known; the signature verifies with the
issuer's key (EdDSA only); iss equals sub; the audience is the receiver; it is
not expired or not yet valid (with leeway); its lifetime is short; and only
then that its jti is new, so junk tokens can never fill the replay cache.
Times come from the caller (``now``), never from the wall clock inside.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from trustspace.trust.keys import NodeKey

RESERVED = frozenset({"iss", "sub", "aud", "iat", "nbf", "exp", "jti"})


class AuthError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Principal:
    participant_id: str
    claims: Mapping[str, Any]


class ReplayGuard(Protocol):
    def remember(self, jti: str, expires_at: float) -> bool:
        """Record a token id; False if it was seen before."""


class KeyResolver(Protocol):
    def public_key(self, participant_id: str) -> Ed25519PublicKey | None:
        """The participant's current public key, or None if it is not trusted."""


class MemoryReplayGuard:
    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def remember(self, jti: str, expires_at: float) -> bool:
        with self._lock:
            if jti in self._seen:
                return False
            if len(self._seen) > 10_000:
                floor = min(expires_at, *self._seen.values())
                self._seen = {k: v for k, v in self._seen.items() if v > floor}
            self._seen[jti] = expires_at
            return True


def issue_token(
    key: NodeKey,
    issuer: str,
    audience: str,
    *,
    now: float,
    ttl: float = 60.0,
    jti: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    claims: dict[str, Any] = {k: v for k, v in (extra or {}).items() if k not in RESERVED}
    claims.update(
        iss=issuer,
        sub=issuer,
        aud=audience,
        iat=int(now),
        nbf=int(now),
        exp=int(now + ttl),
        jti=jti or f"urn:uuid:{uuid.uuid4()}",
    )
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})


def bearer(token: str) -> str:
    return f"Bearer {token}"


class TokenVerifier:
    def __init__(
        self,
        own_id: str,
        keys: KeyResolver,
        replay: ReplayGuard,
        *,
        leeway: float = 5.0,
        max_ttl: float = 300.0,
    ) -> None:
        self.own_id = own_id
        self.keys = keys
        self.replay = replay
        self.leeway = leeway
        self.max_ttl = max_ttl

    def verify(
        self, authorization_header: str | None, *, now: float, keys: KeyResolver | None = None
    ) -> Principal:
        """``keys`` overrides where the issuer's key comes from (a verified credential)."""
        if not authorization_header:
            raise AuthError("missing bearer token")
        scheme, _, token = authorization_header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("missing bearer token")
        token = token.strip()
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise AuthError(f"malformed token: {exc}") from exc
        issuer = unverified.get("iss")
        if not isinstance(issuer, str):
            raise AuthError("token has no issuer")
        public_key = (keys or self.keys).public_key(issuer)
        if public_key is None:
            raise AuthError(f"unknown participant {issuer!r}")
        try:
            claims = jwt.decode(
                token,
                public_key,
                algorithms=["EdDSA"],
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_aud": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise AuthError(f"bad signature: {exc}") from exc
        for claim in ("sub", "aud", "exp", "iat", "jti"):
            if claim not in claims:
                raise AuthError(f"token lacks the {claim} claim")
        if claims["sub"] != issuer:
            raise AuthError("issuer and subject differ")
        audience = claims["aud"]
        audiences = audience if isinstance(audience, list) else [audience]
        if self.own_id not in audiences:
            raise AuthError(f"token audience is {audience!r}, expected {self.own_id!r}")
        try:
            exp, iat = float(claims["exp"]), float(claims["iat"])
            nbf = float(claims.get("nbf", iat))
        except (TypeError, ValueError) as exc:
            raise AuthError("token times are not numbers") from exc
        if now > exp + self.leeway:
            raise AuthError("token expired")
        if now + self.leeway < nbf or now + self.leeway < iat:
            raise AuthError("token not yet valid")
        if exp - iat > self.max_ttl:
            raise AuthError(f"token lifetime {exp - iat:.0f}s exceeds {self.max_ttl:.0f}s")
        if not isinstance(claims["jti"], str) or not self.replay.remember(
            claims["jti"], exp + self.leeway
        ):
            raise AuthError("token already used (replay)")
        return Principal(issuer, claims)
