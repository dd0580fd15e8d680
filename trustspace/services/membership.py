"""A connector's own memberships: applying to operators, holding credentials, rotating its key.

State lives in the node's data folder:
- ``credentials/<operator>.jwt``: the current credential from each operator;
- ``membership.json``: pending applications.

Every outgoing DSP token carries all current credentials, and a receiver accepts whichever one
comes from an operator it trusts.  Key rotation:
1. generate a new key;
2. ask each operator for a credential bound to it, with a request signed by the current key;
3. switch the key and the credentials together.

Credentials issued for the old key stay valid until they expire, so tokens already in flight
still verify.

A node picks up its credential by itself: while an application is pending the node polls the
operator (:meth:`Membership.poll`, run by the node every ``membership_poll`` seconds, at start
and right after applying) and holds the credential once it is approved.  A peer's 401 to a
node that holds no credential is reworded by :meth:`Membership.explain` into what to do.

Calls to operators go through :mod:`trustspace.services.peers` (unsigned: an applicant has no
credential yet).  An operator's refusal (4xx) is a :class:`MembershipError` with its reason; an
operator that cannot be reached, fails or times out raises its ``RemoteError`` (502 or 504).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt

from trustspace.services import peers
from trustspace.services.operators import OperatorClient
from trustspace.trust.keys import NodeKey

log = logging.getLogger(__name__)


class MembershipError(Exception):
    pass


class Membership:
    def __init__(
        self,
        data_dir: Path,
        participant_id: str,
        dsp_url: str,
        key: Callable[[], NodeKey],
        set_key: Callable[[NodeKey], None],
        operators: OperatorClient | None,
        http: httpx.Client,
        clock: Callable[[], float] = time.time,
        applied: Callable[[], None] | None = None,
    ) -> None:
        self.dir = data_dir / "credentials"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.state_file = data_dir / "membership.json"
        self.key_file = data_dir / "node.key"
        self.participant_id = participant_id
        self.dsp_url = dsp_url
        self.key = key
        self.set_key = set_key
        self.operators = operators
        self.http = http
        self.clock = clock
        self.applied = applied  # told after an application is sent (the node polls soon)
        self._lock = threading.Lock()
        self._extra: dict[str, str] = {}  # credentials held in memory only (the operator's own)

    # --- credentials ---------------------------------------------------------------------------

    def hold(self, operator_id: str, credential: str, *, persist: bool = True) -> None:
        with self._lock:
            if persist:
                path = self.dir / f"{_safe(operator_id)}.jwt"
                tmp = path.with_suffix(".tmp")
                tmp.write_text(credential)
                tmp.replace(path)
            else:
                self._extra[operator_id] = credential

    def credentials(self) -> list[str]:
        """The credentials to present: unexpired ones, from every operator."""
        now = self.clock()
        with self._lock:
            tokens = [p.read_text().strip() for p in sorted(self.dir.glob("*.jwt"))]
            tokens += list(self._extra.values())
        return [t for t in tokens if _expiry(t) > now]

    def describe(self) -> dict[str, Any]:
        held = []
        for token in self.credentials():
            claims = jwt.decode(token, options={"verify_signature": False})
            held.append(
                {
                    "operator": claims["iss"],
                    "credentialId": claims["jti"],
                    "expires": claims["exp"],
                    "claims": claims["vc"]["credentialSubject"],
                }
            )
        return {"participantId": self.participant_id, "credentials": held,
                "applications": self._pending()}  # fmt: skip

    # --- applying -------------------------------------------------------------------------------

    def _pending(self) -> dict[str, dict[str, Any]]:
        if not self.state_file.exists():
            return {}
        data: dict[str, dict[str, Any]] = json.loads(self.state_file.read_text())
        return data

    def _save_pending(self, pending: dict[str, dict[str, Any]]) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(pending, indent=2))
        tmp.replace(self.state_file)

    def _operator_url(self, operator_id: str) -> str:
        url = self.operators.url(operator_id) if self.operators else None
        if url is None:
            raise MembershipError(
                f"operator {operator_id!r} is not configured (setting 'operators': id=url,...)"
            )
        return url

    def apply(self, operator_id: str, details: dict[str, Any]) -> dict[str, Any]:
        url = self._operator_url(operator_id)
        key = self.key()
        claims = {
            **details,
            "participantId": self.participant_id,
            "dspUrl": self.dsp_url,
            "publicKey": key.public_b64,
            "iat": int(self.clock()),
        }
        signed = jwt.encode(claims, key.private_key, algorithm="EdDSA")
        answer = self._post(url + "/operator/applications", {"application": signed})
        with self._lock:
            pending = self._pending()
            pending[operator_id] = {"id": _text(answer, "id", url),
                                    "status": _text(answer, "status", url)}  # fmt: skip
            self._save_pending(pending)
        if self.applied is not None:
            self.applied()
        return answer

    def _post(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = peers.call(self.http, "POST", url, body=body)
        except peers.RemoteError as exc:
            if exc.refused:
                raise MembershipError(exc.reason) from exc
            raise
        return answer

    def waiting(self) -> list[str]:
        """The operators whose decision on this node's application is still outstanding."""
        return sorted(op for op, app in self._pending().items() if app.get("status") == "pending")

    def poll_pending(self) -> None:
        """:meth:`poll` when an application is pending; nothing (no call) otherwise."""
        if self.waiting():
            self.poll()

    def explain(self, exc: peers.RemoteError) -> peers.RemoteError:
        """A peer's 401 to a node that trusts operators but holds no credential yet, with what
        to do about it in front of the peer's own reason; any other error unchanged."""
        if exc.status != 401 or self.operators is None or self.credentials():
            return exc
        waiting = self.waiting()
        rejected = {
            op: app for op, app in self._pending().items() if app.get("status") == "rejected"
        }
        if waiting:
            hint = (
                f"this node holds no membership credential yet: its application to"
                f" {', '.join(waiting)} awaits the operator's approval (`trustspace member status`)"
            )
        elif rejected:
            op, app = sorted(rejected.items())[0]
            hint = (
                f"this node holds no membership credential: {op} rejected its application"
                f" ({app.get('reason') or 'no reason given'}); apply again with"
                " `trustspace member apply`"
            )
        else:
            hint = (
                "this node holds no membership credential yet: apply with `trustspace member"
                " apply`, or wait for the operator's approval (`trustspace member status`)"
            )
        return peers.RemoteError(
            exc.status, f"{hint}; {exc.reason}", detail=exc.detail, timeout=exc.timeout
        )

    def poll(self) -> None:
        """Pick up the credential of every application the operator has decided."""
        for operator_id, app in list(self._pending().items()):
            if app.get("status") != "pending":
                continue
            try:
                url = self._operator_url(operator_id)
                answer = peers.call(self.http, "GET", f"{url}/operator/applications/{app['id']}")
            except (peers.RemoteError, MembershipError) as exc:
                log.warning("membership %s: cannot poll the application: %s", operator_id, exc)
                continue
            if answer.get("status") == "approved" and isinstance(answer.get("credential"), str):
                self.hold(operator_id, answer["credential"])
            if answer.get("status") in ("approved", "rejected"):
                with self._lock:
                    pending = self._pending()
                    pending[operator_id] = {**app, "status": answer["status"],
                                            "reason": answer.get("reason")}  # fmt: skip
                    self._save_pending(pending)

    # --- rotating the key --------------------------------------------------------------------

    def rotate_key(self) -> dict[str, Any]:
        held = self.describe()["credentials"]
        if not held:
            raise MembershipError("no membership to rotate the key for")
        old, new = self.key(), NodeKey.generate()
        renewed: dict[str, str] = {}
        for entry in held:
            operator_id = entry["operator"]
            request = jwt.encode(
                {"participantId": self.participant_id, "newPublicKey": new.public_b64,
                 "iat": int(self.clock())},
                old.private_key,
                algorithm="EdDSA",
            )  # fmt: skip
            url = self._operator_url(operator_id)
            answer = self._post(
                f"{url}/operator/members/{self.participant_id}/keys", {"request": request}
            )
            renewed[operator_id] = _text(answer, "credential", url)
        backup = self.key_file.with_name(f"node.key.{old.kid}")
        backup.write_bytes(old.to_pem())
        backup.chmod(0o600)
        tmp = self.key_file.with_suffix(".tmp")
        tmp.write_bytes(new.to_pem())
        tmp.chmod(0o600)
        tmp.replace(self.key_file)
        for operator_id, credential in renewed.items():
            self.hold(operator_id, credential)
        self.set_key(new)
        return {"kid": new.kid, "publicKey": new.public_b64, "operators": sorted(renewed)}


def _text(answer: dict[str, Any], key: str, url: str) -> str:
    value = answer.get(key)
    if not isinstance(value, str) or not value:
        raise peers.RemoteError(None, f"{url} answered without {key!r}")
    return value


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _expiry(token: str) -> float:
    try:
        return float(jwt.decode(token, options={"verify_signature": False}).get("exp", 0))
    except (jwt.PyJWTError, TypeError, ValueError):
        return 0.0
