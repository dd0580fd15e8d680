"""The node's people: accounts, their sessions, and failed logins.

A session row holds the SHA-256 of the session's token, never the token; the person's browser
holds the token.  Failed logins are counted per user name in fixed windows, so a guessing
attack on one name is slowed whatever address it comes from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trustspace.store.db import Tx


@dataclass(frozen=True)
class User:
    id: str
    username: str
    display_name: str
    password_hash: str
    roles: tuple[str, ...]
    disabled: bool
    created_at: float

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "displayName": self.display_name,
            "roles": list(self.roles),
            "disabled": self.disabled,
            "createdAt": self.created_at,
        }


def _user(row: Any) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        display_name=row["display_name"],
        password_hash=row["password_hash"],
        roles=tuple(r for r in str(row["roles"]).split(",") if r),
        disabled=bool(row["disabled"]),
        created_at=float(row["created_at"]),
    )


def insert(tx: Tx, user: User) -> None:
    tx.execute(
        "INSERT INTO users (id, username, display_name, password_hash, roles, disabled,"
        " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)",
        (user.id, user.username, user.display_name, user.password_hash, ",".join(user.roles),
         int(user.disabled), user.created_at, user.created_at),
    )  # fmt: skip


def by_name(tx: Tx, username: str) -> User | None:
    row = tx.one("SELECT * FROM users WHERE username = ?", (username,))
    return None if row is None else _user(row)


def by_id(tx: Tx, user_id: str, *, lock: bool = False) -> User | None:
    lock_sql = " FOR UPDATE" if lock and tx.dialect == "postgresql" else ""
    row = tx.one(f"SELECT * FROM users WHERE id = ?{lock_sql}", (user_id,))
    return None if row is None else _user(row)


def all_users(tx: Tx) -> list[User]:
    return [_user(r) for r in tx.all("SELECT * FROM users ORDER BY username")]


def count(tx: Tx) -> int:
    row = tx.one("SELECT COUNT(*) AS n FROM users")
    return int(row["n"]) if row else 0


def update(tx: Tx, user_id: str, at: float, **fields: Any) -> None:
    """Set ``roles`` (a tuple), ``disabled``, ``password_hash`` or ``display_name``."""
    allowed = {"roles", "disabled", "password_hash", "display_name"}
    assert set(fields) <= allowed, fields
    values = {
        k: (",".join(v) if k == "roles" else int(v) if k == "disabled" else v)
        for k, v in fields.items()
    }
    sets = ", ".join(f"{k} = ?" for k in values)
    tx.execute(f"UPDATE users SET {sets}, updated_at = ? WHERE id = ?",
               (*values.values(), at, user_id))  # fmt: skip


# sessions


def add_session(tx: Tx, token_hash: str, user_id: str, csrf: str, at: float) -> None:
    tx.execute(
        "INSERT INTO user_sessions (token_hash, user_id, csrf, created_at, last_seen)"
        " VALUES (?,?,?,?,?)",
        (token_hash, user_id, csrf, at, at),
    )


def session(tx: Tx, token_hash: str) -> dict[str, Any] | None:
    row = tx.one("SELECT * FROM user_sessions WHERE token_hash = ?", (token_hash,))
    return None if row is None else dict(row)


def touch_session(tx: Tx, token_hash: str, at: float) -> None:
    tx.execute("UPDATE user_sessions SET last_seen = ? WHERE token_hash = ?", (at, token_hash))


def end_session(tx: Tx, token_hash: str) -> int:
    return tx.execute("DELETE FROM user_sessions WHERE token_hash = ?", (token_hash,))


def end_sessions_of(tx: Tx, user_id: str) -> int:
    return tx.execute("DELETE FROM user_sessions WHERE user_id = ?", (user_id,))


def sessions_of(tx: Tx, user_id: str) -> int:
    row = tx.one("SELECT COUNT(*) AS n FROM user_sessions WHERE user_id = ?", (user_id,))
    return int(row["n"]) if row else 0


def drop_expired(tx: Tx, *, idle_before: float, created_before: float) -> int:
    return tx.execute(
        "DELETE FROM user_sessions WHERE last_seen < ? OR created_at < ?",
        (idle_before, created_before),
    )


# failed logins


def failures(tx: Tx, username: str, window_start: float) -> int:
    row = tx.one(
        "SELECT count FROM login_failures WHERE username = ? AND window_start = ?",
        (username, window_start),
    )
    return int(row["count"]) if row else 0


def add_failure(tx: Tx, username: str, window_start: float) -> None:
    tx.execute(
        "INSERT INTO login_failures (username, window_start, count) VALUES (?,?,1)"
        " ON CONFLICT (username, window_start) DO UPDATE SET count = login_failures.count + 1",
        (username, window_start),
    )
    tx.execute("DELETE FROM login_failures WHERE window_start < ?", (window_start - 86400,))


def clear_failures(tx: Tx, username: str) -> None:
    tx.execute("DELETE FROM login_failures WHERE username = ?", (username,))
