"""The query guard: a consumer's SQL is accepted only if every part of it is provably within
the analysis rule.  Pure (sqlglot parses; nothing runs).

The guard is an allow-list over the parse tree.  Each node must be of an exact type the guard
knows, in a position where that type is allowed, with no arguments it does not know.  What it
accepts is rebuilt as a :class:`~trustspace.core.compute.plan.Plan`; the consumer's text never
runs.  The grammar it accepts:

    SELECT output, ... FROM table [alias] [JOIN joined [alias] ON a.x = b.y ...]
      [WHERE predicate] [GROUP BY group-column, ...]
      [ORDER BY output [ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]

    output     := group-column | aggregate | ROUND(aggregate, integer)     [AS name]
    aggregate  := COUNT(*) | COUNT(DISTINCT entity) | SUM(linear) | AVG(linear)
    linear     := aggregate-column | number | -linear | linear + linear | linear - linear
                | linear * number | number * linear | linear / non-zero-number | (linear)
    predicate  := predicate AND predicate | predicate OR predicate | NOT predicate
                | column (= | <> | != | < | <= | > | >=) literal | literal op column
                | column [NOT] BETWEEN literal AND literal | column [NOT] IN (literal, ...)
                | column [NOT] LIKE|ILIKE 'pattern' | column IS [NOT] NULL | (predicate)

Columns in predicates have the ``filter`` or ``group`` role; in GROUP BY and as plain outputs
the ``group`` role; inside SUM and AVG the ``aggregate`` role.  The entity appears only as
``COUNT(DISTINCT entity)``.  So an aggregate's argument can never become a 0/1 indicator of a
row (no comparisons, booleans, CASE, COALESCE, casts, modulo, integer division, products of
columns or functions of columns), and there is nowhere a subquery, a system table or a second
statement could hide.

The guard is cheap and total: the text is bounded in length and in tokens (settings), nesting
is bounded before parsing, and the tree is walked once, with connector chains (``a OR b OR
...``) flattened without recursion, so checking is linear in the query and never raises
anything but :class:`GuardError`.
"""

from __future__ import annotations

import math

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from trustspace.core.compute.formula import formula
from trustspace.core.compute.plan import Order, Output, Plan
from trustspace.core.compute.rule import GuardError, Rule
from trustspace.core.compute.scope import Scope
from trustspace.core.compute.syntax import (
    DEFAULT_LIMITS,
    MAX_DEPTH,
    Limits,
    bounded_tokens,
    describe,
    extra_args,
    flatten,
    limit,
    num,
    only,
    output_name,
    scale,
    strip_alias,
    unparen,
)

_ALLOWED_SELECT_ARGS = {"expressions", "from_", "joins", "where", "group", "order", "limit",
                        "offset"}  # fmt: skip
_COMPARISONS: dict[type[exp.Expr], type[exp.Expr]] = {
    exp.EQ: exp.EQ, exp.NEQ: exp.NEQ, exp.LT: exp.LT, exp.LTE: exp.LTE, exp.GT: exp.GT,
    exp.GTE: exp.GTE,
}  # fmt: skip
_FLIPPED: dict[type[exp.Expr], type[exp.Expr]] = {
    exp.EQ: exp.EQ, exp.NEQ: exp.NEQ, exp.LT: exp.GT, exp.LTE: exp.GTE, exp.GT: exp.LT,
    exp.GTE: exp.LTE,
}  # fmt: skip
_AGGREGATE_TYPES: dict[type[exp.Expr], str] = {exp.Count: "COUNT", exp.Sum: "SUM", exp.Avg: "AVG", exp.Min: "MIN",
                    exp.Max: "MAX"}  # fmt: skip


def _row_level(col: str, roles: frozenset[str]) -> str:
    """Why selecting ``col`` without GROUP BY is refused, and what to ask instead."""
    ask = "select aggregates (COUNT, SUM, AVG)"
    if "group" in roles:
        ask += " or GROUP BY the column"
    elif "aggregate" in roles:
        ask += f" of it: column {col!r} may only be used inside an aggregate"
    else:
        ask += f"; column {col!r} may not be grouped on"
    return f"SELECT: {col!r} without GROUP BY is a row-level query: {ask}"


