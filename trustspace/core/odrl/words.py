"""An offer's terms in plain words, for people who do not read ODRL: ``describe_terms``.

One line per term: "Use: AI training only", "Consumers in: China (CN)", "At most 3 downloads",
"Within 30 days of the agreement", "Price: 100.00 CNY".  The wording is a table keyed by the
kind of the left operand (``vocab.LEFT_OPERANDS``) and the operator, so every operand and
operator the engine evaluates has a phrase.  Rules of the module:

- nothing is dropped: a constraint the table cannot phrase (an unknown operand or operator, a
  right operand that could not be read) still gets a line, "Other term: ...", with the term as
  written;
- the words never promise more than the engine grants: they describe the rule as written, and
  the ODRL itself (``catalog --json``) stays the authority.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from trustspace.core.odrl import vocab
from trustspace.core.odrl.model import Constraint, LogicalConstraint, Policy, Rule, Subject, Term
from trustspace.core.odrl.parse import parse_policy

PURPOSES: Mapping[str, str] = {
    "any": "any purpose",
    "ai": "AI",
    "ai-training": "AI training",
    "ai-fine-tuning": "AI fine-tuning",
    "ai-evaluation": "AI evaluation",
    "ai-retrieval": "AI retrieval",
    "research": "research",
    "academic-research": "academic research",
    "commercial-research": "commercial research",
    "analytics": "analytics",
    "service-provision": "providing a service",
    "marketing": "marketing",
    "public-interest": "the public interest",
    "regulatory-compliance": "regulatory compliance",
}

# The regions a space in this deployment meets most; any other code is shown as written.
COUNTRIES: Mapping[str, str] = {
    "CN": "China", "HK": "Hong Kong", "MO": "Macao", "TW": "Taiwan", "JP": "Japan",
    "KR": "South Korea", "SG": "Singapore", "IN": "India", "US": "the United States",
    "CA": "Canada", "GB": "the United Kingdom", "DE": "Germany", "FR": "France", "IT": "Italy",
    "ES": "Spain", "NL": "the Netherlands", "BE": "Belgium", "CH": "Switzerland",
    "AU": "Australia", "BR": "Brazil", "RU": "Russia",
}  # fmt: skip

ACTIONS: Mapping[str, str] = {
    "use": "use the data",
    "read": "read (download) the data",
    "aggregate": "run aggregate queries (compute-to-data)",
    "distribute": "pass the data on to others",
    "reproduce": "make copies",
    "derive": "create derived works",
    "modify": "change the data",
    "write": "change the data",
    "delete": "delete the data",
    "anonymize": "anonymise the data",
    "attribute": "credit the provider",
    "inform": "inform the provider",
    "compensate": "pay",
    "obtainConsent": "obtain consent",
    "sell": "sell the data",
    "give": "give the data away",
    "transfer": "transfer ownership of the data",
    "archive": "keep an archive copy",
    "index": "index the data",
    "display": "display the data",
    "print": "print the data",
    "stream": "stream the data",
    "watermark": "watermark the data",
    "execute": "run the data as a program",
}


def _join(items: list[str], word: str) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {word} " + items[-1]


def purpose_words(value: object) -> str:
    return PURPOSES.get(str(value), str(value))


def region_words(value: object) -> str:
    code = str(value)
    country = COUNTRIES.get(code.split("-", 1)[0])
    if country is None:
        return code
    return f"{country} ({code})" if "-" not in code else f"{code} ({country})"


def duration_words(value: timedelta) -> str:
    parts = []
    for amount, name in (
        (value.days, "day"),
        (value.seconds // 3600, "hour"),
        (value.seconds % 3600 // 60, "minute"),
        (value.seconds % 60, "second"),
    ):
        if amount:
            parts.append(f"{amount} {name}{'s' if amount != 1 else ''}")
    return _join(parts, "and") or "0 seconds"


def datetime_words(value: datetime) -> str:
    if value.utcoffset() == timedelta(0):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat(timespec="minutes")


def money_words(amount: object, unit: str | None) -> str:
    """``100`` ``CNY`` -> ``100.00 CNY``; a unit IRI is shown by its last segment."""
    number = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    exponent = number.as_tuple().exponent
    shown = f"{number:.2f}" if isinstance(exponent, int) and exponent >= -2 else format(number, "f")
    currency = (unit or "").rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1]
    return f"{shown} {currency}".strip()


def _values(right: object, show: Callable[[object], str], word: str) -> str:
    items = list(right) if isinstance(right, tuple) else [right]
    return _join([show(v) for v in items], word)


# (kind, operator) -> the line, from the right operand already in words ("or"-joined for lists,
# "and"-joined for isAllOf).  ``{n}`` is the count, ``{noun}`` what is counted.
_PHRASES: Mapping[tuple[str, str], str] = {
    ("purpose", "eq"): "Use: {v} only",
    ("purpose", "isA"): "Use: {v} only",
    ("purpose", "isPartOf"): "Use: {v} only",
    ("purpose", "isAnyOf"): "Use: {v} only",
    ("purpose", "isAllOf"): "Use: declared for all of {v}",
    ("purpose", "hasPart"): "Use: a purpose that includes {v}",
    ("purpose", "neq"): "Use: not for {v}",
    ("purpose", "isNoneOf"): "Use: not for {v}",
    ("region", "eq"): "Consumers in: {v}",
    ("region", "isA"): "Consumers in: {v}",
    ("region", "isPartOf"): "Consumers in: {v}",
    ("region", "isAnyOf"): "Consumers in: {v}",
    ("region", "isAllOf"): "Consumers in all of: {v}",
    ("region", "hasPart"): "Consumers in a region that contains {v}",
    ("region", "neq"): "Consumers not in: {v}",
    ("region", "isNoneOf"): "Consumers not in: {v}",
    ("party", "eq"): "Only for: {v}",
    ("party", "isAnyOf"): "Only for: {v}",
    ("party", "isPartOf"): "Only for members of: {v}",
    ("party", "neq"): "Not for: {v}",
    ("party", "isNoneOf"): "Not for: {v}",
    ("count", "lteq"): "At most {n} {noun}",
    ("count", "lt"): "Fewer than {n} {noun}",
    ("count", "eq"): "Only {noun} number {n}",
    ("count", "neq"): "Any {noun} except number {n}",
    ("count", "gt"): "Only after the first {n} {noun}",
    ("count", "gteq"): "From {noun} number {n} on",
    ("duration", "lteq"): "Within {v} of the agreement",
    ("duration", "lt"): "Less than {v} after the agreement",
    ("duration", "eq"): "Exactly {v} after the agreement",
    ("duration", "neq"): "Not exactly {v} after the agreement",
    ("duration", "gt"): "More than {v} after the agreement",
    ("duration", "gteq"): "From {v} after the agreement on",
    ("dateTime", "lt"): "Before {v}",
    ("dateTime", "lteq"): "Until {v}",
    ("dateTime", "eq"): "Only at {v}",
    ("dateTime", "neq"): "Any time except {v}",
    ("dateTime", "gt"): "After {v}",
    ("dateTime", "gteq"): "From {v}",
    ("decimal", "eq"): "Price: {v}",
    ("decimal", "gteq"): "Price: {v}",
    ("decimal", "gt"): "Price: more than {v}",
    ("decimal", "lteq"): "Paid: at most {v}",
    ("decimal", "lt"): "Paid: less than {v}",
    ("decimal", "neq"): "Paid: any amount but {v}",
    ("classification", "eq"): "Data classified: {v}",
    ("classification", "neq"): "Data not classified: {v}",
    ("classification", "lt"): "Data classified below {v}",
    ("classification", "lteq"): "Data classified {v} or lower",
    ("classification", "gt"): "Data classified above {v}",
    ("classification", "gteq"): "Data classified {v} or higher",
    ("classification", "isAnyOf"): "Data classified: {v}",
    ("classification", "isNoneOf"): "Data not classified: {v}",
}

_SHOW: Mapping[str, Callable[[object], str]] = {
    "purpose": purpose_words,
    "region": region_words,
    "duration": lambda v: duration_words(v) if isinstance(v, timedelta) else str(v),
    "dateTime": lambda v: datetime_words(v) if isinstance(v, datetime) else str(v),
}

_COUNTED = {"aggregate": "compute jobs", "execute": "runs"}


def _raw(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _other(c: Constraint) -> str:
    why = f" ({c.problem})" if c.problem else ""
    return f"Other term: {c.left} {c.operator} {_raw(c.raw)}{why}"


def constraint_words(c: Term, action: str = "use") -> str:
    """One constraint (or a logical combination) as a line; never empty."""
    if isinstance(c, LogicalConstraint):
        parts = [constraint_words(p, action) for p in c.operands]
        head = {
            "or": "Any one of",
            "xone": "Exactly one of",
            "and": "All of",
            "andSequence": "In this order",
        }.get(c.operator, c.operator)
        return f"{head}: " + "; ".join(f"({p})" for p in parts)
    operand = vocab.LEFT_OPERANDS.get(c.left)
    phrase = None if operand is None else _PHRASES.get((operand.kind, c.operator))
    if not c.known or operand is None or phrase is None:
        return _other(c)
    kind = operand.kind
    if kind == "count":
        n = c.right if isinstance(c.right, int) else _raw(c.raw)
        noun = _COUNTED.get(action, "downloads")
        if "number" in phrase:
            noun = noun.rstrip("s")
        return phrase.format(n=n, noun=noun)
    if kind == "decimal":
        amounts = c.right if isinstance(c.right, tuple) else (c.right,)
        shown = _join([money_words(a, c.unit) for a in amounts], "or")
        return phrase.format(v=shown)
    show = _SHOW.get(kind, str)
    word = "and" if c.operator == "isAllOf" else "or"
    return phrase.format(v=_values(c.right, show, word))


def _subject(label: str, s: Subject) -> str:
    members = "members of " if s.collection else ""
    return f"{label}: {members}{s.uid}"


def _action(rule: Rule) -> str:
    name = rule.action.name if rule.action is not None else "use"
    return ACTIONS.get(name, name)


def _rule_lines(rule: Rule) -> list[str]:
    action = rule.action.name if rule.action is not None else "use"
    terms = [*(rule.action.refinement if rule.action else ()), *rule.constraints]
    words = [constraint_words(t, action) for t in terms]
    lines: list[str] = []
    if rule.kind == "permission":
        if action != "use":
            lines.append(f"Allowed: {_action(rule)}")
        lines += words
        if rule.assignee is not None:
            lines.append(_subject("Only for", rule.assignee))
        for duty in rule.duties:
            lines += _duty_lines(duty, "Before use")
    elif rule.kind == "prohibition":
        when = f", when: {'; '.join(words)}" if words else ""
        lines.append(f"Not allowed: {_action(rule)}{when}")
        for remedy in rule.duties:
            lines += _duty_lines(remedy, "If it happens anyway")
    else:
        lines += _duty_lines(rule, "Required")
    return lines


def _duty_lines(duty: Rule, label: str) -> list[str]:
    action = duty.action.name if duty.action is not None else "duty"
    terms = [*(duty.action.refinement if duty.action else ()), *duty.constraints]
    words = [constraint_words(t, action) for t in terms]
    if action == "compensate" and words and all(w.startswith(("Price", "Paid")) for w in words):
        return [f"{w} ({label.lower()})" for w in words]
    what = ACTIONS.get(action, action)
    return [f"{label}: {what}" + (f" ({'; '.join(words)})" if words else "")]


def describe_terms(policy: Policy) -> list[str]:
    """The policy's rules in plain words, one short line each, permissions first."""
    lines: list[str] = []
    for i, rule in enumerate(policy.permissions):
        if i:
            lines.append("Or, alternatively:")
        lines += _rule_lines(rule) or ["Use: any purpose, no conditions"]
    if not policy.permissions:
        lines.append("Nothing is allowed (the offer holds no permission)")
    for rule in (*policy.prohibitions, *policy.obligations):
        lines += _rule_lines(rule)
    return lines


def describe_offer(offer: Mapping[str, object]) -> list[str]:
    """An offer as JSON (as a catalog lists it, or as ``publish --policy`` takes it) in words.
    Raises ``PolicyError`` when its structure cannot be read at all."""
    node = dict(offer)
    node.setdefault("@id", "urn:trustspace:offer")
    return describe_terms(parse_policy(node, strict=False))
