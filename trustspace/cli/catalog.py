"""Publishing a file and reading a provider's catalog: ``publish``, ``catalog``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from trustspace.cli.common import (
    USAGE,
    call,
    console,
    fail,
    json_option,
    key_option,
    node_option,
    print_table,
    records,
    show,
    table,
)


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
    """Show the catalog of the provider at ADDRESS (its DSP base URL)."""
    data = call(node, key, "POST", "/api/catalog", {"address": address, "providerId": provider_id})
    records(data, as_json, _render)


def _render(data: dict[str, Any]) -> None:
    t = table("dataset", "title", "offers", "formats", ids=("dataset", "offers"))
    for d in data.get("dataset", []):
        t.add_row(
            d["@id"],
            str(d.get("title", "")),
            "\n".join(o["@id"] for o in d.get("hasPolicy", [])),
            ", ".join(x["format"] for x in d.get("distribution", [])),
        )
    console.print(f"catalog of [bold]{data.get('participantId')}[/bold]")
    print_table(t)
