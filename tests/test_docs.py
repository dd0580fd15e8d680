"""Every setting and every CLI command is documented."""

from __future__ import annotations

from pathlib import Path

import click

from trustspace import settings
from trustspace.cli import main
from trustspace.core import registry

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _commands(group: click.Group, prefix: str = "") -> list[str]:
    out = []
    for name, cmd in group.commands.items():
        out.append(prefix + name)
        if isinstance(cmd, click.Group):
            out.extend(_commands(cmd, prefix + name + " "))
    return out


def test_every_setting_is_documented() -> None:
    text = (DOCS / "settings.md").read_text()
    missing = [s.name for s in settings.SETTINGS if f"`{s.name}`" not in text]
    assert missing == []


def test_every_command_is_documented() -> None:
    text = (DOCS / "cli.md").read_text()
    missing = [
        c
        for c in _commands(main)
        if f"trustspace {c}" not in text and f"`{c.split()[-1]}`" not in text
    ]
    assert missing == []


def test_every_command_has_help() -> None:
    def walk(group: click.Group) -> list[click.Command]:
        cmds: list[click.Command] = []
        for cmd in group.commands.values():
            cmds.append(cmd)
            if isinstance(cmd, click.Group):
                cmds.extend(walk(cmd))
        return cmds

    assert [c.name for c in walk(main) if not (c.help or "").strip()] == []


def _walk(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out: list[tuple[str, click.Command]] = []
    for name, cmd in group.commands.items():
        out.append((prefix + name, cmd))
        if isinstance(cmd, click.Group):
            out.extend(_walk(cmd, prefix + name + " "))
    return out


def test_every_option_has_help_and_every_argument_is_described() -> None:
    missing = []
    for name, cmd in _walk(main):
        for param in cmd.params:
            if isinstance(param, click.Option) and not (param.help or "").strip():
                missing.append(f"{name} {param.opts[0]}")
            if isinstance(param, click.Argument) and param.human_readable_name not in (
                cmd.help or ""
            ):
                missing.append(f"{name} {param.human_readable_name}")
    assert missing == []


# Options whose values come from a closed set: each must offer exactly these in its help.
CLOSED = {"--sector": registry.SECTORS}


def test_choices_are_listed_in_the_help() -> None:
    wrong = []
    for name, cmd in _walk(main):
        if cmd.hidden:
            continue
        with click.Context(cmd, info_name=name) as ctx:
            shown = " ".join(cmd.get_help(ctx).split())
        for param in cmd.params:
            if not isinstance(param, click.Option):
                continue
            closed = CLOSED.get(param.opts[0])
            if closed is not None and not (
                isinstance(param.type, click.Choice) and tuple(param.type.choices) == closed
            ):
                wrong.append(f"{name} {param.opts[0]}: not a choice of {closed}")
            if param.opts[0] == "--roles" and not all(
                r in (param.help or "") for r in registry.ROLES
            ):
                wrong.append(f"{name} --roles: the roles are not listed")
            if param.opts[0] == "--region" and "ISO 3166" not in (param.help or ""):
                wrong.append(f"{name} --region: the form of a region is not given")
            if isinstance(param.type, click.Choice):
                wrong += [f"{name} {param.opts[0]}: {c} not shown"
                          for c in param.type.choices if str(c) not in shown]  # fmt: skip
    assert wrong == []


def test_every_command_that_prints_records_takes_json() -> None:
    # These print no records: they run something, write a file, or print what another
    # program answered (or JSON Lines, for export).
    exempt = {"serve", "demo", "init", "evidence export", "compute mock", "compute try", "call",
              "transfer", "policy", "operator", "member", "evidence", "product",
              "compute", "user"}  # fmt: skip
    lacking = [name for name, cmd in _walk(main) if name not in exempt
               and "as_json" not in {p.name for p in cmd.params}]  # fmt: skip
    assert lacking == []
