"""Contract agreements: the terms a negotiation concluded.

Rows in, records out, always inside a caller's transaction."""

from __future__ import annotations

import hashlib
import json

from trustspace.core.records import (
    Agreement,
)
from trustspace.store import evidence
from trustspace.store.db import Tx, dump_json, for_update


def insert_agreement(tx: Tx, a: Agreement) -> None:
    tx.execute(
        "INSERT INTO agreements (id, negotiation_id, dataset_id, provider_id, consumer_id, policy,"
        " created_at) VALUES (?,?,?,?,?,?,?)",
        (
            a.id,
            a.negotiation_id,
            a.dataset_id,
            a.provider_id,
            a.consumer_id,
            dump_json(a.policy),
            a.created_at,
        ),
    )
    evidence.record(
        tx,
        at=a.created_at,
        kind="agreement",
        subject=a.id,
        data={
            "negotiation": a.negotiation_id,
            "dataset": a.dataset_id,
            "provider": a.provider_id,
            "consumer": a.consumer_id,
            "policySha256": hashlib.sha256(dump_json(a.policy).encode()).hexdigest(),
        },
    )


def get_agreement(tx: Tx, agreement_id: str, *, lock: bool = False) -> Agreement | None:
    """``lock=True`` serialises uses of one agreement (a row lock on PostgreSQL)."""
    row = tx.one(
        f"SELECT * FROM agreements WHERE id = ?{for_update(tx) if lock else ''}", (agreement_id,)
    )
    if row is None:
        return None
    return Agreement(
        id=row["id"],
        negotiation_id=row["negotiation_id"],
        dataset_id=row["dataset_id"],
        provider_id=row["provider_id"],
        consumer_id=row["consumer_id"],
        policy=json.loads(row["policy"]),
        created_at=row["created_at"],
    )
