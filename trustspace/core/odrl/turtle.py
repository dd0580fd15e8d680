"""ODRL in Turtle: policies, requests and states of the world, read with rdflib.

Policies and requests come out in the DSP compact JSON form that
:func:`trustspace.core.odrl.parse_policy` and :func:`~trustspace.core.odrl.parse_request` read,
so both syntaxes share one parser and one meaning.  Identifiers stay full IRIs; blank nodes have
no ``@id``.

The state of the world follows the SolidLab ODRL test suite:
- ``temp:currentTime dct:issued`` is now (``temp:`` = ``http://example.com/request/``);
- ``X odrl:partOf Y`` is a membership;
- each ``report:DutyReport`` records a duty's ``report:deonticState``.

trustspace adds facts in ``https://w3id.org/trustspace/ns/`` (``ts:``), anywhere in the graph:
- ``ts:agreementStart`` (xsd:dateTime);
- ``ts:region`` (ISO 3166);
- ``ts:classification``;
- ``ts:usage [ ts:action odrl:read ; ts:count 2 ]``;
- ``ts:payment [ ts:amount "10.00"^^xsd:decimal ; odrl:unit <...> ]``;
- ``ts:deferred odrl:purpose``.

Functions take text, not paths, and raise ``ValueError`` naming what is wrong.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.collection import Collection
from rdflib.namespace import DCTERMS, RDF
from rdflib.term import Node

from trustspace.core.odrl.model import DutyState, World
from trustspace.core.odrl.parse import parse_datetime
from trustspace.core.odrl.vocab import ODRL as ODRL_IRI
from trustspace.core.odrl.vocab import TRUSTSPACE

ODRL = Namespace(ODRL_IRI)
TS = Namespace(TRUSTSPACE)
REPORT = Namespace("https://w3id.org/force/compliance-report#")
TEMP = Namespace("http://example.com/request/")
EX = Namespace("http://example.org/")

POLICY_TYPES = ("Set", "Offer", "Agreement", "Policy")
LOGICAL = ("and", "or", "xone", "andSequence")


def graph(text: str) -> Graph:
    g = Graph()
    try:
        g.parse(data=text, format="turtle")
    except Exception as exc:  # rdflib raises several unrelated types for bad syntax
        raise ValueError(f"not valid Turtle: {exc}") from None
    return g


def _one(g: Graph, kinds: tuple[URIRef, ...], uid: str | None, what: str) -> Node:
    if uid is not None:
        node = URIRef(uid)
        if (node, None, None) not in g:
            raise ValueError(f"no {what} {uid} in this Turtle")
        return node
    found = sorted({s for k in kinds for s in g.subjects(RDF.type, k)}, key=str)
    if len(found) != 1:
        raise ValueError(f"expected one {what}, found {len(found)}; name the one to use")
    return found[0]


def _id(node: Node) -> dict[str, str]:
    return {"@id": str(node)} if isinstance(node, URIRef) else {}


def _value(node: Node) -> Any:
    if isinstance(node, Literal):
        if node.datatype is not None:
            return {"@value": str(node), "@type": str(node.datatype)}
        return str(node)
    return {"@id": str(node)}


def _members(g: Graph, node: Node) -> list[Node]:
    """Objects of a logical operator: repeated values or one RDF list."""
    if (node, RDF.first, None) in g:
        return list(Collection(g, node))
    return [node]


def _constraint(g: Graph, node: Node) -> dict[str, Any]:
    out: dict[str, Any] = _id(node)
    for op in LOGICAL:
        items = list(g.objects(node, ODRL[op]))
        if items:
            members = [m for item in items for m in _members(g, item)]
            out[op] = [_constraint(g, m) for m in members]
            return out
    for key in ("leftOperand", "operator", "unit"):
        value = g.value(node, ODRL[key])
        if value is not None:
            out[key] = str(value)
    rights = [_value(v) for v in g.objects(node, ODRL.rightOperand)]
    if rights:
        out["rightOperand"] = rights[0] if len(rights) == 1 else rights
    return out


def _constraints(g: Graph, node: Node, prop: URIRef) -> list[dict[str, Any]]:
    return [_constraint(g, c) for c in g.objects(node, prop)]


def _party_or_asset(g: Graph, node: Node) -> Any:
    kinds = {str(t) for t in g.objects(node, RDF.type)}
    collection = next(
        (k.rsplit("/", 1)[-1] for k in kinds if k in (ODRL_IRI + "PartyCollection",
                                                       ODRL_IRI + "AssetCollection")),
        None,
    )  # fmt: skip
    refinement = _constraints(g, node, ODRL.refinement)
    if collection is None and not refinement:
        return str(node)
    out: dict[str, Any] = {"@id": str(node)}
    if collection:
        out["@type"] = collection
    if refinement:
        out["refinement"] = refinement
    return out


def _action(g: Graph, node: Node) -> Any:
    if isinstance(node, URIRef):
        return str(node)
    value = g.value(node, RDF.value)
    if value is None:
        raise ValueError("an action node needs rdf:value")
    return {"rdf:value": {"@id": str(value)}, "refinement": _constraints(g, node, ODRL.refinement)}


def _rule(g: Graph, node: Node) -> dict[str, Any]:
    out: dict[str, Any] = _id(node)
    action = g.value(node, ODRL.action)
    if action is not None:
        out["action"] = _action(g, action)
    for key in ("target", "assignee", "assigner"):
        value = g.value(node, ODRL[key])
        if value is not None:
            out[key] = _party_or_asset(g, value)
    constraints = _constraints(g, node, ODRL.constraint)
    if constraints:
        out["constraint"] = constraints
    for key in ("duty", "remedy", "consequence"):
        nested = [_rule(g, d) for d in g.objects(node, ODRL[key])]
        if nested:
            out[key] = nested
    return out


def _sorted(nodes: Any) -> list[Node]:
    return sorted(nodes, key=str)


def load_policy(text: str, uid: str | None = None) -> dict[str, Any]:
    g = graph(text)
    node = _one(g, tuple(ODRL[k] for k in POLICY_TYPES), uid, "policy")
    kind = next(
        (k for k in POLICY_TYPES if (node, RDF.type, ODRL[k]) in g), "Set"
    )  # fmt: skip
    out: dict[str, Any] = {"@id": str(node), "@type": kind}
    conflict = g.value(node, ODRL.conflict)
    if conflict is not None:
        out["conflict"] = str(conflict)
    for key in ("target", "assignee", "assigner"):
        value = g.value(node, ODRL[key])
        if value is not None:
            out[key] = _party_or_asset(g, value)
    for key in ("permission", "prohibition", "obligation"):
        rules = [_rule(g, r) for r in _sorted(g.objects(node, ODRL[key]))]
        if rules:
            out[key] = rules
    return out


def load_request(text: str, uid: str | None = None) -> dict[str, Any]:
    g = graph(text)
    node = _one(g, (ODRL.Request,), uid, "request")
    rules = _sorted(g.objects(node, ODRL.permission))
    if len(rules) != 1:
        raise ValueError(f"a request holds exactly one permission, found {len(rules)}")
    rule = _rule(g, rules[0])
    for c in rule.pop("constraint", []):
        left = str(c.get("leftOperand", "")).rsplit("/", 1)[-1]
        if left in ("purpose", "recipient") and c.get("operator", "").endswith("/eq"):
            value = c.get("rightOperand")
            rule[left] = value["@id"] if isinstance(value, dict) and "@id" in value else value
        else:
            raise ValueError(f"a request may state only its purpose and recipient, not {left!r}")
    return {"@id": str(node), "permission": [rule]}


def _local(node: Node) -> str:
    text = str(node)
    return text.rsplit("#", 1)[-1].rsplit("/", 1)[-1]


def _included(g: Graph, sotw: Node) -> set[Node]:
    """What a state of the world includes: its ``ex:includes`` and the rule reports of included
    policy reports (how the SolidLab suite records duty states)."""
    seen: set[Node] = set()
    todo = list(g.objects(sotw, EX.includes))
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo += list(g.objects(node, REPORT.ruleReport))
    return seen


def load_world(text: str, uid: str | None = None) -> World:
    """With ``uid`` (the sotw node), only duty reports it includes count: a file may also hold
    other reports, such as the report a test expects."""
    g = graph(text)
    now = g.value(TEMP.currentTime, DCTERMS.issued)
    if now is None:
        raise ValueError("the state of the world needs temp:currentTime dct:issued")
    part_of: dict[str, set[str]] = {}
    for s, o in g.subject_objects(ODRL.partOf):
        part_of.setdefault(str(s), set()).add(str(o))
    duties: dict[str, DutyState] = {}
    reports = _sorted(g.subjects(RDF.type, REPORT.DutyReport))
    if uid is not None:
        included = _included(g, URIRef(uid))
        reports = [r for r in reports if r in included]
    for report in reports:
        rule, state = g.value(report, REPORT.rule), g.value(report, REPORT.deonticState)
        if rule is not None and state is not None:
            duties[str(rule)] = DutyState(_local(state), str(report))
    counts: dict[str, int] = {}
    for usage in g.objects(None, TS.usage):
        action, count = (
            g.value(usage, TS.action),
            g.value(usage, TS["count"]),
        )  # .count is a str method
        if action is None or count is None:
            raise ValueError("ts:usage needs ts:action and ts:count")
        counts[_local(action)] = counts.get(_local(action), 0) + int(str(count))
    payments = []
    for payment in g.objects(None, TS.payment):
        amount, unit = g.value(payment, TS.amount), g.value(payment, ODRL.unit)
        if amount is None or unit is None:
            raise ValueError("ts:payment needs ts:amount and odrl:unit")
        payments.append((Decimal(str(amount)), str(unit)))
    start = next(iter(g.objects(None, TS.agreementStart)), None)
    region = next(iter(g.objects(None, TS.region)), None)
    classification = next(iter(g.objects(None, TS.classification)), None)
    return World(
        now=parse_datetime(str(now)),
        part_of={k: frozenset(v) for k, v in part_of.items()},
        duties=duties,
        agreement_start=None if start is None else parse_datetime(str(start)),
        counts=counts,
        region=None if region is None else str(region),
        classification=None if classification is None else str(classification),
        payments=tuple(payments),
        deferred=frozenset(_local(d) for d in g.objects(None, TS.deferred)),
    )


def _report_part(g: Graph, node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {"@type": next((_local(t) for t in g.objects(node, RDF.type)), "")}
    state = g.value(node, REPORT.satisfactionState)
    if state is not None:
        out["satisfactionState"] = _local(state)
    constraint = g.value(node, REPORT.constraint)
    if constraint is not None:
        out["constraint"] = str(constraint)
    parts = [_report_part(g, p) for p in g.objects(node, REPORT.premiseReport)]
    if parts:
        out["premiseReport"] = parts
    return out


def load_expected(text: str, uid: str | None = None) -> dict[str, Any]:
    """The expected compliance report of a test case: ``{"policy", "request", "sotw",
    "ruleReport": [{"@type", "rule", "activationState", "premiseReport", "conditions"}]}``."""
    g = graph(text)
    case = _one(g, (EX.TestCase,), uid, "test case")
    report = g.value(case, EX.expectedReport)
    if report is None:
        raise ValueError(f"test case {case} has no ex:expectedReport")
    rules = []
    for rr in _sorted(g.objects(report, REPORT.ruleReport)):
        activation = g.value(rr, REPORT.activationState)
        rules.append(
            {
                "@type": next((_local(t) for t in g.objects(rr, RDF.type)), ""),
                "rule": str(g.value(rr, REPORT.rule)),
                "activationState": None if activation is None else _local(activation),
                "premiseReport": [_report_part(g, p) for p in g.objects(rr, REPORT.premiseReport)],
                "conditions": len(list(g.objects(rr, REPORT.conditionReport))),
            }
        )
    outcome = g.value(case, EX.expectedOutcome)
    mentions = [str(m) for m in g.objects(case, EX.reasonMentions)]
    return {
        "title": str(g.value(case, DCTERMS.title) or ""),
        "policy": str(g.value(case, EX.policy)),
        "request": str(g.value(case, EX.request)),
        "sotw": str(g.value(case, EX.sotw)),
        "ruleReport": rules,
        "outcome": None if outcome is None else str(outcome),
        "reasonMentions": mentions,
    }
