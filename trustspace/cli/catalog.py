"""Publishing a file and reading a provider's catalog: ``publish``, ``catalog``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from trustspace.cli.common import call, json_option, key_option, node_option, show
from trustspace.cli.publishing import publish_version, version_options
from trustspace.core.odrl import PolicyError
from trustspace.core.odrl.vocab import TRUSTSPACE
from trustspace.core.odrl.words import describe_offer, money_words

PRICE_KEY = TRUSTSPACE + "price"  # as trustspace.services.catalog lists a dataset's price


@click.command()
@node_option
@key_option
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@version_options
@json_option
def publish(node: str, key: str, file: Path, as_json: bool, **options: Any) -> None:
    """Publish FILE as a product version with an offer: uploaded to the node, which keeps a
    copy under its SHA-256.  The plain case of ``product add``, with the same options."""
    publish_version(node, key, (file,), **options)


@click.command()
@node_option
@key_option
@click.argument("address")
@click.option("--provider-id", help="The provider's participant id (default: from the trust list).")
@json_option
def catalog(node: str, key: str, address: str, provider_id: str | None, as_json: bool) -> None:
    """Show the catalog of the provider at ADDRESS (its DSP base URL): each dataset, its offers
    and their terms in plain words (the ODRL itself with --json)."""
    data = call(node, key, "POST", "/api/catalog", {"address": address, "providerId": provider_id})
    if as_json:
        show(data)
        return
    datasets = data.get("dataset", [])
    click.echo(f"catalog of {data.get('participantId')}: {len(datasets)} dataset(s)")
    for d in datasets:
        click.echo("")
        click.echo(f"{d.get('title') or '(untitled)'}  {d['@id']}")
        formats = ", ".join(x["format"] for x in d.get("distribution", []))
        click.echo(f"  formats: {formats or 'none'}")
        price = d.get(PRICE_KEY)
        if isinstance(price, dict) and "amount" in price:
            click.echo(f"  listed price: {money_words(price['amount'], price.get('currency'))}")
        for offer in d.get("hasPolicy", []):
            click.echo(f"  offer {offer.get('@id')}")
            for line in _terms(offer):
                click.echo(f"    {line}")


def _terms(offer: dict[str, Any]) -> list[str]:
    try:
        return describe_offer(offer)
    except PolicyError as exc:
        return [f"(the terms cannot be read: {exc}; see them with --json)"]
