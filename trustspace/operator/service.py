"""The operator of a data space: onboarding, membership credentials, revocation, keys.

Rules:
- **Applications.** An organisation applies with an application signed by its connector's key,
  which proves it holds the key it asks the operator to vouch for. The operator approves it
  (issuing a credential) or rejects it with a reason. Only a pending application can be decided.
- **Members.** A member is active, suspended or revoked. The signed status list says which
  members are not active; connectors refresh it and refuse such members. Reinstating a
  suspended member makes it active again. Revocation is final.
- **Operator keys.** Credentials and status lists are signed with the operator's active key.
  Rotation adds a new active key and keeps the old ones published, so credentials already issued
  stay valid: no downtime.
- **Member keys.** A member rotates its connector key with a request signed by its current key.
  The new credential binds the new key; the old credential stays valid until it expires, so
  tokens signed in between still verify.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from trustspace.core.odrl.vocab import is_region
from trustspace.core.registry import ROLES, SECTORS, uscc_problem
from trustspace.operator import registry
from trustspace.services.errors import NotFound, Refused
from trustspace.store import evidence
from trustspace.store.db import Database
from trustspace.trust.credentials import (
    MemberClaims,
    StatusList,
    issue_checkpoint,
    issue_credential,
    issue_status_list,
    jwk,
    read_status_list,
)
from trustspace.trust.keys import NodeKey, public_key_from_b64

FIELDS = ("participantId", "legalName", "registrationNumber", "region", "sector", "contact",
          "dspUrl", "publicKey", "roles")  # fmt: skip
SIGNED_REQUEST_MAX_AGE = 600.0


def read_signed(token: str, public_b64: str | None = None) -> dict[str, Any]:
    """A request signed with a connector key: by the key it carries (``publicKey``), or by
    ``public_b64`` (the key on record)."""
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
        key = public_key_from_b64(public_b64 or str(claims.get("publicKey", "")))
        verified: dict[str, Any] = jwt.decode(token, key, algorithms=["EdDSA"])
    except (jwt.PyJWTError, ValueError) as exc:
        raise Refused(f"the request is not signed by the key it names: {exc}") from None
    return verified


class Operator:
    def __init__(
        self,
        db: Database,
        operator_id: str,
        key_dir: Path,
        *,
        clock: Callable[[], float] = time.time,
        credential_ttl: float = 30 * 86400,
        status_ttl: float = 300.0,
    ) -> None:
        self.db = db
        self.operator_id = operator_id
        self.key_dir = key_dir
        self.clock = clock
        self.credential_ttl = credential_ttl
        self.status_ttl = status_ttl
        self._lock = threading.Lock()
        self._keys: dict[str, NodeKey] = {}
        self._active: NodeKey | None = None
        self._load_keys()

    # --- keys -------------------------------------------------------------------------------

    def _load_keys(self) -> None:
        self.key_dir.mkdir(parents=True, exist_ok=True)
        with self.db.tx() as tx:
            rows = registry.keys(tx)
        for row in rows:
            path = self.key_dir / f"{row['kid']}.pem"
            if path.exists():
                key = NodeKey.from_pem(path.read_bytes())
                self._keys[key.kid] = key
                if row["retired_at"] is None:
                    self._active = key
        if self._active is None:
            self.rotate_key()

    def rotate_key(self) -> str:
        key = NodeKey.generate()
        path = self.key_dir / f"{key.kid}.pem"
        path.write_bytes(key.to_pem())
        path.chmod(0o600)
        now = self.clock()
        with self.db.tx() as tx:
            registry.insert_key(tx, key.kid, key.public_b64, now)
            registry.retire_keys_except(tx, key.kid, now)
        with self._lock:
            self._keys[key.kid] = key
            self._active = key
        return key.kid

    @property
    def signing_key(self) -> NodeKey:
        assert self._active is not None
        return self._active

    def jwks(self) -> dict[str, Any]:
        with self.db.tx() as tx:
            rows = registry.keys(tx)
        return {
            "issuer": self.operator_id,
            "keys": [
                {
                    **jwk(r["public_key"]),
                    "kid": r["kid"],
                    "use": "sig",
                    "status": "retired" if r["retired_at"] else "active",
                }
                for r in rows
            ],
        }

    # --- onboarding --------------------------------------------------------------------------

    def apply(self, signed: str) -> dict[str, Any]:
        fields = read_signed(signed)
        missing = [f for f in FIELDS if f not in fields]
        if missing:
            raise Refused(f"the application lacks {', '.join(missing)}")
        now = self.clock()
        if abs(now - float(fields.get("iat", 0))) > SIGNED_REQUEST_MAX_AGE:
            raise Refused("the application's signature is too old or from the future")
        problems = validate_application(fields)
        if problems:
            raise Refused("; ".join(problems))
        app_id = f"urn:uuid:{uuid.uuid4()}"
        with self.db.tx() as tx:
            member = registry.get_member(tx, fields["participantId"])
            if member is not None and member["status"] != "revoked":
                raise Refused(f"participant id {fields['participantId']} is already a member")
            if member is not None:
                raise Refused(f"participant id {fields['participantId']} was revoked")
            if registry.pending_for(tx, fields["participantId"]):
                raise Refused(f"participant id {fields['participantId']} has a pending application")
            registry.insert_application(tx, app_id, fields, now)
            app = registry.get_application(tx, app_id)
        assert app is not None
        return app

    def application(self, app_id: str) -> dict[str, Any]:
        with self.db.tx() as tx:
            app = registry.get_application(tx, app_id)
            if app is None:
                raise NotFound(f"no application {app_id}")
            if app["status"] == "approved":
                app["credential"] = registry.latest_credential(tx, app["participantId"])
        return app

    def applications(self, status: str | None = None) -> list[dict[str, Any]]:
        with self.db.tx() as tx:
            return registry.list_applications(tx, status)

    def approve(self, app_id: str) -> dict[str, Any]:
        now = self.clock()
        with self.db.tx() as tx:
            app = registry.get_application(tx, app_id, lock=True)
            if app is None:
                raise NotFound(f"no application {app_id}")
            if app["status"] != "pending":
                raise Refused(f"application {app_id} is already {app['status']}")
            if registry.get_member(tx, app["participantId"]) is not None:
                raise Refused(f"{app['participantId']} is already a member")
            registry.decide_application(tx, app_id, "approved", None, now)
            registry.insert_member(tx, app, now)
            credential = self._issue(tx, app["participantId"], now)
        return {**self.application(app_id), "credential": credential}

    def reject(self, app_id: str, reason: str) -> dict[str, Any]:
        if not reason.strip():
            raise Refused("a rejection needs a reason")
        with self.db.tx() as tx:
            app = registry.get_application(tx, app_id, lock=True)
            if app is None:
                raise NotFound(f"no application {app_id}")
            if app["status"] != "pending":
                raise Refused(f"application {app_id} is already {app['status']}")
            registry.decide_application(tx, app_id, "rejected", reason, self.clock())
        return self.application(app_id)

    def _issue(self, tx: Any, participant_id: str, now: float) -> str:
        member = registry.get_member(tx, participant_id)
        assert member is not None
        token, credential_id = issue_credential(
            self.signing_key,
            self.operator_id,
            subject=MemberClaims(
                participant_id=participant_id,
                legal_name=member["legalName"],
                region=member["region"],
                sector=member["sector"],
                roles=tuple(member["roles"]),
                dsp_url=member["dspUrl"],
                space=self.operator_id,
            ),
            public_b64=member["publicKey"],
            now=now,
            ttl=self.credential_ttl,
        )
        registry.insert_credential(
            tx, credential_id, participant_id, member["publicKey"], token, now,
            now + self.credential_ttl,
        )  # fmt: skip
        return token

    def renew(self, participant_id: str) -> str:
        """A fresh credential for an active member (e.g. before the old one expires)."""
        now = self.clock()
        with self.db.tx() as tx:
            member = registry.get_member(tx, participant_id)
            if member is None:
                raise NotFound(f"no member {participant_id}")
            if member["status"] != "active":
                raise Refused(f"member {participant_id} is {member['status']}")
            return self._issue(tx, participant_id, now)

    def rotate_member_key(self, participant_id: str, signed: str) -> str:
        """A member moves to a new key; the request is signed with its current key."""
        now = self.clock()
        with self.db.tx() as tx:
            member = registry.get_member(tx, participant_id)
            if member is None:
                raise NotFound(f"no member {participant_id}")
            if member["status"] != "active":
                raise Refused(f"member {participant_id} is {member['status']}")
            request = read_signed(signed, member["publicKey"])
            if request.get("participantId") != participant_id:
                raise Refused("the key rotation request is for another participant")
            if abs(now - float(request.get("iat", 0))) > SIGNED_REQUEST_MAX_AGE:
                raise Refused("the key rotation request is too old or from the future")
            new_key = str(request.get("newPublicKey", ""))
            try:
                public_key_from_b64(new_key)
            except ValueError as exc:
                raise Refused(str(exc)) from None
            registry.set_member_key(tx, participant_id, new_key, now)
            return self._issue(tx, participant_id, now)

    # --- suspension and revocation ---------------------------------------------------------

    def set_status(self, participant_id: str, action: str, reason: str) -> dict[str, Any]:
        target = {"suspend": "suspended", "revoke": "revoked", "reinstate": "active"}.get(action)
        if target is None:
            raise Refused(f"unknown action {action!r}: suspend, revoke or reinstate")
        if target != "active" and not reason.strip():
            raise Refused(f"to {action} a member, give a reason")
        with self.db.tx() as tx:
            member = registry.get_member(tx, participant_id)
            if member is None:
                raise NotFound(f"no member {participant_id}")
            if member["status"] == "revoked":
                raise Refused(f"{participant_id} is revoked; revocation is final")
            if target == "active" and member["status"] != "suspended":
                raise Refused(f"{participant_id} is {member['status']}, not suspended")
            registry.set_member_status(tx, participant_id, target, reason or None, self.clock())
            updated = registry.get_member(tx, participant_id)
        assert updated is not None
        return updated

    def status_list(self) -> str:
        now = self.clock()
        with self.db.tx() as tx:
            members = registry.list_members(tx)
            revoked_credentials = registry.revoked_credentials(tx, now)
        return issue_status_list(
            self.signing_key,
            self.operator_id,
            now=now,
            ttl=self.status_ttl,
            suspended={m["participantId"]: m["reason"] or "" for m in members
                       if m["status"] == "suspended"},
            revoked={m["participantId"]: m["reason"] or "" for m in members
                     if m["status"] == "revoked"},
            revoked_credentials=revoked_credentials,
        )  # fmt: skip

    def countersign(self, participant_id: str, seq: int, digest: str) -> str:
        """Sign a member's evidence head.  A later head must not contradict an earlier one."""
        if seq < 1 or len(digest) != 64:
            raise Refused("a checkpoint names a sequence number and a SHA-256 hash")
        now = self.clock()
        with self.db.tx() as tx:
            last = tx.one(
                "SELECT seq, hash FROM member_checkpoints WHERE participant_id = ?"
                " ORDER BY seq DESC LIMIT 1",
                (participant_id,),
            )
            if last is not None and int(last["seq"]) > seq:
                raise Refused(f"the log already reached entry {last['seq']}; it cannot shrink")
            if last is not None and int(last["seq"]) == seq:
                if last["hash"] != digest:
                    raise Refused(f"entry {seq} was countersigned with another hash")
                row = tx.one(
                    "SELECT token FROM member_checkpoints WHERE participant_id = ? AND seq = ?",
                    (participant_id, seq),
                )
                assert row is not None
                return str(row["token"])
            token = issue_checkpoint(
                self.signing_key, self.operator_id, participant=participant_id, seq=seq,
                digest=digest, now=now,
            )  # fmt: skip
            tx.execute(
                "INSERT INTO member_checkpoints (participant_id, seq, hash, token, at)"
                " VALUES (?,?,?,?,?)",
                (participant_id, seq, digest, token, now),
            )
            evidence.record(tx, at=now, kind="checkpoint", subject=participant_id,
                            data={"seq": seq, "hash": digest})  # fmt: skip
        return token

    def member_checkpoints(self, participant_id: str) -> list[dict[str, Any]]:
        with self.db.tx() as tx:
            rows = tx.all(
                "SELECT seq, hash, token, at FROM member_checkpoints WHERE participant_id = ?"
                " ORDER BY seq",
                (participant_id,),
            )
        return [dict(r) for r in rows]

    def directory(self) -> list[dict[str, Any]]:
        """What any member may know about the others."""
        with self.db.tx() as tx:
            members = registry.list_members(tx)
        public = ("participantId", "legalName", "region", "sector", "roles", "dspUrl", "status")
        return [{k: m[k] for k in public} for m in members]

    def self_credential(self, node_key: NodeKey, dsp_url: str) -> str:
        """The operator's own credential (role operator), bound to its node key, for crawling."""
        now = self.clock()
        token, _ = issue_credential(
            self.signing_key,
            self.operator_id,
            subject=MemberClaims(
                self.operator_id,
                self.operator_id,
                "ZZ",
                "public",
                ("operator",),
                dsp_url,
                self.operator_id,
            ),
            public_b64=node_key.public_b64,
            now=now,
            ttl=self.credential_ttl,
        )
        return token


