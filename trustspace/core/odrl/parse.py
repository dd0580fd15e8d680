"""Read ODRL policies in the DSP compact JSON-LD form into the model.

Terms are accepted as the DSP context writes them (``"use"``, ``"dateTime"``), prefixed
(``"odrl:use"``, ``"trustspace:classification"``) or as full IRIs; right operands as plain
values or ``{"@value": ..., "@type": ...}``.  Rules inherit the policy-level ``target``,
``assigner`` and ``assignee`` (ODRL 2.2 policy-level propagation).

``strict=True`` is for policies created on this node: any term outside the published vocabulary
(``vocab``) raises ``PolicyError`` naming it.  ``strict=False`` is for policies received from
others: unknown terms are kept as indeterminate constraints that never grant anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from trustspace.core.odrl import vocab
from trustspace.core.odrl.model import (
    Action,
    Constraint,
    DutyState,
    LogicalConstraint,
    Policy,
    Request,
    Rule,
    Subject,
    Term,
    Value,
    World,
)


class PolicyError(ValueError):
    """A policy (or request) that cannot be used; the message names the offending term."""


_PREFIXES = (
    (vocab.ODRL, ""),
    ("odrl:", ""),
    (vocab.TRUSTSPACE, "trustspace:"),
    (vocab.PURPOSE_NS, ""),
)


def term(value: object) -> str | None:
    """The short name of an IRI-valued term, or None if ``value`` is not one."""
    if isinstance(value, Mapping):
        value = value.get("@id", value.get("@value", value.get("rdf:value")))
        if isinstance(value, Mapping):
            return term(value)
    if isinstance(value, list) and len(value) == 1:
        return term(value[0])
    if not isinstance(value, str) or not value:
        return None
    for prefix, short in _PREFIXES:
        if value.startswith(prefix):
            return short + value[len(prefix) :]
    return value


def identifier(node: Mapping[str, Any]) -> str | None:
    uid = node.get("@id", node.get("uid"))
    if isinstance(uid, Mapping):
        uid = uid.get("@id")
    return uid if isinstance(uid, str) and uid else None


def _list(value: object) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, Mapping) and "@list" in value:
        value = value["@list"]
    return list(value) if isinstance(value, list) else [value]


_DURATION = re.compile(
    r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
    r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> timedelta:
    """xsd:duration; a year counts 365 days and a month 30 (durations here bound usage windows)."""
    match = _DURATION.match(text)
    if not match or text in ("P", "PT") or text.endswith("T"):
        raise ValueError(f"{text!r} is not an xsd:duration such as P30D or PT12H")
    y, mo, w, d, h, mi, s = match.groups()
    days = int(y or 0) * 365 + int(mo or 0) * 30 + int(w or 0) * 7 + int(d or 0)
    return timedelta(days=days, hours=int(h or 0), minutes=int(mi or 0), seconds=float(s or 0))


def parse_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an xsd:dateTime") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _scalar(raw: object) -> object:
    if isinstance(raw, Mapping):
        if "@value" in raw:
            return raw["@value"]
        if "@id" in raw:
            return term(raw)
    return raw


def _typed(kind: str, raw: object) -> Value:
    """One right-operand value of the operand's kind; raises ValueError naming the value."""
    value = _scalar(raw)
    if kind == "dateTime":
        return parse_datetime(str(value))
    if kind == "duration":
        return parse_duration(str(value))
    if kind == "count":
        if isinstance(value, bool) or not str(value).lstrip("+").isdigit():
            raise ValueError(f"{value!r} is not a non-negative integer")
        return int(str(value))
    if kind == "decimal":
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
        if not number.is_finite():
            raise ValueError(f"{value!r} is not a number")
        return number
    if kind == "purpose":
        name = term(value)
        if name is None or name not in vocab.PURPOSE_PARENT:
            raise ValueError(f"unknown purpose {value!r}")
        return name
    if kind == "region":
        code = str(value)
        if not vocab.is_region(code):
            raise ValueError(f"{value!r} is not an ISO 3166 code such as CN or CN-BJ")
        return code
    if kind == "classification":
        if value not in vocab.CLASSIFICATIONS:
            raise ValueError(f"unknown classification {value!r}")
        return str(value)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{value!r} is not an identifier")
    return value


_LIST_OPERATORS = frozenset({"isAnyOf", "isAllOf", "isNoneOf"})


