"""What the definitions of released groups say about rows, whatever the data: a small, sound
test of whether a set of rows described by conditions must be empty.  Pure.

The overlap audit (:mod:`trustspace.dataplane.audit`) looks at the data to see whether a new
group would split off a small set of rows.  Seen from the data alone, an *empty* difference
and a *small* one look different, and that difference itself tells whether someone is there.
So when the data shows an empty difference, the audit asks this module whether the group
definitions make it empty for *every* possible data (``ward = 'a'`` and ``ward = 'b'`` can
never both hold).  Only then is the empty difference harmless; otherwise it is treated like a
small one.

A condition is a JSON-able formula over literals on one column each:

    ["cmp", col, op, kind, value]      op: = <> < <= > >=; kind: num | str | bool
    ["in", col, kind, [values], negated]
    ["between", col, kind, low, high, negated]
    ["like", col, pattern, ilike, negated]
    ["null", col, negated]             the column IS [NOT] NULL
    ["and", [f, ...]]  ["or", [f, ...]]  ["not", f]  ["true"]  ["false"]

They mean what the plan's SQL means: a comparison reads the column with TRY_CAST to its kind
and is true only when that is not NULL.  A row *outside* a group is one where the group's
condition is not true (false or unknown), which is weaker than its negation.

:func:`possible` answers False only when it can prove a conjunction of musts impossible;
whenever it cannot tell it answers True, which makes the audit withhold more, never less.
Conditions become disjunctions of such conjunctions (:data:`Alternatives`); past :data:`CAP`
alternatives a part is dropped, which again can only make more things possible.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Formula = list[Any]
TRUE: Formula = ["true"]
FALSE: Formula = ["false"]
_NEGATED_OP = {"=": "<>", "<>": "=", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}


@dataclass(frozen=True)
class Must:
    """A literal that must be true (``holds``) or must not be true (``not holds``)."""

    literal: tuple[Any, ...]
    holds: bool


def _lit(formula: Formula) -> tuple[Any, ...]:
    return tuple(tuple(x) if isinstance(x, list) else x for x in formula)


def _complement(lit: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The literal that is true exactly where ``lit`` is false (not unknown)."""
    kind = lit[0]
    if kind == "cmp":
        return ("cmp", lit[1], _NEGATED_OP[lit[2]], lit[3], lit[4])
    if kind in ("in", "between", "like"):
        return (*lit[:-1], not lit[-1])
    if kind == "null":
        return ("null", lit[1], not lit[2])
    return None


Alternatives = list[list[Must]]
"""A disjunction of conjunctions of musts: ``[]`` is impossible, ``[[]]`` says nothing."""
CAP = 64  # alternatives kept; beyond, a condition is dropped, which only weakens it


def _product(left: Alternatives, right: Alternatives) -> Alternatives:
    """Both; combinations that cannot hold are dropped, and past CAP the right side is
    ignored (a weaker condition: sound, since it can only make more things possible)."""
    out = [a + b for a in left for b in right if possible(a + b)]
    return out if len(out) <= CAP else left


def when_true(formula: Formula) -> Alternatives:
    """What every row where ``formula`` is true satisfies."""
    head = formula[0]
    if head == "true":
        return [[]]
    if head == "false":
        return []
    if head == "and":
        out: Alternatives = [[]]
        for part in formula[1]:
            out = _product(out, when_true(part))
        return out
    if head == "or":
        alts = [alt for part in formula[1] for alt in when_true(part)]
        return alts if len(alts) <= CAP else [[]]
    if head == "not":
        return _when_false(formula[1])
    return [[Must(_lit(formula), True)]]


def _when_false(formula: Formula) -> Alternatives:
    """What every row where ``formula`` is false (not unknown) satisfies."""
    head = formula[0]
    if head == "true":
        return []
    if head == "false":
        return [[]]
    if head == "or":
        out: Alternatives = [[]]
        for part in formula[1]:
            out = _product(out, _when_false(part))
        return out
    if head == "and":
        alts = [alt for part in formula[1] for alt in _when_false(part)]
        return alts if len(alts) <= CAP else [[]]
    if head == "not":
        return when_true(formula[1])
    complement = _complement(_lit(formula))
    return [[]] if complement is None else [[Must(complement, True)]]


def when_not_true(formula: Formula) -> Alternatives:
    """What every row where ``formula`` is not true (false or unknown) satisfies: a row
    outside a group."""
    head = formula[0]
    if head == "true":
        return []
    if head == "false":
        return [[]]
    if head == "and":
        alts = [alt for part in formula[1] for alt in when_not_true(part)]
        return alts if len(alts) <= CAP else [[]]
    if head == "or":
        out: Alternatives = [[]]
        for part in formula[1]:
            out = _product(out, when_not_true(part))
        return out
    if head == "not":
        return [[]]  # the inner part is true or unknown: nothing in particular
    return [[Must(_lit(formula), False)]]


def any_possible(*parts: Alternatives) -> bool:
    """Whether some choice of one alternative from each part can hold."""
    out: Alternatives = [[]]
    for part in parts:
        out = [a + b for a in out for b in part if possible(a + b)]
        if not out:
            return False
    return True


