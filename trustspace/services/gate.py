"""Authenticating requests from other nodes, and keeping count of the refused ones.

A refusal is counted in the bounded refusal log (:mod:`trustspace.store.audit`): repeats are
aggregated per ``refusal_window`` and at most ``refusal_rows`` rows are kept per window, so
unauthenticated requests cannot grow the store without bound.  Closed windows are summarised
into the evidence log by :meth:`Gate.summarize`.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

import jwt

from trustspace.store import audit
from trustspace.store.db import Database
from trustspace.trust.tokens import AuthError

log = logging.getLogger("trustspace.gate")


class Authenticator(Protocol):
    def authenticate(self, authorization: str | None) -> str:
        """Return the caller's participant id or raise AuthError."""


def claimed_issuer(authorization: str | None) -> str | None:
    """Who a token says it is from, unverified: only for the refusal log."""
    token = (authorization or "").partition(" ")[2].strip()
    try:
        issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        return None
    return issuer if isinstance(issuer, str) else None


class Gate:
    def __init__(self, db: Database, auth: Authenticator, *, window: float, max_rows: int) -> None:
        self.db, self.auth, self.window, self.max_rows = db, auth, window, max_rows

    def authenticate(self, authorization: str | None, surface: str = "dsp") -> str:
        """Who sent this request; a refusal is counted in the refusal log and raised."""
        try:
            return self.auth.authenticate(authorization)
        except AuthError as exc:
            issuer = claimed_issuer(authorization)
            log.warning("refused %s from %s: %s", audit.clip(surface), audit.clip(issuer or "?"),
                        audit.clip(exc.reason))  # fmt: skip
            self.refused(surface, issuer, exc.reason)
            raise

    def refused(self, surface: str, issuer: str | None, reason: str) -> None:
        with self.db.tx(durable=False) as tx:
            audit.record_refusal(tx, time.time(), surface, issuer, reason,
                                 window=self.window, max_rows=self.max_rows)  # fmt: skip

    def summarize(self) -> int:
        """Write the evidence summaries of refusal windows that have closed."""
        with self.db.tx(durable=False) as tx:
            return audit.summarize(tx, time.time(), self.window)
