"""Refused requests, kept for the operator and auditors in bounded space.

A request refused before its sender is known (a token that does not verify, a data-plane token
that matches no transfer) costs the store a counter, not a row and an evidence entry of its own:

* the text the caller chose (the issuer it claims, the reason its token fails, the surface) is
  cut to ``CLIP`` (200) characters, and NUL characters replaced;
* refusals are counted per time window of ``window`` seconds (setting ``refusal_window``): one
  row per surface, issuer and reason, with the count and the first and last time;
* a window holds at most ``max_rows`` such rows (setting ``refusal_rows``); refusals that would
  need another row are counted in the window's one overflow row (surface, issuer and reason
  ``*``);
* the evidence log gets one ``refusals`` entry per closed window, with its total, the number of
  rows, the overflow count and a digest of the rows; it is written by the first refusal of a
  later window or by :func:`summarize` (called periodically), never per refusal.  Rows of a
  summarized window do not change any more.

So whatever callers send, the store grows by at most ``max_rows + 1`` rows of at most
``3 * CLIP`` characters of text, and one evidence entry, per window.  On PostgreSQL the
recording transactions are serialized by an advisory lock so the row cap holds exactly.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from trustspace.store import evidence
from trustspace.store.db import Tx

CLIP = 200
OVERFLOW = "*"
_LOCK = 7_242_319  # the advisory lock key of refusal recording (PostgreSQL)


def clip(text: str | None) -> str:
    """At most ``CLIP`` characters, none of them NUL (which PostgreSQL cannot store)."""
    text = (text or "").replace("\x00", "\ufffd")
    return text if len(text) <= CLIP else text[: CLIP - 3] + "..."


def window_of(at: float, window: float) -> float:
    return math.floor(at / window) * window


def record_refusal(
    tx: Tx,
    at: float,
    surface: str,
    issuer: str | None,
    reason: str,
    *,
    window: float = 60.0,
    max_rows: int = 100,
) -> None:
    """Count one refused request (see the module rules)."""
    if tx.dialect == "postgresql":
        tx.execute("SELECT pg_advisory_xact_lock(?)", (_LOCK,))
    start = window_of(at, window)
    while tx.one("SELECT 1 AS x FROM refusals WHERE window_start = ? AND summarized = 1 LIMIT 1",
                 (start,)):  # fmt: skip
        start += window  # a late writer: its window is closed, so it counts in the next one
    key = (clip(surface), clip(issuer), clip(reason))
    if not _bump(tx, start, key, at):
        row = tx.one("SELECT COUNT(*) AS n FROM refusals WHERE window_start = ?", (start,))
        if row is not None and int(row["n"]) >= max_rows:
            key = (OVERFLOW, OVERFLOW, OVERFLOW)
        if not _bump(tx, start, key, at):
            tx.execute(
                "INSERT INTO refusals (window_start, surface, issuer, reason, count, first_at,"
                " last_at) VALUES (?,?,?,?,1,?,?)",
                (start, *key, at, at),
            )
    _summarize(tx, before=start, window=window, now=at)


def _bump(tx: Tx, start: float, key: tuple[str, str, str], at: float) -> bool:
    return (
        tx.execute(
            "UPDATE refusals SET count = count + 1, last_at = ? WHERE window_start = ?"
            " AND surface = ? AND issuer = ? AND reason = ? AND summarized = 0",
            (at, start, *key),
        )
        > 0
    )


def summarize(tx: Tx, now: float, window: float = 60.0) -> int:
    """Write the evidence summary of every closed window not summarized yet; how many."""
    if tx.dialect == "postgresql":
        tx.execute("SELECT pg_advisory_xact_lock(?)", (_LOCK,))
    return _summarize(tx, before=window_of(now, window), window=window, now=now)


def _summarize(tx: Tx, *, before: float, window: float, now: float) -> int:
    starts = tx.all(
        "SELECT DISTINCT window_start FROM refusals WHERE summarized = 0 AND window_start < ?"
        " ORDER BY window_start",
        (before,),
    )
    for item in starts:
        start = item["window_start"]
        rows = tx.all(
            "SELECT surface, issuer, reason, count FROM refusals WHERE window_start = ?", (start,)
        )
        counts = sorted([r["surface"], r["issuer"], r["reason"], int(r["count"])] for r in rows)
        digest = hashlib.sha256(
            json.dumps(counts, separators=(",", ":"), ensure_ascii=False).encode()
        ).hexdigest()
        overflow = sum(int(c[3]) for c in counts if c[0] == OVERFLOW)
        evidence.record(tx, at=now, kind="refusals", subject=f"window:{start:.0f}", data={
            "from": start, "until": start + window, "refusals": sum(int(c[3]) for c in counts),
            "rows": len(counts), "overflow": overflow, "rowsSha256": digest,
        })  # fmt: skip
        tx.execute("UPDATE refusals SET summarized = 1 WHERE window_start = ?", (start,))
    return len(starts)


def auth_failures(tx: Tx, limit: int = 100) -> list[dict[str, Any]]:
    """The latest refusal counts, newest first: each row is one surface, issuer and reason in
    one window, with how many times and when first and last."""
    rows = tx.all("SELECT * FROM refusals ORDER BY last_at DESC LIMIT ?", (limit,))
    return [
        {"at": r["last_at"], "firstAt": r["first_at"], "windowStart": r["window_start"],
         "path": r["surface"], "issuer": r["issuer"] or None, "reason": r["reason"],
         "count": int(r["count"])}
        for r in rows
    ]  # fmt: skip
