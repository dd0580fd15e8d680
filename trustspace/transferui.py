"""A download with a progress bar (CLI and demo)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from trustspace.dataplane.client import DownloadResult, download


def download_with_progress(
    console: Console, endpoint: str, token: str, out: Path
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

        return download(endpoint, token, out, progress=update)
