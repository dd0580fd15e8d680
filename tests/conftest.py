from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SPEC = SHARED / "spec" / "dsp-2025-1"


@pytest.fixture(scope="session")
def spec_dir() -> Path:
    if not SPEC.is_dir():
        pytest.skip(f"the DSP 2025-1 schemas are not at {SPEC} (../shared/spec is absent)")
    return SPEC
