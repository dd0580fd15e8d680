"""Does a proposed set of terms grant more than the offer it answers?

A consumer may ask for less than it was offered, never for more.  ``widening`` returns the
reasons a proposal is wider (empty when it is not).  The test is syntactic and therefore
conservative: a proposal passes when every permission it asks for is covered by an offered
permission whose action includes it, whose target and assignee are the same, and whose
constraints and duties all reappear in the proposal (adding constraints only narrows); and when
every offered prohibition and obligation reappears unchanged.  Identifiers (``@id``) of rules and
constraints do not matter.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from trustspace.core.odrl import vocab
from trustspace.core.odrl.parse import term


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items() if k not in ("@id", "uid")}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _key(value: Any) -> str:
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"))


def _items(rule: Mapping[str, Any], key: str) -> list[Any]:
    value = rule.get(key, [])
    return list(value) if isinstance(value, list) else [value]


def _rules(policy: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    return [r for r in _items(policy, key) if isinstance(r, Mapping)]


def _covers(offered: Mapping[str, Any], asked: Mapping[str, Any]) -> str | None:
    """None if ``offered`` covers ``asked``; otherwise why not."""
    want, have = term(asked.get("action")), term(offered.get("action"))
    if want is None or have is None:
        return "a permission without an action"
    if have not in vocab.ancestors(vocab.ACTION_PARENT, want):
        return f"action {want!r} is not included in the offered {have!r}"
    for field in ("target", "assignee", "assigner"):
        if field in offered and _key(offered[field]) != _key(asked.get(field)):
            return f"its {field} differs from the offer"
    asked_constraints = {_key(c) for c in _items(asked, "constraint")}
    for c in _items(offered, "constraint"):
        if _key(c) not in asked_constraints:
            return f"it drops the constraint {_key(c)}"
    asked_duties = {_key(d) for d in _items(asked, "duty")}
    for d in _items(offered, "duty"):
        if _key(d) not in asked_duties:
            return f"it drops the duty {_key(d)}"
    return None


def widening(offered: Mapping[str, Any], proposed: Mapping[str, Any]) -> list[str]:
    reasons: list[str] = []
    offered_permissions = _rules(offered, "permission")
    for i, asked in enumerate(_rules(proposed, "permission")):
        why = [_covers(o, asked) for o in offered_permissions]
        if not offered_permissions:
            reasons.append(f"permission {i} asks for a right the offer does not grant")
        elif all(w is not None for w in why):
            reasons.append(f"permission {i} is wider than the offer: {why[0]}")
    for key in ("prohibition", "obligation"):
        kept = {_key(r) for r in _rules(proposed, key)}
        for r in _rules(offered, key):
            if _key(r) not in kept:
                reasons.append(f"the {key} {_key(r)} of the offer is missing")
    return reasons
