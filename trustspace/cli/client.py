"""A small client for a node's management API, used by the CLI and the demo."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx


class ApiError(Exception):
    """A call that failed: ``status`` is the node's HTTP status, None when there was no answer
    (unreachable, or a wait that timed out)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ManagementClient:
    def __init__(self, url: str, key: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(timeout=timeout, headers={"Authorization": f"Bearer {key}"})

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ManagementClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = self.http.request(method, self.url + path, json=body)
        except httpx.HTTPError as exc:
            raise ApiError(f"cannot reach the node at {self.url}: {exc}") from exc
        return self._answer(method, path, response)

    @staticmethod
    def _answer(method: str, path: str, response: httpx.Response) -> Any:
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 400:
            reason = data.get("error") if isinstance(data, dict) else response.text[:300]
            raise ApiError(
                f"{method} {path}: HTTP {response.status_code}: {reason}", response.status_code
            )
        return data

    def upload(
        self,
        path: Path,
        *,
        sha256: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, Any]:
        """Stream ``path`` to the node's ``/api/uploads``, hashing it on the way; the answer is
        checked to name the same SHA-256 (and ``sha256``, when given, is checked by the node
        before it keeps anything)."""
        size = path.stat().st_size
        digest = hashlib.sha256()

        def body() -> Iterator[bytes]:
            done = 0
            with path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, size)
                    yield chunk

        where = "/api/uploads"
        try:
            response = self.http.post(
                self.url + where,
                content=body(),
                params={"sha256": sha256} if sha256 else None,
                headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
                timeout=httpx.Timeout(60.0, read=600.0),  # the node syncs and reads back the file
            )
        except httpx.HTTPError as exc:
            raise ApiError(f"uploading {path.name} to {self.url} failed: {exc}") from exc
        data = self._answer("POST", where, response)
        if not isinstance(data, dict) or data.get("sha256") != digest.hexdigest():
            raise ApiError(f"the node stored {path.name} as something else than was sent"
                           f" (SHA-256 {digest.hexdigest()}); nothing was published")  # fmt: skip
        return data

    def wait(
        self,
        path: str,
        states: Iterable[str],
        *,
        timeout: float = 30.0,
        on_change: Callable[[dict[str, Any]], None] | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Follow a process until it reaches one of ``states`` (or a terminal one).

        ``on_event`` sees every entry of the process's history once, in order.
        """
        wanted = set(states) | {"TERMINATED"}
        deadline = time.monotonic() + timeout
        last = None
        seen = 0
        delay = 0.01
        while True:
            process: dict[str, Any] = self.call("GET", path)
            history = process.get("history") or []
            if on_event:
                for event in history[seen:]:
                    on_event(event)
            seen = len(history)
            if process["state"] != last:
                last = process["state"]
                if on_change:
                    on_change(process)
            if process["state"] in wanted:
                return process
            if time.monotonic() > deadline:
                raise ApiError(f"{path} stayed {process['state']} for {timeout:.0f}s")
            time.sleep(delay)
            delay = min(delay * 2, 0.25)
