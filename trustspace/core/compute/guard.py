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
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import Token, TokenType

from trustspace.core.compute.plan import Order, Output, Plan, column
from trustspace.core.compute.rule import GuardError, Rule

MAX_PARENS = 16  # sqlglot's parser recurses per level; deeper nesting is refused before parsing
MAX_DEPTH = 32  # nesting of the accepted grammar (connector chains do not count)


@dataclass(frozen=True)
class Limits:
    """How large a query may be; node settings ``compute_max_query_bytes`` and
    ``compute_max_query_tokens``."""

    max_bytes: int = 16_384
    max_tokens: int = 2_000


DEFAULT_LIMITS = Limits()

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
_CAST_TYPE = {"num": "DOUBLE", "str": "VARCHAR", "bool": "BOOLEAN"}
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


def _describe(node: exp.Expr) -> str:
    """A short name for a node in a refusal: the function or construct, never data."""
    if isinstance(node, exp.Anonymous):
        return f"function {str(node.this).upper()[:40]}"
    if isinstance(node, exp.Func):
        return f"function {node.sql_name()}"
    if isinstance(node, exp.Subquery | exp.Select | exp.Exists) or node.find(exp.Select):
        return "a subquery"
    return node.key.upper()


def _extra_args(node: exp.Expr, allowed: set[str]) -> str | None:
    for key, value in node.args.items():
        if key not in allowed and value not in (None, False, [], ""):
            return key
    return None


def _only(node: exp.Expr, allowed: set[str], clause: str) -> None:
    extra = _extra_args(node, allowed)
    if extra is not None:
        raise GuardError(f"{clause}: {_describe(node)} with {extra.upper()} is not allowed")


def _unparen(node: exp.Expr) -> exp.Expr:
    while type(node) is exp.Paren:
        _only(node, {"this"}, "query")
        node = node.this
    return node


def _flatten(node: exp.Expr, kind: type[exp.Expr]) -> list[exp.Expr]:
    """The operands of a chain ``a kind b kind c`` (through parentheses), without recursion."""
    out: list[exp.Expr] = []
    stack = [node]
    while stack:
        item = _unparen(stack.pop())
        if type(item) is kind:
            _only(item, {"this", "expression"}, "WHERE")
            stack.append(item.expression)
            stack.append(item.this)
        else:
            out.append(item)
    return out


def _bounded_tokens(rule: Rule, sql: str, limits: Limits) -> list[Token]:
    size = len(sql.encode("utf-8", "surrogatepass"))
    if size > limits.max_bytes:
        raise GuardError(f"the query is {size} bytes; at most {limits.max_bytes} are accepted")
    try:
        tokens = sqlglot.tokenize(sql, read="duckdb")
    except (SqlglotError, ValueError, RecursionError) as exc:
        raise GuardError(f"the query does not parse: {str(exc).splitlines()[0][:200]}") from None
    if len(tokens) > limits.max_tokens:
        raise GuardError(
            f"the query has {len(tokens)} tokens; at most {limits.max_tokens} are accepted"
            " (use IN (...) instead of long OR chains)"
        )
    depth = 0
    for token in tokens:
        if token.token_type in (TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.L_BRACE):
            depth += 1
            if depth > MAX_PARENS:
                raise GuardError(f"the query nests more than {MAX_PARENS} parentheses deep")
        elif token.token_type in (TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.R_BRACE):
            depth -= 1
    return tokens


