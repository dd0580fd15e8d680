"""Publishing a file and reading a provider's catalog: ``publish``, ``catalog``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from trustspace.cli.common import call, console, key_option, node_option
from trustspace.cli.publishing import publish_version, version_options


@click.command()
@node_option
@key_option
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@version_options
def publish(node: str, key: str, file: Path, **options: Any) -> None:
    """Publish FILE as a product version with an offer: uploaded to the node, which keeps a
    copy under its SHA-256.  The plain case of ``product add``, with the same options."""
    publish_version(node, key, (file,), **options)


@click.command()
@node_option
@key_option
@click.argument("address")
@click.option("--provider-id", help="The provider's participant id (default: from the trust list).")
def catalog(node: str, key: str, address: str, provider_id: str | None) -> None:
    """Show the catalog of the provider at ADDRESS (its DSP base URL)."""
    data = call(node, key, "POST", "/api/catalog", {"address": address, "providerId": provider_id})
    table = Table("dataset", "title", "offers", "formats")
    for d in data.get("dataset", []):
        table.add_row(
            d["@id"],
            str(d.get("title", "")),
            ", ".join(o["@id"] for o in d.get("hasPolicy", [])),
            ", ".join(x["format"] for x in d.get("distribution", [])),
        )
    console.print(f"catalog of [bold]{data.get('participantId')}[/bold]")
    console.print(table)