_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$")


def validate_application(fields: dict[str, Any]) -> list[str]:
    problems = []
    for key in FIELDS:
        if key != "roles" and (not isinstance(fields.get(key), str) or not fields[key].strip()):
            problems.append(f"{key} must be a non-empty string")
    if problems:
        return problems
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]{1,127}", fields["participantId"]):
        problems.append("participantId: letters, digits and . _ : - only")
    if not is_region(fields["region"]):
        problems.append(f"region {fields['region']!r} is not an ISO 3166 code such as CN or CN-BJ")
    elif fields["region"].split("-")[0] == "CN":
        problem = uscc_problem(fields["registrationNumber"])
        if problem:
            problems.append(problem)
    if fields["sector"] not in SECTORS:
        problems.append(f"sector {fields['sector']!r}: use one of {', '.join(SECTORS)}")
    roles = fields.get("roles")
    if not isinstance(roles, list) or not roles or not all(r in ROLES for r in roles):
        problems.append(f"roles must be a non-empty list drawn from {', '.join(ROLES)}")
    elif "operator" in roles:
        problems.append("the operator role is not given to members")
    if not _URL.match(fields["dspUrl"]):
        problems.append(f"dspUrl {fields['dspUrl']!r} is not an http(s) URL")
    try:
        public_key_from_b64(fields["publicKey"])
    except ValueError as exc:
        problems.append(str(exc))
    return problems


class LocalAnchors:
    """The operator verifying requests to itself: its own keys and status, without HTTP."""

    def __init__(self, operator: Operator) -> None:
        self.operator = operator
        self._status: tuple[float, StatusList] | None = None

    def key(self, operator_id: str, kid: str) -> Ed25519PublicKey | None:
        if operator_id != self.operator.operator_id:
            return None
        with self.operator.db.tx() as tx:
            rows = registry.keys(tx)
        for row in rows:
            if row["kid"] == kid:
                return public_key_from_b64(row["public_key"])
        return None

    def status(self, operator_id: str) -> StatusList | None:
        if operator_id != self.operator.operator_id:
            return None
        now = self.operator.clock()
        if self._status is None or now - self._status[0] > 1.0:
            token = self.operator.status_list()
            status = read_status_list(token, self.operator.signing_key.public_key, now)
            self._status = (now, status)
        return self._status[1]

    def standing(self, participant_id: str) -> str | None:
        status = self.status(self.operator.operator_id)
        return None if status is None else status.problem(participant_id, "")
