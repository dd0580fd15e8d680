"""Cross-border counters at the provider, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.store.conftest import db  # noqa: F401  (the SQLite + PostgreSQL fixture)
from trustspace.core.records import Dataset
from trustspace.services import crossborder
from trustspace.services.context import Identity, NodeContext
from trustspace.services.errors import Refused
from trustspace.store.db import Database

JAN_2 = 1_767_312_000.0  # 2026-01-02
ASSESSED = {"crossBorder": {"assessmentRef": "CAC-1"}}


def ctx_for(database: Database, tmp_path: Path, clock: float = JAN_2) -> NodeContext:
    return NodeContext(
        db=database, participant_id="hospital", dsp_base="http://h/dsp", data_base="http://h/data",
        blob_dir=tmp_path, identity=lambda who: Identity(region={"lab-de": "DE"}.get(who, "CN-SH")),
        own_region=lambda: "CN-BJ", clock=lambda: clock,
    )  # fmt: skip


def product(
    name: str, persons: int, declaration: dict[str, Any], sensitive: bool = False
) -> Dataset:
    return Dataset(
        id=name, title=name, description="", formats=(), created_at=0.0, declaration=declaration,
        profile={"pii_kinds": ["cn_resident_id"], "persons": persons, "sensitive": sensitive},
    )  # fmt: skip


def deliver(ctx: NodeContext, d: Dataset, consumer: str = "lab-de") -> None:
    with ctx.db.tx() as tx:
        crossborder.check(ctx, tx, consumer, d)


def test_thresholds_count_distinct_persons_from_the_first_of_january(
    db: Database,  # noqa: F811
    tmp_path: Path,
) -> None:
    ctx = ctx_for(db, tmp_path)
    first = product("a", 60_000, ASSESSED)
    deliver(ctx, first)
    deliver(ctx, first)  # the same product again: nobody new
    second = product("b", 50_000, ASSESSED)
    with pytest.raises(Refused, match="needs standard-contract or certification"):
        deliver(ctx, second)
    deliver(
        ctx,
        product("b", 50_000, {"crossBorder": {"assessmentRef": "x", "basis": "standard-contract"}}),
    )
    deliver(ctx, product("local", 5_000_000, {}), consumer="lab-cn")  # domestic: not counted
    with db.tx() as tx:
        counted = tx.one("SELECT SUM(persons) AS n FROM crossborder WHERE year = 2026")
    assert counted is not None and int(counted["n"]) == 110_000
    # A new year starts from zero.
    next_year = ctx_for(db, tmp_path, clock=JAN_2 + 366 * 86400)
    deliver(next_year, product("c", 90_000, ASSESSED))


def test_sensitive_information_and_missing_assessments(db: Database, tmp_path: Path) -> None:  # noqa: F811
    ctx = ctx_for(db, tmp_path)
    with pytest.raises(Refused, match="without a cross-border assessment reference"):
        deliver(ctx, product("a", 10, {}))
    with pytest.raises(Refused, match="needs security-assessment"):
        deliver(ctx, product("ids", 10_001, {"crossBorder": {"assessmentRef": "x",
                                                              "basis": "standard-contract"}},
                             sensitive=True))  # fmt: skip
    deliver(ctx, product("ids", 10_001, {"crossBorder": {"assessmentRef": "x",
                                                          "basis": "security-assessment"}},
                         sensitive=True))  # fmt: skip