def _atomic(node: Mapping[str, Any], where: str, strict: bool) -> Constraint:
    uid = identifier(node)
    left = term(node.get("leftOperand"))
    operator = term(node.get("operator"))
    raw = node.get("rightOperand", node.get("rightOperandReference"))
    unit = term(node.get("unit"))
    if left is None or operator is None or raw is None:
        raise PolicyError(f"{where}: a constraint needs leftOperand, operator and rightOperand")
    problem = None
    right: Value = ""
    operand = vocab.LEFT_OPERANDS.get(left)
    if operand is None:
        problem = f"unknown left operand {left!r}"
    elif operator not in vocab.OPERATORS:
        problem = f"unknown operator {operator!r}"
    elif operator not in operand.operators:
        problem = f"operator {operator!r} does not apply to {left!r}"
    else:
        try:
            if operator in _LIST_OPERATORS:
                right = tuple(_typed(operand.kind, v) for v in _list(raw))
                if not right:
                    raise ValueError("an empty list")
            elif isinstance(raw, list) and len(raw) != 1:
                raise ValueError(f"operator {operator!r} takes one value, not a list")
            else:
                right = _typed(operand.kind, raw[0] if isinstance(raw, list) else raw)
        except ValueError as exc:
            problem = f"right operand of {left!r}: {exc}"
        if problem is None and left == "payAmount" and unit is None:
            problem = "payAmount needs a unit (e.g. http://dbpedia.org/resource/Euro)"
    if problem is not None and strict:
        raise PolicyError(f"{where}: {problem}")
    return Constraint(uid, left, operator, right, raw, unit, problem is None, problem)


def _constraint(node: object, where: str, strict: bool) -> Term:
    if not isinstance(node, Mapping):
        raise PolicyError(f"{where}: a constraint must be an object")
    present = [op for op in vocab.LOGICAL_OPERATORS if op in node or f"odrl:{op}" in node]
    if not present:
        return _atomic(node, where, strict)
    if len(present) > 1:
        raise PolicyError(f"{where}: a logical constraint takes one operator, got {present}")
    op = present[0]
    items = _list(node.get(op, node.get(f"odrl:{op}")))
    if not items:
        raise PolicyError(f"{where}: {op!r} needs at least one constraint")
    operands = tuple(_constraint(c, f"{where}.{op}[{i}]", strict) for i, c in enumerate(items))
    return LogicalConstraint(identifier(node), op, operands)


def _constraints(value: object, where: str, strict: bool) -> tuple[Term, ...]:
    return tuple(_constraint(c, f"{where}[{i}]", strict) for i, c in enumerate(_list(value)))


def _action(value: object, where: str, strict: bool) -> Action:
    node = value[0] if isinstance(value, list) and len(value) == 1 else value
    refinement: tuple[Term, ...] = ()
    if isinstance(node, Mapping) and ("rdf:value" in node or "value" in node):
        refinement = _constraints(node.get("refinement"), f"{where}.refinement", strict)
        node = node.get("rdf:value", node.get("value"))
    elif isinstance(node, Mapping) and "refinement" in node:
        refinement = _constraints(node.get("refinement"), f"{where}.refinement", strict)
    name = term(node)
    if name is None:
        raise PolicyError(f"{where}: the action must be a term such as 'use'")
    if name not in vocab.ACTION_PARENT and strict:
        raise PolicyError(f"{where}: unknown action {name!r}")
    return Action(name, refinement)


def _subject(value: object, where: str, strict: bool) -> Subject | None:
    if value is None:
        return None
    if isinstance(value, str):
        return Subject(value)
    if not isinstance(value, Mapping):
        raise PolicyError(f"{where}: expected an identifier or an object")
    kind = term(value.get("@type"))
    uid = identifier(value) or term(value.get("source"))
    if uid is None:
        raise PolicyError(f"{where}: needs an @id")
    collection = kind in ("AssetCollection", "PartyCollection") or "refinement" in value
    refinement = _constraints(value.get("refinement"), f"{where}.refinement", strict)
    return Subject(uid, collection, refinement)


def _rule(node: object, kind: str, where: str, strict: bool, inherited: Mapping[str, Any]) -> Rule:
    if not isinstance(node, Mapping):
        raise PolicyError(f"{where}: a rule must be an object")
    action_node = node.get("action")
    action = None if action_node is None else _action(action_node, f"{where}.action", strict)
    nested = {"permission": "duty", "prohibition": "remedy", "duty": "consequence"}.get(kind)
    duties: tuple[Rule, ...] = ()
    if nested is not None:
        duties = tuple(
            _rule(d, "duty", f"{where}.{nested}[{i}]", strict, {})
            for i, d in enumerate(_list(node.get(nested)))
        )
    return Rule(
        kind=kind,
        uid=identifier(node),
        action=action,
        target=_subject(node.get("target", inherited.get("target")), f"{where}.target", strict),
        assignee=_subject(
            node.get("assignee", inherited.get("assignee")), f"{where}.assignee", strict
        ),
        assigner=_subject(
            node.get("assigner", inherited.get("assigner")), f"{where}.assigner", strict
        ),
        constraints=_constraints(node.get("constraint"), f"{where}.constraint", strict),
        duties=duties,
    )


