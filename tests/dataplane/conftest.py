"""Fixtures: one real uvicorn data plane per session, its state reset for every test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.dataplane.dataplane_harness import Harness, make_file


@pytest.fixture(scope="session")
def _running_plane() -> Iterator[Harness]:
    with Harness.running() as harness:
        yield harness


@pytest.fixture
def plane(_running_plane: Harness) -> Iterator[Harness]:
    _running_plane.reset()
    yield _running_plane
    _running_plane.reset()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


@pytest.fixture
def payload(tmp_path: Path) -> tuple[Path, bytes]:
    """A 1 MiB + 1234 byte file: crosses a chunk boundary, not a multiple of anything."""
    path = tmp_path / "source.bin"
    return path, make_file(path, (1 << 20) + 1234)
