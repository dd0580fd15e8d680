"""The analysis rule of a compute product: what a consumer's SQL may do with its tables.

A rule names:
- ``table`` and ``entity``: the product table and the column identifying a person or
  organisation.  The entity may appear in a query only as ``COUNT(DISTINCT entity)``; it has
  no other role, and a rule that gives it one is refused;
- ``columns`` with roles:
  - ``group``: may be grouped on, shown as a group key and filtered on;
  - ``filter``: may be compared with constants in WHERE;
  - ``aggregate``: may appear only inside SUM or AVG, in arithmetic that is linear in such
    columns;
- ``aggregates``: which of ``count``, ``sum``, ``avg`` are offered.  MIN and MAX are not
  offered at all: any order statistic is one entity's value;
- ``minGroupSize``: every released group covers at least this many distinct entities; smaller
  groups are suppressed (absent from the result, exactly like empty ones);
- ``maxRows``: the most groups a result may have;
- either ``dp`` (differential privacy) or ``thresholdOnly``:
  - ``dp``: ``epsilonPerQuery`` spent from a ``budget`` per consumer and product; ``bounds`` for every
    column that is summed; ``maxRowsPerEntity`` (default 1), the rows one entity may contribute
    to a result, chosen deterministically per entity, which scales the noise; ``delta`` (default
    1e-6), the chance the noisy release threshold lets a group through that it should not;
  - ``thresholdOnly``: ``{"reason": "..."}``, the provider's explicit declaration that results
    are released under the group threshold and the overlap audit alone, without noise.  A
    product holding personal information gets ``dp`` by default
    (:func:`with_privacy_default`); only this declaration turns it off;
- ``joins``: other tables of a multi-file version that may be inner-joined to ``table`` on one
  declared equality each, with their own column roles (refused under DP: one entity may have
  any number of joined rows);
- ``entityPerRow``, ``engine`` (``duckdb`` | ``spark``), ``approval`` (``auto`` | ``manual``)
  and ``limits`` (``seconds``, ``memoryMiB``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ROLES = ("group", "filter", "aggregate")
AGGREGATES = ("count", "sum", "avg")
DEFAULT_DP: Mapping[str, Any] = {"epsilonPerQuery": 1.0, "budget": 10.0, "maxRowsPerEntity": 1}


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
class Privacy:
    """Differential privacy of a rule: budget, bounds and per-entity contribution."""

    epsilon_per_query: float
    budget: float
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    max_rows_per_entity: int = 1
    delta: float = 1e-6


@dataclass(frozen=True)
class Rule:
    table: str
    entity: str
    columns: Mapping[str, frozenset[str]]
    aggregates: frozenset[str] = frozenset(AGGREGATES)
    min_group_size: int = 10
    max_rows: int = 1000
    privacy: Privacy | None = None
    threshold_only: str | None = None  # the provider's declared reason, when there is no DP
    approval: str = "auto"
    seconds: float = 30.0
    memory_mib: int = 512
    entity_per_row: bool = False  # the provider states each row is a different entity
    engine: str = "duckdb"  # or "spark", for products that outgrow one machine
    joins: tuple[Join, ...] = ()

    @property
    def dp(self) -> bool:
        return self.privacy is not None

    @property
    def tables(self) -> tuple[str, ...]:
        return (self.table, *(j.table for j in self.joins))

    def roles(self, table: str) -> Mapping[str, frozenset[str]]:
        if table == self.table:
            return self.columns
        return next(j.columns for j in self.joins if j.table == table)


def _roles(columns: object, where: str, entity: str | None = None) -> dict[str, frozenset[str]]:
    if not isinstance(columns, Mapping):
        raise GuardError(f"{where}: columns must map names to role lists")
    parsed: dict[str, frozenset[str]] = {}
    for name, roles in columns.items():
        if not isinstance(name, str) or not name or not isinstance(roles, list | tuple):
            raise GuardError(f"{where}: columns must map names to role lists")
        parsed[name] = frozenset(str(r) for r in roles)
        bad = sorted(parsed[name] - set(ROLES))
        if bad:
            raise GuardError(f"column {name}: unknown roles {bad}; use {', '.join(ROLES)}")
    folded = [n.lower() for n in parsed]
    if len(set(folded)) != len(folded):
        raise GuardError(f"{where}: two columns differ only in case; SQL cannot tell them apart")
    if entity is not None and entity.lower() in folded:
        raise GuardError(
            f"column {entity} is the entity: it may appear only as COUNT(DISTINCT {entity}),"
            " so it takes no role"
        )
    return parsed


def _joins(doc: object, table: str) -> tuple[Join, ...]:
    if not isinstance(doc, list):
        raise GuardError("joins must be a list of {table, left, right, columns}")
    joins: list[Join] = []
    for item in doc:
        if not isinstance(item, Mapping) or not all(
            isinstance(item.get(k), str) and item.get(k) for k in ("table", "left", "right")
        ):
            raise GuardError("each join needs table, left (product column) and right (its column)")
        join = Join(str(item["table"]), str(item["left"]), str(item["right"]),
                    _roles(item.get("columns", {}), f"join {item['table']}"))  # fmt: skip
        if join.table.lower() == table.lower() or join.table.lower() in (
            j.table.lower() for j in joins
        ):
            raise GuardError(f"join {join.table}: each table is joined at most once")
        joins.append(join)
    return tuple(joins)


def _number(doc: Mapping[str, Any], key: str, default: float, *, low: float = 0.0) -> float:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise GuardError(f"{key} must be a number")
    if value < low:
        raise GuardError(f"{key} must be at least {low:g}")
    return float(value)


def _privacy(doc: object) -> Privacy:
    if not isinstance(doc, Mapping):
        raise GuardError("dp must be an object with epsilonPerQuery and budget")
    epsilon = _number(doc, "epsilonPerQuery", 0.0)
    budget = _number(doc, "budget", 0.0)
    if epsilon <= 0 or budget <= 0:
        raise GuardError("dp needs a positive epsilonPerQuery and a budget")
    bounds: dict[str, tuple[float, float]] = {}
    raw = doc.get("bounds", {})
    if not isinstance(raw, Mapping):
        raise GuardError("dp bounds map column names to [low, high]")
    for name, pair in raw.items():
        if (not isinstance(pair, list | tuple) or len(pair) != 2
                or not all(isinstance(v, int | float) and not isinstance(v, bool)
                           and math.isfinite(v) for v in pair)
                or pair[0] > pair[1]):  # fmt: skip
            raise GuardError(f"dp bounds of {name}: [low, high] with low <= high")
        bounds[str(name).lower()] = (float(pair[0]), float(pair[1]))
    cap = doc.get("maxRowsPerEntity", 1)
    if isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= 10_000:
        raise GuardError("dp maxRowsPerEntity is a whole number from 1 to 10000")
    delta = _number(doc, "delta", 1e-6)
    if not 0 < delta < 0.01:
        raise GuardError("dp delta must be above 0 and below 0.01")
    return Privacy(epsilon, budget, bounds, int(cap), delta)


def parse_rule(doc: object) -> Rule:
    if not isinstance(doc, Mapping):
        raise GuardError("the analysis rule must be an object")
    table, entity = doc.get("table"), doc.get("entity")
    if not isinstance(table, str) or not table or not isinstance(entity, str) or not entity:
        raise GuardError("the analysis rule needs table, entity and columns")
    if "columns" not in doc:
        raise GuardError("the analysis rule needs table, entity and columns")
    columns = _roles(doc["columns"], "the analysis rule", entity)
    joins = _joins(doc.get("joins", []), table)
    for join in joins:
        if join.left.lower() == entity.lower() and join.right.lower() in (
            c.lower() for c in join.columns
        ):
            raise GuardError(
                f"join {join.table}: {join.right} holds the entity, so it takes no role"
                " (it may appear only in ON)"
            )
    raw_aggregates = doc.get("aggregates", list(AGGREGATES))
    if not isinstance(raw_aggregates, list):
        raise GuardError('aggregates is a list such as ["count", "sum"]')
    aggregates = frozenset(str(a).lower() for a in raw_aggregates)
    if aggregates & {"min", "max"}:
        raise GuardError(
            "MIN and MAX are not offered: any minimum or maximum is one entity's value"
        )
    if aggregates - set(AGGREGATES):
        raise GuardError(f"unknown aggregates {sorted(aggregates - set(AGGREGATES))}")
    if doc.get("groupPolicy", "suppress") != "suppress":
        raise GuardError(
            "groupPolicy is suppress: refusing a whole result because a group is small would"
            " itself tell that the small group exists"
        )
    threshold_only = doc.get("thresholdOnly")
    reason: str | None = None
    if threshold_only is not None:
        if (not isinstance(threshold_only, Mapping)
                or not isinstance(threshold_only.get("reason"), str)
                or not threshold_only["reason"].strip()):  # fmt: skip
            raise GuardError('thresholdOnly is {"reason": "why results need no noise"}')
        reason = threshold_only["reason"].strip()
    privacy = _privacy(doc["dp"]) if doc.get("dp") is not None else None
    if privacy is not None and reason is not None:
        raise GuardError("a rule has dp or thresholdOnly, not both")
    limits = doc.get("limits", {})
    if not isinstance(limits, Mapping):
        raise GuardError("limits is an object with seconds and memoryMiB")
    min_group = _number(doc, "minGroupSize", 10, low=1)
    max_rows = _number(doc, "maxRows", 1000, low=1)
    rule = Rule(
        table=table,
        entity=entity,
        columns=columns,
        aggregates=aggregates,
        min_group_size=int(min_group),
        max_rows=min(int(max_rows), 100_000),
        privacy=privacy,
        threshold_only=reason,
        approval=str(doc.get("approval", "auto")),
        seconds=_number(limits, "seconds", 30, low=0.001),
        memory_mib=int(_number(limits, "memoryMiB", 512, low=16)),
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
    return rule


def with_privacy_default(doc: Mapping[str, Any], personal: bool) -> dict[str, Any]:
    """The rule as published: a product holding personal information gets differential
    privacy unless the provider declares ``thresholdOnly`` with a reason."""
    out = dict(doc)
    if personal and out.get("dp") is None and out.get("thresholdOnly") is None:
        out["dp"] = dict(DEFAULT_DP)
    return out