def parse_policy(node: object, *, strict: bool = False) -> Policy:
    if not isinstance(node, Mapping):
        raise PolicyError("a policy must be a JSON object")
    kind = term(node.get("@type")) or "Set"
    if kind not in vocab.POLICY_KINDS:
        raise PolicyError(f"unknown policy type {kind!r}")
    uid = identifier(node)
    if uid is None:
        raise PolicyError("the policy needs an @id")
    conflict = term(node.get("conflict")) or "invalid"
    if conflict not in vocab.CONFLICT_STRATEGIES:
        raise PolicyError(f"unknown conflict strategy {conflict!r} (perm, prohibit or invalid)")
    inherited = {k: node[k] for k in ("target", "assignee", "assigner") if k in node}
    groups: dict[str, tuple[Rule, ...]] = {}
    for key, rule_kind in (
        ("permission", "permission"),
        ("prohibition", "prohibition"),
        ("obligation", "duty"),
    ):
        groups[key] = tuple(
            _rule(r, rule_kind, f"{key}[{i}]", strict, inherited)
            for i, r in enumerate(_list(node.get(key)))
        )
    if strict:
        for key, rules in groups.items():
            for i, rule in enumerate(rules):
                if rule.action is None:
                    raise PolicyError(f"{key}[{i}]: every rule needs an action")
    return Policy(
        uid=uid,
        kind=kind,
        conflict=conflict,
        permissions=groups["permission"],
        prohibitions=groups["prohibition"],
        obligations=groups["obligation"],
    )


def parse_request(node: object) -> Request:
    """A request in the compact form: ``{"action": "read", "assignee": ..., "target": ...,
    "purpose": ...}``, or an ODRL Request policy with one permission."""
    if not isinstance(node, Mapping):
        raise PolicyError("a request must be a JSON object")
    uid = identifier(node)
    rule: Mapping[str, Any] = node
    if "permission" in node:
        rules = _list(node["permission"])
        if len(rules) != 1 or not isinstance(rules[0], Mapping):
            raise PolicyError("a request holds exactly one permission")
        rule = rules[0]
    action = term(rule.get("action"))
    if action is None:
        raise PolicyError("the request needs an action")
    purpose = term(rule.get("purpose", node.get("purpose")))
    if purpose is not None and purpose not in vocab.PURPOSE_PARENT:
        raise PolicyError(f"unknown purpose {purpose!r}")
    return Request(
        action=action,
        assignee=term(rule.get("assignee", node.get("assignee"))),
        target=term(rule.get("target", node.get("target"))),
        purpose=purpose,
        recipient=term(rule.get("recipient", node.get("recipient"))),
        uid=uid,
        rule_uid=identifier(rule) if rule is not node else None,
    )


def parse_world(node: object, *, now: datetime | None = None) -> World:
    """A state of the world in JSON: ``{"now", "partOf": {entity: [collections]}, "duties":
    {duty uid: state}, "agreementStart", "counts": {action: n}, "region", "classification",
    "payments": [{"amount", "unit"}], "deferred": [operand]}``.  ``now`` is the default time."""
    if not isinstance(node, Mapping):
        raise PolicyError("the state of the world must be a JSON object")
    try:
        when = parse_datetime(str(node["now"])) if "now" in node else now
        if when is None:
            raise PolicyError("the state of the world needs 'now'")
        start = node.get("agreementStart")
        part_of = {
            str(k): frozenset(str(x) for x in _list(v))
            for k, v in dict(node.get("partOf", {})).items()
        }
        duties = {str(k): DutyState(str(v)) for k, v in dict(node.get("duties", {})).items()}
        for uid, duty in duties.items():
            if duty.state not in ("Fulfilled", "Violated", "NonSet"):
                raise PolicyError(f"duty {uid}: state must be Fulfilled, Violated or NonSet")
        counts = {str(k): int(v) for k, v in dict(node.get("counts", {})).items()}
        payments = tuple(
            (Decimal(str(p["amount"])), str(p["unit"])) for p in _list(node.get("payments"))
        )
        region = node.get("region")
        if region is not None and not vocab.is_region(str(region)):
            raise PolicyError(f"region {region!r} is not an ISO 3166 code")
        return World(
            now=when,
            part_of=part_of,
            duties=duties,
            agreement_start=None if start is None else parse_datetime(str(start)),
            counts=counts,
            region=None if region is None else str(region),
            classification=node.get("classification"),
            payments=payments,
            deferred=frozenset(str(x) for x in _list(node.get("deferred"))),
        )
    except PolicyError:
        raise
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise PolicyError(f"the state of the world is malformed: {exc}") from None
