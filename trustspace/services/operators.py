"""A connector's view of the operators it trusts, kept fresh in the background.

For each operator (``id=url`` in the ``operators`` setting) the client holds:
- its published keys, fetched again when a credential names a key not seen yet (at most once a
  second);
- its signed status list, refreshed every ``refresh`` seconds and verified with those keys;
- its member directory, used to find a participant's DSP address.

A lookup in the directories that misses fetches them again before it answers (a member approved
since the last refresh is found at once), at most once per ``MISS_REFRESH`` seconds for all
lookups together, so unknown addresses or ids cannot make the node hammer its operators.  A
status list that is missing, stale or expired is fetched again when asked for, at most once a
second per operator.

A status list older than ``max_age`` counts as none, so the verifier refuses instead of trusting
stale revocation data.  Keys come from the operator's URL: trust in the operator is trust in that
address (use HTTPS).  The fetches are unsigned calls through :mod:`trustspace.services.peers`; a
failed one is logged and the last good copy kept.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from trustspace.services import peers
from trustspace.trust.credentials import StatusList, jwk_key, read_status_list
from trustspace.trust.tokens import AuthError

log = logging.getLogger(__name__)

MISS_REFRESH = 2.0
"""Seconds between directory fetches caused by lookups that missed."""


def parse_operators(text: str) -> list[tuple[str, str]]:
    """``"space-a=http://op-a,space-b=http://op-b"`` -> [(id, url), ...]."""
    out = []
    for item in filter(None, (x.strip() for x in text.split(","))):
        op_id, sep, url = item.partition("=")
        if not sep or not op_id or not url.startswith(("http://", "https://")):
            raise ValueError(f"operators: {item!r} is not id=http(s)://url")
        out.append((op_id.strip(), url.strip().rstrip("/")))
    return out


@dataclass
class _Operator:
    id: str
    url: str
    keys: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    status: StatusList | None = None
    status_at: float = 0.0
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys_fetched_at: float = 0.0
    keys_demanded_at: float = 0.0  # the last fetch for a key id not seen yet
    status_demanded_at: float = 0.0  # the last fetch because the status list was not current


class OperatorClient:
    def __init__(
        self,
        http: httpx.Client,
        operators: Iterable[tuple[str, str]],
        *,
        refresh: float = 60.0,
        max_age: float | None = None,
        clock: Callable[[], float] = time.time,
        miss_refresh: float = MISS_REFRESH,
    ) -> None:
        self.http = http
        self.miss_refresh = miss_refresh
        self._miss_lock = threading.Lock()
        self._missed_at: float | None = None
        self.ops = {op_id: _Operator(op_id, url) for op_id, url in operators}
        self.refresh_interval = refresh
        self.max_age = max_age if max_age is not None else max(10 * refresh, 60.0)
        self.clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_refresh: list[Callable[[], None]] = []

    @property
    def trusted(self) -> list[str]:
        return list(self.ops)

    def url(self, operator_id: str) -> str | None:
        op = self.ops.get(operator_id)
        return None if op is None else op.url

    # --- OperatorKeys ------------------------------------------------------------------------

    def key(self, operator_id: str, kid: str) -> Ed25519PublicKey | None:
        op = self.ops.get(operator_id)
        if op is None:
            return None
        with self._lock:
            key = op.keys.get(kid)
        if key is None and self.clock() - op.keys_demanded_at > 1.0:
            op.keys_demanded_at = self.clock()
            self._fetch_keys(op)
            with self._lock:
                key = op.keys.get(kid)
        return key

    def status(self, operator_id: str) -> StatusList | None:
        op = self.ops.get(operator_id)
        if op is None:
            return None
        if not self._current(op) and self.clock() - op.status_demanded_at > 1.0:
            op.status_demanded_at = self.clock()
            self._fetch_status(op)
        with self._lock:
            status, at = op.status, op.status_at
        if status is None or self.clock() - at > self.max_age:
            return None
        return status if status.expires_at >= self.clock() else None

    def _current(self, op: _Operator) -> bool:
        with self._lock:
            status, at = op.status, op.status_at
        now = self.clock()
        return status is not None and now - at <= self.max_age and status.expires_at >= now

    # --- what the node asks -------------------------------------------------------------------

    def directories(self) -> str:
        """Where participants are looked up, for messages: "space-a's directory"."""
        return " or ".join(f"{op_id}'s directory" for op_id in self.ops) or "no directory"

    def member(self, participant_id: str) -> dict[str, Any] | None:
        """A member's directory entry (with ``space``), fetching the directories again once on
        a miss."""
        return self._lookup(lambda entry: entry.get("participantId") == participant_id)

    def by_address(self, dsp_url: str) -> dict[str, Any] | None:
        """The member whose DSP URL this is, fetching the directories again once on a miss."""
        wanted = dsp_url.rstrip("/")
        return self._lookup(lambda entry: str(entry.get("dspUrl", "")).rstrip("/") == wanted)

    def _lookup(self, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        found = self._find(match)
        if found is None:
            self._refresh_after_miss()
            found = self._find(match)  # a concurrent miss may have fetched while this one waited
        return found

    def _find(self, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        with self._lock:
            for op in self.ops.values():
                for entry in op.members.values():
                    if match(entry):
                        return {**entry, "space": op.id}
        return None

    def _refresh_after_miss(self) -> None:
        """Fetch the directories again unless a miss did less than ``miss_refresh`` seconds
        ago."""
        with self._miss_lock:  # concurrent misses wait for one fetch instead of each starting one
            now = self.clock()
            if self._missed_at is not None and now - self._missed_at < self.miss_refresh:
                return
            self._missed_at = now
            for op in self.ops.values():
                self._fetch_members(op)

    def standing(self, participant_id: str) -> str | None:
        """Why a participant may not be dealt with (suspended or revoked anywhere), or None."""
        for op_id in self.ops:
            status = self.status(op_id)
            if status is not None:
                problem = status.problem(participant_id, "")
                if problem is not None:
                    return problem
        return None

    # --- fetching -----------------------------------------------------------------------------

    def _get(self, op: _Operator, path: str) -> Any:
        return peers.call(self.http, "GET", op.url + path)

    def _fetch_keys(self, op: _Operator) -> None:
        try:
            jwks = self._get(op, "/operator/keys")
            keys = {str(k["kid"]): jwk_key(k) for k in jwks.get("keys", [])}
        except (peers.RemoteError, ValueError, KeyError, TypeError) as exc:
            log.warning("operator %s: cannot fetch keys: %s", op.id, exc)
            return
        finally:
            op.keys_fetched_at = self.clock()
        with self._lock:
            op.keys = keys

    def _fetch_status(self, op: _Operator) -> None:
        try:
            token = self._get(op, "/operator/status")["statusList"]
            kid = jwt.get_unverified_header(token).get("kid")
            key = self.key(op.id, str(kid))
            if key is None:
                raise AuthError(f"status list signed with unknown key {kid}")
            status = read_status_list(token, key, self.clock())
            if status.issuer != op.id:
                raise AuthError(f"status list issued by {status.issuer}, expected {op.id}")
        except (peers.RemoteError, jwt.PyJWTError, ValueError, KeyError, TypeError,
                AuthError) as exc:  # fmt: skip
            log.warning("operator %s: cannot refresh the status list: %s", op.id, exc)
            return
        with self._lock:
            op.status, op.status_at = status, self.clock()

    def _fetch_members(self, op: _Operator) -> None:
        try:
            members = {m["participantId"]: m for m in self._get(op, "/operator/members")["members"]}
        except (peers.RemoteError, ValueError, KeyError, TypeError) as exc:
            log.warning("operator %s: cannot fetch the member directory: %s", op.id, exc)
            return
        with self._lock:
            op.members = members

    def refresh(self) -> None:
        for op in self.ops.values():
            self._fetch_keys(op)
            self._fetch_status(op)
            self._fetch_members(op)
        for hook in self.on_refresh:
            try:
                hook()
            except Exception:
                log.exception("operator refresh hook failed")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="operator-client", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            try:
                self.refresh()
            except Exception:
                log.exception("operator refresh failed")
            if self._stop.wait(self.refresh_interval):
                return
