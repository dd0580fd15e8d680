"""The blob folder: published files, stored under their SHA-256, and the copies still arriving.

Copies arrive through :class:`Incoming`, from a file on the node (:func:`ingest`) or from an
upload's body as it is received (:mod:`trustspace.services.uploads`): the same rules hold.

Rules and invariants:
- A blob is named by the SHA-256 of its bytes.  What the node records for a dataset is the hash
  of the bytes read back from the final blob after it is in place, so a dataset row never names
  a blob whose content differs from its recorded hash.
- A copy arrives under a temporary name of its own (``.incoming-<owner>-<pid>-<start>-<token>``),
  so concurrent ingests never share a file, whatever the source files are called.  It is hashed
  while it is written, synced to disk, then renamed over the final name.  The rename is atomic:
  two ingests of the same content may both rename, and the blob is whole either way.
- A final blob that already exists is read back first; if it does not hash to its name (a
  partial copy from a crash, a damaged disk) the new copy replaces it.
- ``<owner>`` is a short hash of the host name, the kernel's boot id and the pid namespace:
  within one owner a pid names one process, and ``<start>`` (the process's start time, from
  ``/proc``; 0 where unknown) tells a reused pid from the original process.

Leftovers of killed ingests are removed at node start (:func:`remove_leftovers`).  Several nodes
(replicas) may share one blob folder, so a temporary file is removed only when no live ingest can
own it:
- one of this owner (host, boot, pid namespace) whose process is gone, or whose pid now belongs
  to a process started at another time;
- any other (another host, another container, an older naming) once nothing has written to it
  for ``STALE_AFTER`` seconds (a live ingest writes every few milliseconds).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import secrets
import socket
import time
from pathlib import Path

log = logging.getLogger(__name__)

INCOMING = ".incoming-"
STALE_AFTER = 24 * 3600.0
_CHUNK = 1 << 20
_NAME = re.compile(r"\.incoming-([0-9a-f]{12})-(\d+)-(\d+)-[0-9a-f]{16}")


class BlobMismatch(Exception):
    """The final blob does not read back as the bytes that were copied."""


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""


@functools.cache
def owner() -> str:
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    parts = (socket.gethostname(), _read("/proc/sys/kernel/random/boot_id"), namespace)
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


def _has_proc() -> bool:
    return os.path.exists("/proc/self/stat")


def start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), or None if there is no such process."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    # The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    fields = stat.rpartition(")")[2].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def incoming_name(pid: int | None = None, started: int | None = None) -> str:
    """A temporary name no other ingest uses, naming the process that owns it."""
    pid = os.getpid() if pid is None else pid
    if started is None:
        started = (start_time(pid) or 0) if _has_proc() else 0
    return f"{INCOMING}{owner()}-{pid}-{started}-{secrets.token_hex(8)}"


def _running(pid: int, started: int) -> bool:
    if _has_proc():
        now = start_time(pid)
        return now is not None and started in (0, now)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def _sha256(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        return None
    return digest.hexdigest()


def _sync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not possible everywhere (Windows); the rename is still atomic
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Incoming:
    """A copy arriving in the blob folder: written under a temporary name of its own while it
    is hashed, then put in place by :meth:`finish`.  Leaving the ``with`` block removes the
    temporary file, whatever happened (a refused body, a disconnect, a failed disk)."""

    def __init__(self, blob_dir: Path, label: str) -> None:
        blob_dir.mkdir(parents=True, exist_ok=True)
        self.blob_dir = blob_dir
        self.label = label
        self.tmp = blob_dir / incoming_name()
        self.size = 0
        self._digest = hashlib.sha256()
        self._file = self.tmp.open("xb")

    def __enter__(self) -> Incoming:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()
        self.tmp.unlink(missing_ok=True)

    def write(self, chunk: bytes) -> None:
        self._digest.update(chunk)
        self._file.write(chunk)
        self.size += len(chunk)

    def finish(self, expected: str | None = None) -> tuple[Path, int, str]:
        """Put the copy in place under its SHA-256; return the blob, its size and its hash,
        read back from the blob.  Raises :class:`BlobMismatch` when the copy is not the
        ``expected`` SHA-256 (then nothing is stored) or the blob does not read back as what
        was copied."""
        self._file.flush()
        os.fsync(self._file.fileno())  # the dataset row commits next: its bytes must be on disk
        self._file.close()
        sha = self._digest.hexdigest()
        if expected is not None and expected != sha:
            raise BlobMismatch(
                f"{self.label} arrived as SHA-256 {sha}, not the {expected} announced"
            )
        final = self.blob_dir / sha
        stored = _sha256(final)
        if stored != sha:  # missing, or a partial or damaged copy: ours takes its place
            os.replace(self.tmp, final)
            _sync_dir(self.blob_dir)
            stored = _sha256(final)
        if stored != sha:
            raise BlobMismatch(
                f"the stored copy of {self.label} reads back as "
                f"{'nothing' if stored is None else 'SHA-256 ' + stored}, not the {sha} copied"
            )
        return final, self.size, sha


def ingest(src: Path, blob_dir: Path) -> tuple[Path, int, str]:
    """Copy ``src`` into the blob folder under its SHA-256, streaming; return the blob, its size
    and its hash, read back from the blob.  Raises :class:`BlobMismatch` when the blob does not
    read back as what was copied."""
    with src.open("rb") as fin, Incoming(blob_dir, src.name) as incoming:
        while chunk := fin.read(_CHUNK):
            incoming.write(chunk)
        return incoming.finish()


SHA256 = re.compile(r"[0-9a-f]{64}")


def stored(blob_dir: Path, sha: str) -> tuple[Path, int] | None:
    """The blob named ``sha`` and its size, if it is there and reads back as ``sha`` (an
    upload referred to by its hash is checked again when it is published)."""
    if not SHA256.fullmatch(sha):
        return None
    path = blob_dir / sha
    if _sha256(path) != sha:
        return None
    return path, path.stat().st_size


def remove_leftovers(blob_dir: Path, *, now: float | None = None) -> list[Path]:
    """Remove the temporary files no live ingest owns (see the module rules); return them."""
    if not blob_dir.is_dir():
        return []
    now = time.time() if now is None else now
    mine = owner()
    removed: list[Path] = []
    for path in blob_dir.iterdir():
        if not path.name.startswith(INCOMING):
            continue
        match = _NAME.fullmatch(path.name)
        try:
            if match is not None and match[1] == mine:
                stale = not _running(int(match[2]), int(match[3]))
            else:
                stale = now - path.stat().st_mtime > STALE_AFTER
            if stale:
                size = path.stat().st_size
                path.unlink()
                removed.append(path)
                log.warning("removed %s (%d bytes), left by an ingest that stopped", path, size)
        except FileNotFoundError:  # another replica removed it, or its ingest finished
            continue
    return removed
