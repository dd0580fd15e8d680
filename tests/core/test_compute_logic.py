"""The audit's reasoning about group definitions must be sound: whatever it calls impossible
no row can satisfy, and whatever a row in (or outside) a group satisfies, the derived
conditions allow.  Checked against brute force over small domains, with SQL's three-valued
logic and the plan's TRY_CAST reading of columns."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from trustspace.core.compute import logic
from trustspace.core.compute.logic import Must

COLUMNS = ("t.a", "t.b")
VALUES: tuple[Any, ...] = (None, 0, 1, 2, 3, "a", "b", "ab", "1")
NUMBERS = (0.0, 1.0, 2.0, 3.0, 1.5)
STRINGS = ("a", "b", "ab", "1", "0")


def _read(value: Any, kind: str) -> Any:
    """TRY_CAST: a value that does not convert is NULL."""
    if value is None:
        return None
    if kind == "num":
        try:
            return float(value)
        except ValueError:
            return None
    return str(value)


def _literal(lit: list[Any] | tuple[Any, ...], row: dict[str, Any]) -> bool | None:
    """Three-valued: True, False or None (unknown)."""
    if lit[0] == "null":
        is_null = row[lit[1]] is None
        return is_null != lit[2]
    kind = "str" if lit[0] == "like" else lit[2] if lit[0] in ("in", "between") else lit[3]
    value = _read(row[lit[1]], kind)
    if value is None:
        return None
    return logic._true_on(tuple(lit), value)


def _eval(formula: list[Any], row: dict[str, Any]) -> bool | None:
    head = formula[0]
    if head == "true":
        return True
    if head == "false":
        return False
    if head == "and":
        parts = [_eval(p, row) for p in formula[1]]
        return False if False in parts else None if None in parts else True
    if head == "or":
        parts = [_eval(p, row) for p in formula[1]]
        return True if True in parts else None if None in parts else False
    if head == "not":
        inner = _eval(formula[1], row)
        return None if inner is None else not inner
    return _literal(formula, row)


def _satisfies(musts: list[Must], row: dict[str, Any]) -> bool:
    return all((_literal(m.literal, row) is True) == m.holds for m in musts)


def _random_literal(rng: random.Random) -> list[Any]:
    col = rng.choice(COLUMNS)
    shape = rng.choice(["cmp", "cmp", "in", "between", "like", "null"])
    kind = rng.choice(["num", "str"])
    pool = NUMBERS if kind == "num" else STRINGS
    if shape == "cmp":
        return ["cmp", col, rng.choice(["=", "<>", "<", "<=", ">", ">="]), kind, rng.choice(pool)]
    if shape == "in":
        return ["in", col, kind, rng.sample(pool, rng.randint(1, 3)), rng.random() < 0.3]
    if shape == "between":
        low, high = sorted(rng.sample(pool, 2))
        return ["between", col, kind, low, high, rng.random() < 0.3]
    if shape == "like":
        return ["like", col, rng.choice(["a%", "%b", "_", "a", "%"]), rng.random() < 0.3,
                rng.random() < 0.3]  # fmt: skip
    return ["null", col, rng.random() < 0.5]


def _random_formula(rng: random.Random, depth: int = 0) -> list[Any]:
    pick = rng.random()
    if depth >= 3 or pick < 0.35:
        return _random_literal(rng)
    if pick < 0.45:
        return ["not", _random_formula(rng, depth + 1)]
    if pick < 0.5:
        return [rng.choice(["true", "false"])]
    head = "and" if pick < 0.75 else "or"
    return [head, [_random_formula(rng, depth + 1) for _ in range(rng.randint(2, 3))]]


ROWS = [dict(zip(COLUMNS, values, strict=True)) for values in itertools.product(VALUES, repeat=2)]


@pytest.mark.parametrize("seed", range(40))
def test_impossible_means_no_row(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(400):
        musts = [
            Must(tuple(_random_literal(rng)), rng.random() < 0.6) for _ in range(rng.randint(1, 4))
        ]
        if not logic.possible(musts):
            witness = next((row for row in ROWS if _satisfies(musts, row)), None)
            assert witness is None, (musts, witness)


@pytest.mark.parametrize("seed", range(40))
def test_rows_in_and_outside_a_group_meet_what_is_derived(seed: int) -> None:
    rng = random.Random(1000 + seed)
    for _ in range(25):
        formula = _random_formula(rng)
        inside, outside = logic.when_true(formula), logic.when_not_true(formula)
        for row in ROWS:
            derived = inside if _eval(formula, row) is True else outside
            assert any(_satisfies(alt, row) for alt in derived), (formula, row, derived)


def test_the_proofs_the_audit_relies_on() -> None:
    ward = lambda v: ["cmp", "t.ward", "=", "str", v]  # noqa: E731
    age_over = lambda n: ["cmp", "t.age", ">", "num", float(n)]  # noqa: E731
    # two keys of one column never meet; a row of ward-1 is outside the group ward-2
    assert not logic.any_possible(logic.when_true(ward("w1")), logic.when_true(ward("w2")))
    assert not logic.any_possible(logic.when_true(ward("w1")), logic.when_not_true(ward("w1")))
    # a narrower range lies inside a wider one; the complement of a key is not provably empty
    assert not logic.any_possible(logic.when_true(age_over(40)), logic.when_not_true(age_over(30)))
    assert logic.any_possible(
        logic.when_true(["true"]), logic.when_not_true(["cmp", "t.ward", "<>", "str", "icu"])
    )
    # nothing is outside the group of everyone
    assert logic.when_not_true(["true"]) == []
    # a conjunction's outside is a choice: outside either part
    both = ["and", [age_over(40), ward("w1")]]
    assert not logic.any_possible(logic.when_true(both), logic.when_not_true(both))
    assert logic.any_possible(logic.when_true(ward("w1")), logic.when_not_true(both))
