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
- ``joins``: other tables of the product (files of a multi-file version) that may be joined to
  the product table, each with the one equality it is joined on (``left``: a column of the
  product table, ``right``: one of the joined table) and its own column roles.  Only inner
  equi-joins on exactly that pair are accepted; groups are still sized by distinct entities of
  the product table.  Joins are refused under differential privacy: one entity may have any
  number of joined rows, so its contribution to a count or sum has no bound;
- ``engine``: ``duckdb`` (default) or ``spark``; the same checked query runs on either;
- ``approval``: ``auto`` or ``manual``;
- ``limits``: ``seconds``, ``memoryMiB``.

:func:`check` accepts a query only if it is provably within the rule:
- one SELECT from the product table, and the joins the rule declares;
- no other joins, subqueries, CTEs, set operations, windows, DISTINCT, HAVING or ``*``;
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
class Join:
    """A table that may be joined to the product table on ``product.left = table.right``."""

    table: str
    left: str
    right: str
    columns: Mapping[str, frozenset[str]]


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
    joins: tuple[Join, ...] = ()

    @property
    def dp(self) -> bool:
        return self.epsilon_per_query is not None

    @property
    def tables(self) -> tuple[str, ...]:
        return (self.table, *(j.table for j in self.joins))


def _roles(columns: object, where: str) -> dict[str, frozenset[str]]:
    try:
        parsed = {str(c): frozenset(str(r) for r in roles) for c, roles in dict(columns).items()}  # type: ignore[call-overload]
    except (TypeError, ValueError) as exc:
        raise GuardError(f"{where}: columns must map names to role lists ({exc})") from None
    for name, roles in parsed.items():
        bad = sorted(roles - set(ROLES))
        if bad:
            raise GuardError(f"column {name}: unknown roles {bad}; use {', '.join(ROLES)}")
    return parsed


def _joins(doc: object, table: str) -> tuple[Join, ...]:
    if not isinstance(doc, list):
        raise GuardError("joins must be a list of {table, left, right, columns}")
    joins: list[Join] = []
    for item in doc:
        if not isinstance(item, Mapping) or not all(k in item for k in ("table", "left", "right")):
            raise GuardError("each join needs table, left (product column) and right (its column)")
        join = Join(str(item["table"]), str(item["left"]), str(item["right"]),
                    _roles(item.get("columns", {}), f"join {item['table']}"))  # fmt: skip
        if join.table == table or join.table in (j.table for j in joins):
            raise GuardError(f"join {join.table}: each table is joined at most once")
        joins.append(join)
    return tuple(joins)


def parse_rule(doc: object) -> Rule:
    if not isinstance(doc, Mapping):
        raise GuardError("the analysis rule must be an object")
    try:
        table, entity, raw_columns = str(doc["table"]), str(doc["entity"]), doc["columns"]
    except KeyError as exc:
        raise GuardError(f"the analysis rule needs table, entity and columns ({exc})") from None
    columns = _roles(raw_columns, "the analysis rule")
    joins = _joins(doc.get("joins", []), table)
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
        joins=joins,
    )
    if joins and rule.dp:
        raise GuardError(
            "joins are not allowed under differential privacy: one entity may have any number"
            " of joined rows, so its contribution has no bound"
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


def _sources(rule: Rule, select: exp.Select) -> dict[str, str]:
    """alias -> table for FROM and every JOIN, each checked against the rule."""
    source = select.args.get("from_")
    first = source.this if source is not None else None
    if not isinstance(first, exp.Table) or first.name != rule.table or first.args.get("db"):
        found = first.sql() if first is not None else "nothing"
        raise GuardError(f"the query must read the product table {rule.table!r}, not {found}")
    aliases = {first.alias_or_name: rule.table}
    allowed = {j.table: j for j in rule.joins}
    for join in select.args.get("joins") or []:
        target = join.this
        if not isinstance(target, exp.Table) or target.args.get("db"):
            raise GuardError(f"JOIN: only the product's tables may be joined, not {target.sql()}")
        spec = allowed.get(target.name)
        if spec is None:
            raise GuardError(f"JOIN: the rule allows no join with {target.name!r}"
                             + (f"; joinable: {', '.join(allowed)}" if allowed else ""))  # fmt: skip
        if join.args.get("side") or str(join.args.get("kind") or "INNER").upper() != "INNER":
            raise GuardError(f"JOIN {target.name}: only inner joins are allowed")
        if (
            join.args.get("using")
            or target.name in aliases.values()
            or target.alias_or_name in aliases
        ):
            raise GuardError(f"JOIN {target.name}: join each table once, with ON")
        aliases[target.alias_or_name] = target.name
        on = join.args.get("on")
        pair = set()
        if isinstance(on, exp.EQ) and all(
            isinstance(x, exp.Column) for x in (on.this, on.expression)
        ):
            pair = {(aliases.get(c.table, "?") if c.table else "?", c.name)
                    for c in (on.this, on.expression)}  # fmt: skip
        if pair != {(rule.table, spec.left), (spec.table, spec.right)}:
            raise GuardError(f"JOIN {target.name}: join ON {rule.table}.{spec.left} ="
                             f" {spec.table}.{spec.right}, with both columns qualified, and nothing else")  # fmt: skip
    return aliases


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
        (exp.Subquery, "subqueries"), (exp.With, "WITH (CTEs)"),
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
    aliases = _sources(rule, select)
    roles_of = {rule.table: rule.columns, **{j.table: j.columns for j in rule.joins}}
    joined = len(aliases) > 1

    def resolve(col: exp.Column) -> tuple[str, str]:
        """(table, column) of a column reference; unqualified names must be unambiguous."""
        if col.table:
            if col.table not in aliases:
                raise GuardError(f"{_where(col)}: {col.table!r} is not a table of this query")
            return aliases[col.table], col.name
        owners = sorted({t for t in aliases.values()
                         if col.name in roles_of[t] or (t == rule.table and col.name == rule.entity)})  # fmt: skip
        if len(owners) > 1:
            raise GuardError(f"{_where(col)}: column {col.name!r} is in {' and '.join(owners)};"
                             " qualify it with its table")  # fmt: skip
        return (owners[0] if owners else rule.table), col.name

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
    group_by = {resolve(c) for g in ([select.args["group"]] if select.args.get("group") else [])
                for c in g.find_all(exp.Column)}  # fmt: skip
    for col in select.find_all(exp.Column):
        if col.find_ancestor(exp.Join) is not None:
            continue  # the ON equality, checked with the join
        table, name = resolve(col)
        clause = _where(col)
        roles = roles_of[table].get(name)
        is_entity = table == rule.table and name == rule.entity
        if is_entity and roles is None:
            roles = frozenset()
        if roles is None:
            raise GuardError(f"{clause}: no column {name!r} in {table}")
        agg = col.find_ancestor(exp.AggFunc)
        if agg is not None:
            if is_entity and isinstance(agg, exp.Count):
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
            if clause == "SELECT" and (table, name) not in group_by:
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
    main = next(a for a, t in aliases.items() if t == rule.table)
    entity = exp.column(rule.entity, table=main if joined else None)
    size = (
        exp.Count(this=exp.Star())
        if rule.entity_per_row and not joined
        else exp.Count(this=exp.Distinct(expressions=[entity]))
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
