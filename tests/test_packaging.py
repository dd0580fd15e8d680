"""Building the package warns about nothing: `scripts/setup.sh` stays quiet.

The build runs the same setuptools backend pip uses for `pip install -e .`, in a subprocess
with every warning an error, on a copy of pyproject.toml (so the worktree gets no build files).
A deprecated licence table, or a layout that makes the editable install warn about folders
named like the package, fails it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BUILD = """
import sys
from setuptools import build_meta
build_meta.build_editable(sys.argv[1])
build_meta.build_sdist(sys.argv[1])
"""


def _build(project: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-W", "error", "-c", BUILD, str(out)], cwd=project,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def _project(root: Path, pyproject: str) -> Path:
    project = root / "project"
    (project / "trustspace").mkdir(parents=True)
    (project / "trustspace" / "__init__.py").write_text("")
    (project / "pyproject.toml").write_text(pyproject)
    shutil.copy(ROOT / "README.md", project / "README.md")
    return project


def test_the_build_backend_warns_about_nothing(tmp_path: Path) -> None:
    project = _project(tmp_path, (ROOT / "pyproject.toml").read_text())
    (tmp_path / "out").mkdir()
    built = _build(project, tmp_path / "out")
    assert built.returncode == 0, built.stderr[-3000:]
    assert "warning" not in built.stderr.lower(), built.stderr[-3000:]
    assert any(p.name.endswith(".whl") for p in (tmp_path / "out").iterdir())


def test_a_licence_table_would_fail_it(tmp_path: Path) -> None:
    """The check can fail: the old licence table is a deprecation warning, so an error here."""
    old = (
        (ROOT / "pyproject.toml")
        .read_text()
        .replace('license = "Apache-2.0"', 'license = { text = "Apache-2.0" }')
    )
    assert 'license = { text = "Apache-2.0" }' in old
    project = _project(tmp_path, old)
    (tmp_path / "out").mkdir()
    built = _build(project, tmp_path / "out")
    assert built.returncode != 0 and "license" in built.stderr.lower(), built.stderr[-3000:]
    shutil.rmtree(project)
