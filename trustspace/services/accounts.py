"""People of a node: accounts with roles, logins, sessions, and the evidence of what they did.

Rules:
- A password is stored as its Argon2id hash (argon2-cffi's defaults); a login with an unknown
  name costs the same hash as one with a wrong password, so a name cannot be probed by time.
- Failed logins are counted per existing account in windows of ``LOGIN_WINDOW`` seconds; after
  ``LOGIN_LIMIT`` failures in a window the account refuses every login, right or wrong, until
  the window ends.  Unknown names are not counted (nothing is written for them), so no one can
  fill the store by guessing names.
- A session is a random token in the person's cookie; the store keeps its SHA-256, its CSRF
  token, when it began and when it was last used.  It ends after ``idle`` seconds unused or
  ``absolute`` seconds after it began, at logout, when the account is disabled, or when its
  roles change (every session of the account ends then).
- Every change to an account, every login and logout, and every action a person takes in the
  portal is an evidence entry naming the person (``actor``: user name and roles).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from trustspace.services.context import NodeContext
from trustspace.services.errors import BadRequest, NotFound, Refused
from trustspace.store import evidence
from trustspace.store import users as user_rows
from trustspace.store.db import Tx
from trustspace.store.users import User

ROLES = ("admin", "provider", "buyer", "reviewer", "assessor", "regulator")
"""admin: manages the node's people; provider: publishes and serves products; buyer: finds,
negotiates, downloads, computes; reviewer: the operator's listing and membership review;
assessor: attaches compliance and quality reports; regulator: reads, never changes."""

LOGIN_LIMIT = 5
LOGIN_WINDOW = 900.0
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
MIN_PASSWORD = 10
MAX_PASSWORD = 256

_hasher = PasswordHasher()
_hashing = threading.BoundedSemaphore(2)  # Argon2 is costly on purpose: at most two at once
_DUMMY = _hasher.hash(secrets.token_hex(16))


@dataclass(frozen=True)
class Person:
    """A signed-in person: the account and the session it came with."""

    user: User
    session: str  # the SHA-256 of the session token
    csrf: str

    @property
    def roles(self) -> tuple[str, ...]:
        return self.user.roles

    def has(self, *roles: str) -> bool:
        return any(r in self.user.roles for r in roles)

    def actor(self) -> dict[str, Any]:
        return {"user": self.user.username, "roles": list(self.user.roles)}


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_roles(roles: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise BadRequest(
            f"roles are one or more of {', '.join(ROLES)}; not {', '.join(unknown) or 'none'}"
        )
    return tuple(dict.fromkeys(roles))


def check_password(password: str) -> str:
    if not (MIN_PASSWORD <= len(password) <= MAX_PASSWORD):
        raise BadRequest(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


def _record(tx: Tx, ctx: NodeContext, kind: str, subject: str, actor: dict[str, Any],
            **data: Any) -> None:  # fmt: skip
    evidence.record(tx, at=ctx.clock(), kind=kind, subject=subject, data={"actor": actor, **data})


SYSTEM = {"user": "(node console)", "roles": ["admin"]}
"""The actor of changes made on the node's own console (``trustspace user …``)."""


def add_user(ctx: NodeContext, username: str, password: str, roles: tuple[str, ...] | list[str],
             *, display_name: str = "", actor: dict[str, Any] = SYSTEM) -> User:  # fmt: skip
    if not USERNAME.fullmatch(username):
        raise BadRequest(
            "a user name is 2 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
        )
    check_password(password)
    with _hashing:
        hashed = _hasher.hash(password)
    user = User(id=str(uuid.uuid4()), username=username, display_name=display_name.strip()[:100],
                password_hash=hashed, roles=check_roles(roles), disabled=False,
                created_at=ctx.clock())  # fmt: skip
    with ctx.db.tx() as tx:
        if user_rows.by_name(tx, username) is not None:
            raise Refused(f"there is already a user named {username}")
        user_rows.insert(tx, user)
        _record(tx, ctx, "user.added", user.id, actor, username=username, roles=list(user.roles))
    return user


def users(ctx: NodeContext) -> list[User]:
    with ctx.db.tx(durable=False) as tx:
        return user_rows.all_users(tx)


def count(ctx: NodeContext) -> int:
    with ctx.db.tx(durable=False) as tx:
        return user_rows.count(tx)


def find(ctx: NodeContext, username: str) -> User:
    with ctx.db.tx(durable=False) as tx:
        user = user_rows.by_name(tx, username)
    if user is None:
        raise NotFound(f"no user named {username}")
    return user