class _Guard(Scope):
    """The grammar: predicates, the linear expressions inside aggregates, outputs, GROUP BY
    and ORDER BY, over the names a :class:`Scope` resolves."""

    def predicate(self, node: exp.Expr, depth: int = 0) -> exp.Expr:
        if depth > MAX_DEPTH:
            raise GuardError(f"WHERE: the condition nests more than {MAX_DEPTH} levels deep")
        node = unparen(node)
        kind = type(node)
        if kind in (exp.And, exp.Or):
            parts = [self.predicate(p, depth + 1) for p in flatten(node, kind)]
            joined: exp.Expr = exp.Paren(this=parts[0])
            for part in parts[1:]:
                joined = kind(this=joined, expression=exp.Paren(this=part))
            return joined
        if kind is exp.Not:
            only(node, {"this"}, "WHERE")
            return exp.Not(this=exp.Paren(this=self.predicate(node.this, depth + 1)))
        if kind in _COMPARISONS:
            only(node, {"this", "expression"}, "WHERE")
            left, right = unparen(node.this), unparen(node.expression)
            op = kind
            if type(left) is not exp.Column:
                left, right, op = right, left, _FLIPPED[kind]
            table, name = self._filter_column(left)
            lit_kind, literal = self._literal(right, "WHERE")
            return _COMPARISONS[op](this=self._cast(table, name, lit_kind), expression=literal)
        if kind is exp.Between:
            only(node, {"this", "low", "high"}, "WHERE")
            table, name = self._filter_column(node.this)
            (k1, low), (k2, high) = (self._literal(node.args["low"], "WHERE"),
                                     self._literal(node.args["high"], "WHERE"))  # fmt: skip
            if k1 != k2:
                raise GuardError("WHERE: BETWEEN takes two constants of the same kind")
            return exp.Between(this=self._cast(table, name, k1), low=low, high=high)
        if kind is exp.In:
            only(node, {"this", "expressions"}, "WHERE")
            table, name = self._filter_column(node.this)
            items = [self._literal(e, "WHERE") for e in node.expressions]
            kinds = {k for k, _ in items}
            if not items or len(kinds) != 1:
                raise GuardError("WHERE: IN takes a list of constants of one kind")
            return exp.In(this=self._cast(table, name, kinds.pop()),
                          expressions=[lit for _, lit in items])  # fmt: skip
        if kind in (exp.Like, exp.ILike):
            only(node, {"this", "expression", "negate"}, "WHERE")
            table, name = self._filter_column(node.this)
            lit_kind, pattern = self._literal(node.expression, "WHERE")
            if lit_kind != "str":
                raise GuardError("WHERE: LIKE takes a string pattern")
            built = kind(this=self._cast(table, name, "str"), expression=pattern)
            return exp.Not(this=exp.Paren(this=built)) if node.args.get("negate") else built
        if kind is exp.Is:
            only(node, {"this", "expression"}, "WHERE")
            if type(node.expression) is not exp.Null:
                raise GuardError("WHERE: IS takes NULL (IS NULL, IS NOT NULL)")
            table, name = self._filter_column(node.this)
            return exp.Is(this=self._ref(table, name), expression=exp.Null())
        raise GuardError(f"WHERE: {describe(node)} is not allowed")

    # --- aggregates --------------------------------------------------------------------
    def linear(
        self, node: exp.Expr, clause: str, depth: int = 0
    ) -> tuple[exp.Expr, tuple[float, float]]:
        """A linear expression over aggregate-role columns, rebuilt, with its range per row
        under DP (from the columns' bounds; +-inf where a bound is missing)."""
        if depth > MAX_DEPTH:
            raise GuardError(f"{clause}: the expression nests more than {MAX_DEPTH} levels deep")
        node = unparen(node)
        kind = type(node)
        if kind is exp.Column:
            table, name, roles = self._column(node, clause)
            if "aggregate" not in roles:
                if table == self.rule.table and name == self.rule.entity:
                    raise GuardError(f"{clause}: the entity {name!r} may appear only as"
                                     f" COUNT(DISTINCT {name})")  # fmt: skip
                raise GuardError(f"{clause}: column {name!r} may not be aggregated")
            value: exp.Expr = exp.TryCast(this=self._ref(table, name),
                                                to=exp.DataType.build("DOUBLE"))  # fmt: skip
            privacy = self.rule.privacy
            if privacy is None:
                return value, (-math.inf, math.inf)
            bound = privacy.bounds.get(name.lower())
            if bound is None:
                raise GuardError(f"{clause}: SUM of {name} needs bounds under differential privacy")
            clamped = exp.Least(this=exp.Greatest(this=value, expressions=[num(bound[0])]),
                                expressions=[num(bound[1])])  # fmt: skip
            return clamped, bound
        if kind is exp.Literal or (kind is exp.Neg and type(unparen(node.this)) is exp.Literal):
            lit_kind, literal = self._literal(node, clause)
            if lit_kind != "num":
                raise GuardError(f"{clause}: only numbers and aggregate columns may be summed")
            number = float(literal.sql())
            return literal, (number, number)
        if kind is exp.Neg:
            only(node, {"this"}, clause)
            inner, (lo, hi) = self.linear(node.this, clause, depth + 1)
            return exp.Neg(this=exp.Paren(this=inner)), (-hi, -lo)
        if kind in (exp.Add, exp.Sub):
            # a + b - c + ...: a chain, taken without recursion like AND and OR
            terms: list[tuple[bool, exp.Expr]] = []
            stack: list[tuple[bool, exp.Expr]] = [(False, node)]
            while stack:
                negated, item = stack.pop()
                item = unparen(item)
                if type(item) in (exp.Add, exp.Sub):
                    only(item, {"this", "expression"}, clause)
                    stack.append((negated != (type(item) is exp.Sub), item.expression))
                    stack.append((negated, item.this))
                else:
                    terms.append((negated, item))
            built: exp.Expr | None = None
            lo = hi = 0.0
            for negated, term in terms:
                value, (tlo, thi) = self.linear(term, clause, depth + 1)
                lo, hi = (lo - thi, hi - tlo) if negated else (lo + tlo, hi + thi)
                part = exp.Paren(this=value)
                if built is None:
                    built = exp.Neg(this=part) if negated else part
                else:
                    built = (exp.Sub if negated else exp.Add)(this=built, expression=part)
            assert built is not None
            return built, (lo, hi)
        if kind is exp.Mul:
            only(node, {"this", "expression"}, clause)
            left, right = unparen(node.this), unparen(node.expression)
            if self._is_number(left):
                left, right = right, left
            if not self._is_number(right):
                raise GuardError(
                    f"{clause}: a product of columns is not linear; multiply by a number"
                )
            a, rng = self.linear(left, clause, depth + 1)
            factor = float(self._literal(right, clause)[1].sql())
            return exp.Mul(this=exp.Paren(this=a), expression=num(factor)), scale(rng, factor)
        if kind is exp.Div:
            only(node, {"this", "expression"}, clause)
            if not self._is_number(node.expression):
                raise GuardError(f"{clause}: divide only by a non-zero number")
            divisor = float(self._literal(node.expression, clause)[1].sql())
            if divisor == 0:
                raise GuardError(f"{clause}: divide only by a non-zero number")
            a, rng = self.linear(node.this, clause, depth + 1)
            return exp.Div(this=exp.Paren(this=a), expression=num(divisor)), scale(rng, 1 / divisor)
        if isinstance(node, exp.Predicate | exp.Connector | exp.Not | exp.Case | exp.If):
            raise GuardError(f"{clause}: comparisons and conditions select rows; they are not"
                             " allowed inside an aggregate")  # fmt: skip
        raise GuardError(f"{clause}: {describe(node)} is not allowed inside an aggregate")

    def _is_number(self, node: exp.Expr) -> bool:
        node = unparen(node)
        if type(node) is exp.Neg:
            node = unparen(node.this)
        return type(node) is exp.Literal and not node.is_string

    def aggregate(self, node: exp.Expr, name: str) -> Output:
        kind = type(node)
        label = _AGGREGATE_TYPES.get(kind)
        if label is None:
            raise GuardError(f"SELECT: {describe(node)} is not allowed")
        if label in ("MIN", "MAX"):
            raise GuardError(f"{label} is not allowed: a minimum or maximum is one entity's value")
        if label.lower() not in self.rule.aggregates:
            raise GuardError(f"aggregate {label} is not allowed by the rule")
        clause = f"SELECT {label}"
        if kind is exp.Count:
            only(node, {"this", "big_int"}, clause)
            arg = node.this
            if type(arg) is exp.Star and extra_args(arg, set()) is None:
                return Output(name, "count")
            if type(arg) is exp.Literal and not arg.is_string:
                return Output(name, "count")  # COUNT(1) counts rows like COUNT(*)
            if type(arg) is exp.Distinct:
                only(arg, {"expressions"}, clause)
                if len(arg.expressions) == 1 and type(unparen(arg.expressions[0])) is exp.Column:
                    table, col, _ = self._column(unparen(arg.expressions[0]), clause)
                    if table == self.rule.table and col == self.rule.entity:
                        self.entity_counted = True
                        return Output(name, "count_distinct")
                raise GuardError(f"{clause}: COUNT(DISTINCT ...) counts only the entity"
                                 f" ({self.rule.entity})")  # fmt: skip
            raise GuardError(f"{clause}: COUNT(column) selects the rows where it is not null;"
                             f" use COUNT(*) or COUNT(DISTINCT {self.rule.entity})")  # fmt: skip
        only(node, {"this"}, clause)
        if self.rule.dp and kind is exp.Avg:
            raise GuardError("AVG is not allowed under differential privacy; use SUM and COUNT")
        value, rng = self.linear(node.this, clause)
        self.values.append(value)
        self.bounds.append(rng)
        return Output(name, "sum" if kind is exp.Sum else "avg", len(self.values) - 1)

    # --- SELECT, GROUP BY, ORDER BY ----------------------------------------------------
    def group_by(self, select: exp.Select, items: list[exp.Expr]) -> None:
        group = select.args.get("group")
        if group is None:
            return
        extra = extra_args(group, {"expressions"})
        if extra is not None:
            raise GuardError(f"GROUP BY {extra.upper()} is not allowed; group by columns")
        for node in group.expressions:
            node = unparen(node)
            if type(node) is exp.Literal and not node.is_string and str(node.this).isdigit():
                position = int(str(node.this))
                if not 1 <= position <= len(items):
                    raise GuardError(f"GROUP BY {position}: there is no such output")
                node = unparen(strip_alias(items[position - 1]))
            if type(node) is not exp.Column:
                raise GuardError(f"GROUP BY: group by columns, not {describe(node)}")
            table, name, roles = self._column(node, "GROUP BY")
            if "group" not in roles:
                raise GuardError(f"GROUP BY: column {name!r} may only be used inside an aggregate"
                                 if "aggregate" in roles else f"GROUP BY: column {name!r} may not be grouped on")  # fmt: skip
            if (table, name) not in self.keys:
                self.keys.append((table, name))

    def outputs(self, items: list[exp.Expr]) -> list[Output]:
        """The SELECT list; a bare column is a GROUP BY key (``self.keys`` is filled first)."""
        outs: list[Output] = []
        for i, item in enumerate(items):
            name, inner = output_name(item, i)
            inner = unparen(inner)
            decimals = None
            if type(inner) is exp.Round:
                only(inner, {"this", "decimals"}, "SELECT ROUND")
                places = inner.args.get("decimals")
                if places is not None:
                    if (
                        not self._is_number(places)
                        or not str(unparen(places).sql()).lstrip("-").isdigit()
                    ):
                        raise GuardError(
                            "SELECT: ROUND takes an aggregate and a whole number of places"
                        )
                    decimals = int(unparen(places).sql())
                    if abs(decimals) > 12:
                        raise GuardError("SELECT: ROUND to at most 12 places either side")
                else:
                    decimals = 0
                inner = unparen(inner.this)
                if type(inner) not in _AGGREGATE_TYPES:
                    raise GuardError("SELECT: ROUND applies to an aggregate")
            if type(inner) is exp.Column:
                table, col, roles = self._column(inner, "SELECT")
                if not self.keys:  # a bare column and no GROUP BY asks for the rows themselves
                    raise GuardError(_row_level(col, roles))
                if "group" not in roles:
                    raise GuardError(f"SELECT: column {col!r} may only be used inside an aggregate"
                                     if "aggregate" in roles else f"SELECT: column {col!r} may not be grouped on")  # fmt: skip
                if (table, col) not in self.keys:
                    raise GuardError(
                        f"SELECT: column {col!r} must be in GROUP BY (no row-level output)"
                    )
                outs.append(Output(name, "group", self.keys.index((table, col))))
                continue
            if type(inner) in _AGGREGATE_TYPES:
                out = self.aggregate(inner, name)
                outs.append(Output(out.name, out.kind, out.source, decimals))
                continue
            if type(inner) is exp.Star:
                raise GuardError("SELECT * returns rows; aggregate instead")
            if inner.find(exp.AggFunc) is not None and not inner.find(exp.Select):
                raise GuardError(f"SELECT: {describe(inner)} mixes an aggregate into an expression;"
                                 " compute it from the released aggregates")  # fmt: skip
            raise GuardError(f"SELECT: {describe(inner)} is not allowed")
        if not any(o.kind != "group" for o in outs):
            raise GuardError("the query returns rows, not aggregates: add COUNT, SUM, ...")
        return outs

    def order(self, select: exp.Select, items: list[exp.Expr], outs: list[Output]) -> list[Order]:
        order = select.args.get("order")
        if order is None:
            return []
        only(order, {"expressions"}, "ORDER BY")
        result = []
        texts = [unparen(strip_alias(it)).sql(dialect="duckdb").lower() for it in items]
        for ordered in order.expressions:
            if type(ordered) is not exp.Ordered:
                raise GuardError("ORDER BY: order by outputs")
            only(ordered, {"this", "desc", "nulls_first"}, "ORDER BY")
            node = unparen(ordered.this)
            index: int | None = None
            if type(node) is exp.Literal and not node.is_string and str(node.this).isdigit():
                index = int(str(node.this)) - 1
                if not 0 <= index < len(outs):
                    raise GuardError(f"ORDER BY {index + 1}: there is no such output")
            elif (
                type(node) is exp.Column
                and node.args.get("table") is None
                and type(node.this) is exp.Identifier
            ):
                wanted = str(node.this.this).lower()
                index = next((i for i, o in enumerate(outs) if o.name.lower() == wanted), None)
            if index is None:
                text = node.sql(dialect="duckdb").lower()
                index = next((i for i, t in enumerate(texts) if t == text), None)
            if index is None:
                raise GuardError("ORDER BY: order by an output of the query (its name or position)")
            result.append(
                Order(index, bool(ordered.args.get("desc")), ordered.args.get("nulls_first"))
            )
        return result