class _Guard:
    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.aliases: dict[str, str] = {}  # lower-case alias or table name -> table
        self.render: dict[str, str] = {}  # table -> the alias the plan uses (t0, t1, ...)
        self.keys: list[tuple[str, str]] = []  # (table, column) of GROUP BY, in order
        self.values: list[exp.Expr] = []
        self.bounds: list[tuple[float, float]] = []  # per value, under DP
        self.entity_counted = False

    # --- names -------------------------------------------------------------------------
    def _name(self, table: str, name: str) -> str | None:
        """The column's name as the rule spells it (a role column, the entity or a join key),
        or None."""
        if table == self.rule.table and name.lower() == self.rule.entity.lower():
            return self.rule.entity
        keys = [j.left for j in self.rule.joins] if table == self.rule.table else [
            j.right for j in self.rule.joins if j.table == table]  # fmt: skip
        for known in (*self.rule.roles(table), *keys):
            if known.lower() == name.lower():
                return known
        return None

    def _column(self, node: exp.Expr, clause: str) -> tuple[str, str, frozenset[str]]:
        """(table, column, roles) of a column reference; the entity has no roles."""
        if type(node) is not exp.Column:
            raise GuardError(f"{clause}: expected a column, not {_describe(node)}")
        _only(node, {"this", "table"}, clause)
        name_node = node.args.get("this")
        if type(name_node) is not exp.Identifier:
            raise GuardError(f"{clause}: expected a column, not {_describe(node)}")
        name = str(name_node.this)
        qualifier = node.args.get("table")
        if qualifier is not None:
            if type(qualifier) is not exp.Identifier:
                raise GuardError(f"{clause}: a column is qualified by a table of this query")
            table = self.aliases.get(str(qualifier.this).lower())
            if table is None:
                raise GuardError(
                    f"{clause}: {str(qualifier.this)[:64]!r} is not a table of this query"
                )
            owners = [table]
        else:
            owners = [t for t in self.render if self._name(t, name) is not None]
            if len(owners) > 1:
                raise GuardError(f"{clause}: column {name[:64]!r} is in {' and '.join(owners)};"
                                 " qualify it with its table")  # fmt: skip
        table = owners[0] if owners else self.rule.table
        canonical = self._name(table, name)
        if canonical is None:
            raise GuardError(f"{clause}: no column {name[:64]!r} in {table}")
        return table, canonical, self.rule.roles(table).get(canonical, frozenset())

    def _ref(self, table: str, name: str) -> exp.Column:
        return column(self.render[table], name)

    # --- FROM and JOIN -----------------------------------------------------------------
    def _table(self, node: exp.Expr, clause: str) -> tuple[str, str]:
        if type(node) is not exp.Table:
            raise GuardError(
                f"{clause}: only the product's tables may be read, not {_describe(node)}"
            )
        extra = _extra_args(node, {"this", "alias"})
        if extra is not None:
            raise GuardError(
                f"{clause}: only the product's tables may be read ({extra.upper()} is not allowed)"
            )
        name_node = node.args.get("this")
        if type(name_node) is not exp.Identifier:
            what = _describe(name_node) if isinstance(name_node, exp.Expr) else "that"
            raise GuardError(f"{clause}: only the product's tables may be read, not {what}")
        alias_node = node.args.get("alias")
        alias = None
        if alias_node is not None:
            if type(alias_node) is not exp.TableAlias or _extra_args(alias_node, {"this"}):
                raise GuardError(f"{clause}: a table alias is a plain name")
            alias = str(alias_node.this.this) if type(alias_node.this) is exp.Identifier else None
            if alias is None:
                raise GuardError(f"{clause}: a table alias is a plain name")
        return str(name_node.this), alias or str(name_node.this)

    def sources(self, select: exp.Select) -> None:
        source = select.args.get("from_")
        if type(source) is not exp.From or _extra_args(source, {"this"}):
            raise GuardError(f"the query must read the product table {self.rule.table!r}")
        name, alias = self._table(source.this, "FROM")
        if name.lower() != self.rule.table.lower():
            raise GuardError(
                f"the query must read the product table {self.rule.table!r}, not {name[:64]}"
            )
        self.aliases = {alias.lower(): self.rule.table, self.rule.table.lower(): self.rule.table}
        self.render = {self.rule.table: "t0"}
        self.on: list[exp.Expr] = []
        allowed = {j.table.lower(): j for j in self.rule.joins}
        for join in select.args.get("joins") or []:
            if type(join) is not exp.Join:
                raise GuardError("JOIN: only inner joins on the declared equality are allowed")
            target, t_alias = self._table(join.this, "JOIN")
            spec = allowed.get(target.lower())
            if spec is None:
                raise GuardError(f"JOIN: the rule allows no join with {target[:64]!r}"
                                 + (f"; joinable: {', '.join(j.table for j in self.rule.joins)}"
                                    if self.rule.joins else ""))  # fmt: skip
            kind = str(join.args.get("kind") or "INNER").upper()
            extra = _extra_args(join, {"this", "on", "kind"})
            if kind != "INNER" or extra is not None:
                raise GuardError(f"JOIN {spec.table}: only inner joins with ON are allowed")
            if spec.table in self.render or t_alias.lower() in self.aliases:
                raise GuardError(f"JOIN {spec.table}: join each table once, with its own name")
            self.aliases[t_alias.lower()] = spec.table
            self.aliases.setdefault(spec.table.lower(), spec.table)
            self.render[spec.table] = f"t{len(self.render)}"
            on = _unparen(join.args.get("on") or exp.Null())
            pair: set[tuple[str, str]] = set()
            if type(on) is exp.EQ and all(type(x) is exp.Column and x.args.get("table")
                                          for x in (on.this, on.expression)):  # fmt: skip
                for side in (on.this, on.expression):
                    table, name, _ = self._column(side, "JOIN")
                    pair.add((table, name.lower()))
            wanted = {(self.rule.table, spec.left.lower()), (spec.table, spec.right.lower())}
            if pair != wanted:
                raise GuardError(f"JOIN {spec.table}: join ON {self.rule.table}.{spec.left} ="
                                 f" {spec.table}.{spec.right}, with both columns qualified, and nothing else")  # fmt: skip
            self.on.append(exp.EQ(this=self._ref(self.rule.table, spec.left),
                                  expression=self._ref(spec.table, spec.right)))  # fmt: skip

    # --- WHERE ---------------------------------------------------------------------------
    def _literal(self, node: exp.Expr, clause: str) -> tuple[str, exp.Expr]:
        """(kind, rebuilt literal) of a constant: a number, a string or a boolean."""
        node = _unparen(node)
        negative = False
        if type(node) is exp.Neg:
            _only(node, {"this"}, clause)
            negative, node = True, _unparen(node.this)
        if type(node) is exp.Literal and _extra_args(node, {"this", "is_string"}) is None:
            text = str(node.this)
            if node.is_string and not negative:
                return "str", exp.Literal.string(text)
            if not node.is_string:
                try:
                    value = float(text)
                except ValueError:
                    value = math.nan
                if math.isfinite(value) and len(text) <= 40:
                    return "num", exp.Literal.number(("-" if negative else "") + text)
        if type(node) is exp.Boolean and not negative:
            return "bool", exp.Boolean(this=bool(node.this))
        if type(node) is exp.Null:
            raise GuardError(f"{clause}: compare with NULL using IS NULL")
        raise GuardError(f"{clause}: expected a constant, not {_describe(node)}")

    def _filter_column(self, node: exp.Expr) -> tuple[str, str]:
        table, name, roles = self._column(_unparen(node), "WHERE")
        if not roles & {"filter", "group"}:
            raise GuardError(f"WHERE: column {name!r} may not be filtered on")
        return table, name

    def _cast(self, table: str, name: str, kind: str) -> exp.Expr:
        return exp.TryCast(this=self._ref(table, name), to=exp.DataType.build(_CAST_TYPE[kind]))

    def predicate(self, node: exp.Expr, depth: int = 0) -> exp.Expr:
        if depth > MAX_DEPTH:
            raise GuardError(f"WHERE: the condition nests more than {MAX_DEPTH} levels deep")
        node = _unparen(node)
        kind = type(node)
        if kind in (exp.And, exp.Or):
            parts = [self.predicate(p, depth + 1) for p in _flatten(node, kind)]
            joined: exp.Expr = exp.Paren(this=parts[0])
            for part in parts[1:]:
                joined = kind(this=joined, expression=exp.Paren(this=part))
            return joined
        if kind is exp.Not:
            _only(node, {"this"}, "WHERE")
            return exp.Not(this=exp.Paren(this=self.predicate(node.this, depth + 1)))
        if kind in _COMPARISONS:
            _only(node, {"this", "expression"}, "WHERE")
            left, right = _unparen(node.this), _unparen(node.expression)
            op = kind
            if type(left) is not exp.Column:
                left, right, op = right, left, _FLIPPED[kind]
            table, name = self._filter_column(left)
            lit_kind, literal = self._literal(right, "WHERE")
            return _COMPARISONS[op](this=self._cast(table, name, lit_kind), expression=literal)
        if kind is exp.Between:
            _only(node, {"this", "low", "high"}, "WHERE")
            table, name = self._filter_column(node.this)
            (k1, low), (k2, high) = (self._literal(node.args["low"], "WHERE"),
                                     self._literal(node.args["high"], "WHERE"))  # fmt: skip
            if k1 != k2:
                raise GuardError("WHERE: BETWEEN takes two constants of the same kind")
            return exp.Between(this=self._cast(table, name, k1), low=low, high=high)
        if kind is exp.In:
            _only(node, {"this", "expressions"}, "WHERE")
            table, name = self._filter_column(node.this)
            items = [self._literal(e, "WHERE") for e in node.expressions]
            kinds = {k for k, _ in items}
            if not items or len(kinds) != 1:
                raise GuardError("WHERE: IN takes a list of constants of one kind")
            return exp.In(this=self._cast(table, name, kinds.pop()),
                          expressions=[lit for _, lit in items])  # fmt: skip
        if kind in (exp.Like, exp.ILike):
            _only(node, {"this", "expression", "negate"}, "WHERE")
            table, name = self._filter_column(node.this)
            lit_kind, pattern = self._literal(node.expression, "WHERE")
            if lit_kind != "str":
                raise GuardError("WHERE: LIKE takes a string pattern")
            built = kind(this=self._cast(table, name, "str"), expression=pattern)
            return exp.Not(this=exp.Paren(this=built)) if node.args.get("negate") else built
        if kind is exp.Is:
            _only(node, {"this", "expression"}, "WHERE")
            if type(node.expression) is not exp.Null:
                raise GuardError("WHERE: IS takes NULL (IS NULL, IS NOT NULL)")
            table, name = self._filter_column(node.this)
            return exp.Is(this=self._ref(table, name), expression=exp.Null())
        raise GuardError(f"WHERE: {_describe(node)} is not allowed")

    # --- aggregates --------------------------------------------------------------------
    def linear(
        self, node: exp.Expr, clause: str, depth: int = 0
    ) -> tuple[exp.Expr, tuple[float, float]]:
        """A linear expression over aggregate-role columns, rebuilt, with its range per row
        under DP (from the columns' bounds; +-inf where a bound is missing)."""
        if depth > MAX_DEPTH:
            raise GuardError(f"{clause}: the expression nests more than {MAX_DEPTH} levels deep")
        node = _unparen(node)
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
            clamped = exp.Least(this=exp.Greatest(this=value, expressions=[_num(bound[0])]),
                                expressions=[_num(bound[1])])  # fmt: skip
            return clamped, bound
        if kind is exp.Literal or (kind is exp.Neg and type(_unparen(node.this)) is exp.Literal):
            lit_kind, literal = self._literal(node, clause)
            if lit_kind != "num":
                raise GuardError(f"{clause}: only numbers and aggregate columns may be summed")
            number = float(literal.sql())
            return literal, (number, number)
        if kind is exp.Neg:
            _only(node, {"this"}, clause)
            inner, (lo, hi) = self.linear(node.this, clause, depth + 1)
            return exp.Neg(this=exp.Paren(this=inner)), (-hi, -lo)
        if kind in (exp.Add, exp.Sub):
            # a + b - c + ...: a chain, taken without recursion like AND and OR
            terms: list[tuple[bool, exp.Expr]] = []
            stack: list[tuple[bool, exp.Expr]] = [(False, node)]
            while stack:
                negated, item = stack.pop()
                item = _unparen(item)
                if type(item) in (exp.Add, exp.Sub):
                    _only(item, {"this", "expression"}, clause)
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
            _only(node, {"this", "expression"}, clause)
            left, right = _unparen(node.this), _unparen(node.expression)
            if self._is_number(left):
                left, right = right, left
            if not self._is_number(right):
                raise GuardError(
                    f"{clause}: a product of columns is not linear; multiply by a number"
                )
            a, rng = self.linear(left, clause, depth + 1)
            factor = float(self._literal(right, clause)[1].sql())
            return exp.Mul(this=exp.Paren(this=a), expression=_num(factor)), _scale(rng, factor)
        if kind is exp.Div:
            _only(node, {"this", "expression"}, clause)
            if not self._is_number(node.expression):
                raise GuardError(f"{clause}: divide only by a non-zero number")
            divisor = float(self._literal(node.expression, clause)[1].sql())
            if divisor == 0:
                raise GuardError(f"{clause}: divide only by a non-zero number")
            a, rng = self.linear(node.this, clause, depth + 1)
            return exp.Div(this=exp.Paren(this=a), expression=_num(divisor)), _scale(
                rng, 1 / divisor
            )
        if isinstance(node, exp.Predicate | exp.Connector | exp.Not | exp.Case | exp.If):
            raise GuardError(f"{clause}: comparisons and conditions select rows; they are not"
                             " allowed inside an aggregate")  # fmt: skip
        raise GuardError(f"{clause}: {_describe(node)} is not allowed inside an aggregate")

    def _is_number(self, node: exp.Expr) -> bool:
        node = _unparen(node)
        if type(node) is exp.Neg:
            node = _unparen(node.this)
        return type(node) is exp.Literal and not node.is_string

    def aggregate(self, node: exp.Expr, name: str) -> Output:
        kind = type(node)
        label = _AGGREGATE_TYPES.get(kind)
        if label is None:
            raise GuardError(f"SELECT: {_describe(node)} is not allowed")
        if label in ("MIN", "MAX"):
            raise GuardError(f"{label} is not allowed: a minimum or maximum is one entity's value")
        if label.lower() not in self.rule.aggregates:
            raise GuardError(f"aggregate {label} is not allowed by the rule")
        clause = f"SELECT {label}"
        if kind is exp.Count:
            _only(node, {"this", "big_int"}, clause)
            arg = node.this
            if type(arg) is exp.Star and _extra_args(arg, set()) is None:
                return Output(name, "count")
            if type(arg) is exp.Literal and not arg.is_string:
                return Output(name, "count")  # COUNT(1) counts rows like COUNT(*)
            if type(arg) is exp.Distinct:
                _only(arg, {"expressions"}, clause)
                if len(arg.expressions) == 1 and type(_unparen(arg.expressions[0])) is exp.Column:
                    table, col, _ = self._column(_unparen(arg.expressions[0]), clause)
                    if table == self.rule.table and col == self.rule.entity:
                        self.entity_counted = True
                        return Output(name, "count_distinct")
                raise GuardError(f"{clause}: COUNT(DISTINCT ...) counts only the entity"
                                 f" ({self.rule.entity})")  # fmt: skip
            raise GuardError(f"{clause}: COUNT(column) selects the rows where it is not null;"
                             f" use COUNT(*) or COUNT(DISTINCT {self.rule.entity})")  # fmt: skip
        _only(node, {"this"}, clause)
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
        extra = _extra_args(group, {"expressions"})
        if extra is not None:
            raise GuardError(f"GROUP BY {extra.upper()} is not allowed; group by columns")
        for node in group.expressions:
            node = _unparen(node)
            if type(node) is exp.Literal and not node.is_string and str(node.this).isdigit():
                position = int(str(node.this))
                if not 1 <= position <= len(items):
                    raise GuardError(f"GROUP BY {position}: there is no such output")
                node = _unparen(_strip_alias(items[position - 1]))
            if type(node) is not exp.Column:
                raise GuardError(f"GROUP BY: group by columns, not {_describe(node)}")
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
            name, inner = _output_name(item, i)
            inner = _unparen(inner)
            decimals = None
            if type(inner) is exp.Round:
                _only(inner, {"this", "decimals"}, "SELECT ROUND")
                places = inner.args.get("decimals")
                if places is not None:
                    if (
                        not self._is_number(places)
                        or not str(_unparen(places).sql()).lstrip("-").isdigit()
                    ):
                        raise GuardError(
                            "SELECT: ROUND takes an aggregate and a whole number of places"
                        )
                    decimals = int(_unparen(places).sql())
                    if abs(decimals) > 12:
                        raise GuardError("SELECT: ROUND to at most 12 places either side")
                else:
                    decimals = 0
                inner = _unparen(inner.this)
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
                raise GuardError(f"SELECT: {_describe(inner)} mixes an aggregate into an expression;"
                                 " compute it from the released aggregates")  # fmt: skip
            raise GuardError(f"SELECT: {_describe(inner)} is not allowed")
        if not any(o.kind != "group" for o in outs):
            raise GuardError("the query returns rows, not aggregates: add COUNT, SUM, ...")
        return outs

    def order(self, select: exp.Select, items: list[exp.Expr], outs: list[Output]) -> list[Order]:
        order = select.args.get("order")
        if order is None:
            return []
        _only(order, {"expressions"}, "ORDER BY")
        result = []
        texts = [_unparen(_strip_alias(it)).sql(dialect="duckdb").lower() for it in items]
        for ordered in order.expressions:
            if type(ordered) is not exp.Ordered:
                raise GuardError("ORDER BY: order by outputs")
            _only(ordered, {"this", "desc", "nulls_first"}, "ORDER BY")
            node = _unparen(ordered.this)
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


