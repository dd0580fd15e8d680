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
- **An empty difference counts as a small one, unless the definitions make it empty.**
  Otherwise withholding would tell: ``COUNT(*)`` then ``COUNT(*) WHERE ward <> 'icu'`` would
  be released when the icu ward is empty and withheld when it holds one patient.  So where
  the data shows that a group leaves an atom untouched, or takes all of it, or brings no row
  no earlier group had, the group's and the atom's definitions (the WHERE and the key of every
  released group) must prove that this holds for any data (:mod:`trustspace.core.compute.logic`);
  if they cannot, the group is withheld as if the difference were small.

- A joined query's group is a set of joined pairs *and* a set of product rows (those with a
  pair in it): it is audited in both spaces, so a joined total cannot be differenced against
  a plain one by the product rows they cover.

What this does not cover: collusion between consumers (each has its own state), how many
joined rows one product row has, and what a group's presence at the threshold boundary says;
``docs/compute.md`` states these limits.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from trustspace.core.compute.logic import CAP, Alternatives, Must, any_possible, possible

SCHEMA = pa.schema([("s", pa.int64()), ("r", pa.int64()), ("e", pa.int64()), ("a", pa.int64())])
_META = b"trustspace-audit"


@dataclass(frozen=True)
class Group:
    """A group offered for release: its key hash, and per space what its definition says
    about the rows in it (``inside``) and the rows not in it (``outside``)."""

    key: int
    inside: dict[int, Alternatives]
    outside: dict[int, Alternatives]


@dataclass
class State:
    rows: pa.Table  # s, r, e, a: the atom of every released row class
    groups: dict[int, dict[str, Any]]  # id -> {"s", "in", "out"}: released definitions
    atoms: dict[int, list[int]]  # atom -> the released groups it lies in


def _signed(column: Any) -> Any:
    return column.cast(pa.int64(), safe=False)


def _alts(doc: list[Any]) -> Alternatives:
    return [[Must(tuple(m[0]), bool(m[1])) for m in alt] for alt in doc]


def _doc(alts: Alternatives) -> list[Any]:
    return [[[list(m.literal), m.holds] for m in alt] for alt in alts]


def load(blob: bytes | None) -> State:
    if not blob:
        return State(SCHEMA.empty_table(), {}, {})
    table = pq.read_table(io.BytesIO(blob))
    meta = json.loads((table.schema.metadata or {}).get(_META, b"{}"))
    return State(
        table.select(SCHEMA.names).cast(SCHEMA),
        {int(k): v for k, v in meta.get("groups", {}).items()},
        {int(k): v for k, v in meta.get("atoms", {}).items()},
    )


def dump(state: State) -> bytes:
    meta = json.dumps({"groups": state.groups, "atoms": state.atoms}, separators=(",", ":"))
    table = state.rows.replace_schema_metadata({_META: meta.encode()})
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def _narrow(alts: Alternatives, inside: Alternatives, outside: Alternatives) -> Alternatives:
    """``alts`` and outside a group: a group no row of ``alts`` can be in changes nothing,
    and past CAP combinations the group is left out (weaker, so sound)."""
    if not any_possible(alts, inside):
        return alts
    out = [a + b for a in alts for b in outside if possible(a + b)]
    return out if len(out) <= CAP else alts


class _Shapes:
    """What the definitions say about the rows of each atom, and about the rows no released
    group holds, per space."""

    def __init__(self, state: State) -> None:
        self.state = state
        self._atoms: dict[tuple[int, int], Alternatives] = {}
        self.registry = {gid: (g["s"], _alts(g["in"]), _alts(g["out"]))
                         for gid, g in state.groups.items()}  # fmt: skip

    def atom(self, space: int, atom: int) -> Alternatives:
        if (space, atom) not in self._atoms:
            member = set(self.state.atoms.get(atom, []))
            alts: Alternatives = [[]]
            for gid in sorted(member):  # the groups it lies in: strong conditions first
                alts = [a + b for a in alts for b in self.registry[gid][1] if possible(a + b)]
                alts = alts if len(alts) <= CAP else [[]]
            for gid, (sp, inside, outside) in self.registry.items():
                if sp == space and gid not in member:
                    alts = _narrow(alts, inside, outside)
            self._atoms[(space, atom)] = alts
        return self._atoms[(space, atom)]

    def unseen_and(self, space: int, alts: Alternatives) -> Alternatives:
        """``alts`` for a row no released group holds."""
        for sp, inside, outside in self.registry.values():
            if sp == space:
                alts = _narrow(alts, inside, outside)
        return alts


