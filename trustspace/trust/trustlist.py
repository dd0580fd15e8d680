"""The static trust list: which participants a node accepts, their keys and addresses.

A :class:`TrustList` is immutable once loaded; ``add`` returns a new list.  Load errors name
the entry.  A node reads its list through :class:`TrustListFile`, which loads the file again
when it changes (its modification time, size or inode), looking at most once a second, so an
edited list takes effect without a restart.  A changed file that cannot be read fails closed:
until it is fixed the node accepts no one through the list, and says why in its log.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from trustspace.core.odrl.vocab import is_region
from trustspace.trust.keys import public_key_from_b64

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Participant:
    """A trusted participant.  ``region`` (ISO 3166) and ``member_of`` (party collections) are
    facts the operator of this list has verified; usage policies rely on them."""

    id: str
    public_key_b64: str
    address: str | None = None
    region: str | None = None
    member_of: tuple[str, ...] = ()


class TrustList:
    def __init__(self, participants: Iterable[Participant]) -> None:
        self._by_id: dict[str, Participant] = {}
        self._keys: dict[str, Ed25519PublicKey] = {}
        for p in participants:
            if p.id in self._by_id:
                raise ValueError(f"participant {p.id!r} is listed twice")
            self._keys[p.id] = public_key_from_b64(p.public_key_b64)
            self._by_id[p.id] = p

    @classmethod
    def load(cls, path: Path) -> TrustList:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read trust list {path}: {exc}") from exc
        entries = data.get("participants") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise ValueError(f'{path}: expected {{"participants": [...]}}')
        participants = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise ValueError(f"{path}: entry {i} is not an object")
            for field in ("id", "public_key"):
                if not isinstance(entry.get(field), str) or not entry[field]:
                    raise ValueError(f"{path}: entry {i} ({entry.get('id', '?')}) lacks {field!r}")
            try:
                public_key_from_b64(entry["public_key"])
            except ValueError as exc:
                raise ValueError(f"{path}: entry {i} ({entry['id']}): {exc}") from exc
            region = entry.get("region")
            if region is not None and not is_region(region):
                raise ValueError(
                    f"{path}: entry {i} ({entry['id']}): region {region!r} is not an ISO 3166 code"
                )
            member_of = entry.get("member_of", [])
            if not isinstance(member_of, list) or not all(
                isinstance(x, str) and x for x in member_of
            ):
                raise ValueError(f"{path}: entry {i} ({entry['id']}): member_of must be a list")
            participants.append(
                Participant(
                    entry["id"],
                    entry["public_key"],
                    entry.get("address"),
                    region,
                    tuple(member_of),
                )
            )
        try:
            return cls(participants)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc

    def dump(self, path: Path) -> None:
        entries = [
            {
                "id": p.id,
                "public_key": p.public_key_b64,
                **({"address": p.address} if p.address else {}),
                **({"region": p.region} if p.region else {}),
                **({"member_of": list(p.member_of)} if p.member_of else {}),
            }
            for p in self
        ]
        path.write_text(json.dumps({"participants": entries}, indent=2))

    def public_key(self, participant_id: str) -> Ed25519PublicKey | None:
        return self._keys.get(participant_id)

    def get(self, participant_id: str) -> Participant | None:
        return self._by_id.get(participant_id)

    def by_address(self, url: str) -> Participant | None:
        wanted = url.rstrip("/")
        for p in self._by_id.values():
            if p.address is not None and p.address.rstrip("/") == wanted:
                return p
        return None

    def add(self, participant: Participant) -> TrustList:
        return TrustList([*self._by_id.values(), participant])

    def __iter__(self) -> Iterator[Participant]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)


class TrustListFile:
    """The trust list in a file, loaded again when the file changes.

    The first load raises like :meth:`TrustList.load` (a node does not start on a bad list);
    a later bad version empties the list until the file is fixed."""

    def __init__(
        self, path: Path, *, every: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path, self.every, self.clock = path, every, clock
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._list = TrustList.load(path)
        self._checked = clock()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def current(self) -> TrustList:
        """The list as the file now says, looked at no more than once per ``every`` seconds."""
        with self._lock:
            now = self.clock()
            if now - self._checked < self.every:
                return self._list
            self._checked = now
            stamp = self._stat()
            if stamp == self._stamp:
                return self._list
            self._stamp = stamp
            try:
                self._list = TrustList.load(self.path)
            except ValueError as exc:
                log.error("trust list changed but cannot be used, accepting no one by it: %s", exc)
                self._list = TrustList([])
            else:
                log.info("trust list %s reloaded: %d participants", self.path, len(self._list))
            return self._list

    def public_key(self, participant_id: str) -> Ed25519PublicKey | None:
        return self.current().public_key(participant_id)

    def get(self, participant_id: str) -> Participant | None:
        return self.current().get(participant_id)

    def by_address(self, url: str) -> Participant | None:
        return self.current().by_address(url)

    def __iter__(self) -> Iterator[Participant]:
        return iter(self.current())

    def __len__(self) -> int:
        return len(self.current())
