"""Checks on what an organisation declares when it applies for membership.

The Chinese unified social credit code (GB 32100-2015) has 18 characters from a 31-character
alphabet (no I, O, S, V, Z).  The last one is a check character: with weights 3^i mod 31, it is
``31 - (sum mod 31)``, where 31 counts as 0.
"""

from __future__ import annotations

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
SECTORS = (
    "agriculture",
    "energy",
    "finance",
    "health",
    "manufacturing",
    "mobility",
    "public",
    "research",
    "retail",
    "technology",
    "telecom",
)
ROLES = ("provider", "consumer", "assessor", "operator", "auditor")


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_problem(code: str) -> str | None:
    """Why ``code`` is not a valid unified social credit code, or None."""
    if len(code) != 18:
        return f"a unified social credit code has 18 characters, {code!r} has {len(code)}"
    bad = sorted({c for c in code if c not in USCC_ALPHABET})
    if bad:
        return f"{code!r} contains characters a unified social credit code never uses: {bad}"
    if not code[2:8].isdigit():
        return f"{code!r}: characters 3-8 must be an administrative division code"
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        return f"{code!r}: the check character should be {expected!r}, not {code[17]!r}"
    return None
