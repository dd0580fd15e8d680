"""Policy enforcement: services ask the decision point here, and every answer is logged.

Enforcement points (``POINTS``): the catalog (a dataset's access policy), a contract request (the
offer's terms, as the agreement they would become), a transfer request and every data-plane
access (the agreement, re-evaluated), the monitor that ends transfers whose agreement no
longer holds, and compute jobs at admission and at result release.

Facts come from the node, never from the request: the time from the node's clock, the region and
memberships from the requester's verified identity, counts and payments from the store.  The
only thing a consumer declares is the purpose of a transfer or compute job, and that
declaration is recorded.

A permitted decision is logged in the caller's transaction.  A denied one raises
:class:`PolicyDenied`; the caller's transaction rolls back (a denial changes nothing) and
:func:`denials_logged` writes the decision in a transaction of its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from trustspace.core import odrl
from trustspace.core.odrl.model import Policy, Request, World
from trustspace.core.records import Agreement, Dataset
from trustspace.services.context import NodeContext
from trustspace.services.errors import NotFound, Refused
from trustspace.store import agreements, usage
from trustspace.store.db import Tx

POINTS = (
    "catalog",
    "negotiation",
    "transfer",
    "dataplane",
    "monitor",
    "compute",
    "compute-release",
)

# The action each point asks for.  A download is a read of the data; the catalog shows metadata,
# which is also a read.  An agreement granting ``use`` covers both (read is included in use).
ACTION = "read"


class PolicyDenied(Refused):
    def __init__(self, point: str, decision: odrl.Decision, record: Mapping[str, Any]) -> None:
        self.reasons = odrl.reasons(decision)
        super().__init__("; ".join(self.reasons))
        self.point = point
        self.decision = decision
        self.record = dict(record)


def validate(document: object, *, what: str) -> Policy:
    """A policy created on this node: every term must be in the published vocabulary."""
    try:
        return odrl.parse_policy(document, strict=True)
    except odrl.PolicyError as exc:
        raise Refused(f"{what}: {exc}") from None


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def world(
    ctx: NodeContext,
    tx: Tx,
    *,
    principal: str,
    now: float,
    agreement: Agreement | None = None,
    dataset: Dataset | None = None,
    exclude_transfer: str | None = None,
    deferred: frozenset[str] = frozenset(),
    starts: float | None = None,
) -> World:
    """The facts for one decision.  ``starts`` stands in for the agreement's start when there is
    no agreement yet (a negotiation evaluates the agreement it would conclude now)."""
    identity = ctx.identity(principal)
    counts: dict[str, int] = {}
    payments: tuple[tuple[Decimal, str], ...] = ()
    if agreement is not None:
        counts = usage.usage_counts(tx, agreement.id)
        if exclude_transfer is not None:
            for action in list(counts):
                if usage.used_by(tx, agreement.id, action, exclude_transfer):
                    counts[action] -= 1
        payments = tuple(
            (Decimal(r["amount"]), r["unit"]) for r in usage.payments(tx, agreement.id)
        )
    return World(
        now=_at(now),
        part_of={principal: identity.member_of} if identity.member_of else {},
        agreement_start=_at(agreement.created_at)
        if agreement is not None
        else (None if starts is None else _at(starts)),
        counts=counts,
        region=identity.region,
        classification=dataset.classification if dataset is not None else None,
        payments=payments,
        deferred=deferred,
    )


def decide(
    ctx: NodeContext,
    tx: Tx,
    *,
    point: str,
    principal: str,
    policy: Policy,
    request: Request,
    world: World,
    process_id: str | None = None,
    agreement_id: str | None = None,
    dataset_id: str | None = None,
    log: bool = True,
) -> odrl.Decision:
    """Evaluate; log a permit in ``tx``; raise PolicyDenied on deny."""
    decision = odrl.evaluate(policy, request, world)
    record = {
        "point": point,
        "principal": principal,
        "process_id": process_id,
        "agreement_id": agreement_id,
        "dataset_id": dataset_id,
    }
    if not decision.permit:
        raise PolicyDenied(point, decision, record)
    if log:
        _log(tx, ctx.clock(), record, decision)
    return decision


def _log(tx: Tx, at: float, record: Mapping[str, Any], decision: odrl.Decision) -> None:
    usage.insert_decision(
        tx,
        at=at,
        decision="permit" if decision.permit else "deny",
        reasons=odrl.reasons(decision),
        report=odrl.to_json(decision),
        **record,
    )


def log_denial(ctx: NodeContext, denied: PolicyDenied) -> None:
    with ctx.db.tx() as tx:
        _log(tx, ctx.clock(), denied.record, denied.decision)


@contextmanager
def denials_logged(ctx: NodeContext) -> Iterator[None]:
    try:
        yield
    except PolicyDenied as denied:
        log_denial(ctx, denied)
        raise


def as_agreement(offer: Mapping[str, Any], *, assigner: str, assignee: str, target: str) -> Policy:
    """The offer's terms as the agreement they would become for ``assignee``."""
    document = {
        **{k: offer[k] for k in ("permission", "prohibition", "obligation") if k in offer},
        "@id": offer.get("@id", "offer"),
        "@type": "Agreement",
        "assigner": assigner,
        "assignee": assignee,
        "target": target,
    }
    return odrl.parse_policy(document)