def check(rule: Rule, sql: str, limits: Limits = DEFAULT_LIMITS) -> Plan:
    """The plan for ``sql`` under ``rule``, or :class:`GuardError` saying what is outside it."""
    if not isinstance(sql, str) or not sql.strip():
        raise GuardError("the query is empty")
    tokens = bounded_tokens(rule, sql, limits)
    try:
        dialect = sqlglot.Dialect.get_or_raise("duckdb")
        statements = dialect.parser().parse(tokens, sql)
        return _check(rule, statements, limits)
    except RecursionError:
        raise GuardError("the query nests too deeply") from None
    except SqlglotError as exc:
        raise GuardError(f"the query does not parse: {str(exc).splitlines()[0][:200]}") from None


def _check(rule: Rule, statements: list[exp.Expr | None], limits: Limits) -> Plan:
    if len(statements) != 1 or type(statements[0]) is not exp.Select:
        if len(statements) == 1 and isinstance(statements[0], exp.SetOperation):
            raise GuardError("set operations (UNION, INTERSECT, EXCEPT) are not allowed")
        raise GuardError("exactly one SELECT statement is allowed")
    select = statements[0]
    for key, value in select.args.items():
        if key not in _ALLOWED_SELECT_ARGS and value not in (None, False, [], ""):
            what = {"with_": "WITH (CTEs)", "having": "HAVING", "distinct": "SELECT DISTINCT",
                    "qualify": "QUALIFY", "windows": "WINDOW", "laterals": "LATERAL"}.get(key, key.upper())  # fmt: skip
            if key == "distinct":
                raise GuardError("SELECT DISTINCT returns rows; aggregate instead")
            raise GuardError(f"{what} is not allowed")
    if any(isinstance(n, exp.Query | exp.Subquery | exp.Exists) and n is not select
           for n in select.walk()):  # fmt: skip
        raise GuardError("subqueries are not allowed")
    guard = _Guard(rule)
    guard.sources(select)
    items = list(select.expressions)
    if not items:
        raise GuardError("the query selects nothing")
    guard.group_by(select, items)
    outs = guard.outputs(items)
    where = select.args.get("where")
    predicate = None
    if where is not None:
        only(where, {"this"}, "WHERE")
        predicate = guard.predicate(where.this)
    order = guard.order(select, items, outs)
    return _plan(guard, rule, outs, predicate, order, limit(select, "limit"),
                 limit(select, "offset") or 0)  # fmt: skip


