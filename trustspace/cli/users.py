"""``trustspace user``: the people of a node, managed on the node's own machine.

These commands open the node's store directly (the settings say where: ``--config``,
``--data-dir``, ``--database`` or the environment), so the first admin can be made before
anyone can sign in to the portal; admins then manage the rest in the portal.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from trustspace import settings as settings_mod
from trustspace.cli.common import (
    USAGE,
    console,
    fail,
    json_option,
    print_table,
    refused,
    show,
    table,
)
from trustspace.cli.node import _load
from trustspace.services import accounts
from trustspace.services.context import NodeContext
from trustspace.services.errors import BadRequest, NotFound, Refused
from trustspace.store.db import Database


def _node_options(f: Any) -> Any:
    """Where the node's store is: its settings file, data folder or database."""
    for opt in reversed([
        click.option("--config", "-c", type=click.Path(path_type=Path, dir_okay=False),
                     help="The node's settings file (TOML)."),
        click.option("--data-dir", help=settings_mod.BY_NAME["data_dir"].help),
        click.option("--database", help=settings_mod.BY_NAME["database"].help),
    ]):  # fmt: skip
        f = opt(f)
    return f


def _store(config: Path | None, flags: dict[str, Any]) -> NodeContext:
    s = _load(config, flags)
    db = Database(s.database_url, pool_size=1)
    db.migrate()
    return NodeContext(db=db, participant_id=s.participant_id, dsp_base="", data_base="",
                       blob_dir=s.data_path / "blobs")  # fmt: skip


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


def _run(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except BadRequest as exc:
        fail(exc.reason, USAGE)
    except (Refused, NotFound) as exc:
        refused(exc.reason)


@click.group("user")
def user() -> None:
    """Accounts of the people who use this node's portal."""


@user.command("add")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True,
              type=click.Choice(accounts.ROLES), help="A role of the account (repeat for more).")  # fmt: skip
@click.option("--name", "display_name", default="", help="The person's name as shown.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of stdin (else it is asked for).")  # fmt: skip
@_node_options
@json_option
def add(username: str, roles: tuple[str, ...], display_name: str, password_stdin: bool,
        config: Path | None, as_json: bool, **flags: Any) -> None:  # fmt: skip
    """Add the account USERNAME (the first admin: trustspace user add NAME --role admin)."""
    ctx = _store(config, flags)
    made = _run(accounts.add_user, ctx, username, _password(password_stdin), roles,
                display_name=display_name)  # fmt: skip
    if as_json:
        show(made.view())
        return
    console.print(f"added {made.username} ({', '.join(made.roles)})")


@user.command("list")
@_node_options
@json_option
def list_users(config: Path | None, as_json: bool, **flags: Any) -> None:
    """The node's accounts."""
    found = [u.view() for u in accounts.users(_store(config, flags))]
    if as_json:
        show(found)
        return
    t = table("user", "name", "roles", "standing")
    for u in found:
        t.add_row(u["username"], u["displayName"], ", ".join(u["roles"]),
                  "disabled" if u["disabled"] else "active")  # fmt: skip
    print_table(t)


def _change(username: str, config: Path | None, flags: dict[str, Any], as_json: bool,
            **change: Any) -> None:  # fmt: skip
    ctx = _store(config, flags)
    found = _run(accounts.find, ctx, username)
    changed = _run(accounts.change, ctx, found.id, accounts.SYSTEM, **change)
    if as_json:
        show(changed.view())
        return
    console.print(f"{username}: changed; every session of the account has ended")


@user.command("disable")
@click.argument("username")
@_node_options
@json_option
def disable(username: str, config: Path | None, as_json: bool, **flags: Any) -> None:
    """Disable the account USERNAME and end its sessions."""
    _change(username, config, flags, as_json, disabled=True)


@user.command("enable")
@click.argument("username")
@_node_options
@json_option
def enable(username: str, config: Path | None, as_json: bool, **flags: Any) -> None:
    """Enable the disabled account USERNAME."""
    _change(username, config, flags, as_json, disabled=False)


@user.command("password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the new password from stdin.")
@_node_options
@json_option
def password(username: str, password_stdin: bool, config: Path | None, as_json: bool,
             **flags: Any) -> None:  # fmt: skip
    """Set the password of the account USERNAME and end its sessions."""
    _change(username, config, flags, as_json, password=_password(password_stdin))