def change(ctx: NodeContext, user_id: str, actor: dict[str, Any], *,
           roles: tuple[str, ...] | None = None, disabled: bool | None = None,
           password: str | None = None) -> User:  # fmt: skip
    """Change an account; any change to roles, standing or password ends its sessions."""
    fields: dict[str, Any] = {}
    if roles is not None:
        fields["roles"] = check_roles(roles)
    if disabled is not None:
        fields["disabled"] = disabled
    if password is not None:
        check_password(password)
        with _hashing:
            fields["password_hash"] = _hasher.hash(password)
    if not fields:
        raise BadRequest("nothing to change")
    with ctx.db.tx() as tx:
        user = user_rows.by_id(tx, user_id, lock=True)
        if user is None:
            raise NotFound("no such user")
        if (roles is not None and "admin" not in fields["roles"]) or disabled:
            _keep_an_admin(tx, user)
        user_rows.update(tx, user_id, ctx.clock(), **fields)
        ended = user_rows.end_sessions_of(tx, user_id)
        shown = {k: v for k, v in fields.items() if k != "password_hash"}
        _record(tx, ctx, "user.changed", user_id, actor, username=user.username,
                password=password is not None, sessions_ended=ended,
                **{k: list(v) if isinstance(v, tuple) else v for k, v in shown.items()})  # fmt: skip
        changed = user_rows.by_id(tx, user_id)
    assert changed is not None
    return changed


def _keep_an_admin(tx: Tx, user: User) -> None:
    others = [u for u in user_rows.all_users(tx)
              if u.id != user.id and "admin" in u.roles and not u.disabled]  # fmt: skip
    if "admin" in user.roles and not user.disabled and not others:
        raise Refused("this is the last active admin: add another admin first")


# logins and sessions


def login(ctx: NodeContext, username: str, password: str) -> tuple[str, Person]:
    """A new session for the account, or Refused (the same words for a wrong name or password)."""
    wrong = Refused("wrong user name or password")
    if len(password) > MAX_PASSWORD or len(username) > 64:
        raise wrong
    now = ctx.clock()
    window = now - now % LOGIN_WINDOW
    with ctx.db.tx(durable=False) as tx:
        user = user_rows.by_name(tx, username)
        failed = user_rows.failures(tx, username, window) if user is not None else 0
    if failed >= LOGIN_LIMIT:
        minutes = int((window + LOGIN_WINDOW - now) // 60) + 1
        raise Refused(f"too many failed logins for this account; try again in {minutes} min")
    with _hashing:
        try:
            ok: bool = _hasher.verify(user.password_hash if user else _DUMMY, password)
        except (VerificationError, InvalidHashError):
            ok = False
    if user is None:
        raise wrong
    with ctx.db.tx() as tx:
        if not ok or user.disabled:
            if not ok:
                user_rows.add_failure(tx, username, window)
            _record(tx, ctx, "user.login-refused", user.id, {"user": username, "roles": []},
                    reason="disabled" if ok else "wrong password")  # fmt: skip
        else:
            token = secrets.token_urlsafe(32)
            csrf = secrets.token_urlsafe(32)
            user_rows.clear_failures(tx, username)
            user_rows.add_session(tx, _hash_token(token), user.id, csrf, now)
            person = Person(user, _hash_token(token), csrf)
            _record(tx, ctx, "user.login", user.id, person.actor())
    if not ok:
        raise wrong
    if user.disabled:
        raise Refused("this account is disabled")
    return token, person


def session(ctx: NodeContext, token: str | None, *, idle: float, absolute: float) -> Person | None:
    """The person a session token belongs to, if the session is alive; using it keeps it alive."""
    if not token or len(token) > 100:
        return None
    now = ctx.clock()
    digest = _hash_token(token)
    with ctx.db.tx(durable=False) as tx:
        row = user_rows.session(tx, digest)
        if row is None:
            return None
        user = user_rows.by_id(tx, row["user_id"])
        alive = (user is not None and not user.disabled and now - row["last_seen"] < idle
                 and now - row["created_at"] < absolute)  # fmt: skip
        if not alive:
            user_rows.end_session(tx, digest)
            return None
        if now - row["last_seen"] > 30:  # one write a half-minute, not one per page
            user_rows.touch_session(tx, digest, now)
    assert user is not None
    return Person(user, digest, row["csrf"])


def logout(ctx: NodeContext, person: Person, *, everywhere: bool = False) -> int:
    with ctx.db.tx() as tx:
        if everywhere:
            ended = user_rows.end_sessions_of(tx, person.user.id)
        else:
            ended = user_rows.end_session(tx, person.session)
        _record(tx, ctx, "user.logout", person.user.id, person.actor(),
                everywhere=everywhere, sessions_ended=ended)  # fmt: skip
    return ended


def sweep(ctx: NodeContext, *, idle: float, absolute: float) -> int:
    now = ctx.clock()
    with ctx.db.tx() as tx:
        return user_rows.drop_expired(tx, idle_before=now - idle, created_before=now - absolute)


def record_action(ctx: NodeContext, person: Person, action: str, subject: str,
                  **data: Any) -> None:  # fmt: skip
    """Evidence that a person did ``action`` in the portal (after the service it called did)."""
    with ctx.db.tx() as tx:
        _record(tx, ctx, f"portal.{action}", subject, person.actor(), **data)
