"""The guard's rebuilt WHERE clause as a :mod:`.logic` formula, for the overlap audit's
reasoning about which released groups can differ.  Pure."""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from trustspace.core.compute.rule import GuardError
from trustspace.core.compute.syntax import flatten, unparen

_FORMULA_OPS = {exp.EQ: "=", exp.NEQ: "<>", exp.LT: "<", exp.LTE: "<=", exp.GT: ">",
                exp.GTE: ">="}  # fmt: skip
_KINDS = {"DOUBLE": "num", "VARCHAR": "str", "TEXT": "str", "BOOLEAN": "bool"}


def _constant(node: exp.Expr) -> Any:
    node = unparen(node)
    if type(node) is exp.Boolean:
        return bool(node.this)
    if type(node) is exp.Neg:
        return -float(unparen(node.this).this)
    return str(node.this) if node.is_string else float(node.this)


def formula(tree: exp.Expr | None, names: dict[str, str]) -> list[Any]:
    """The rebuilt predicate as a :mod:`.logic` formula (the tree has only the shapes
    :func:`trustspace.core.compute.guard.check` builds; columns are named ``table.column``)."""
    if tree is None:
        return ["true"]

    def col(node: exp.Expr) -> str:
        node = unparen(node)
        if type(node) is exp.TryCast:
            node = node.this
        assert isinstance(node, exp.Column)
        return f"{names[node.table]}.{node.name}"

    def kind(node: exp.Expr) -> str:
        node = unparen(node)
        return _KINDS[node.to.this.name] if type(node) is exp.TryCast else "str"

    def walk(node: exp.Expr) -> list[Any]:
        node = unparen(node)
        t = type(node)
        if t in (exp.And, exp.Or):
            return ["and" if t is exp.And else "or", [walk(p) for p in flatten(node, t)]]
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
