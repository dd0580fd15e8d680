"""Compute-to-data: the analysis rule of a product and the query guard.  Pure (sqlglot parses).

An analysis rule says what a consumer's SQL may do with one product table:
- ``entity``: the column identifying a person or entity; output groups are counted by it;
- column roles:
  - ``group``: may be grouped on, shown as a group key and filtered on;
  - ``filter``: may be used in WHERE only;
  - ``aggregate``: may appear only inside an allowed aggregate;
- ``aggregates``: the allowed aggregate functions (count, sum, avg, min, max);
- ``minGroupSize`` with ``groupPolicy``: every output group must cover at least this many
  distinct entities. Smaller groups are suppressed (the guard adds a HAVING), or the whole result
  is refused;
- ``maxRows``: the largest result;
- ``dp``: optional differential privacy, with ``epsilonPerQuery``, a per-agreement ``budget`` and
  ``bounds`` for every summed column. Counts and sums get Laplace noise; avg, min and max are
  refused under DP;
- ``entityPerRow``: the provider states that every row is a different entity, so groups are
  sized by counting rows (cheaper than counting distinct entities);
- ``engine``: ``duckdb`` (default) or ``spark``; the same checked query runs on either;
- ``approval``: ``auto`` or ``manual``;
- ``limits``: ``seconds``, ``memoryMiB``.

:func:`check` accepts a query only if it is provably within the rule:
- one SELECT from the product table;
- no joins, subqueries, CTEs, set operations, windows, DISTINCT, HAVING or ``*``;
- only allowed functions;
- every column used in a way its role allows;
- at least one aggregate (no row-level output).

Anything else is refused with the clause and the column or function named.  The accepted query
is rewritten: the group size is added, and so are the suppression HAVING, clamped sums under DP
and the row limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp

AGGREGATES: Mapping[str, type[exp.Expression]] = {
    "count": exp.Count,
    "sum": exp.Sum,
    "avg": exp.Avg,
    "min": exp.Min,
    "max": exp.Max,
}
ROLES = ("group", "filter", "aggregate")
GROUP_SIZE = "__group_size"


class GuardError(ValueError):
    """A query (or rule) outside what the rule allows; the message says where."""


@dataclass(frozen=True)
class Rule:
    table: str
    entity: str
    columns: Mapping[str, frozenset[str]]
    aggregates: frozenset[str] = frozenset({"count", "sum", "avg"})
    min_group_size: int = 10
    group_policy: str = "suppress"
    max_rows: int = 1000
    epsilon_per_query: float | None = None
    budget: float | None = None
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    approval: str = "auto"
    seconds: float = 30.0
    memory_mib: int = 512
    entity_per_row: bool = False  # the provider states each row is a different entity
    engine: str = "duckdb"  # or "spark", for products that outgrow one machine

    @property
    def dp(self) -> bool:
        return self.epsilon_per_query is not None


def parse_rule(doc: object) -> Rule:
    if not isinstance(doc, Mapping):
        raise GuardError("the analysis rule must be an object")
    try:
        table, entity = str(doc["table"]), str(doc["entity"])
        columns = {
            str(c): frozenset(str(r) for r in roles) for c, roles in dict(doc["columns"]).items()
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise GuardError(f"the analysis rule needs table, entity and columns ({exc})") from None
    for name, roles in columns.items():
        bad = sorted(roles - set(ROLES))
        if bad:
            raise GuardError(f"column {name}: unknown roles {bad}; use {', '.join(ROLES)}")
    aggregates = frozenset(str(a) for a in doc.get("aggregates", ["count", "sum", "avg"]))
    if aggregates - set(AGGREGATES):
        raise GuardError(f"unknown aggregates {sorted(aggregates - set(AGGREGATES))}")
    policy = str(doc.get("groupPolicy", "suppress"))
    if policy not in ("suppress", "refuse"):
        raise GuardError("groupPolicy is suppress or refuse")
    dp = doc.get("dp")
    limits = dict(doc.get("limits", {}))
    rule = Rule(
        table=table,
        entity=entity,
        columns=columns,
        aggregates=aggregates,
        min_group_size=int(doc.get("minGroupSize", 10)),
        group_policy=policy,
        max_rows=int(doc.get("maxRows", 1000)),
        epsilon_per_query=float(dp["epsilonPerQuery"]) if dp else None,
        budget=float(dp["budget"]) if dp else None,
        bounds={str(k): (float(v[0]), float(v[1])) for k, v in dict(dp.get("bounds", {})).items()}
        if dp
        else {},
        approval=str(doc.get("approval", "auto")),
        seconds=float(limits.get("seconds", 30)),
        memory_mib=int(limits.get("memoryMiB", 512)),
        entity_per_row=bool(doc.get("entityPerRow", False)),
        engine=str(doc.get("engine", "duckdb")),
    )
    if rule.engine not in ("duckdb", "spark"):
        raise GuardError("engine is duckdb or spark")
    if rule.approval not in ("auto", "manual"):
        raise GuardError("approval is auto or manual")
    if rule.dp and (
        rule.epsilon_per_query is None or rule.epsilon_per_query <= 0 or not rule.budget
    ):
        raise GuardError("dp needs a positive epsilonPerQuery and a budget")
    return rule


@dataclass(frozen=True)
class Output:
    name: str
    kind: str  # group | count | sum | avg | min | max
    sensitivity: float = 0.0


@dataclass(frozen=True)
class Checked:
    sql: str  # the rewritten query that runs
    outputs: tuple[Output, ...]
    epsilon: float  # spent by this query (0 without DP)


def _agg_name(node: object) -> str | None:
    for name, cls in AGGREGATES.items():
        if isinstance(node, cls):
            return name
    return None


def _where(col: exp.Column) -> str:
    for clause, cls in (("WHERE", exp.Where), ("GROUP BY", exp.Group), ("ORDER BY", exp.Order)):
        if col.find_ancestor(cls) is not None:
            return clause
    return "SELECT"


def check(rule: Rule, sql: str) -> Checked:
    try:
        statements = sqlglot.parse(sql, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise GuardError(f"the query does not parse: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Select):
        raise GuardError("exactly one SELECT statement is allowed")
    select = statements[0]
    for cls, what in (
        (exp.Join, "joins"), (exp.Subquery, "subqueries"), (exp.With, "WITH (CTEs)"),
        (exp.Union, "set operations"), (exp.Window, "window functions"), (exp.Having, "HAVING"),
        (exp.Lateral, "LATERAL"),
    ):  # fmt: skip
        if select.find(cls) is not None:
            raise GuardError(
                f"{what} are not allowed" if what.endswith("s") else f"{what} is not allowed"
            )
    for star in select.find_all(exp.Star):
        if not isinstance(star.parent, exp.Count):
            raise GuardError("SELECT * returns rows; aggregate instead")
    if select.args.get("distinct"):
        raise GuardError("SELECT DISTINCT returns rows; aggregate instead")
    tables = list(select.find_all(exp.Table))
    if len(tables) != 1 or tables[0].name != rule.table or tables[0].args.get("db"):
        names = ", ".join(t.sql() for t in tables) or "nothing"
        raise GuardError(f"the query must read the product table {rule.table!r}, not {names}")
    for func in select.find_all(exp.Func):
        name = _agg_name(func)
        if name is not None:
            if name not in rule.aggregates:
                raise GuardError(f"aggregate {name.upper()} is not allowed by the rule")
            if rule.dp and name in ("avg", "min", "max"):
                raise GuardError(
                    f"{name.upper()} is not allowed under differential privacy; use SUM and COUNT"
                )
            if isinstance(func, exp.Count) and isinstance(func.this, exp.Distinct) and rule.dp:
                raise GuardError("COUNT(DISTINCT ...) is not allowed under differential privacy")
            continue
        if isinstance(func, exp.Round | exp.Distinct | exp.Connector | exp.Predicate | exp.Not):
            continue
        label = func.sql_name() if not isinstance(func, exp.Anonymous) else str(func.this)
        raise GuardError(f"function {label} is not allowed")
    group_by = {c.name for g in ([select.args["group"]] if select.args.get("group") else [])
                for c in g.find_all(exp.Column)}  # fmt: skip
    for col in select.find_all(exp.Column):
        name, clause = col.name, _where(col)
        roles = rule.columns.get(name)
        if name == rule.entity and roles is None:
            roles = frozenset()
        if roles is None:
            raise GuardError(f"{clause}: no column {name!r} in {rule.table}")
        agg = col.find_ancestor(exp.AggFunc)
        if agg is not None:
            if name == rule.entity and isinstance(agg, exp.Count):
                continue
            if "aggregate" not in roles:
                raise GuardError(f"{clause}: column {name!r} may not be aggregated")
            continue
        if clause == "WHERE":
            if not roles & {"filter", "group"}:
                raise GuardError(f"WHERE: column {name!r} may not be filtered on")
        elif clause in ("GROUP BY", "ORDER BY", "SELECT"):
            if "group" not in roles:
                raise GuardError(f"{clause}: column {name!r} may only be used inside an aggregate"
                                 if "aggregate" in roles else f"{clause}: column {name!r} may not be grouped on")  # fmt: skip
            if clause == "SELECT" and name not in group_by:
                raise GuardError(
                    f"SELECT: column {name!r} must be in GROUP BY (no row-level output)"
                )
    outputs: list[Output] = []
    noisy = 0
    for i, item in enumerate(select.expressions):
        inner = item.this if isinstance(item, exp.Alias) else item
        name = item.alias_or_name or f"col{i}"
        if isinstance(inner, exp.Round) and _agg_name(inner.this) is not None:
            inner = inner.this  # rounding an aggregate is still that aggregate
        kind = _agg_name(inner)
        if kind is None:
            if inner.find(exp.AggFunc) is not None:
                raise GuardError(f"SELECT: {item.sql()} mixes an aggregate into an expression")
            outputs.append(Output(name, "group"))
            continue
        sensitivity = 1.0 if kind == "count" else 0.0
        if kind == "sum" and rule.dp:
            column = inner.find(exp.Column)
            if column is None or column.name not in rule.bounds:
                raise GuardError(
                    f"SELECT: SUM of {column.name if column else '?'} needs bounds under differential privacy"
                )
            lo, hi = rule.bounds[column.name]
            inner.set("this", exp.Least(this=exp.Greatest(this=column.copy(), expressions=[exp.Literal.number(lo)]),
                                        expressions=[exp.Literal.number(hi)]))  # fmt: skip
            sensitivity = max(abs(lo), abs(hi))
        noisy += kind in ("count", "sum")
        outputs.append(Output(name, kind, sensitivity))
    if not any(o.kind != "group" for o in outputs):
        raise GuardError("the query returns rows, not aggregates: add COUNT, SUM, ...")
    # Groups are sized by distinct entities; when every row is a different entity (the provider
    # says so in the rule), counting rows is the same and much cheaper.
    size = (
        exp.Count(this=exp.Star())
        if rule.entity_per_row
        else exp.Count(this=exp.Distinct(expressions=[exp.column(rule.entity)]))
    )
    select = select.select(exp.alias_(size.copy(), GROUP_SIZE), copy=False)
    if rule.min_group_size > 1 and rule.group_policy == "suppress":
        select = select.having(exp.GTE(this=size, expression=exp.Literal.number(rule.min_group_size)),
                               copy=False)  # fmt: skip
    limit = select.args.get("limit")
    wanted = int(limit.expression.this) if limit is not None and limit.expression.is_int else None
    select = select.limit(min(wanted or rule.max_rows + 1, rule.max_rows + 1), copy=False)
    epsilon = rule.epsilon_per_query or 0.0 if noisy else 0.0
    return Checked(select.sql(dialect="duckdb"), tuple(outputs), epsilon if rule.dp else 0.0)


def release_problem(rule: Rule, rows: list[tuple[Any, ...]]) -> str | None:
    """Why a raw result may not be released (checked before noise is added), or None."""
    if len(rows) > rule.max_rows:
        return f"the result has more than {rule.max_rows} rows"
    if rule.group_policy == "refuse":
        small = sum(1 for r in rows if int(r[-1]) < rule.min_group_size)
        if small:
            return f"{small} output group(s) cover fewer than {rule.min_group_size} entities"
    return None
