"""From the engine's groups to the released rows.  Pure: the caller passes the noise.

The engine answers one row per group that covers at least ``minGroupSize`` entities: the
outputs, then the group's entity count and the hash of its key (:mod:`.plan`).  Release is:

1. **Candidates**: those rows.  A smaller group never reaches this point; an empty group and a
   small one look the same (absent).
2. Under **differential privacy**, each count and sum gets Laplace noise of scale
   ``sensitivity / share``, where the query's epsilon is shared equally between its noisy
   outputs and the noisy entity count that decides release.  A group is released only when its
   noisy entity count reaches ``minGroupSize + scale * ln(1 / (2 delta))``: then whether a
   group appears is itself differentially private, and a group that one entity tips over the
   threshold shows up with probability at most ``delta``.
3. Under the **threshold alone**, the overlap audit decides which candidates may be released
   (:mod:`trustspace.dataplane.audit`).
4. **What was withheld** (:func:`withheld`): every result says which rules left groups out,
   never how many.  The count would say what the absence hides: after ``COUNT(*) WHERE A``,
   the query ``COUNT(*) WHERE A AND dx <> 'hiv'`` is withheld by the audit when no one in A
   has the diagnosis (a group of ``minGroupSize`` entities, which the audit cannot prove to
   leave nothing behind) and absent as a small group when one has; "1 withheld" against
   "0 withheld" would be the diagnosis.  Under DP the number of groups under the noisy
   threshold is an exact count of groups of at least ``minGroupSize`` entities, which is not
   differentially private.
5. **Finishing**: ROUND, then ORDER BY on the released (noisy) values, ties and unordered
   results by the group keys, then OFFSET and LIMIT.  The order never depends on the engine's
   hash order or on rows that were not released.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from trustspace.core.compute.logic import key_literal
from trustspace.core.compute.plan import Plan

Noise = Callable[[float, float, bool], float]
"""``noise(value, scale, integer)``: the value with Laplace noise of that scale."""


@dataclass(frozen=True)
class Candidate:
    values: tuple[Any, ...]  # the outputs, in the query's order
    size: int  # distinct entities in the group
    key: int  # 64-bit hash of the group's key, as the engine computed it
    keys: tuple[Any, ...] = ()  # the group key's values


def candidates(plan: Plan, rows: Sequence[Sequence[Any]]) -> list[Candidate]:
    n = len(plan.outputs)
    return [Candidate(tuple(r[:n]), int(r[n]), _signed(r[n + 1]), tuple(r[n + 2 :])) for r in rows]


def ordered(groups: list[Candidate]) -> list[Candidate]:
    """Groups by their key values: the audit takes them in this order, whatever the engine's."""
    return sorted(groups, key=lambda g: [_key(v) for v in g.keys] + [_key(v) for v in g.values])


def definition(plan: Plan, group: Candidate) -> list[Any]:
    """The condition a row meets to be in ``group``: the WHERE and the key's values."""
    keys = [key_literal(col, v) for col, v in zip(plan.key_columns, group.keys, strict=True)]
    return ["and", [plan.condition, *keys]]


def _signed(value: Any) -> int:
    """Engines hash to unsigned (DuckDB) or signed (Spark) 64 bits: one signed form."""
    number = int(value)
    return number - (1 << 64) if number >= 1 << 63 else number


def noisy_outputs(plan: Plan) -> int:
    """How many noisy values a query releases per group, with the noisy group size."""
    counted = sum(1 for o in plan.outputs if o.kind in ("count", "count_distinct", "sum"))
    has_size = any(o.kind == "count_distinct" for o in plan.outputs)
    return counted + (0 if has_size else 1)


def share(plan: Plan) -> float:
    return plan.epsilon / noisy_outputs(plan) if plan.epsilon else 0.0


def release_threshold(plan: Plan) -> float:
    """The noisy entity count a group must reach under DP."""
    privacy = plan.rule.privacy
    assert privacy is not None
    scale = plan.threshold_sensitivity / share(plan)
    return plan.rule.min_group_size + scale * math.log(1 / (2 * privacy.delta))


def with_noise(plan: Plan, groups: list[Candidate], noise: Noise) -> list[tuple[Any, ...]]:
    """Noisy outputs of the groups whose noisy entity count clears the release threshold."""
    eps = share(plan)
    threshold = release_threshold(plan)
    released = []
    for group in groups:
        values = list(group.values)
        size_index = next(
            (i for i, o in enumerate(plan.outputs) if o.kind == "count_distinct"), None
        )
        for i, out in enumerate(plan.outputs):
            if out.kind in ("count", "count_distinct", "sum") and values[i] is not None:
                counted = out.kind != "sum"
                value = noise(float(values[i]), out.sensitivity / eps, counted)
                values[i] = max(0, int(value)) if counted else value
        if size_index is not None:
            noisy_size = float(values[size_index])
        else:
            noisy_size = noise(float(group.size), plan.threshold_sensitivity / eps, True)
        if noisy_size >= threshold:
            released.append(tuple(values))
    return released


def withheld(plan: Plan) -> dict[str, Any]:
    """Why a group can be missing from this query's result: the rules, from the query's and the
    rule's parameters alone, the same whatever the data (see the module's point 4)."""
    size = plan.rule.min_group_size
    rules = [f"groups of fewer than {size} distinct entities are withheld, and look the same"
             " as groups that do not exist"]  # fmt: skip
    if plan.rule.dp:
        rules.append(f"under differential privacy a group is released only when its noisy entity"
                     f" count reaches {release_threshold(plan):.1f}")  # fmt: skip
    else:
        rules.append("the overlap audit withholds groups that, with this consumer's earlier"
                     f" results, would single out fewer than {size} entities")  # fmt: skip
    return {"counted": False, "minGroupSize": size, "rules": rules,
            "note": "how many groups were withheld is not said: the number would tell what"
                    " the withheld groups hide"}  # fmt: skip


def finish(plan: Plan, rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    """Rounded, ordered and limited rows, as JSON values."""
    out = [[_json(v, o.decimals) for v, o in zip(r, plan.outputs, strict=True)] for r in rows]
    keys = [i for i, o in enumerate(plan.outputs) if o.kind == "group"]
    out.sort(key=lambda r: [_key(r[i]) for i in keys] + [_key(v) for v in r])
    for order in reversed(plan.order):
        present = [r for r in out if r[order.output] is not None]
        absent = [r for r in out if r[order.output] is None]
        present.sort(key=lambda r: _key(r[order.output]), reverse=order.desc)
        out = absent + present if order.nulls_first else present + absent
    end = None if plan.limit is None else plan.offset + plan.limit
    return out[plan.offset : end]


def _key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (2, 0)
    if isinstance(value, bool | int | float):
        return (0, value)
    return (1, str(value))


def _json(value: Any, decimals: int | None) -> Any:
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if decimals is not None and isinstance(value, int | float) and not isinstance(value, bool):
        value = round(value, decimals)
        if decimals <= 0 and isinstance(value, float):
            value = int(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def compute_note(result: dict[str, Any]) -> list[str]:
    """What a person reading a released result should know about the groups it leaves out."""
    rows, held = result.get("rows") or [], result.get("withheld")
    if not isinstance(held, dict):
        return []
    head = (f"{len(rows)} group(s) released." if rows
            else "No group released: every group the query asked for was withheld.")  # fmt: skip
    rules = [f"  - {rule}" for rule in held.get("rules", []) if isinstance(rule, str)]
    return [head, "Groups are withheld when:", *rules, f"({held.get('note', '')})"]
