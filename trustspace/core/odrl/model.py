"""The policy model the evaluator works on, and the two inputs besides the policy.

A policy is parsed ("compiled") once into these frozen values: right operands are already typed
(datetimes, durations, decimals, purpose ids), so evaluating a cached policy does no parsing.

``Request`` is what someone asks to do; ``World`` is what the node knows at that moment (the
state of the world): the time, memberships, duty states, usage counts, payments, the verified
region of the requester and the classification of the data.  Both are plain values built by the
caller, so the evaluator stays a pure function.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

Value = str | int | Decimal | datetime | timedelta | tuple[object, ...]


@dataclass(frozen=True, slots=True)
class Constraint:
    """An atomic constraint.  ``known`` is False when a term is outside the vocabulary (or the
    right operand could not be read); such a constraint is indeterminate, never satisfied."""

    uid: str | None
    left: str
    operator: str
    right: Value
    raw: object  # the right operand as written, for reports
    unit: str | None = None
    known: bool = True
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class LogicalConstraint:
    uid: str | None
    operator: str  # and | or | xone | andSequence
    operands: tuple[Term, ...]


Term = Constraint | LogicalConstraint


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    refinement: tuple[Term, ...] = ()


@dataclass(frozen=True, slots=True)
class Subject:
    """A target asset or a party: one identifier, or a collection (matched through ``partOf``)
    optionally narrowed by a refinement."""

    uid: str
    collection: bool = False
    refinement: tuple[Term, ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str  # permission | prohibition | obligation | duty
    uid: str | None
    action: Action | None
    target: Subject | None = None
    assignee: Subject | None = None
    assigner: Subject | None = None
    constraints: tuple[Term, ...] = ()
    duties: tuple[Rule, ...] = ()  # permission: duties (pre-conditions); prohibition: remedies


@dataclass(frozen=True, slots=True)
class Policy:
    uid: str
    kind: str  # Set | Offer | Agreement | ...
    conflict: str = "invalid"
    permissions: tuple[Rule, ...] = ()
    prohibitions: tuple[Rule, ...] = ()
    obligations: tuple[Rule, ...] = ()


@dataclass(frozen=True, slots=True)
class Request:
    """Who asks to do what to which asset, and the purpose they declare."""

    action: str
    assignee: str | None = None
    target: str | None = None
    purpose: str | None = None
    recipient: str | None = None
    uid: str | None = None
    rule_uid: str | None = None


@dataclass(frozen=True, slots=True)
class DutyState:
    state: str  # Fulfilled | Violated | NonSet
    report: str | None = None  # the identifier of the report that recorded it


@dataclass(frozen=True)
class World:
    now: datetime
    part_of: Mapping[str, frozenset[str]] = field(default_factory=dict)
    duties: Mapping[str, DutyState] = field(default_factory=dict)
    agreement_start: datetime | None = None
    counts: Mapping[str, int] = field(default_factory=dict)  # action -> times already exercised
    region: str | None = None  # verified ISO 3166 region of the requester
    classification: str | None = None
    payments: tuple[tuple[Decimal, str], ...] = ()  # (amount, unit)
    deferred: frozenset[str] = frozenset()  # left operands decided later, at each use
