"""Refused authentication attempts, kept for the operator and auditors."""

from __future__ import annotations

from typing import Any

from trustspace.store import evidence
from trustspace.store.db import Tx


def record_auth_failure(tx: Tx, at: float, path: str, issuer: str | None, reason: str) -> None:
    tx.execute(
        "INSERT INTO auth_failures (at, path, issuer, reason) VALUES (?,?,?,?)",
        (at, path, issuer, reason),
    )
    evidence.record(
        tx, at=at, kind="auth-refused", subject=issuer or "?", data={"path": path, "reason": reason}
    )


def auth_failures(tx: Tx, limit: int = 100) -> list[dict[str, Any]]:
    rows = tx.all("SELECT * FROM auth_failures ORDER BY id DESC LIMIT ?", (limit,))
    return [
        {"at": r["at"], "path": r["path"], "issuer": r["issuer"], "reason": r["reason"]}
        for r in rows
    ]
