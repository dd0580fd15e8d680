"""The refusal log is bounded: counted per window, text cut, one evidence entry per window,
on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from trustspace.store import audit, evidence
from trustspace.store.db import Database


def record(db: Database, at: float, surface: str = "dsp", issuer: str | None = "x",
           reason: str = "bad signature", **kw: Any) -> None:  # fmt: skip
    with db.tx(durable=False) as tx:
        audit.record_refusal(tx, at, surface, issuer, reason, window=60.0, **kw)


def rows(db: Database) -> list[dict[str, Any]]:
    with db.tx() as tx:
        return tx.all("SELECT * FROM refusals ORDER BY window_start, surface, issuer, reason")


def summaries(db: Database) -> list[dict[str, Any]]:
    return [e for e in evidence.entries(db) if e["kind"] == "refusals"]


def test_repeats_are_one_row_with_a_count_and_no_evidence_each(db: Database) -> None:
    for i in range(50):
        record(db, 1000.0 + i * 0.1)
    (row,) = rows(db)
    assert (row["count"], row["first_at"], row["last_at"]) == (50, 1000.0, 1000.0 + 49 * 0.1)
    assert list(evidence.entries(db)) == []


def test_caller_text_is_cut(db: Database) -> None:
    record(db, 10.0, surface="/p/" + "s" * 5000, issuer="i" * 40_000, reason="r" * 40_000)
    (row,) = rows(db)
    assert max(len(row["surface"]), len(row["issuer"]), len(row["reason"])) == audit.CLIP


def test_distinct_refusals_past_the_cap_fold_into_one_overflow_row(db: Database) -> None:
    for i in range(30):
        record(db, 100.0, issuer=f"attacker-{i}", max_rows=10)
    got = rows(db)
    assert len(got) == 11
    overflow = [r for r in got if r["surface"] == audit.OVERFLOW]
    assert len(overflow) == 1 and overflow[0]["count"] == 20
    assert sum(r["count"] for r in got) == 30
    record(db, 100.5, issuer="attacker-3", max_rows=10)  # one that has its row still counts there
    assert next(r for r in rows(db) if r["issuer"] == "attacker-3")["count"] == 2


def test_a_closed_window_gets_one_summary_when_a_later_one_starts(db: Database) -> None:
    for i in range(7):
        record(db, 60.0 + i, issuer=f"i{i % 3}")
    assert summaries(db) == []
    record(db, 125.0)  # the window 60..120 has closed, and so has nothing else
    (entry,) = summaries(db)
    assert entry["data"]["refusals"] == 7 and entry["data"]["rows"] == 3
    assert (entry["data"]["from"], entry["data"]["until"]) == (60.0, 120.0)
    record(db, 126.0)
    assert len(summaries(db)) == 1  # no entry per refusal
    with db.tx() as tx:
        assert audit.summarize(tx, now=200.0) == 1
        assert audit.summarize(tx, now=200.0) == 0
    assert [e["data"]["refusals"] for e in summaries(db)] == [7, 2]


def test_a_late_refusal_for_a_summarized_window_counts_in_the_next(db: Database) -> None:
    record(db, 10.0)
    with db.tx() as tx:
        audit.summarize(tx, now=70.0)
    record(db, 20.0)  # its transaction started before the window closed
    assert [(r["window_start"], r["count"]) for r in rows(db)] == [(0.0, 1), (60.0, 1)]


def test_the_row_cap_holds_with_concurrent_writers(db: Database) -> None:
    def one(i: int) -> None:
        record(db, 500.0, issuer=f"c{i}", max_rows=5)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(64)))
    got = rows(db)
    assert len(got) == 6 and sum(r["count"] for r in got) == 64


def test_the_listing_shows_counts_newest_first(db: Database) -> None:
    record(db, 1.0, issuer=None, reason="missing bearer token")
    record(db, 2.0, issuer="ai-lab", reason="member ai-lab is revoked")
    record(db, 3.0, issuer="ai-lab", reason="member ai-lab is revoked")
    with db.tx() as tx:
        listed = audit.auth_failures(tx)
    assert [(f["issuer"], f["reason"], f["count"], f["at"]) for f in listed] == [
        ("ai-lab", "member ai-lab is revoked", 2, 3.0),
        (None, "missing bearer token", 1, 1.0),
    ]
