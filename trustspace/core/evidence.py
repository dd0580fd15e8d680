"""The evidence log's hash chain.  Pure: no I/O, no clock.

Each entry is ``{seq, at, kind, subject, data}``; its hash is
``sha256(prev_hash || canonical JSON of the entry)``, where the canonical JSON has sorted keys,
no whitespace and UTF-8.  The first entry's ``prev_hash`` is 64 zeros.  Changing, dropping,
reordering or inserting any entry changes every hash after it, so a verifier that knows one
hash (a checkpoint the operator signed) can tell whether the history before it was rewritten.

What the chain proves depends on who holds the checkpoints (:func:`audit`):
- the log's own copies show edits, insertions, deletions and reordering before the newest one;
- the operator's record also shows truncation (a countersigned entry the log no longer has) and
  a deleted local copy (a checkpoint the operator holds and the log does not);
- entries after the last checkpoint are vouched for by nothing outside the node: they can be
  cut off or rewritten unseen.  The audit says how many there are.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


def canonical(entry: Mapping[str, Any]) -> bytes:
    body = {k: entry[k] for k in ("seq", "at", "kind", "subject", "data")}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain(prev_hash: str, entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(entry)).hexdigest()


LOCAL = "local"
OPERATOR = "operator"


@dataclass(frozen=True)
class Mark:
    """A countersigned checkpoint: entry ``seq`` had ``hash``.  ``held_by`` is ``LOCAL`` (the
    log's own copy) or ``OPERATOR`` (the record the operator keeps)."""

    seq: int
    hash: str
    operator: str
    held_by: str = LOCAL


@dataclass(frozen=True)
class Problem:
    """One finding; ``seq`` is the first entry it concerns."""

    seq: int
    kind: str  # broken, checkpoint, truncated, head, missing-checkpoint
    message: str


@dataclass(frozen=True)
class Audit:
    entries: int  # the entries, from the first, that are intact
    head: str  # the hash of the last intact entry
    end: int  # the highest sequence number in the log
    problems: tuple[Problem, ...]
    vouched: int  # the newest entry a checkpoint matched (0: none)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def unvouched(self) -> tuple[int, int] | None:
        """The entries after the last checkpoint (first, last), or None when there are none."""
        return (self.vouched + 1, self.end) if self.end > self.vouched else None


def _held(mark: Mark) -> str:
    return "the operator's record" if mark.held_by == OPERATOR else "this log's copy"


def _follows(entry: Mapping[str, Any], expected: int, prev: str) -> tuple[str | None, str]:
    """Why ``entry`` cannot be entry ``expected`` after ``prev`` (None if it can), and its hash."""
    seq = entry.get("seq")
    if seq != expected:
        return f"entry {expected} is missing (found {seq})", ""
    if entry.get("corrupt"):
        return f"entry {seq} is unreadable", ""
    if entry.get("prev_hash") != prev:
        return f"entry {seq} does not follow entry {expected - 1}", ""
    digest = chain(prev, entry)
    if entry.get("hash") != digest:
        return f"entry {seq} was altered: its hash does not match", digest
    return None, digest


def audit(
    entries: Iterable[Mapping[str, Any]],
    marks: Iterable[Mark] = (),
    *,
    head: tuple[int, str] | None = None,
    consulted: Collection[str] = (),
) -> Audit:
    """Walk the chain in order and hold it against every checkpoint.  ``head`` is what the store
    says its newest entry is; ``consulted`` are the operators whose own records are among
    ``marks`` (each of their checkpoints must have a local copy too).  The walk stops at the
    first entry that does not follow; the entries after it only count towards the log's end."""
    marks = list(marks)
    pending: dict[int, list[Mark]] = {}
    for mark in marks:
        pending.setdefault(mark.seq, []).append(mark)
    problems: list[Problem] = []
    prev, n, end, vouched = GENESIS, 0, 0, 0
    broken = False
    for entry in entries:
        seq = entry.get("seq")
        if isinstance(seq, int) and seq > end:
            end = seq
        if broken:
            continue
        expected = n + 1
        reason, digest = _follows(entry, expected, prev)
        if reason is not None:
            problems.append(Problem(expected, "broken", reason))
        for mark in pending.pop(expected, []) if reason is None else ():
            if mark.hash == digest:
                vouched = expected
                continue
            why = f"the countersigned checkpoint ({_held(mark)}, from {mark.operator})"
            problems.append(Problem(expected, "checkpoint", f"entry {expected} differs from {why}"))
        if reason is None and head is not None and head[0] == expected and head[1] != digest:
            why = "the store's record of its newest entry"
            problems.append(Problem(expected, "head", f"entry {expected} differs from {why}"))
        broken = bool(problems)
        if not broken:
            prev, n = digest, expected
    beyond = [m for m in marks if m.seq > end]
    if beyond:  # the highest mark names the range; the operator's record is the stronger witness
        last = max(beyond, key=lambda m: (m.seq, m.held_by == OPERATOR))
        why = f"{last.operator} countersigned entry {last.seq:,} ({_held(last)})"
        gone = _removed(end + 1, last.seq)
        problems.append(
            Problem(end + 1, "truncated", f"the log ends at entry {end:,}, but {why}: {gone}")
        )
    if head is not None and head[0] > end:
        why = f"the store's newest entry is {head[0]:,}, but the log ends at entry {end:,}"
        problems.append(Problem(end + 1, "truncated", f"{why}: {_removed(end + 1, head[0])}"))
    local = {(m.operator, m.seq) for m in marks if m.held_by == LOCAL}
    for mark in marks:
        if mark.held_by != OPERATOR or mark.operator not in consulted:
            continue
        if (mark.operator, mark.seq) not in local:
            why = f"{mark.operator} countersigned entry {mark.seq:,}"
            lost = "this log holds no copy of that checkpoint (deleted, or never stored)"
            problems.append(Problem(mark.seq, "missing-checkpoint", f"{why}, but {lost}"))
    problems.sort(key=lambda p: p.seq)
    return Audit(n, prev, end, tuple(problems), vouched)


def _span(first: int, last: int) -> str:
    count = last - first + 1
    if count == 1:
        return f"entry {first:,}"
    return f"entries {first:,}–{last:,} ({count:,})"


def _removed(first: int, last: int) -> str:
    return f"at least {_span(first, last)} {'was' if first == last else 'were'} removed"


def unvouched_text(a: Audit) -> str:
    """What nothing outside the node vouches for, in one sentence."""
    span = a.unvouched
    if span is None:
        return "every entry is covered by a checkpoint"
    one = span[0] == span[1]
    if a.vouched == 0:
        return (f"{_span(*span)} {'is' if one else 'are'} covered by no checkpoint: nothing outside"
                f" this node vouches for {'it' if one else 'them'}")  # fmt: skip
    return (f"{_span(*span)} {'is' if one else 'are'} after the last checkpoint: nothing outside"
            f" this node vouches for {'it' if one else 'them'}")  # fmt: skip


@dataclass(frozen=True)
class Verdict:
    ok: bool
    entries: int
    head: str
    broken_at: int | None = None
    reason: str | None = None


def verify(
    entries: Iterable[Mapping[str, Any]], checkpoints: Mapping[int, str] | None = None
) -> Verdict:
    """The chain and the checkpoints (sequence number to the hash a trusted party countersigned
    for it): the first problem found, if any."""
    marks = [Mark(seq, digest, "a trusted party") for seq, digest in (checkpoints or {}).items()]
    a = audit(entries, marks)
    if a.ok:
        return Verdict(True, a.entries, a.head)
    first = a.problems[0]
    return Verdict(False, a.entries, a.head, first.seq, first.message)
