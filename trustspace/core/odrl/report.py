"""Render a Decision as a compliance report and as reasons a person can read.

The JSON follows the shape of the ODRL compliance-report model
(https://w3id.org/force/compliance-report): a PolicyReport with one PermissionReport or
ProhibitionReport per rule, each with premise reports (TargetReport, PartyReport, ActionReport,
ConstraintReport) and condition reports (DutyReport) carrying activation, satisfaction and
deontic states.  trustspace adds ``decision``, ``outcome`` and ``reasons``, and a ``reason`` on
every premise that does not hold, so the same record explains the decision and serves as audit
evidence.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from trustspace.core.odrl.evaluate import (
    DEFERRED,
    MISSING,
    SAT,
    UNKNOWN,
    Decision,
    DutyResult,
    PremiseResult,
    RuleResult,
    TermResult,
)
from trustspace.core.odrl.model import Constraint, LogicalConstraint, Request

OUTCOMES = {
    "permit": "permitted",
    "not-granting": "an {kind} grants nothing by itself; only an Agreement or a Set does",
    "obligation-violated": "an obligation of the policy has been violated",
    "conflict": "a permission and a prohibition both apply and the policy resolves conflicts "
    "as invalid",
    "prohibited": "a prohibition applies",
    "no-permission": "no permission of the policy covers this request",
}

_LABEL = {
    "dateTime": "the time",
    "elapsedTime": "the time since the agreement was concluded",
    "count": "the use count (this use included)",
    "payAmount": "the amount paid",
    "purpose": "the declared purpose",
    "spatial": "the requester's verified region",
    "recipient": "the recipient",
    "trustspace:classification": "the data classification",
}

_WORDS = {
    "eq": "to be",
    "neq": "not to be",
    "lt": "to be less than",
    "lteq": "to be at most",
    "gt": "to be more than",
    "gteq": "to be at least",
    "isA": "to be a kind of",
    "isPartOf": "to be part of",
    "hasPart": "to contain",
    "isAnyOf": "to be one of",
    "isAllOf": "to be all of",
    "isNoneOf": "to be none of",
}

_TIME_WORDS = {"lt": "to be before", "lteq": "to be at or before", "gt": "to be after",
               "gteq": "to be at or after"}  # fmt: skip


def _state(state: int) -> str:
    return "Satisfied" if state == SAT else "Unsatisfied"


def show(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, timedelta):
        days = value.days
        rest = value.seconds
        return f"{days} days" + (f" {rest // 3600}h{rest % 3600 // 60:02d}m" if rest else "")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, tuple):
        return ", ".join(show(v) for v in value)
    return str(value)


def _jsonable(value: object) -> Any:
    if isinstance(value, datetime | timedelta | Decimal):
        return show(value)
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def constraint_reason(result: TermResult) -> str:
    t = result.term
    if isinstance(t, LogicalConstraint):
        failed = [constraint_reason(p) for p in result.parts if p.state != SAT]
        joined = "; ".join(failed)
        return {
            "and": f"not all of the combined constraints hold: {joined}",
            "or": f"none of the alternative constraints holds: {joined}",
            "xone": "exactly one of the alternative constraints must hold, "
            + (
                "but none does: " + joined
                if failed and len(failed) == len(result.parts)
                else "but more than one does"
            ),
            "andSequence": f"the constraints in sequence stop at: {joined}",
        }[t.operator]
    if not t.known:
        return f"{t.problem}, so this constraint can never be satisfied"
    label = _LABEL.get(t.left, t.left)
    words = (_TIME_WORDS if t.left == "dateTime" else {}).get(t.operator) or _WORDS[t.operator]
    unit = f" {t.unit.rsplit('/', 1)[-1]}" if t.unit else ""
    wanted = f"the policy requires it {words} {show(t.right)}{unit}"
    if result.left is MISSING:
        return f"{label} is not known, so this cannot be checked ({wanted})"
    return f"{label} is {show(result.left)}{unit}; {wanted}"


def _held(result: TermResult) -> str:
    """A satisfied constraint in a few words: ``count 2 lteq 3``."""
    t = result.term
    if isinstance(t, LogicalConstraint):
        inner = [_held(p) for p in result.parts if p.state == SAT]
        return f"{t.operator}({', '.join(inner)})"
    if result.left is DEFERRED:
        return f"{t.left} checked at each use"
    return f"{t.left} {show(result.left)} {t.operator} {show(t.right)}"


def premise_reason(p: PremiseResult) -> str:
    what = {"TargetReport": "asset", "PartyReport": "party", "ActionReport": "action"}[p.kind]
    if p.got is None:
        return f"the request names no {what}; the rule applies to {p.wanted}"
    if p.refinement and any(r.state != SAT for r in p.refinement):
        inner = "; ".join(constraint_reason(r) for r in p.refinement if r.state != SAT)
        return f"the {what} {p.got} does not meet the rule's refinement: {inner}"
    if p.kind == "ActionReport":
        if p.state == UNKNOWN:
            return f"the rule's action {p.wanted!r} is not in this node's vocabulary"
        return f"the action {p.got!r} is not covered by the rule's action {p.wanted!r}"
    return f"the {what} {p.got} is not {p.wanted} and not part of it"


def duty_reason(d: DutyResult) -> str:
    action = d.rule.action.name if d.rule.action is not None else "duty"
    if d.state == "Violated":
        return f"the duty to {action} has been violated"
    inner = "; ".join(constraint_reason(t) for t in d.terms if t.state != SAT)
    return f"the duty to {action} must be fulfilled first: {inner}"


def rule_reasons(r: RuleResult) -> list[str]:
    out = [premise_reason(p) for p in r.premises if p.state != SAT]
    out += [constraint_reason(c) for c in r.constraints if c.state != SAT]
    out += [duty_reason(d) for d in r.conditions if d.blocking]
    return out


def _describe_request(request: Request) -> str:
    parts = [request.action]
    if request.target:
        parts.append(f"on {request.target}")
    if request.assignee:
        parts.append(f"by {request.assignee}")
    return " ".join(parts)


def reasons(decision: Decision) -> list[str]:
    """Why the decision is what it is, most specific first."""
    outcome = decision.outcome
    head = OUTCOMES[outcome].format(kind=decision.policy.kind)
    if outcome == "permit":
        checked = [
            _held(c)
            for r in decision.rules
            if r.active and r.rule.kind == "permission"
            for c in r.constraints
        ]
        return [f"{head}: {'; '.join(checked)}" if checked else head]
    if outcome == "prohibited" or outcome == "conflict":
        names = [r.rule.uid or r.rule.kind for r in decision.rules
                 if r.active and r.rule.kind == "prohibition"]  # fmt: skip
        return [f"{head}: {', '.join(names)} forbids {_describe_request(decision.request)}"]
    if outcome == "obligation-violated":
        return [duty_reason(o) for o in decision.obligations if o.state == "Violated"]
    if outcome == "not-granting":
        return [head]
    detail: list[str] = []
    for r in decision.rules:
        if r.rule.kind == "permission":
            detail += [d for d in rule_reasons(r) if d not in detail]
    if not detail:
        return [f"{head} ({_describe_request(decision.request)})"]
    return detail


def _term_json(result: TermResult) -> dict[str, Any]:
    t = result.term
    out: dict[str, Any] = {"@type": "ConstraintReport"}
    if t.uid:
        out["constraint"] = t.uid
    if isinstance(t, LogicalConstraint):
        out["constraintLogicalOperand"] = t.operator
        out["premiseReport"] = [_term_json(p) for p in result.parts]
    else:
        assert isinstance(t, Constraint)
        out["constraintLeftOperandName"] = t.left
        if result.left is not MISSING and result.left is not DEFERRED and result.left is not None:
            out["constraintLeftOperand"] = _jsonable(result.left)
        out["constraintOperator"] = t.operator
        out["constraintRightOperand"] = t.raw
        if t.unit:
            out["unit"] = t.unit
    out["satisfactionState"] = _state(result.state)
    if result.left is DEFERRED:
        out["note"] = "decided at each use, not now"
    if result.state == UNKNOWN:
        out["indeterminate"] = True
    if result.state != SAT:
        out["reason"] = constraint_reason(result)
    return out


def _premise_json(p: PremiseResult) -> dict[str, Any]:
    out: dict[str, Any] = {"@type": p.kind, "satisfactionState": _state(p.state)}
    if p.refinement:
        out["premiseReport"] = [_term_json(r) for r in p.refinement]
    if p.state == UNKNOWN:
        out["indeterminate"] = True
    if p.state != SAT:
        out["reason"] = premise_reason(p)
    return out


def _duty_json(d: DutyResult) -> dict[str, Any]:
    performance = {"Fulfilled": "Performed", "Violated": "Unperformed"}.get(d.state, "Unknown")
    out: dict[str, Any] = {
        "@type": "DutyReport",
        "rule": d.rule.uid,
        "action": d.rule.action.name if d.rule.action else None,
        "deonticState": d.state,
        "performanceState": performance,
    }
    if d.report:
        out["recordedIn"] = d.report
    if d.terms:
        out["premiseReport"] = [_term_json(t) for t in d.terms]
    if d.blocking:
        out["reason"] = duty_reason(d)
    return out


def _rule_json(r: RuleResult, request: Request) -> dict[str, Any]:
    kind = "PermissionReport" if r.rule.kind == "permission" else "ProhibitionReport"
    out: dict[str, Any] = {"@type": kind, "rule": r.rule.uid, "attemptState": "Attempted"}
    if request.rule_uid:
        out["ruleRequest"] = request.rule_uid
    premises = [_premise_json(p) for p in r.premises] + [_term_json(c) for c in r.constraints]
    if premises:
        out["premiseReport"] = premises
    if r.conditions:
        out["conditionReport"] = [_duty_json(d) for d in r.conditions]
    out["activationState"] = "Active" if r.active else "Inactive"
    return out


def to_json(decision: Decision) -> dict[str, Any]:
    request = decision.request
    out: dict[str, Any] = {
        "@type": "PolicyReport",
        "created": show(decision.world.now),
        "policy": decision.policy.uid,
    }
    if request.uid:
        out["policyRequest"] = request.uid
    out["request"] = {
        k: v
        for k, v in (
            ("action", request.action),
            ("assignee", request.assignee),
            ("target", request.target),
            ("purpose", request.purpose),
        )
        if v is not None
    }
    out["decision"] = "permit" if decision.permit else "deny"
    out["outcome"] = decision.outcome
    out["reasons"] = reasons(decision)
    out["ruleReport"] = [_rule_json(r, request) for r in decision.rules]
    if decision.obligations:
        out["obligationReport"] = [_duty_json(o) for o in decision.obligations]
    return out