def _like(pattern: str, ilike: bool) -> re.Pattern[str]:
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ilike else 0))


def _true_on(lit: tuple[Any, ...], value: Any) -> bool:
    """Whether ``lit`` is true for a row whose column (read in the literal's kind) is
    ``value`` (never None here)."""
    kind = lit[0]
    if kind == "cmp":
        op, target = lit[2], lit[4]
        try:
            return bool({"=": value == target, "<>": value != target, "<": value < target,
                         "<=": value <= target, ">": value > target, ">=": value >= target}[op])  # fmt: skip
        except TypeError:
            return False
    if kind == "in":
        return bool((value in lit[3]) != lit[4])
    if kind == "between":
        try:
            inside = bool(lit[3] <= value <= lit[4])
        except TypeError:
            return False
        return bool(inside != lit[5])
    if kind == "like":
        return bool(bool(_like(lit[2], lit[3]).fullmatch(str(value))) != lit[4])
    return False


@dataclass
class _View:
    """What the musts say about one column read in one kind."""

    equal: set[Any] | None = None  # the only values it can take, when known
    low: float = -math.inf
    low_open: bool = False
    high: float = math.inf
    high_open: bool = False
    holds: list[tuple[Any, ...]] = field(default_factory=list)
    fails: list[tuple[Any, ...]] = field(default_factory=list)

    def add(self, lit: tuple[Any, ...], holds: bool) -> None:
        (self.holds if holds else self.fails).append(lit)
        if not holds:
            return
        if lit[0] == "cmp" and lit[2] == "=":
            self._restrict({lit[4]})
        elif lit[0] == "in" and not lit[4]:
            self._restrict(set(lit[3]))
        elif lit[0] == "cmp" and lit[3] == "num" and lit[2] in ("<", "<=", ">", ">="):
            self._bound(lit[2], float(lit[4]))
        elif lit[0] == "between" and lit[2] == "num" and not lit[5]:
            self._bound(">=", float(lit[3]))
            self._bound("<=", float(lit[4]))

    def _restrict(self, values: set[Any]) -> None:
        self.equal = values if self.equal is None else self.equal & values

    def _bound(self, op: str, value: float) -> None:
        if op in (">", ">=") and (value > self.low or (value == self.low and op == ">")):
            self.low, self.low_open = value, op == ">"
        if op in ("<", "<=") and (value < self.high or (value == self.high and op == "<")):
            self.high, self.high_open = value, op == "<"

    def possible(self) -> bool:
        if self.equal is not None:
            return any(
                all(_true_on(h, v) for h in self.holds)
                and not any(_true_on(f, v) for f in self.fails)
                for v in self.equal
            )
        if self.low > self.high or (self.low == self.high and (self.low_open or self.high_open)):
            return False
        if self.low == self.high:  # one number: test every literal on it
            v = self.low
            return all(_true_on(h, v) for h in self.holds) and not any(
                _true_on(f, v) for f in self.fails
            )
        for fail in self.fails:  # the interval lies inside where an excluded literal holds
            if fail[0] == "cmp" and fail[3] == "num" and fail[2] in ("<", "<=", ">", ">="):
                cut = float(fail[4])
                if fail[2] == ">" and (self.low > cut or (self.low == cut and self.low_open)):
                    return False
                if fail[2] == ">=" and self.low >= cut:
                    return False
                if fail[2] == "<" and (self.high < cut or (self.high == cut and self.high_open)):
                    return False
                if fail[2] == "<=" and self.high <= cut:
                    return False
        return True


def possible(musts: Iterable[Must]) -> bool:
    """False only if no row can satisfy all of ``musts``."""
    views: dict[tuple[str, str], _View] = {}
    null: dict[str, set[bool]] = {}  # column -> what IS NULL must be (True null / False not)
    for must in musts:
        lit = must.literal
        if lit[0] == "null":
            is_null = lit[2] is False  # ["null", col, negated]
            null.setdefault(lit[1], set()).add(is_null if must.holds else not is_null)
            continue
        col = lit[1]
        kind = "str" if lit[0] == "like" else lit[2] if lit[0] in ("in", "between") else lit[3]
        if must.holds:
            null.setdefault(col, set()).add(False)  # a true comparison reads a value
        views.setdefault((col, kind), _View()).add(lit, must.holds)
    if any(len(states) > 1 for states in null.values()):
        return False
    for (col, _), view in views.items():
        if null.get(col) == {True} and view.holds:
            return False
    return all(view.possible() for view in views.values())


def key_literal(col: str, value: Any) -> Formula:
    """The condition ``col`` has the group key ``value``, as the engine returned it."""
    if value is None:
        return ["null", col, False]
    if isinstance(value, bool):
        return ["cmp", col, "=", "bool", value]
    if isinstance(value, int | float):
        return ["cmp", col, "=", "num", float(value)] if math.isfinite(value) else TRUE
    if isinstance(value, str):
        return ["cmp", col, "=", "str", value]
    return TRUE  # a date, a decimal, bytes: its text need not be what the engine's cast gives
