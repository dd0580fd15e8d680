"""The policy decision point: (policy, request, world) -> Decision.  Pure and deterministic.

Semantics (ODRL 2.2, closed by default):

- Only Set, Agreement and Policy grant anything; an Offer (or any other type) is reported but the
  decision is deny.
- A rule is *active* for a request when every premise holds: the target (or the collection it is
  part of), the assignee (or its party collection), the action (the requested action is the rule's
  action or included in it: ``read`` is included in ``use``), each refinement and each constraint
  (constraints on a rule are ANDed).
- Facts are three-valued.  An unknown left operand, an unknown operator or a missing fact makes a
  premise *indeterminate*: a permission with an indeterminate premise is inactive, a prohibition
  with one is active.  Nothing unknown ever grants access.
- A permission's duties are pre-conditions.  A duty recorded as Violated deactivates the
  permission.  A duty with terms the node can check (``payAmount``) must be fulfilled by the
  facts; a duty with nothing to check and no record is not yet due (NonSet) and does not block.
- Permit when some permission is active and no prohibition is; when both are, the policy's
  conflict strategy decides (``perm``, ``prohibit``, default ``invalid`` which denies).  A policy
  obligation recorded as Violated denies.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import NamedTuple

from trustspace.core.odrl import vocab
from trustspace.core.odrl.model import (
    Constraint,
    LogicalConstraint,
    Policy,
    Request,
    Rule,
    Subject,
    Term,
    World,
)

SAT, UNSAT, UNKNOWN = 1, 0, 2
MISSING: object = object()
DEFERRED: object = object()


class TermResult(NamedTuple):
    term: Term
    state: int
    left: object = None  # the fact compared (MISSING if unknown, DEFERRED if left for later)
    parts: tuple[TermResult, ...] = ()


class PremiseResult(NamedTuple):
    kind: str  # TargetReport | PartyReport | ActionReport
    state: int
    wanted: str
    got: str | None
    refinement: tuple[TermResult, ...] = ()


class DutyResult(NamedTuple):
    rule: Rule
    state: str  # Fulfilled | Violated | NonSet
    blocking: bool
    report: str | None = None
    terms: tuple[TermResult, ...] = ()


class RuleResult(NamedTuple):
    rule: Rule
    active: bool
    premises: tuple[PremiseResult, ...]
    constraints: tuple[TermResult, ...]
    conditions: tuple[DutyResult, ...] = ()


class Decision(NamedTuple):
    policy: Policy
    request: Request
    world: World
    permit: bool
    outcome: str  # permit | deny: the code behind the decision (see report.OUTCOMES)
    rules: tuple[RuleResult, ...]
    obligations: tuple[DutyResult, ...] = ()


def _actions_included(name: str) -> tuple[str, ...]:
    return vocab.ancestors(vocab.ACTION_PARENT, name)


def _count(rule_action: str | None, request: Request, world: World) -> int:
    wanted = rule_action or request.action
    used = sum(n for a, n in world.counts.items() if wanted in _actions_included(a))
    return used + 1


def _fact(c: Constraint, rule_action: str | None, request: Request, world: World) -> object:
    left = c.left
    if left in world.deferred:
        return DEFERRED
    if left == "dateTime":
        return world.now
    if left == "elapsedTime":
        start = world.agreement_start
        return MISSING if start is None else world.now - start
    if left == "count":
        return _count(rule_action, request, world)
    if left == "purpose":
        return MISSING if request.purpose is None else request.purpose
    if left == "spatial":
        return MISSING if world.region is None else world.region
    if left == "recipient":
        who = request.recipient or request.assignee
        return MISSING if who is None else who
    if left == "payAmount":
        paid = [amount for amount, unit in world.payments if unit == c.unit]
        return sum(paid, Decimal(0))
    if left == "trustspace:classification":
        return MISSING if world.classification is None else world.classification
    return MISSING


def _ordered(op: str, left: object, right: object) -> bool:
    a, b = left, right
    if op == "eq":
        return bool(a == b)
    if op == "neq":
        return bool(a != b)
    if op == "lt":
        return bool(a < b)  # type: ignore[operator]
    if op == "lteq":
        return bool(a <= b)  # type: ignore[operator]
    if op == "gt":
        return bool(a > b)  # type: ignore[operator]
    return bool(a >= b)  # type: ignore[operator]


def _within(
    op: str, inside: tuple[str, ...], right: object, contains: Callable[[str], bool]
) -> bool:
    """Hierarchical comparison: ``inside`` is the fact and everything it lies within."""
    if op in ("eq", "isA", "isPartOf"):
        return right in inside
    if op == "neq":
        return right not in inside
    if op == "hasPart":
        return contains(str(right))
    values = right if isinstance(right, tuple) else (right,)
    if op == "isAnyOf":
        return any(v in inside for v in values)
    if op == "isNoneOf":
        return not any(v in inside for v in values)
    return all(v in inside for v in values)  # isAllOf


def _compare(c: Constraint, fact: object, world: World) -> bool:
    kind = vocab.LEFT_OPERANDS[c.left].kind
    op = c.operator
    if kind in ("dateTime", "duration", "count", "decimal"):
        return _ordered(op, fact, c.right)
    if kind == "classification":
        rank = vocab.CLASSIFICATIONS.index
        if op in ("isAnyOf", "isNoneOf"):
            found = fact in c.right  # type: ignore[operator]
            return found if op == "isAnyOf" else not found
        return _ordered(op, rank(str(fact)), rank(str(c.right)))
    if kind == "purpose":
        name = str(fact)
        return _within(
            op,
            vocab.ancestors(vocab.PURPOSE_PARENT, name),
            c.right,
            lambda r: name in vocab.ancestors(vocab.PURPOSE_PARENT, r),
        )
    if kind == "region":
        code = str(fact)
        return _within(
            op, vocab.region_ancestors(code), c.right, lambda r: code in vocab.region_ancestors(r)
        )
    # party
    who = str(fact)
    if op == "isPartOf":
        return c.right == who or c.right in world.part_of.get(who, ())
    return _within(op, (who,), c.right, lambda r: r == who)


def evaluate_term(t: Term, rule_action: str | None, request: Request, world: World) -> TermResult:
    if isinstance(t, Constraint):
        if not t.known:
            return TermResult(t, UNKNOWN)
        fact = _fact(t, rule_action, request, world)
        if fact is DEFERRED:
            return TermResult(t, SAT, fact)
        if fact is MISSING:
            return TermResult(t, UNKNOWN, fact)
        return TermResult(t, SAT if _compare(t, fact, world) else UNSAT, fact)
    return _logical(t, rule_action, request, world)


def _logical(
    t: LogicalConstraint, rule_action: str | None, request: Request, world: World
) -> TermResult:
    op = t.operator
    parts: list[TermResult] = []
    if op == "andSequence":
        state = SAT
        for operand in t.operands:
            result = evaluate_term(operand, rule_action, request, world)
            parts.append(result)
            if result.state != SAT:
                state = result.state
                break
        return TermResult(t, state, None, tuple(parts))
    parts = [evaluate_term(o, rule_action, request, world) for o in t.operands]
    states = [p.state for p in parts]
    sat = states.count(SAT)
    unknown = states.count(UNKNOWN)
    if op == "and":
        state = UNSAT if UNSAT in states else (UNKNOWN if unknown else SAT)
    elif op == "or":
        state = SAT if sat else (UNKNOWN if unknown else UNSAT)
    else:  # xone: exactly one
        if sat > 1:
            state = UNSAT
        elif unknown:
            state = UNKNOWN
        else:
            state = SAT if sat == 1 else UNSAT
    return TermResult(t, state, None, tuple(parts))


def _all(results: tuple[TermResult, ...] | tuple[PremiseResult, ...]) -> int:
    state = SAT
    for r in results:
        if r.state == UNSAT:
            return UNSAT
        if r.state == UNKNOWN:
            state = UNKNOWN
    return state


def _subject(
    kind: str,
    subject: Subject,
    asked: str | None,
    rule_action: str | None,
    request: Request,
    world: World,
) -> PremiseResult:
    if asked is None:
        return PremiseResult(kind, UNKNOWN, subject.uid, None)
    matches = asked == subject.uid or subject.uid in world.part_of.get(asked, ())
    if not matches:
        return PremiseResult(kind, UNSAT, subject.uid, asked)
    refinement = tuple(evaluate_term(t, rule_action, request, world) for t in subject.refinement)
    return PremiseResult(kind, _all(refinement), subject.uid, asked, refinement)


def _premises(rule: Rule, request: Request, world: World) -> tuple[PremiseResult, ...]:
    premises: list[PremiseResult] = []
    action = rule.action.name if rule.action is not None else None
    if rule.target is not None:
        premises.append(
            _subject("TargetReport", rule.target, request.target, action, request, world)
        )
    if rule.assignee is not None:
        premises.append(
            _subject("PartyReport", rule.assignee, request.assignee, action, request, world)
        )
    if rule.action is not None:
        name = rule.action.name
        if name in _actions_included(request.action):
            refinement = tuple(
                evaluate_term(t, name, request, world) for t in rule.action.refinement
            )
            premises.append(
                PremiseResult("ActionReport", _all(refinement), name, request.action, refinement)
            )
        elif name not in vocab.ACTION_PARENT:
            premises.append(PremiseResult("ActionReport", UNKNOWN, name, request.action))
        else:
            premises.append(PremiseResult("ActionReport", UNSAT, name, request.action))
    return tuple(premises)


def _duty(duty: Rule, request: Request, world: World) -> DutyResult:
    recorded = world.duties.get(duty.uid) if duty.uid is not None else None
    if recorded is not None:
        return DutyResult(duty, recorded.state, recorded.state == "Violated", recorded.report)
    checkable = duty.constraints + (duty.action.refinement if duty.action is not None else ())
    if not checkable:
        return DutyResult(duty, "NonSet", False)
    action = duty.action.name if duty.action is not None else None
    terms = tuple(evaluate_term(t, action, request, world) for t in checkable)
    if _all(terms) == SAT:
        return DutyResult(duty, "Fulfilled", False, None, terms)
    return DutyResult(duty, "NonSet", True, None, terms)


def evaluate_rule(rule: Rule, request: Request, world: World) -> RuleResult:
    premises = _premises(rule, request, world)
    action = rule.action.name if rule.action is not None else None
    constraints = tuple(evaluate_term(t, action, request, world) for t in rule.constraints)
    if rule.kind == "prohibition":
        # Fail closed: a prohibition applies unless some premise certainly does not hold.
        active = all(p.state != UNSAT for p in premises) and all(
            c.state != UNSAT for c in constraints
        )
        return RuleResult(rule, active, premises, constraints)
    conditions = tuple(_duty(d, request, world) for d in rule.duties) if rule.duties else ()
    active = (
        _all(premises) == SAT
        and _all(constraints) == SAT
        and not any(d.blocking for d in conditions)
    )
    return RuleResult(rule, active, premises, constraints, conditions)


def evaluate(policy: Policy, request: Request, world: World) -> Decision:
    results = tuple(evaluate_rule(r, request, world) for r in policy.permissions) + tuple(
        evaluate_rule(r, request, world) for r in policy.prohibitions
    )
    obligations = tuple(_duty(o, request, world) for o in policy.obligations)
    permitted = any(r.active for r in results if r.rule.kind == "permission")
    prohibited = any(r.active for r in results if r.rule.kind == "prohibition")
    if policy.kind not in vocab.GRANTING_KINDS:
        outcome = "not-granting"
    elif any(o.state == "Violated" for o in obligations):
        outcome = "obligation-violated"
    elif permitted and prohibited:
        outcome = {"perm": "permit", "prohibit": "prohibited"}.get(policy.conflict, "conflict")
    elif prohibited:
        outcome = "prohibited"
    elif permitted:
        outcome = "permit"
    else:
        outcome = "no-permission"
    return Decision(policy, request, world, outcome == "permit", outcome, results, obligations)
