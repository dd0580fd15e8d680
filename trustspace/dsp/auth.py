"""Who is calling: DSP request authentication.

The default checks the self-issued signed token against the trust list
(:class:`trustspace.trust.tokens.TokenVerifier`), with a replay cache kept in
the store so a token cannot be replayed after a restart either.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

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
    """Test profile only: one configured header value stands for one participant."""

    def __init__(
        self, value: str, participant_id: str, fallback: TokenAuthenticator | None
    ) -> None:
        self.value = value
        self.participant_id = participant_id
        self.fallback = fallback

    def authenticate(self, authorization: str | None) -> str:
        if authorization is not None and hmac.compare_digest(
            authorization.encode(), self.value.encode()
        ):
            return self.participant_id
        if self.fallback is None:
            raise AuthError("missing or unknown Authorization value")
        return self.fallback.authenticate(authorization)
