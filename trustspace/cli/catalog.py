"""Publishing a file and reading a provider's catalog: ``publish``, ``catalog``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from trustspace.cli.common import (
    USAGE,
    call,
    fail,
    json_option,
    key_option,
    node_option,
    show,
)
from trustspace.core.odrl import PolicyError
from trustspace.core.odrl.vocab import TRUSTSPACE
from trustspace.core.odrl.words import describe_offer, money_words

PRICE_KEY = TRUSTSPACE + "price"  # as trustspace.services.catalog lists a dataset's price


@click.command()
@node_option
@key_option
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--title", help="Dataset title (default: the file name).")
@click.option("--description", default="", help="Dataset description.")
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="JSON file with the offer's ODRL rules (default: permission to use).",
)
@click.option(
    "--access-policy",
    "access_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="JSON file with an ODRL policy deciding who sees the dataset (default: everyone).",
)
@click.option(
    "--compute-rule",
    "compute_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="JSON analysis rule: offer compute-to-data (Compute-SQL) on this dataset.",
)
@click.option(
    "--classification",
    type=click.Choice(["general", "important"]),
    default="general",
    show_default=True,
    help="Data classification (core data is never listed).",
)
@click.option("--id", "dataset_id", help="Dataset id (default: a new urn:uuid).")
@json_option
def publish(
    node: str,
    key: str,
    file: Path,
    title: str | None,
    description: str,
    policy_file: Path | None,
    access_file: Path | None,
    compute_file: Path | None,
    classification: str,
    dataset_id: str | None,
    as_json: bool,
) -> None:
    """Publish FILE as a dataset with an offer (the node copies the file)."""
    body: dict[str, Any] = {
        "path": str(file.resolve()),
        "title": title or file.name,
        "description": description,
    }
    for field, source in (
        ("policy", policy_file),
        ("accessPolicy", access_file),
        ("computeRule", compute_file),
    ):
        if source:
            try:
                body[field] = json.loads(source.read_text())
            except ValueError as exc:
                fail(f"{source} is not valid JSON: {exc}", USAGE)
    body["classification"] = classification
    if dataset_id:
        body["id"] = dataset_id
    show(call(node, key, "POST", "/api/datasets", body))


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
