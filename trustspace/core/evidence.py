"""The evidence log's hash chain.  Pure: no I/O, no clock.

Each entry is ``{seq, at, kind, subject, data}``; its hash is
``sha256(prev_hash || canonical JSON of the entry)``, where the canonical JSON has sorted keys,
no whitespace and UTF-8.  The first entry's ``prev_hash`` is 64 zeros.  Changing, dropping,
reordering or inserting any entry changes every hash after it, so a verifier that knows one
hash (a checkpoint the operator signed) can tell whether the history before it was rewritten.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


def canonical(entry: Mapping[str, Any]) -> bytes:
    body = {k: entry[k] for k in ("seq", "at", "kind", "subject", "data")}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain(prev_hash: str, entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(entry)).hexdigest()


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
    """Walk the chain in order; the first entry that does not follow is named.  ``checkpoints``
    maps a sequence number to the hash a trusted party countersigned for it."""
    prev, expected_seq, n = GENESIS, 1, 0
    marks = dict(checkpoints or {})
    for entry in entries:
        seq = entry.get("seq")
        if seq != expected_seq:
            return Verdict(
                False, n, prev, expected_seq, f"entry {expected_seq} is missing (found {seq})"
            )
        if entry.get("corrupt"):
            return Verdict(False, n, prev, seq, f"entry {seq} is unreadable")
        if entry.get("prev_hash") != prev:
            return Verdict(False, n, prev, seq, f"entry {seq} does not follow entry {seq - 1}")
        digest = chain(prev, entry)
        if entry.get("hash") != digest:
            return Verdict(False, n, prev, seq, f"entry {seq} was altered: its hash does not match")
        if seq in marks and marks.pop(seq) != digest:
            return Verdict(
                False, n, prev, seq, f"entry {seq} differs from the countersigned checkpoint"
            )
        prev, expected_seq, n = digest, expected_seq + 1, n + 1
    if marks:
        first = min(marks)
        return Verdict(False, n, prev, first, f"the log ends before countersigned entry {first}")
    return Verdict(True, n, prev)
