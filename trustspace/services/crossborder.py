"""Cross-border delivery checks at the provider, with year-to-date counters.

A transfer request from a consumer verified in another country than this provider is checked
with :func:`trustspace.core.compliance.delivery_problem`.  Regions come from the membership
credentials.  When the product holds personal information, its distinct persons count
towards this year's totals: once per product per calendar year, recorded in the same transaction
that accepts the transfer, so concurrent requests cannot both slip under a threshold.
"""

from __future__ import annotations

from datetime import UTC, datetime

from trustspace.core.compliance import CrossBorder, country, delivery_problem
from trustspace.core.records import Dataset
from trustspace.services.context import NodeContext
from trustspace.services.errors import Refused
from trustspace.store.db import Tx


def check(ctx: NodeContext, tx: Tx, consumer: str, dataset: Dataset) -> None:
    home, away = ctx.own_region(), ctx.identity(consumer).region
    if country(home) is None or country(away) is None or country(home) == country(away):
        return
    profile = dataset.profile or {}
    has_pi = bool(profile.get("pii_kinds"))
    year = datetime.fromtimestamp(ctx.clock(), UTC).year
    counts = None
    if has_pi:
        lock = " FOR UPDATE" if tx.dialect == "postgresql" else ""
        rows = tx.all(
            f"SELECT dataset_id, persons, sensitive FROM crossborder WHERE year = ?{lock}", (year,)
        )
        counts = CrossBorder(
            persons_so_far=sum(int(r["persons"]) for r in rows),
            sensitive_so_far=sum(int(r["persons"]) for r in rows if r["sensitive"]),
            persons=int(profile.get("persons", 0)),
            sensitive=bool(profile.get("sensitive")),
            already_counted=any(r["dataset_id"] == dataset.id for r in rows),
        )
    problem = delivery_problem(
        provider_region=home,
        consumer_region=away,
        classification=dataset.classification,
        has_pi=has_pi,
        declaration=dataset.declaration,
        counts=counts,
    )
    if problem is not None:
        raise Refused(problem)
    if counts is not None and not counts.already_counted:
        tx.execute(
            "INSERT INTO crossborder (year, dataset_id, persons, sensitive, at) VALUES (?,?,?,?,?)",
            (year, dataset.id, counts.persons, 1 if counts.sensitive else 0, ctx.clock()),
        )
