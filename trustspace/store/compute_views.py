"""Reads for the portal's compute pages: this node's agreements as consumer, and how many of
its jobs on a product were admitted (each admitted job spent the rule's epsilon)."""

from __future__ import annotations

from trustspace.store.db import Row, Tx

ADMITTED = ("PENDING_REVIEW", "QUEUED", "RUNNING", "RELEASED", "FAILED", "REJECTED")
"""The states of a job the provider admitted: its budget was spent at admission."""


def consumer_agreements(tx: Tx, consumer_id: str, limit: int = 200) -> list[Row]:
    """This node's agreements as consumer, with their provider's address, newest first."""
    return tx.all(
        "SELECT a.id, a.dataset_id, a.provider_id, a.created_at, n.state"
        " FROM agreements a JOIN negotiations n ON n.id = a.negotiation_id"
        " WHERE a.consumer_id = ? ORDER BY a.created_at DESC LIMIT ?",
        (consumer_id, limit),
    )


def admitted_jobs(tx: Tx, consumer_id: str, dataset_id: str) -> int:
    """How many of this node's jobs (as consumer) on ``dataset_id`` the provider admitted."""
    marks = ", ".join("?" for _ in ADMITTED)
    row = tx.one(
        "SELECT COUNT(*) AS n FROM compute_jobs WHERE role = 'consumer' AND consumer_id = ?"
        f" AND dataset_id = ? AND state IN ({marks})",
        (consumer_id, dataset_id, *ADMITTED),
    )
    return 0 if row is None else int(row["n"])
