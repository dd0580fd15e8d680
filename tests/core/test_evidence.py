"""The evidence hash chain: any change to any entry is found, and named."""

from __future__ import annotations

from typing import Any

import pytest

from trustspace.core.evidence import (
    GENESIS,
    LOCAL,
    OPERATOR,
    Mark,
    audit,
    chain,
    unvouched_text,
    verify,
)


def log(n: int) -> list[dict[str, Any]]:
    out, prev = [], GENESIS
    for seq in range(1, n + 1):
        entry = {"seq": seq, "at": 1000.0 + seq, "kind": "process-message", "subject": f"p{seq % 3}",
                 "data": {"message": "ContractRequestMessage", "n": seq, "text": "é"}}  # fmt: skip
        digest = chain(prev, entry)
        out.append({**entry, "prev_hash": prev, "hash": digest})
        prev = digest
    return out


def test_an_intact_log_verifies() -> None:
    entries = log(50)
    verdict = verify(entries, {10: entries[9]["hash"], 50: entries[49]["hash"]})
    assert verdict.ok and verdict.entries == 50 and verdict.head == entries[-1]["hash"]


@pytest.mark.parametrize(
    ("tamper", "broken_at", "words"),
    [
        (lambda e: e[19]["data"].update(n=999), 20, "altered"),
        (lambda e: e[19].update(at=0.0), 20, "altered"),
        (lambda e: e[19].update(kind="agreement"), 20, "altered"),
        (lambda e: e.pop(19), 20, "missing"),
        (lambda e: e.insert(19, dict(e[19])), 21, "missing"),
        (lambda e: e.__setitem__(slice(19, 21), [e[20], e[19]]), 20, "missing"),
    ],
)
def test_any_change_is_named(tamper: Any, broken_at: int, words: str) -> None:
    entries = log(40)
    tamper(entries)
    verdict = verify(entries)
    assert not verdict.ok
    assert verdict.broken_at == broken_at
    assert words in str(verdict.reason)


def test_a_rewritten_history_is_caught_by_a_checkpoint() -> None:
    original = log(30)
    checkpoint = {25: original[24]["hash"]}
    rewritten = log(30)  # a consistent chain ...
    rewritten[9]["data"]["n"] = -1  # ... rebuilt after changing entry 10
    prev = rewritten[8]["hash"]
    for e in rewritten[9:]:
        e["prev_hash"] = prev
        e["hash"] = prev = chain(prev, e)
    assert verify(rewritten).ok  # without a checkpoint the rewrite is invisible
    verdict = verify(rewritten, checkpoint)
    assert not verdict.ok and verdict.broken_at == 25
    truncated = verify(original[:20], checkpoint)
    assert not truncated.ok and "entries 21–25 (5) were removed" in str(truncated.reason)


def _marks(entries: list[dict[str, Any]], *seqs: int, held_by: str = LOCAL) -> list[Mark]:
    return [Mark(s, entries[s - 1]["hash"], "op", held_by) for s in seqs]


def test_an_audit_counts_what_nothing_vouches_for() -> None:
    entries = log(1250)
    a = audit(entries, _marks(entries, 600, 1200) + _marks(entries, 1200, held_by=OPERATOR),
              head=(1250, entries[-1]["hash"]), consulted={"op"})  # fmt: skip
    assert a.ok and a.vouched == 1200 and a.end == 1250 and a.unvouched == (1201, 1250)
    assert unvouched_text(a) == ("entries 1,201–1,250 (50) are after the last checkpoint:"
                                 " nothing outside this node vouches for them")  # fmt: skip
    bare = audit(entries[:1])
    assert bare.ok and unvouched_text(bare) == (
        "entry 1 is covered by no checkpoint: nothing outside this node vouches for it"
    )
    assert unvouched_text(audit(entries, _marks(entries, 1250))) == (
        "every entry is covered by a checkpoint"
    )


def test_truncation_is_named_with_the_range_removed() -> None:
    entries = log(60)
    held = _marks(entries, 50, held_by=OPERATOR)
    cut = entries[:40]
    a = audit(cut, held, consulted={"op"})
    kinds = [(p.kind, p.seq) for p in a.problems]
    assert kinds == [("truncated", 41), ("missing-checkpoint", 50)]
    assert "at least entries 41–50 (10) were removed" in a.problems[0].message
    assert "the operator's record" in a.problems[0].message
    # The local copy alone tells it too, unless it was deleted with the entries.
    assert not audit(cut, _marks(entries, 50)).ok
    assert audit(cut).ok
    # The store's own head row names a careless truncation.
    careless = audit(cut, head=(60, entries[-1]["hash"]))
    assert [p.kind for p in careless.problems] == ["truncated"]
    assert "at least entries 41–60 (20) were removed" in careless.problems[0].message
    one = audit(entries[:49], _marks(entries, 50))
    assert "at least entry 50 was removed" in one.problems[0].message


def test_a_rewrite_is_caught_by_the_operators_record_after_the_local_copy_is_gone() -> None:
    original = log(30)
    held = _marks(original, 25, held_by=OPERATOR)
    rewritten = log(30)
    rewritten[9]["data"]["n"] = -1
    prev = rewritten[8]["hash"]
    for e in rewritten[9:]:
        e["prev_hash"] = prev
        e["hash"] = prev = chain(prev, e)
    assert audit(rewritten).ok  # no local checkpoint left: the rewrite is invisible locally
    a = audit(rewritten, held, consulted={"op"})
    assert [(p.kind, p.seq) for p in a.problems] == [("checkpoint", 25), ("missing-checkpoint", 25)]
    assert a.entries == 24 and a.vouched == 0
    # Not consulted: the operator's marks still check the chain, but no copy is expected.
    assert [p.kind for p in audit(rewritten, held).problems] == ["checkpoint"]


def test_an_audit_stops_at_the_first_break_but_knows_where_the_log_ends() -> None:
    entries = log(40)
    entries[9]["kind"] = "agreement"
    a = audit(entries, _marks(entries, 30))
    assert [(p.kind, p.seq) for p in a.problems] == [("broken", 10)]
    assert a.entries == 9 and a.end == 40 and a.vouched == 0
