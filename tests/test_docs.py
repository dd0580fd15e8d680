"""Every setting and every CLI command is documented."""

from __future__ import annotations

from pathlib import Path

import click

from trustspace import settings
from trustspace.cli import main

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
