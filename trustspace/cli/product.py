"""``trustspace product``: add a data product version (profiled and scanned on the way in) and
submit it for listing."""

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
    resolve,
    show,
)
from trustspace.cli.publishing import publish_version, version_options

classification_option = click.option(
    "--classification",
    type=click.Choice(["general", "important", "core"]),
    default="general",
    show_default=True,
    help="Data classification (core data is never listed).",
)
policy_option = click.option(
    "--policy",
    "policy_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="JSON with the offer's ODRL rules.",
)


@click.group()
def product() -> None:
    """Add data product versions and submit them for listing."""


@product.command("add")
@node_option
@key_option
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@version_options
@json_option
def add(node: str, key: str, files: tuple[Path, ...], as_json: bool, **options: Any) -> None:
    """Profile and scan FILES (CSV, JSON Lines, Parquet), upload them and publish them as one
    product version.  Several files make one version of several tables, each named after its
    file."""
    publish_version(node, key, files, **options)


@product.command("submit")
@node_option
@key_option
@click.argument("dataset_id")
@click.option("--operator", "operator_id", help="Operator id (default: the first trusted).")
@json_option
def submit(node: str, key: str, dataset_id: str, operator_id: str | None, as_json: bool) -> None:
    """Submit DATASET_ID's current version (a unique prefix will do) for review and listing."""
    dataset_id = resolve(node, key, "dataset", dataset_id)
    show(call(node, key, "POST", f"/api/datasets/{dataset_id}/listing",
                 {"operator": operator_id} if operator_id else {}))  # fmt: skip


@product.command("api")
@node_option
@key_option
@click.argument("base_url")
@click.option("--title", required=True, help="Title of the product.")
@click.option("--description", default="", help="What the API offers.")
@click.option("--auth-env", help="Environment variable of the node holding the backend credential.")
@click.option("--auth-header", default="Authorization", show_default=True,
              help="Header the backend credential goes in.")  # fmt: skip
@click.option("--media-type", default="application/json", show_default=True,
              help="Media type of the API's answers.")  # fmt: skip
@click.option("--post", "allow_post", is_flag=True, help="Consumers may also POST (query APIs).")
@click.option("--version", "version", help="Version label of the API.")
@click.option("--previous-version", help="Dataset id of the product's newest version.")
@classification_option
@policy_option
@json_option
def api(node: str, key: str, base_url: str, title: str, description: str, auth_env: str | None,
        auth_header: str, media_type: str, allow_post: bool, version: str | None,
        previous_version: str | None,
        classification: str, policy_file: Path | None, as_json: bool) -> None:  # fmt: skip
    """Publish an HTTP API at BASE_URL as a product: consumers call it through this node's
    data plane under a contract; the backend address and credential are never shown."""
    body: dict[str, Any] = {
        "title": title, "description": description, "classification": classification,
        "version": version, "previousVersion": previous_version,
        "api": {"baseUrl": base_url, "authHeader": auth_header, "mediaType": media_type,
                "methods": ["GET", "POST"] if allow_post else ["GET"],
                **({"authEnv": auth_env} if auth_env else {})},
    }  # fmt: skip
    if policy_file:
        try:
            body["policy"] = json.loads(policy_file.read_text())
        except ValueError as exc:
            fail(f"{policy_file} is not valid JSON: {exc}", USAGE)
    show(call(node, key, "POST", "/api/datasets", {k: v for k, v in body.items() if v is not None}))