def _strip_alias(item: exp.Expr) -> exp.Expr:
    return item.this if type(item) is exp.Alias else item


def _output_name(item: exp.Expr, i: int) -> tuple[str, exp.Expr]:
    if type(item) is exp.Alias:
        _only(item, {"this", "alias"}, "SELECT")
        alias = item.args.get("alias")
        if type(alias) is not exp.Identifier:
            raise GuardError("SELECT: an output name is a plain name")
        return str(alias.this)[:128], item.this
    if type(item) is exp.Column and type(item.this) is exp.Identifier:
        return str(item.this.this), item
    return _unparen(item).sql(dialect="duckdb")[:128] or f"col{i}", item


def _num(value: float) -> exp.Expr:
    literal = exp.Literal.number(
        repr(abs(value)) if not value.is_integer() else str(int(abs(value)))
    )
    return exp.Paren(this=exp.Neg(this=literal)) if value < 0 else literal


def _scale(rng: tuple[float, float], factor: float) -> tuple[float, float]:
    a, b = rng[0] * factor, rng[1] * factor
    return (min(a, b), max(a, b)) if not (math.isnan(a) or math.isnan(b)) else (-math.inf, math.inf)


def _limit(select: exp.Select, key: str) -> int | None:
    node = select.args.get(key)
    if node is None:
        return None
    _only(node, {"expression"}, key.upper())
    value = _unparen(node.expression)
    if type(value) is not exp.Literal or value.is_string or not str(value.this).isdigit():
        raise GuardError(f"{key.upper()} takes a whole number")
    return min(int(str(value.this)), 1_000_000)


