"""Certificates a node holds (the operator's registration and trade certificates)."""

from __future__ import annotations

from typing import Any

from trustspace.store.db import Tx


def uncertified_trades(tx: Tx, provider_id: str) -> list[dict[str, Any]]:
    """Finalised agreements where this node is the provider and no trade certificate is held."""
    rows = tx.all(
        "SELECT a.id, a.policy, a.dataset_id FROM agreements a"
        " JOIN negotiations n ON n.id = a.negotiation_id"
        " WHERE a.provider_id = ? AND n.state = 'FINALIZED' AND NOT EXISTS"
        " (SELECT 1 FROM certificates c WHERE c.kind = 'trade' AND c.subject = a.id)",
        (provider_id,),
    )
    return [dict(r) for r in rows]


def store(tx: Tx, cert_id: str, kind: str, subject: str, token: str, at: float) -> None:
    tx.execute(
        "INSERT INTO certificates (id, kind, subject, token, issued_at) VALUES (?,?,?,?,?)"
        " ON CONFLICT (id) DO NOTHING",
        (cert_id, kind, subject, token, at),
    )


def held(tx: Tx) -> list[dict[str, Any]]:
    rows = tx.all("SELECT * FROM certificates ORDER BY issued_at")
    return [dict(r) for r in rows]