# At negotiation nothing has been used, paid or declared yet: these are checked at each use.
NEGOTIATION_DEFERRED = frozenset({"purpose", "count", "payAmount"})


def check_proposal(
    ctx: NodeContext,
    tx: Tx,
    *,
    principal: str,
    dataset: Dataset,
    terms: Mapping[str, Any],
    process_id: str | None,
) -> None:
    """Would the agreement these terms become let ``principal`` use the dataset now?  Checks
    who the consumer is (region, memberships), the time window and the classification."""
    now = ctx.clock()
    proposed = as_agreement(
        terms, assigner=ctx.participant_id, assignee=principal, target=dataset.id
    )
    facts = world(
        ctx, tx, principal=principal, now=now, dataset=dataset, starts=now,
        deferred=NEGOTIATION_DEFERRED,
    )  # fmt: skip
    denied: PolicyDenied | None = None
    for action in granted_actions(proposed):
        try:
            decide(
                ctx,
                tx,
                point="negotiation",
                principal=principal,
                policy=proposed,
                request=Request(action=action, assignee=principal, target=dataset.id),
                world=facts,
                process_id=process_id,
                dataset_id=dataset.id,
            )
            return
        except PolicyDenied as exc:
            denied = denied or exc
    assert denied is not None
    raise denied


def granted_actions(policy: Policy) -> tuple[str, ...]:
    names = [r.action.name for r in policy.permissions if r.action is not None]
    return tuple(dict.fromkeys(names)) or (ACTION,)


def record_payment(
    ctx: NodeContext, agreement_id: str, *, amount: str, unit: str, reference: str | None
) -> dict[str, Any]:
    """A payment received under one of this provider's agreements (the facts ``payAmount``
    reads).  Settlement records them; the operator or provider can record one by hand."""
    try:
        value = Decimal(amount)
    except ArithmeticError:
        raise Refused(f"amount {amount!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise Refused(f"amount {amount!r} must be a positive number")
    with ctx.db.tx() as tx:
        agreement = agreements.get_agreement(tx, agreement_id)
        if agreement is None or agreement.provider_id != ctx.participant_id:
            raise NotFound(f"no agreement {agreement_id} where this node is the provider")
        usage.insert_payment(tx, agreement_id, format(value, "f"), unit, reference, ctx.clock())
        total = sum(
            (Decimal(r["amount"]) for r in usage.payments(tx, agreement_id) if r["unit"] == unit),
            Decimal(0),
        )
    return {"agreementId": agreement_id, "unit": unit, "paid": format(total, "f")}
