"""Offline personal-information detectors, and masking for reports.

Each detector says whether one value, stripped, *is* that kind of identifier.  Cheap checks on
length and characters come first.  The profiler runs them on a sample of the values that match
the union of their shapes (:mod:`trustspace.products.columnar`):
- Chinese resident ID: 18 characters, the birth date valid, and the check character by the
  GB 11643 weights;
- unified social credit code: GB 32100 checksum;
- Chinese mobile number: an optional +86 prefix, then 11 digits starting 1[3-9];
- bank card number: 13-19 digits passing Luhn;
- e-mail address;
- passport number: the Chinese E/G forms and the generic ICAO form.

Personal names and addresses need a language model or gazetteer that is not available offline,
so they are listed in ``UNSUPPORTED`` and never claimed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from trustspace.core.registry import uscc_problem

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
UNSUPPORTED = ("person_name", "address")
SENSITIVE = frozenset({"cn_resident_id", "bank_card", "passport"})

_MOBILE = re.compile(r"^(?:\+?86|0086)?[ -]?1[3-9]\d[ -]?\d{4}[ -]?\d{4}$")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}$")
_PASSPORT = re.compile(r"^(?:[EG]\d{8}|E[A-HJ-NP-Z]\d{7}|[A-Z]{1,2}\d{7,8})$")


def cn_resident_id(value: str) -> bool:
    v = value.strip().upper()
    if len(v) != 18 or not v[:17].isdigit() or not (v[17].isdigit() or v[17] == "X"):
        return False
    try:
        born = date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        return False
    if not 1900 <= born.year <= 2100:
        return False
    return ID_CHECK[sum(int(c) * w for c, w in zip(v[:17], ID_WEIGHTS, strict=True)) % 11] == v[17]


def uscc(value: str) -> bool:
    v = value.strip()
    return len(v) == 18 and uscc_problem(v) is None


def cn_mobile(value: str) -> bool:
    v = value.strip()
    return 11 <= len(v) <= 18 and _MOBILE.match(v) is not None


def _luhn(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def bank_card(value: str) -> bool:
    v = value.strip().replace(" ", "").replace("-", "")
    if not 13 <= len(v) <= 19 or not v.isdigit() or v[0] not in "3456" or len(set(v)) == 1:
        return False
    return _luhn(v)


def email(value: str) -> bool:
    v = value.strip()
    return "@" in v and len(v) <= 254 and _EMAIL.match(v) is not None


def passport(value: str) -> bool:
    v = value.strip()
    return 8 <= len(v) <= 10 and v[0].isalpha() and _PASSPORT.match(v) is not None


DETECTORS: dict[str, Callable[[str], bool]] = {
    "cn_resident_id": cn_resident_id,
    "uscc": uscc,
    "cn_mobile": cn_mobile,
    "bank_card": bank_card,
    "email": email,
    "passport": passport,
}


def kinds_of(value: str) -> list[str]:
    """Every kind ``value`` matches (an 18-digit string can look like two)."""
    v = value.strip()
    n = len(v)
    if n < 8 or n > 254:
        return []
    found = []
    if "@" in v:
        return ["email"] if email(v) else []
    if n == 18:
        if cn_resident_id(v):
            found.append("cn_resident_id")
        elif uscc(v):
            found.append("uscc")
    if v[0].isalpha():
        return [*found, "passport"] if passport(v) else found
    if 11 <= n <= 18 and cn_mobile(v):
        found.append("cn_mobile")
    elif 13 <= n <= 23 and bank_card(v):
        found.append("bank_card")
    return found


def mask(kind: str, value: str) -> str:
    """Enough to recognise the shape, never the whole value."""
    v = value.strip()
    if kind == "email":
        local, _, domain = v.partition("@")
        return (local[:1] + "***@" + domain) if local else "***"
    keep = 3 if len(v) > 10 else 1
    return v[:keep] + "*" * (len(v) - 2 * keep) + v[-keep:]