def _plan(guard: _Guard, rule: Rule, outs: list[Output], predicate: exp.Expr | None,
          order: list[Order], limit: int | None, offset: int) -> Plan:  # fmt: skip
    keys = tuple(guard._ref(t, c) for t, c in guard.keys)
    product_columns: list[exp.Expr] = [guard._ref(rule.table, rule.entity)]
    if not (rule.entity_per_row and not rule.joins):
        product_columns += [guard._ref(rule.table, c) for c in sorted(rule.columns)]
    row_columns: list[exp.Expr] = [guard._ref(rule.table, rule.entity)]
    # A row class is what no query can split.  When each row is a different entity (the
    # provider says so), the entity alone is that; otherwise every column the rule names.
    for table in [] if rule.entity_per_row and not rule.joins else guard.render:
        if table != rule.table:
            row_columns.append(exp.Literal.string(f"join:{table}"))
            spec = next(j for j in rule.joins if j.table == table)
            row_columns.append(guard._ref(rule.table, spec.left))
            row_columns.append(guard._ref(table, spec.right))
        row_columns += [guard._ref(table, c) for c in sorted(rule.roles(table))]
    epsilon = 0.0
    threshold = 0.0
    if rule.privacy is not None:
        cap = float(rule.privacy.max_rows_per_entity)
        distinct = 1.0 if not keys else cap  # an entity is in at most `cap` groups
        priced = []
        for i, out in enumerate(outs):
            if out.kind == "count":
                priced.append((i, cap))
            elif out.kind == "count_distinct":
                priced.append((i, distinct))
            elif out.kind == "sum":
                lo, hi = guard.bounds[out.source]
                priced.append((i, cap * max(abs(lo), abs(hi))))
        outs = list(outs)
        for i, sens in priced:
            outs[i] = Output(outs[i].name, outs[i].kind, outs[i].source, outs[i].decimals, sens)
        epsilon = rule.privacy.epsilon_per_query
        threshold = distinct
    return Plan(
        rule=rule,
        tables=tuple((t, a) for t, a in guard.render.items()),
        on=tuple(guard.on),
        where=predicate,
        keys=keys,
        values=tuple(guard.values),
        outputs=tuple(outs),
        order=tuple(order),
        limit=limit,
        offset=offset,
        epsilon=epsilon,
        row_columns=tuple(row_columns),
        product_columns=tuple(product_columns) if len(guard.render) > 1 else (),
        condition=formula(predicate, {alias: table for table, alias in guard.render.items()}),
        key_columns=tuple(f"{t}.{c}" for t, c in guard.keys),
        threshold_sensitivity=threshold,
    )
