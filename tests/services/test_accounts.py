"""People of a node on SQLite and PostgreSQL: hashed passwords, the login limit, sessions that
end, the last admin, and the evidence of each change with the person who made it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.store.conftest import db  # noqa: F401  (the SQLite + PostgreSQL fixture)
from trustspace.services import accounts
from trustspace.services.context import NodeContext
from trustspace.services.errors import BadRequest, Refused
from trustspace.store.db import Database

PASSWORD = "a long enough secret"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _ctx(database: Database, tmp_path: Path, clock: Clock) -> NodeContext:
    return NodeContext(db=database, participant_id="hospital", dsp_base="http://h/dsp",
                       data_base="http://h/data", blob_dir=tmp_path / "blobs", clock=clock)  # fmt: skip


def _evidence(database: Database) -> list[tuple[str, dict[str, object]]]:
    with database.tx() as tx:
        rows = tx.all("SELECT kind, data FROM evidence ORDER BY seq")
    return [(r["kind"], json.loads(r["data"])) for r in rows]


def test_passwords_are_argon2_hashes_and_logins_make_sessions(db: Database, tmp_path: Path) -> None:  # noqa: F811
    clock = Clock()
    ctx = _ctx(db, tmp_path, clock)
    user = accounts.add_user(ctx, "wang.li", PASSWORD, ["buyer"])
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    token, person = accounts.login(ctx, "wang.li", PASSWORD)
    with db.tx() as tx:
        stored = tx.all("SELECT token_hash FROM user_sessions")
    assert [r["token_hash"] for r in stored] == [person.session] and token != person.session
    found = accounts.session(ctx, token, idle=60, absolute=600)
    assert found is not None and found.user.username == "wang.li" and found.csrf == person.csrf
    assert accounts.session(ctx, token + "x", idle=60, absolute=600) is None
    kinds = [k for k, _ in _evidence(db)]
    assert kinds == ["user.added", "user.login"]


@pytest.mark.parametrize(
    ("username", "password", "roles", "words"),
    [
        ("Wang", PASSWORD, ["buyer"], "a user name is"),
        ("w", PASSWORD, ["buyer"], "a user name is"),
        ("wang", "short", ["buyer"], "a password has 10 to 256"),
        ("wang", "x" * 257, ["buyer"], "a password has 10 to 256"),
        ("wang", PASSWORD, ["owner"], "roles are one or more of"),
        ("wang", PASSWORD, [], "roles are one or more of"),
    ],
)
def test_bad_accounts_are_refused_and_nothing_is_stored(
    db: Database,  # noqa: F811
    tmp_path: Path,
    username: str,
    password: str,
    roles: list[str],
    words: str,
) -> None:
    ctx = _ctx(db, tmp_path, Clock())
    with pytest.raises(BadRequest, match=words):
        accounts.add_user(ctx, username, password, roles)
    assert accounts.users(ctx) == [] and _evidence(db) == []


def test_the_same_name_twice_is_refused(db: Database, tmp_path: Path) -> None:  # noqa: F811
    ctx = _ctx(db, tmp_path, Clock())
    accounts.add_user(ctx, "wang", PASSWORD, ["buyer"])
    with pytest.raises(Refused, match="already a user named wang"):
        accounts.add_user(ctx, "wang", PASSWORD + "2", ["admin"])
    assert [u.roles for u in accounts.users(ctx)] == [("buyer",)]


def test_failed_logins_lock_the_account_for_the_window_and_unknown_names_write_nothing(
    db: Database,  # noqa: F811
    tmp_path: Path,
) -> None:
    clock = Clock()
    ctx = _ctx(db, tmp_path, clock)
    accounts.add_user(ctx, "wang", PASSWORD, ["buyer"])
    for _ in range(accounts.LOGIN_LIMIT):
        with pytest.raises(Refused, match="wrong user name or password"):
            accounts.login(ctx, "wang", "not the password")
    with pytest.raises(Refused, match="too many failed logins for this account; try again in"):
        accounts.login(ctx, "wang", PASSWORD)  # right, but locked
    for i in range(50):
        with pytest.raises(Refused, match="wrong user name or password"):
            accounts.login(ctx, f"nobody{i}", PASSWORD)
    with db.tx() as tx:
        names = {r["username"] for r in tx.all("SELECT username FROM login_failures")}
        sessions = tx.all("SELECT * FROM user_sessions")
    assert names == {"wang"} and sessions == []
    clock.now += accounts.LOGIN_WINDOW
    token, _ = accounts.login(ctx, "wang", PASSWORD)
    assert accounts.session(ctx, token, idle=60, absolute=600) is not None


def test_sessions_end_when_idle_when_old_at_logout_and_everywhere(
    db: Database,  # noqa: F811
    tmp_path: Path,
) -> None:
    clock = Clock()
    ctx = _ctx(db, tmp_path, clock)
    accounts.add_user(ctx, "wang", PASSWORD, ["buyer"])
    idle, absolute = 100.0, 1000.0
    token, _ = accounts.login(ctx, "wang", PASSWORD)
    clock.now += idle + 1
    assert accounts.session(ctx, token, idle=idle, absolute=absolute) is None
    assert accounts.session(ctx, token, idle=1e9, absolute=1e9) is None  # it was ended, not hidden

    token, _ = accounts.login(ctx, "wang", PASSWORD)
    for _ in range(12):  # used every 90 s: idle never reached, but the absolute limit is
        clock.now += 90
        alive = accounts.session(ctx, token, idle=idle, absolute=absolute)
    assert alive is None

    first, _ = accounts.login(ctx, "wang", PASSWORD)
    second, _ = accounts.login(ctx, "wang", PASSWORD)
    person = accounts.session(ctx, first, idle=idle, absolute=absolute)
    assert person is not None
    accounts.logout(ctx, person)
    assert accounts.session(ctx, first, idle=idle, absolute=absolute) is None
    assert accounts.session(ctx, second, idle=idle, absolute=absolute) is not None
    third, _ = accounts.login(ctx, "wang", PASSWORD)
    person = accounts.session(ctx, third, idle=idle, absolute=absolute)
    assert person is not None
    assert accounts.logout(ctx, person, everywhere=True) == 2
    assert accounts.session(ctx, second, idle=idle, absolute=absolute) is None


def test_changes_end_sessions_and_the_last_admin_stays(db: Database, tmp_path: Path) -> None:  # noqa: F811
    clock = Clock()
    ctx = _ctx(db, tmp_path, clock)
    admin = accounts.add_user(ctx, "root", PASSWORD, ["admin"])
    buyer = accounts.add_user(ctx, "wang", PASSWORD, ["buyer"])
    actor = {"user": "root", "roles": ["admin"]}
    with pytest.raises(Refused, match="last active admin"):
        accounts.change(ctx, admin.id, actor, disabled=True)
    with pytest.raises(Refused, match="last active admin"):
        accounts.change(ctx, admin.id, actor, roles=("buyer",))
    token, _ = accounts.login(ctx, "wang", PASSWORD)
    accounts.change(ctx, buyer.id, actor, roles=("buyer", "provider"))
    assert accounts.session(ctx, token, idle=60, absolute=600) is None
    accounts.change(ctx, buyer.id, actor, disabled=True)
    with pytest.raises(Refused, match="this account is disabled"):
        accounts.login(ctx, "wang", PASSWORD)
    accounts.change(ctx, buyer.id, actor, disabled=False, password="another long secret")
    with pytest.raises(Refused):
        accounts.login(ctx, "wang", PASSWORD)
    accounts.login(ctx, "wang", "another long secret")
    changes = [d for k, d in _evidence(db) if k == "user.changed"]
    assert [c["actor"] for c in changes] == [actor] * 3
    assert changes[0]["roles"] == ["buyer", "provider"] and changes[1]["disabled"] is True
    assert all("password_hash" not in c for c in changes) and changes[2]["password"] is True
