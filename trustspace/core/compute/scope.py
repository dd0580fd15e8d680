"""What a query may name: the product's tables and their aliases, columns with their roles,
and literals — resolved against the analysis rule, refused with the clause and the name
otherwise.  The guard (:mod:`.guard`) builds its grammar on this.  Pure."""

from __future__ import annotations

import math

from sqlglot import exp

from trustspace.core.compute.plan import column
from trustspace.core.compute.rule import GuardError, Rule
from trustspace.core.compute.syntax import (
    describe,
    extra_args,
    only,
    unparen,
)

_CAST_TYPE = {"num": "DOUBLE", "str": "VARCHAR", "bool": "BOOLEAN"}
_AGGREGATE_TYPES: dict[type[exp.Expr], str] = {exp.Count: "COUNT", exp.Sum: "SUM", exp.Avg: "AVG", exp.Min: "MIN",
                    exp.Max: "MAX"}  # fmt: skip


class Scope:
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
            raise GuardError(f"{clause}: expected a column, not {describe(node)}")
        only(node, {"this", "table"}, clause)
        name_node = node.args.get("this")
        if type(name_node) is not exp.Identifier:
            raise GuardError(f"{clause}: expected a column, not {describe(node)}")
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
                f"{clause}: only the product's tables may be read, not {describe(node)}"
            )
        extra = extra_args(node, {"this", "alias"})
        if extra is not None:
            raise GuardError(
                f"{clause}: only the product's tables may be read ({extra.upper()} is not allowed)"
            )
        name_node = node.args.get("this")
        if type(name_node) is not exp.Identifier:
            what = describe(name_node) if isinstance(name_node, exp.Expr) else "that"
            raise GuardError(f"{clause}: only the product's tables may be read, not {what}")
        alias_node = node.args.get("alias")
        alias = None
        if alias_node is not None:
            if type(alias_node) is not exp.TableAlias or extra_args(alias_node, {"this"}):
                raise GuardError(f"{clause}: a table alias is a plain name")
            alias = str(alias_node.this.this) if type(alias_node.this) is exp.Identifier else None
            if alias is None:
                raise GuardError(f"{clause}: a table alias is a plain name")
        return str(name_node.this), alias or str(name_node.this)

    def sources(self, select: exp.Select) -> None:
        source = select.args.get("from_")
        if type(source) is not exp.From or extra_args(source, {"this"}):
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
            extra = extra_args(join, {"this", "on", "kind"})
            if kind != "INNER" or extra is not None:
                raise GuardError(f"JOIN {spec.table}: only inner joins with ON are allowed")
            if spec.table in self.render or t_alias.lower() in self.aliases:
                raise GuardError(f"JOIN {spec.table}: join each table once, with its own name")
            self.aliases[t_alias.lower()] = spec.table
            self.aliases.setdefault(spec.table.lower(), spec.table)
            self.render[spec.table] = f"t{len(self.render)}"
            on = unparen(join.args.get("on") or exp.Null())
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
        node = unparen(node)
        negative = False
        if type(node) is exp.Neg:
            only(node, {"this"}, clause)
            negative, node = True, unparen(node.this)
        if type(node) is exp.Literal and extra_args(node, {"this", "is_string"}) is None:
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
        raise GuardError(f"{clause}: expected a constant, not {describe(node)}")

    def _filter_column(self, node: exp.Expr) -> tuple[str, str]:
        table, name, roles = self._column(unparen(node), "WHERE")
        if not roles & {"filter", "group"}:
            raise GuardError(f"WHERE: column {name!r} may not be filtered on")
        return table, name

    def _cast(self, table: str, name: str, kind: str) -> exp.Expr:
        return exp.TryCast(this=self._ref(table, name), to=exp.DataType.build(_CAST_TYPE[kind]))
