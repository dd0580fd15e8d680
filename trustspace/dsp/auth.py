"""Who is calling: DSP request authentication.

The default checks the self-issued signed token against the trust list
(:class:`trustspace.trust.tokens.TokenVerifier`), with a replay cache kept in
the store so a token cannot be replayed after a restart either.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable

from trustspace.store import repo
from trustspace.store.db import Database
from trustspace.trust.tokens import AuthError, TokenVerifier


class StoreReplayGuard:
    def __init__(self, db: Database, clock: Callable[[], float]) -> None:
        self.db = db
        self.clock = clock

    def remember(self, jti: str, expires_at: float) -> bool:
        with self.db.tx(durable=False) as tx:
            return repo.remember_token(tx, jti, expires_at, self.clock())


class TokenAuthenticator:
    def __init__(self, verifier: TokenVerifier, clock: Callable[[], float]) -> None:
        self.verifier = verifier
        self.clock = clock

    def authenticate(self, authorization: str | None) -> str:
        return self.verifier.verify(authorization, now=self.clock()).participant_id


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
