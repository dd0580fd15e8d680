"""What an operator's pages read about its space, in one transaction each: the federated
catalog's size, the certificates issued, the evidence checkpoints and the crawls started from
the portal.  Pure reads; the decisions stay with the operator's services."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

from trustspace.store import evidence
from trustspace.store.db import Database

CRAWL_ACTION = "portal.crawl"
"""The evidence kind of a crawl started in the portal (its report is the entry's data)."""


def month_of(seconds: float) -> str:
    """``YYYY-MM`` of a moment, in UTC."""
    return dt.datetime.fromtimestamp(float(seconds), dt.UTC).strftime("%Y-%m")


def space_summary(db: Database) -> dict[str, Any]:
    """The federated catalog per space and provider, and the certificates per kind and month."""
    with db.tx() as tx:
        catalog = tx.all(
            "SELECT space, provider_id, COUNT(*) AS n, MAX(indexed_at) AS last"
            " FROM catalog_entries GROUP BY space, provider_id ORDER BY space, provider_id"
        )
        certificates = tx.all("SELECT kind, issued_at FROM certificates ORDER BY issued_at")
    trades = Counter(month_of(r["issued_at"]) for r in certificates if r["kind"] == "trade")
    return {
        "catalog": [
            {
                "space": r["space"],
                "provider": r["provider_id"],
                "datasets": int(r["n"]),
                "indexedAt": r["last"],
            }
            for r in catalog
        ],
        "datasets": sum(int(r["n"]) for r in catalog),
        "tradesByMonth": sorted(trades.items()),
        "trades": sum(trades.values()),
        "registrations": sum(1 for r in certificates if r["kind"] == "registration"),
    }


def crawls(db: Database, limit: int = 10) -> list[dict[str, Any]]:
    """The last crawls started in the portal, newest first, with their reports."""
    with db.tx() as tx:
        rows = tx.all(
            "SELECT seq, at, data FROM evidence WHERE kind = ? ORDER BY seq DESC LIMIT ?",
            (CRAWL_ACTION, limit),
        )
    found = []
    for r in rows:
        try:
            data = json.loads(r["data"])
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        actor = data.get("actor") if isinstance(data.get("actor"), dict) else {}
        errors = data.get("errors") if isinstance(data.get("errors"), dict) else {}
        found.append({"seq": int(r["seq"]), "at": r["at"], "by": (actor or {}).get("user"),
                      "members": data.get("members"), "datasets": data.get("datasets"),
                      "errors": errors})  # fmt: skip
    return found


def checkpoints(db: Database, limit: int = 50) -> dict[str, Any]:
    """The evidence log's head, its last countersigned checkpoints (newest first), and the
    checkpoints this operator countersigned for each member."""
    with db.tx() as tx:
        seq, digest = evidence.head(tx)
        own = tx.all(
            "SELECT seq, hash, operator, at FROM checkpoints ORDER BY seq DESC, operator LIMIT ?",
            (limit,),
        )
        members = tx.all(
            "SELECT participant_id, COUNT(*) AS n, MAX(seq) AS last_seq, MAX(at) AS last_at"
            " FROM member_checkpoints GROUP BY participant_id ORDER BY participant_id"
        )
    return {
        "head": {"seq": seq, "hash": digest},
        "checkpoints": [
            {"seq": int(r["seq"]), "hash": r["hash"], "operator": r["operator"], "at": r["at"]}
            for r in own
        ],
        "members": [
            {
                "participant": r["participant_id"],
                "count": int(r["n"]),
                "lastSeq": int(r["last_seq"]),
                "lastAt": r["last_at"],
            }
            for r in members
        ],
    }
