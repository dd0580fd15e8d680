"""Consumer side of a transfer whose version has several files.

The transfer's address answers the manifest (``FILESET_MEDIA_TYPE``: the version hash and each
file's name, size and SHA-256); each file is then downloaded, resumably, from
``<address>/<name>`` into one folder.  Every file's SHA-256 is checked against the manifest and
the version hash is recomputed from the files received, so a consumer ends up with exactly the
version the contract names, or with an error.  Names in the manifest are checked before any
file is written: a name with a folder in it could otherwise write outside the target folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from trustspace.core import fileset
from trustspace.dataplane.client import DownloadError, Progress, download

__all__ = ["VersionResult", "download_version", "fetch_manifest"]


@dataclass(frozen=True)
class VersionResult:
    folder: Path
    files: list[tuple[str, int, str]]  # name, size, sha256
    version_hash: str

    @property
    def size(self) -> int:
        return sum(size for _, size, _ in self.files)


def fetch_manifest(
    url: str, token: str, client: httpx.Client | None = None
) -> dict[str, Any] | None:
    """The manifest at ``url`` if it serves one (a version of several files), else None."""
    http = client or httpx.Client(timeout=httpx.Timeout(30.0))
    try:
        headers = {"Authorization": f"Bearer {token}"}
        head = http.head(url, headers=headers)
        if head.status_code >= 400:
            return None  # the download proper reports the refusal with its reason
        if not head.headers.get("content-type", "").startswith(fileset.FILESET_MEDIA_TYPE):
            return None
        response = http.get(url, headers=headers)
        if response.status_code != 200:
            raise DownloadError(response.status_code, "the manifest could not be read")
        manifest: dict[str, Any] = response.json()
        return manifest
    finally:
        if client is None:
            http.close()


def _checked(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    files = manifest.get("files")
    if not isinstance(files, list) or not all(
        isinstance(f, dict) and isinstance(f.get("name"), str) and isinstance(f.get("sha256"), str)
        for f in files
    ):
        raise DownloadError(200, "the manifest does not list files with names and SHA-256")
    problem = fileset.name_problem([f["name"] for f in files])
    if problem:
        raise DownloadError(200, f"refusing the manifest: {problem}")
    return files


def download_version(
    url: str,
    token: str,
    folder: Path,
    manifest: dict[str, Any],
    *,
    progress: Callable[[str], Progress | None] | None = None,
) -> VersionResult:
    """Download every file of ``manifest`` into ``folder`` and check the version hash."""
    files = _checked(manifest)
    folder.mkdir(parents=True, exist_ok=True)
    got: list[tuple[str, int, str]] = []
    for entry in files:
        name = entry["name"]
        result = download(
            f"{url.rstrip('/')}/{quote(name, safe='')}", token, folder / name,
            progress=progress(name) if progress else None,
        )  # fmt: skip
        if result.sha256 != entry["sha256"]:
            result.path.unlink(missing_ok=True)
            raise DownloadError(200, f"{name}: SHA-256 {result.sha256} is not the manifest's")
        got.append((name, result.size, result.sha256))
    version = fileset.version_hash((name, sha) for name, _, sha in got)
    if version != manifest.get("versionHash"):
        raise DownloadError(200, f"the files make version {version}, not the manifest's")
    return VersionResult(folder, got, version)
