"""Synthetic rows for a compute-to-data product: its columns and types, never a real value.

A consumer writes and tries its query against these (``trustspace compute mock``) before it
spends budget on the real data.  Numbers fall in the profile's range; the entity column and
join keys repeat so that joins and ``COUNT(DISTINCT …)`` behave as on real data.
"""

from __future__ import annotations

import random
from typing import Any


def _table_rows(
    columns: list[tuple[str, str, Any, Any]], keys: dict[str, str], entity: str | None,
    rng: random.Random, n: int,
) -> list[dict[str, Any]]:  # fmt: skip
    rows = []
    for i in range(n):
        row: dict[str, Any] = {}
        for name, kind, lo, hi in columns:
            if name == entity:
                row[name] = f"mock-entity-{i % (n // 2)}"
            elif name in keys:  # join keys share their values with the other side
                row[name] = f"{keys[name]}-{rng.randrange(n // 2)}"
            elif kind == "integer":
                row[name] = rng.randint(int(lo or 0), int(hi if hi is not None else 100))
            elif kind == "float":
                row[name] = round(
                    rng.uniform(float(lo or 0), float(hi if hi is not None else 100)), 2
                )
            elif kind == "boolean":
                row[name] = rng.random() < 0.5
            elif kind in ("date", "datetime"):
                row[name] = f"2026-01-{1 + rng.randrange(28):02d}"
            else:
                row[name] = f"mock-{name}-{rng.randrange(max(3, n // 10))}"
        rows.append(row)
    return rows


def _columns(
    profile: dict[str, Any] | None, roles: dict[str, Any], extra: list[str]
) -> list[tuple[str, str, Any, Any]]:
    # Without a profile, columns that may be aggregated are numbers, the rest text.
    columns = [(c["name"], c.get("type", "string"), c.get("min"), c.get("max"))
               for c in (profile or {}).get("columns", [])] or [
        (name, "integer" if "aggregate" in role else "string", None, None)
        for name, role in roles.items()]  # fmt: skip
    for name in extra:
        if name not in {c[0] for c in columns}:
            columns.append((name, "string", None, None))
    return columns


def mock_rows(
    profile: dict[str, Any] | None,
    rule: dict[str, Any],
    n: int = 200,
    seed: int = 7,
    files: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Synthetic rows with the product's columns and types; never a real value.  For a product
    with joins, ``joined`` holds each joinable table's mock too, with join keys that match.
    ``files`` maps table names to file names for a multi-file version's per-file profiles."""
    rng = random.Random(seed)
    per_file = (profile or {}).get("files") if files else None

    def profile_of(table: str) -> dict[str, Any] | None:
        if per_file is None:
            return profile if table == rule["table"] else None
        found: dict[str, Any] | None = per_file.get((files or {}).get(table, ""))
        return found

    joins = rule.get("joins") or []
    entity = rule["entity"]
    keys = {j["left"]: ("mock-entity" if j["left"] == entity else f"mock-key-{j['left']}")
            for j in joins}  # fmt: skip
    main = _columns(profile_of(rule["table"]), rule["columns"], [entity, *keys])
    out: dict[str, Any] = {
        "table": rule["table"],
        "columns": [c[0] for c in main],
        "rows": _table_rows(main, {k: v for k, v in keys.items() if k != entity}, entity, rng, n),
        "synthetic": True,
    }
    joined = {}
    for j in joins:
        cols = _columns(profile_of(j["table"]), j.get("columns", {}), [j["right"]])
        rows = _table_rows(cols, {j["right"]: keys[j["left"]]}, None, rng, n)
        joined[j["table"]] = {"columns": [c[0] for c in cols], "rows": rows}
    if joined:
        out["joined"] = joined
    return out
