"""What the guard accepted, as a plan, and the SQL each engine runs for it.

The guard never runs the consumer's text.  It builds a :class:`Plan` from the parts it proved
safe, and the SQL here is generated from that plan alone, with names of our choosing:

``inner`` (one row per product row, or per joined pair of rows, that passes WHERE)::

    SELECT t0.entity AS __e, <group columns> AS __k0.., <linear values> AS __v0..,
           HASH(<the row's columns>) AS __r
    FROM product AS t0 [JOIN joined AS t1 ON t0.left = t1.right] WHERE <predicate>

``main`` (one row per group that covers at least ``minGroupSize`` entities)::

    SELECT <outputs>, COUNT(DISTINCT __e) AS __n, HASH(__k0, ..) AS __g, __k0, ..
    FROM inner [capped to maxRowsPerEntity rows per entity under DP]
    GROUP BY __k0, .. HAVING COUNT(DISTINCT __e) >= minGroupSize

``audit`` (threshold mode: which row classes and entities each group holds, for the overlap
audit)::

    SELECT DISTINCT 0 AS s, HASH(__k0, ..) AS g, HASH(__e) AS e, __r AS r FROM inner
    [UNION ALL the same with 1 AS s for the joined pairs of a joined query]

Every operation is total: columns are read with TRY_CAST (a value that does not convert is
NULL, never an error), division is by non-zero constants only, and no function can fail on a
row.  So whether a job fails never depends on what one row holds.  ORDER BY and LIMIT are not
sent to the engine: they apply to the released rows, after suppression and noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from trustspace.core.compute.rule import Rule

ROW_HASH = "__rowhash__"  # rendered as each engine's 64-bit hash function
HASH_FUNCTION = {"duckdb": "HASH", "spark": "XXHASH64"}
DIALECT = {"duckdb": "duckdb", "spark": "spark"}
GROUP_SIZE = "__n"
GROUP_KEY = "__g"


@dataclass(frozen=True)
class Output:
    name: str
    kind: str  # group | count | count_distinct | sum | avg
    source: int = 0  # group: the key's index; sum/avg: the value's index
    decimals: int | None = None  # ROUND(aggregate, decimals)
    sensitivity: float = 0.0  # under DP: how much one entity can change it (L1 over groups)


@dataclass(frozen=True)
class Order:
    output: int
    desc: bool = False
    nulls_first: bool | None = None


@dataclass(frozen=True)
class Plan:
    rule: Rule
    tables: tuple[tuple[str, str], ...]  # (table, alias), the product table first
    on: tuple[exp.Expr, ...]  # the ON equality of each joined table
    where: exp.Expr | None
    keys: tuple[exp.Expr, ...]
    values: tuple[exp.Expr, ...]
    outputs: tuple[Output, ...]
    order: tuple[Order, ...]
    limit: int | None
    offset: int
    epsilon: float  # what this query spends (0 without DP)
    row_columns: tuple[exp.Expr, ...]
    product_columns: tuple[exp.Expr, ...] = ()  # a joined query's product row, as a plain one
    condition: list[Any] = field(default_factory=lambda: ["true"])  # WHERE, as a formula
    key_columns: tuple[str, ...] = ()  # "table.column" of each group key
    threshold_sensitivity: float = 0.0  # under DP: of the noisy group size

    @property
    def joined(self) -> bool:
        return len(self.tables) > 1

    def _entity(self) -> exp.Expr:
        return column(self.tables[0][1], self.rule.entity)

    def _inner(self) -> exp.Select:
        main, alias = self.tables[0]
        select = exp.Select().from_(
            exp.Table(this=ident(main), alias=exp.TableAlias(this=ident(alias)))
        )
        for (table, t_alias), on in zip(self.tables[1:], self.on, strict=True):
            select = select.join(
                exp.Table(this=ident(table), alias=exp.TableAlias(this=ident(t_alias))),
                on=on.copy(),
                join_type="INNER",
            )
        items: list[exp.Expr] = [exp.alias_(self._entity(), "__e")]
        items += [exp.alias_(k.copy(), f"__k{i}") for i, k in enumerate(self.keys)]
        items += [exp.alias_(v.copy(), f"__v{i}") for i, v in enumerate(self.values)]
        items.append(exp.alias_(_hash([c.copy() for c in self.row_columns]), "__r"))
        if self.joined:
            items.append(exp.alias_(_hash([c.copy() for c in self.product_columns]), "__p"))
        select = select.select(*items)
        if self.where is not None:
            select = select.where(self.where.copy())
        return select

    def _rows(self) -> exp.Expr:
        """The rows that reach the aggregation: under DP at most ``maxRowsPerEntity`` per
        entity, the same ones for every query (the smallest row hashes among those passing)."""
        inner = self._inner().subquery("i")
        if self.rule.privacy is None:
            return inner
        ranked = exp.Window(
            this=exp.RowNumber(),
            partition_by=[exp.column("__e", table="i")],
            order=exp.Order(expressions=[exp.Ordered(this=exp.column("__r", table="i"))]),
        )
        return (
            exp.Select().select(exp.Star(), exp.alias_(ranked, "__rn")).from_(inner).subquery("c")
        )

    def _keys(self, table: str) -> list[exp.Expr]:
        return [exp.column(f"__k{i}", table=table) for i in range(len(self.keys))]

    def _group_key(self, table: str) -> exp.Expr:
        keys = self._keys(table)
        return _hash(keys) if keys else exp.Literal.number(0)

    def main(self) -> exp.Select:
        rows = self._rows()
        src = "i" if self.rule.privacy is None else "c"
        entity = exp.column("__e", table=src)
        size: exp.Expr = (
            exp.Count(this=exp.Star())
            if self.rule.entity_per_row and not self.joined
            else exp.Count(this=exp.Distinct(expressions=[entity]))
        )
        items: list[exp.Expr] = []
        for i, out in enumerate(self.outputs):
            items.append(exp.alias_(self._aggregate(out, src, entity), f"__o{i}"))
        items.append(exp.alias_(size.copy(), GROUP_SIZE))
        items.append(exp.alias_(self._group_key(src), GROUP_KEY))
        items += [exp.alias_(k, f"__key{i}") for i, k in enumerate(self._keys(src))]
        select = exp.Select().select(*items).from_(rows)
        if self.rule.privacy is not None:
            select = select.where(
                exp.LTE(this=exp.column("__rn", table=src),
                        expression=exp.Literal.number(self.rule.privacy.max_rows_per_entity))
            )  # fmt: skip
        if self.keys:
            select = select.group_by(*self._keys(src))
        return select.having(
            exp.GTE(this=size, expression=exp.Literal.number(self.rule.min_group_size))
        )

    def _aggregate(self, out: Output, src: str, entity: exp.Expr) -> exp.Expr:
        if out.kind == "group":
            return exp.column(f"__k{out.source}", table=src)
        if out.kind == "count":
            return exp.Count(this=exp.Star())
        if out.kind == "count_distinct":
            return exp.Count(this=exp.Distinct(expressions=[entity.copy()]))
        value = exp.column(f"__v{out.source}", table=src)
        return exp.Sum(this=value) if out.kind == "sum" else exp.Avg(this=value)

    def audit(self) -> exp.Expr:
        """Row classes per group, in their space: 0 for rows of the product table, 1 for the
        joined pairs of a joined query.  A joined group is in both: the product rows it
        involves are a set the consumer can difference against plain queries."""
        inner = self._inner().subquery("i")

        def space(number: int, row: str) -> exp.Select:
            return (
                exp.Select()
                .select(
                    exp.alias_(exp.Literal.number(number), "s"),
                    exp.alias_(self._group_key("i"), "g"),
                    exp.alias_(_hash([exp.column("__e", table="i")]), "e"),
                    exp.alias_(exp.column(row, table="i"), "r"),
                )
                .from_(inner.copy())
                .distinct()
            )

        if not self.joined:
            return space(0, "__r")
        return exp.union(space(0, "__p"), space(1, "__r"), distinct=False)

    def sql(self, engine: str = "duckdb") -> str:
        return render(self.main(), engine)

    def audit_sql(self, engine: str = "duckdb") -> str:
        return render(self.audit(), engine)


def ident(name: str) -> exp.Identifier:
    return exp.Identifier(this=name, quoted=True)


def column(table_alias: str, name: str) -> exp.Column:
    return exp.Column(this=ident(name), table=ident(table_alias))


def _hash(args: list[exp.Expr]) -> exp.Expr:
    return exp.Anonymous(this=ROW_HASH, expressions=args)


def render(tree: exp.Expr, engine: str) -> str:
    name = HASH_FUNCTION[engine]

    def swap(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Anonymous) and node.this == ROW_HASH:
            return exp.Anonymous(this=name, expressions=node.expressions)
        return node

    return tree.transform(swap).sql(dialect=DIALECT[engine])
