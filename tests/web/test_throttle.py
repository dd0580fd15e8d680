"""Failed sign-ins per address: refused before hashing after the limit, for the window only,
in bounded memory."""

from __future__ import annotations

from trustspace.web.home import Throttle


def test_an_address_with_too_many_failures_waits_for_the_window() -> None:
    throttle = Throttle(limit=3, window=60.0, most=100)
    for _ in range(3):
        assert not throttle.blocked("10.0.0.1", 0.0)
        throttle.failed("10.0.0.1", 0.0)
    assert throttle.blocked("10.0.0.1", 1.0)
    assert not throttle.blocked("10.0.0.2", 1.0)  # another address is not touched
    assert not throttle.blocked("10.0.0.1", 60.0)  # the window has passed
    throttle.failed("10.0.0.1", 60.0)
    assert not throttle.blocked("10.0.0.1", 61.0)  # counting starts again


def test_the_addresses_kept_are_bounded() -> None:
    throttle = Throttle(limit=1, window=60.0, most=100)
    for i in range(10_000):
        throttle.failed(f"10.0.{i // 256}.{i % 256}", 0.0)
    assert len(throttle._seen) == 100
    assert throttle.blocked("10.0.39.15", 1.0)  # the newest are kept
    assert not throttle.blocked("10.0.0.0", 1.0)
