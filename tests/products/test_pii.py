"""Personal-information detectors, valid and invalid, and masking."""

from __future__ import annotations

import pytest

from trustspace.products.pii import (
    bank_card,
    cn_mobile,
    cn_resident_id,
    email,
    kinds_of,
    mask,
    passport,
    uscc,
)

W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def rid(body: str) -> str:
    """An independent check-character computation (GB 11643)."""
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, W, strict=True)) % 11]


def luhn_complete(body: str) -> str:
    for d in "0123456789":
        digits = [int(c) for c in body + d][::-1]
        total = sum(
            x if i % 2 == 0 else (x * 2 - 9 if x > 4 else x * 2) for i, x in enumerate(digits)
        )
        if total % 10 == 0:
            return body + d
    raise AssertionError


GOOD_ID = rid("11010519491231002")
BAD_ID = GOOD_ID[:16] + str((int(GOOD_ID[16]) + 1) % 10) + GOOD_ID[17]


CASES = [
        (cn_resident_id, [GOOD_ID, rid("44030119991231123").lower()], [BAD_ID, rid("11010519491331002"), rid("11010518000101002")[:17] + "Z", "1101051949123100"]),
        (cn_mobile, ["13812345678", "+86 138 1234 5678", "0086-159-1234-5678"], ["12812345678", "1381234567", "23812345678"]),
        (bank_card, [luhn_complete("622202123456789012"), luhn_complete("4111111111111111"[:15])], ["6222021234567890123", "4444444444444444", "1234567812345670"]),
        (email, ["a.b+tag@example.co.uk"], ["a@b", "no-at.example.com", "x@@y.com"]),
        (passport, ["E12345678", "EA1234567", "G12345678"], ["E123456", "12345678", "E12345A78"]),
]  # fmt: skip


@pytest.mark.parametrize(("detector", "good", "bad"), CASES)
def test_detectors(detector: object, good: list[str], bad: list[str]) -> None:
    assert callable(detector)
    for value in good:
        assert detector(value), value
    for value in bad:
        assert not detector(value), value


def test_uscc_reuses_the_registry_checksum() -> None:
    from trustspace.core.registry import uscc_check_char

    code = "91110108MA01KPGG0" + uscc_check_char("91110108MA01KPGG0")
    assert uscc(code) and not uscc(code[:17] + ("0" if code[17] != "0" else "1"))
    assert kinds_of(code) == ["uscc"]
    assert kinds_of(GOOD_ID) == ["cn_resident_id"]


def test_masking_never_shows_the_whole_value() -> None:
    for kind, value in (("cn_resident_id", GOOD_ID), ("email", "alice@example.com"),
                        ("cn_mobile", "13812345678"), ("passport", "E12345678")):  # fmt: skip
        masked = mask(kind, value)
        assert masked != value and "*" in masked
        assert value[4:-4] not in masked


def test_the_candidate_pattern_admits_everything_a_detector_accepts() -> None:
    """The profiler validates only values matching one pattern; a value a detector accepts
    that the pattern missed would never be counted."""
    import re

    from trustspace.core.registry import uscc_check_char
    from trustspace.products.columnar import CANDIDATE

    code = "91110108MA01KPGG0" + uscc_check_char("91110108MA01KPGG0")
    for value in [code, *(v for _, good, _ in CASES for v in good)]:
        assert kinds_of(value), value
        assert re.fullmatch(CANDIDATE, value.strip()), value
