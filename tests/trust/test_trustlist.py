"""The trust list file is read again when it changes, at most once per interval, and a bad
change fails closed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trustspace.trust.keys import NodeKey
from trustspace.trust.trustlist import TrustListFile


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def write(path: Path, *entries: dict[str, str]) -> None:
    path.write_text(json.dumps({"participants": list(entries)}))


def entry(name: str, **extra: str) -> dict[str, str]:
    return {"id": name, "public_key": NodeKey.generate().public_b64, **extra}


def test_a_changed_file_is_read_again_after_the_interval(tmp_path: Path) -> None:
    path, clock = tmp_path / "trust.json", Clock()
    write(path, entry("a"))
    trust = TrustListFile(path, clock=clock)
    assert [p.id for p in trust] == ["a"]
    write(path, entry("a"), entry("b", address="http://b/dsp", region="CN"))
    assert trust.get("b") is None  # looked at less than a second ago
    clock.now += 1.5
    found = trust.get("b")
    assert found is not None and found.region == "CN"
    assert trust.public_key("b") is not None
    assert trust.by_address("http://b/dsp/") is not None
    write(path, entry("b"))  # removed participants go too
    clock.now += 1.5
    assert trust.get("a") is None and len(trust) == 1


def test_a_bad_change_accepts_no_one_until_fixed(tmp_path: Path) -> None:
    path, clock = tmp_path / "trust.json", Clock()
    good = entry("a")
    write(path, good)
    trust = TrustListFile(path, clock=clock)
    path.write_text('{"participants": [{"id": "a"')  # half written
    clock.now += 1.5
    assert trust.public_key("a") is None and len(trust) == 0
    write(path, good)
    clock.now += 1.5
    assert trust.public_key("a") is not None


def test_a_bad_file_at_start_is_an_error_that_names_it(tmp_path: Path) -> None:
    path = tmp_path / "trust.json"
    path.write_text(
        json.dumps({"participants": [{"id": "a", "public_key": "x", "region": "Mars"}]})
    )
    with pytest.raises(ValueError, match="entry 0"):
        TrustListFile(path)
