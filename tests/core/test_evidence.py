"""The evidence hash chain: any change to any entry is found, and named."""

from __future__ import annotations

from typing import Any

import pytest

from trustspace.core.evidence import GENESIS, chain, verify


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
    assert not truncated.ok and "ends before countersigned entry 25" in str(truncated.reason)