def check(rule: Rule, sql: str, limits: Limits = DEFAULT_LIMITS) -> Plan:
    """The plan for ``sql`` under ``rule``, or :class:`GuardError` saying what is outside it."""
    if not isinstance(sql, str) or not sql.strip():
        raise GuardError("the query is empty")
    tokens = _bounded_tokens(rule, sql, limits)
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
        _only(where, {"this"}, "WHERE")
        predicate = guard.predicate(where.this)
    order = guard.order(select, items, outs)
    return _plan(guard, rule, outs, predicate, order, _limit(select, "limit"),
                 _limit(select, "offset") or 0)  # fmt: skip


_FORMULA_OPS = {exp.EQ: "=", exp.NEQ: "<>", exp.LT: "<", exp.LTE: "<=", exp.GT: ">",
                exp.GTE: ">="}  # fmt: skip
_KINDS = {"DOUBLE": "num", "VARCHAR": "str", "TEXT": "str", "BOOLEAN": "bool"}


def _constant(node: exp.Expr) -> Any:
    node = _unparen(node)
    if type(node) is exp.Boolean:
        return bool(node.this)
    if type(node) is exp.Neg:
        return -float(_unparen(node.this).this)
    return str(node.this) if node.is_string else float(node.this)


def _formula(tree: exp.Expr | None, names: dict[str, str]) -> list[Any]:
    """The rebuilt predicate as a :mod:`.logic` formula (the tree has only the shapes
    :meth:`_Guard.predicate` builds; columns are named ``table.column``)."""
    if tree is None:
        return ["true"]

    def col(node: exp.Expr) -> str:
        node = _unparen(node)
        if type(node) is exp.TryCast:
            node = node.this
        assert isinstance(node, exp.Column)
        return f"{names[node.table]}.{node.name}"

    def kind(node: exp.Expr) -> str:
        node = _unparen(node)
        return _KINDS[node.to.this.name] if type(node) is exp.TryCast else "str"

    def walk(node: exp.Expr) -> list[Any]:
        node = _unparen(node)
        t = type(node)
        if t in (exp.And, exp.Or):
            return ["and" if t is exp.And else "or", [walk(p) for p in _flatten(node, t)]]
        if t is exp.Not:
            return ["not", walk(node.this)]
        if t in _FORMULA_OPS:
            return [
                "cmp",
                col(node.this),
                _FORMULA_OPS[t],
                kind(node.this),
                _constant(node.expression),
            ]
        if t is exp.Between:
            return ["between", col(node.this), kind(node.this), _constant(node.args["low"]),
                    _constant(node.args["high"]), False]  # fmt: skip
        if t is exp.In:
            return [
                "in",
                col(node.this),
                kind(node.this),
                [_constant(e) for e in node.expressions],
                False,
            ]
        if t in (exp.Like, exp.ILike):
            return ["like", col(node.this), str(node.expression.this), t is exp.ILike, False]
        if t is exp.Is:
            return ["null", col(node.this), False]
        raise GuardError("WHERE: the condition could not be analysed")

    return walk(tree)


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
        condition=_formula(predicate, {alias: table for table, alias in guard.render.items()}),
        key_columns=tuple(f"{t}.{c}" for t, c in guard.keys),
        threshold_sensitivity=threshold,
    )
