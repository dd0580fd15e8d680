"""Reads for the portal's compute pages, on the consumer's side.

- :func:`compute_agreements`: this node's agreements as consumer whose product offers compute,
  each with its analysis rule (as the provider's mock gives it, kept per product version:
  a published version's rule never changes).
- :func:`try_on_mock`: a query checked by the provider's guard and run on the provider's
  synthetic rows, here, as ``trustspace compute try`` does: it spends no budget and the
  provider sees nothing but the mock's fetch.
- :func:`budget`: what is left of the privacy budget, from this node's admitted jobs on the
  product (each spent the rule's epsilon per query).
"""

from __future__ import annotations

import csv
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trustspace.core.compute import GuardError, check, parse_rule
from trustspace.dataplane.compute import EngineError
from trustspace.services import compute, compute_consumer
from trustspace.services.errors import NotFound
from trustspace.services.peers import RemoteError
from trustspace.services.runtime import Runtime
from trustspace.store import compute_views as rows

MAX_KEPT = 1000
_rules: dict[tuple[str, str], dict[str, Any] | None] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class ComputeAgreement:
    id: str
    dataset_id: str
    provider_id: str
    created_at: float
    rule: dict[str, Any] | None
    """The analysis rule; None when the provider could not be asked just now."""
    problem: str | None = None


@dataclass(frozen=True)
class Tried:
    """A query tried on mock data: the result the provider would release for it on the
    mock, or the guard's (or the engine's) reason for refusing it."""

    result: dict[str, Any] | None
    refusal: str | None


def _rule(rt: Runtime, agreement_id: str, dataset_id: str) -> dict[str, Any] | None:
    """The product's analysis rule, or None when it offers no compute (RemoteError when the
    provider cannot be asked)."""
    key = (rt.ctx.participant_id, dataset_id)
    with _lock:
        if key in _rules:
            return _rules[key]
    try:
        found = compute_consumer.mock(rt, agreement_id).get("rule")
        rule = found if isinstance(found, dict) else None
    except RemoteError as exc:
        if exc.status != 404:
            raise
        rule = None  # "no compute product": the provider says so
    with _lock:
        if len(_rules) >= MAX_KEPT:
            _rules.clear()
        _rules[key] = rule
    return rule


def compute_agreements(rt: Runtime) -> list[ComputeAgreement]:
    """This node's finalised agreements as consumer that allow compute, newest first."""
    ctx = rt.ctx
    with ctx.db.tx() as tx:
        held = rows.consumer_agreements(tx, ctx.participant_id)
    found = []
    for row in held:
        if row["state"] != "FINALIZED":
            continue
        try:
            rule = _rule(rt, row["id"], row["dataset_id"])
        except RemoteError as exc:
            found.append(ComputeAgreement(row["id"], row["dataset_id"], row["provider_id"],
                                          row["created_at"], None, exc.reason))  # fmt: skip
            continue
        if rule is not None:
            found.append(ComputeAgreement(row["id"], row["dataset_id"], row["provider_id"],
                                          row["created_at"], rule))  # fmt: skip
    return found


def compute_agreement(rt: Runtime, agreement_id: str) -> ComputeAgreement:
    """One of this node's agreements as consumer, with its rule (NotFound otherwise)."""
    ctx = rt.ctx
    with ctx.db.tx() as tx:
        held = {r["id"]: r for r in rows.consumer_agreements(tx, ctx.participant_id, 10_000)}
    row = held.get(agreement_id)
    if row is None or row["state"] != "FINALIZED":
        raise NotFound(f"no agreement {agreement_id} where this node is the consumer")
    rule = _rule(rt, agreement_id, row["dataset_id"])
    if rule is None:
        raise NotFound(f"agreement {agreement_id} is for a product that offers no compute")
    return ComputeAgreement(row["id"], row["dataset_id"], row["provider_id"], row["created_at"],
                            rule)  # fmt: skip


def try_on_mock(rt: Runtime, agreement_id: str, query: str) -> Tried:
    """``query`` under the agreement's rule, on the provider's synthetic rows."""
    data = compute_consumer.mock(rt, agreement_id)
    try:
        rule = parse_rule(data["rule"])
        mocks: dict[str, Any] = {data["table"]: data, **(data.get("joined") or {})}
    except (GuardError, KeyError, TypeError) as exc:
        raise RemoteError(None, f"the provider's mock is not usable: {exc}") from None
    try:
        plan = check(rule, query, rt.ctx.compute_limits)
    except GuardError as exc:
        return Tried(None, str(exc))
    with tempfile.TemporaryDirectory() as tmp:
        tables: dict[str, tuple[Path, str]] = {}
        for index, (table, mock) in enumerate(mocks.items()):
            path = Path(tmp) / f"t{index}.csv"
            try:
                with path.open("w", newline="") as fh:
                    writer = csv.DictWriter(fh, fieldnames=list(mock["columns"]))
                    writer.writeheader()
                    writer.writerows(mock["rows"])
            except (KeyError, TypeError, ValueError) as exc:
                raise RemoteError(None, f"the provider's mock is not usable: {exc}") from None
            tables[str(table)] = (path, ".csv")
        try:
            return Tried(compute.preview(plan, tables), None)
        except EngineError as exc:
            return Tried(None, exc.reason)


def budget(rt: Runtime, agreement: ComputeAgreement,
           reported: float | None = None) -> dict[str, float] | None:  # fmt: skip
    """The privacy budget of the agreement's product: ``budget``, ``perQuery``, ``spent``,
    ``left`` and ``provider`` (1.0 when ``spent`` is what the provider reported with a job, its
    own count over every agreement and version; else counted from this node's admitted jobs).
    None without differential privacy."""
    dp = (agreement.rule or {}).get("dp")
    if not isinstance(dp, dict):
        return None
    try:
        total, per_query = float(dp["budget"]), float(dp["epsilonPerQuery"])
    except (KeyError, TypeError, ValueError):
        return None
    if reported is not None:
        spent = min(total, max(0.0, float(reported)))
    else:
        with rt.ctx.db.tx() as tx:
            admitted = rows.admitted_jobs(tx, rt.ctx.participant_id, agreement.dataset_id)
        spent = min(total, admitted * per_query)
    return {"budget": total, "perQuery": per_query, "spent": spent, "left": total - spent,
            "queries": float(int((total - spent) / per_query + 1e-9)),
            "provider": 1.0 if reported is not None else 0.0}  # fmt: skip
