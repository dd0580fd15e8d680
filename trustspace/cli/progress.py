"""A download with a progress bar (CLI and demo)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from trustspace.dataplane.client import DownloadResult, download
from trustspace.dataplane.fileset import VersionResult, download_version, fetch_manifest


def download_with_progress(
    console: Console, endpoint: str, token: str, out: Path, expected: str | None = None
) -> DownloadResult:
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("download", total=None)

        def update(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        return download(endpoint, token, out, progress=update, expected_sha256=expected)


def download_any(
    console: Console, endpoint: str, token: str, out: Path, expected: str | None = None
) -> DownloadResult | VersionResult:
    """One file to ``out`` (only if its SHA-256 is ``expected``, when given), or every file of a
    multi-file version into the folder ``out``."""
    manifest = fetch_manifest(endpoint, token)
    if manifest is None:
        if out.is_dir():
            raise ValueError(f"{out} is a folder; this transfer is one file: give a file name")
        return download_with_progress(console, endpoint, token, out, expected)
    if out.exists() and not out.is_dir():
        files = len(manifest.get("files") or [])
        raise ValueError(f"this transfer is a version of {files} files: give a folder, not {out}")
    with Progress(
        "[progress.description]{task.description}", BarColumn(), DownloadColumn(),
        TransferSpeedColumn(), console=console, transient=False,
    ) as progress:  # fmt: skip

        def bar(name: str) -> Callable[[int, int | None], None]:
            task = progress.add_task(name, total=None)
            return lambda done, total: progress.update(task, completed=done, total=total)

        return download_version(endpoint, token, out, manifest, progress=bar)
