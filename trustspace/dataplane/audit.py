"""The overlap audit: what a consumer may add to what it was already given, under the group
threshold alone.

Every released group is a set of rows.  Sums and counts over sets can be added and subtracted:
``SUM(all) - SUM(WHERE ward <> 'icu')`` is one patient's amount, and so is ``A + B - (A or B)``
when A and B share one patient and nothing else.  What any linear combination of released
answers can reveal is bounded by the *atoms* of the released sets: the classes of rows that
lie in exactly the same released groups.  A combination of answers is a combination of atom
totals, and nothing finer.  So the audit keeps, per consumer and product, the atom of every
row class released so far, and releases a new group only if afterwards **every atom covers at
least minGroupSize distinct entities**.

- A *row class* is a hash of the entity and every column the rule names (for a joined query,
  of both rows and the join): rows that agree on all of them fall in the same groups of every
  possible query, so they can never be told apart.  Classes are hashed, so the state holds no
  values.
- Rows never released are in no atom: no answer says anything about them.
- Groups of one query are taken in release order; when an atom would fall below the
  threshold, the group that splits it is withheld (absent, like a small group) and the check
  is repeated, so the state only ever holds releases that passed.

- A joined query's group is a set of joined pairs *and* a set of product rows (those with a
  pair in it): it is audited in both spaces, so a joined total cannot be differenced against
  a plain one by the product rows they cover.

What this does not cover: collusion between consumers (each has its own state), whether a
difference is empty or small (withholding tells that it is not empty), how many joined rows
one product row has, and what a group's presence at the threshold boundary says;
``docs/compute.md`` states these limits.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA = pa.schema([("s", pa.int64()), ("r", pa.int64()), ("e", pa.int64()), ("a", pa.int64())])


def _signed(column: Any) -> Any:
    return column.cast(pa.int64(), safe=False)


def load(blob: bytes | None) -> pa.Table:
    if not blob:
        return SCHEMA.empty_table()
    return pq.read_table(io.BytesIO(blob)).select(SCHEMA.names).cast(SCHEMA)


def dump(state: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(state, sink, compression="zstd")
    return sink.getvalue()


def audit(
    state: pa.Table, projection: pa.Table, groups: Sequence[int], min_entities: int
) -> tuple[set[int], pa.Table]:
    """Which of ``groups`` (group-key hashes, in release order) may be released, and the state
    after releasing them.  ``projection`` holds ``s`` (the space: 0 product rows, 1 joined
    pairs), ``g`` (group key), ``e`` (entity) and ``r`` (row class) for the rows that passed
    the query's WHERE."""
    proj = pa.table({name: _signed(projection.column(name)) for name in ("s", "g", "e", "r")})
    order = pa.table({"g": pa.array(list(groups), pa.int64()),
                      "gi": pa.array(range(len(groups)), pa.int64())})  # fmt: skip
    con = duckdb.connect(":memory:")
    try:
        con.register("s", state)
        con.register("p", proj)
        con.register("c", order)
        con.execute(
            "CREATE TABLE u AS SELECT COALESCE(s.s, pp.s) AS sp, COALESCE(s.r, pp.r) AS r,"
            " COALESCE(s.e, pp.e) AS e, COALESCE(s.a, -1) AS a, COALESCE(pp.gi, -1) AS gi"
            " FROM s FULL OUTER JOIN"
            " (SELECT DISTINCT p.s, p.r, p.e, c.gi FROM p JOIN c ON p.g = c.g) AS pp"
            " ON s.s = pp.s AND s.r = pp.r"
        )
        con.execute("CREATE TABLE d (gi BIGINT)")
        view = (
            "SELECT sp, r, e, a, CASE WHEN gi IN (SELECT gi FROM d) THEN -1 ELSE gi END AS gi"
            " FROM u"
        )
        for _ in range(len(groups) + 1):
            small = con.execute(
                f"SELECT sp, a, gi FROM ({view}) WHERE NOT (a = -1 AND gi = -1)"
                " GROUP BY sp, a, gi HAVING COUNT(DISTINCT e) < ?",
                [min_entities],
            ).fetchall()
            if not small:
                break
            drop = {gi for _, _, gi in small if gi != -1}
            for sp, a, _ in (piece for piece in small if piece[2] == -1):
                # An atom's remainder is too small: withhold the last group that split it.
                found = con.execute(
                    f"SELECT MAX(gi) FROM ({view}) WHERE gi <> -1 AND sp = ? AND a = ?", [sp, a]
                ).fetchone()
                if found is not None and found[0] is not None:
                    drop.add(int(found[0]))
            done = {int(r[0]) for r in con.execute("SELECT gi FROM d").fetchall()}
            if not drop - done:
                # Nothing left to withhold would help (the state predates a higher threshold):
                # release nothing.
                drop = set(range(len(groups)))
            con.executemany("INSERT INTO d VALUES (?)", [[gi] for gi in sorted(drop - done)])
            if not drop - done:
                break
        dropped = {int(r[0]) for r in con.execute("SELECT gi FROM d").fetchall()}
        released = {g for i, g in enumerate(groups) if i not in dropped}
        new_state = con.sql(
            f"SELECT sp AS s, r, e, DENSE_RANK() OVER (ORDER BY sp, a, gi) - 1 AS a FROM ({view})"
            " WHERE NOT (a = -1 AND gi = -1)"
        ).to_arrow_table()
    finally:
        con.close()
    return released, new_state.cast(SCHEMA)
