"""Who is calling: DSP request authentication.

The default checks the self-issued signed token against the trust list
(:class:`trustspace.trust.tokens.TokenVerifier`), with a replay cache kept in
the store so a token cannot be replayed after a restart either.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable
from typing import Protocol

from trustspace.store import replay
from trustspace.store.db import Database
from trustspace.trust.tokens import AuthError, Principal


class StoreReplayGuard:
    def __init__(self, db: Database, clock: Callable[[], float]) -> None:
        self.db = db
        self.clock = clock

    def remember(self, jti: str, expires_at: float) -> bool:
        with self.db.tx(durable=False) as tx:
            return replay.remember_token(tx, jti, expires_at, self.clock())


class Verifier(Protocol):
    def verify(self, authorization_header: str | None, *, now: float) -> Principal: ...


class TokenAuthenticator:
    """``seen`` receives every verified principal (its claims carry verified membership)."""

    def __init__(
        self,
        verifier: Verifier,
        clock: Callable[[], float],
        seen: Callable[[Principal], None] | None = None,
    ) -> None:
        self.verifier = verifier
        self.clock = clock
        self.seen = seen

    def authenticate(self, authorization: str | None) -> str:
        principal = self.verifier.verify(authorization, now=self.clock())
        if self.seen is not None:
            self.seen(principal)
        return principal.participant_id


class FixedHeaderAuthenticator:
    """Test profile only: configured header values stand for one participant."""

    def __init__(
        self, values: Iterable[str], participant_id: str, fallback: TokenAuthenticator | None
    ) -> None:
        self.values = tuple(v.encode() for v in values)
        self.participant_id = participant_id
        self.fallback = fallback

    def authenticate(self, authorization: str | None) -> str:
        given = (authorization or "").encode()
        if authorization is not None and any(hmac.compare_digest(given, v) for v in self.values):
            return self.participant_id
        if self.fallback is None:
            raise AuthError("missing or unknown Authorization value")
        return self.fallback.authenticate(authorization)
