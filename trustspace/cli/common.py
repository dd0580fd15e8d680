"""What the command-line modules share: the console, failing, and talking to a node."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console

from trustspace.cli.client import ApiError, ManagementClient

console = Console()


def fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    sys.exit(1)


node_option = click.option(
    "--node",
    envvar="TRUSTSPACE_NODE",
    default="http://127.0.0.1:8080",
    show_default=True,
    help="Management URL of the node to drive.",
)
key_option = click.option(
    "--key", envvar="TRUSTSPACE_MANAGEMENT_KEY", required=True, help="Management key of that node."
)


def client(node: str, key: str) -> ManagementClient:
    return ManagementClient(node, key)


def call(node: str, key: str, method: str, path: str, body: Any = None) -> Any:
    with client(node, key) as c:
        try:
            return c.call(method, path, body)
        except ApiError as exc:
            fail(str(exc))


def show(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))