def audit(
    state: State, projection: pa.Table, groups: Sequence[Group], min_entities: int
) -> tuple[set[int], State]:
    """Which of ``groups`` (in release order) may be released, and the state after releasing
    them.  ``projection`` holds ``s`` (the space: 0 product rows, 1 joined pairs), ``g``
    (group key), ``e`` (entity) and ``r`` (row class) for the rows that passed the query's
    WHERE."""
    proj = pa.table({name: _signed(projection.column(name)) for name in ("s", "g", "e", "r")})
    order = pa.table({"g": pa.array([g.key for g in groups], pa.int64()),
                      "gi": pa.array(range(len(groups)), pa.int64())})  # fmt: skip
    spaces = sorted({int(v) for v in proj.column("s").to_pylist()}) or [0]
    shapes = _Shapes(state)
    con = duckdb.connect(":memory:")
    try:
        con.register("st", state.rows)
        con.register("p", proj)
        con.register("c", order)
        con.execute(
            "CREATE TABLE u AS SELECT COALESCE(st.s, pp.s) AS sp, COALESCE(st.r, pp.r) AS r,"
            " COALESCE(st.e, pp.e) AS e, COALESCE(st.a, -1) AS a, COALESCE(pp.gi, -1) AS gi"
            " FROM st FULL OUTER JOIN"
            " (SELECT DISTINCT p.s, p.r, p.e, c.gi FROM p JOIN c ON p.g = c.g) AS pp"
            " ON st.s = pp.s AND st.r = pp.r"
        )
        dropped: set[int] = set()
        for _ in range(len(groups) + 1):
            con.execute("CREATE OR REPLACE TABLE d AS SELECT UNNEST(?::BIGINT[]) AS gi",
                        [sorted(dropped)])  # fmt: skip
            view = ("SELECT sp, r, e, a, CASE WHEN gi IN (SELECT gi FROM d) THEN -1 ELSE gi END"
                    " AS gi FROM u")  # fmt: skip
            pieces = {
                (int(sp), int(a), int(gi)): int(n)
                for sp, a, gi, n in con.execute(
                    f"SELECT sp, a, gi, COUNT(DISTINCT e) FROM ({view})"
                    " WHERE NOT (a = -1 AND gi = -1) GROUP BY sp, a, gi"
                ).fetchall()
            }
            drop = _violations(state, shapes, spaces, groups, dropped, pieces, min_entities)
            if not drop - dropped:
                break
            dropped |= drop
        else:  # nothing settles: release nothing
            dropped = set(range(len(groups)))
        con.execute("CREATE OR REPLACE TABLE d AS SELECT UNNEST(?::BIGINT[]) AS gi",
                    [sorted(dropped)])  # fmt: skip
        released = {g.key for i, g in enumerate(groups) if i not in dropped}
        labels = con.execute(
            f"SELECT DISTINCT sp, a, gi, DENSE_RANK() OVER (ORDER BY sp, a, gi) - 1 AS n"
            f" FROM ({view}) WHERE NOT (a = -1 AND gi = -1)"
        ).fetchall()
        rows = con.sql(
            f"SELECT sp AS s, r, e, DENSE_RANK() OVER (ORDER BY sp, a, gi) - 1 AS a FROM ({view})"
            " WHERE NOT (a = -1 AND gi = -1)"
        ).to_arrow_table()
    finally:
        con.close()
    return released, _next_state(state, groups, dropped, labels, rows.cast(SCHEMA))


def _violations(state: State, shapes: _Shapes, spaces: list[int], groups: Sequence[Group],
                dropped: set[int], pieces: dict[tuple[int, int, int], int],
                min_entities: int) -> set[int]:  # fmt: skip
    """The groups to withhold: those that leave a small piece, and those that leave an empty
    piece the definitions do not prove empty."""
    drop: set[int] = set()
    live = [i for i in range(len(groups)) if i not in dropped]
    for (sp, a, gi), n in pieces.items():
        if n < min_entities:
            if gi != -1:
                drop.add(gi)
            else:  # the remainder of an atom: withhold the last group that split it
                splitting = [i for i in live if (sp, a, i) in pieces]
                drop |= {max(splitting)} if splitting else set(live)
    for sp in spaces:
        atoms = sorted({a for (s, a, _) in pieces if s == sp and a != -1})
        for i in live:
            inside = groups[i].inside.get(sp, [[]])
            for a in atoms:
                if (sp, a, i) not in pieces and any_possible(shapes.atom(sp, a), inside):
                    drop.add(i)  # it could have taken rows of this atom
            if (sp, -1, i) not in pieces and shapes.unseen_and(sp, inside):
                drop.add(i)  # it could have brought rows nobody was given yet
        for a in atoms:
            splitting = [i for i in live if (sp, a, i) in pieces]
            if splitting and (sp, a, -1) not in pieces:
                alts = shapes.atom(sp, a)
                for i in live:
                    alts = _narrow(alts, groups[i].inside.get(sp, [[]]),
                                   groups[i].outside.get(sp, [[]]))  # fmt: skip
                if alts:
                    drop.add(max(splitting))  # it could have left rows of this atom behind
    return drop


def _next_state(state: State, groups: Sequence[Group], dropped: set[int],
                labels: list[tuple[Any, ...]], rows: pa.Table) -> State:  # fmt: skip
    known = dict(state.groups)
    first = max(known, default=-1) + 1
    ids: dict[tuple[int, int], int] = {}  # (space, group index) -> registry id
    for i, group in enumerate(groups):
        if i in dropped:
            continue
        for sp, inside in group.inside.items():
            ids[(sp, i)] = first + len(ids)
            outside = group.outside.get(sp, [[]])
            known[ids[(sp, i)]] = {"s": sp, "in": _doc(inside), "out": _doc(outside)}
    atoms: dict[int, list[int]] = {}
    for sp, a, gi, n in labels:
        member = list(state.atoms.get(int(a), [])) if int(a) != -1 else []
        if int(gi) != -1 and (int(sp), int(gi)) in ids:
            member.append(ids[(int(sp), int(gi))])
        atoms[int(n)] = member
    return State(rows, known, atoms)
