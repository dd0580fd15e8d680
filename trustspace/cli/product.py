"""``trustspace product``: add a data product version (profiled and scanned on the way in) and
submit it for listing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from trustspace.cli.common import (
    USAGE,
    call,
    errors,
    fail,
    json_option,
    key_option,
    node_option,
    resolve,
    show,
)

IDENTIFYING = ("cn_resident_id", "passport", "cn_mobile", "email", "bank_card")


def persons(profile: dict[str, Any]) -> int:
    """Distinct persons, estimated as the most distinct values in an identifying column."""
    best = 0
    for column in profile.get("columns", []):
        kinds = (column.get("pii") or {}).get("kinds", {})
        if any(k in kinds for k in IDENTIFYING):
            best = max(best, int(column.get("distinct") or 0))
    return best


def profile_with_progress(path: Path, validate: int = 256) -> dict[str, Any]:
    from trustspace.products.profile import profile_file

    with Progress(
        "[progress.description]{task.description}", BarColumn(), DownloadColumn(),
        TransferSpeedColumn(), console=errors, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task(f"profiling {path.name}", total=path.stat().st_size)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            result: dict[str, Any] = profile_file(path, validate=validate, on_progress=progress)
        except ValueError as exc:
            fail(f"{path}: {exc}", USAGE)
    result["persons"] = persons(result)
    return result


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


def combined(profiles: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One profile for a version of several files: the per-file profiles under ``files``, and
    the totals the listing rules read.  Columns are named ``table.column``; persons are summed
    over the files (an upper bound: the cross-border counters err on the side of refusing)."""
    from trustspace.core.fileset import table_name, version_hash

    kinds = sorted({k for p in profiles.values() for k in p.get("pii_kinds", [])})
    return {
        "files": profiles,
        "sha256": version_hash((name, p["sha256"]) for name, p in profiles.items()),
        "rows": sum(int(p.get("rows", 0)) for p in profiles.values()),
        "columns": [
            {**c, "name": f"{table_name(name)}.{c['name']}"}
            for name, p in profiles.items()
            for c in p.get("columns", [])
        ],
        "pii_kinds": kinds,
        "sensitive": any(bool(p.get("sensitive")) for p in profiles.values()),
        "persons": sum(int(p.get("persons", 0)) for p in profiles.values()),
    }


@product.command("add")
@node_option
@key_option
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, dir_okay=False)
)
@click.option("--title", help="Title (default: the first file's name).")
@click.option("--description", default="", help="What the product holds.")
@click.option("--keywords", default="", help="Comma-separated keywords.")
@click.option("--version", "version", help="Version label (default: the content hash).")
@classification_option
@click.option(
    "--declaration",
    "declaration_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="JSON: source and its reference, legal basis, rights, crossBorder.",
)
@policy_option
@click.option("--update-frequency", help="How often new versions come: daily, weekly, monthly, ...")
@click.option(
    "--previous-version", help="Dataset id of the product's newest version: this one follows it."
)
@click.option(
    "--pii-sample",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="Pattern candidates per column and batch whose check digits are verified.",
)
@click.option("--license", "license_", help="License of the data (e.g. CC-BY-4.0).")
@click.option("--price", help="Price of the product (with --currency).")
@click.option("--currency", help="Currency of --price, e.g. CNY.")
@json_option
def add(node: str, key: str, files: tuple[Path, ...], title: str | None, description: str,
        keywords: str, version: str | None, classification: str, declaration_file: Path | None,
        policy_file: Path | None, update_frequency: str | None, previous_version: str | None,
        pii_sample: int, license_: str | None, price: str | None,
        currency: str | None, as_json: bool) -> None:  # fmt: skip
    """Profile and scan FILES (CSV, JSON Lines, Parquet), then publish them as one product
    version.  Several files make one version of several tables, each named after its file."""
    from trustspace.core.fileset import name_problem

    problem = name_problem([f.name for f in files])
    if problem:
        fail(problem, USAGE)
    profiles = {f.name: profile_with_progress(f, pii_sample) for f in files}
    profile = profiles[files[0].name] if len(files) == 1 else combined(profiles)
    where: dict[str, Any] = (
        {"path": str(files[0].resolve())} if len(files) == 1
        else {"paths": [str(f.resolve()) for f in files]}
    )  # fmt: skip
    body: dict[str, Any] = {
        **where, "title": title or files[0].name, "description": description,
        "keywords": [k.strip() for k in keywords.split(",") if k.strip()],
        "classification": classification, "version": version, "license": license_,
        "price": price, "currency": currency, "profile": profile,
        "updateFrequency": update_frequency, "previousVersion": previous_version,
    }  # fmt: skip
    for field, source in (("declaration", declaration_file), ("policy", policy_file)):
        if source:
            try:
                body[field] = json.loads(source.read_text())
            except ValueError as exc:
                fail(f"{source} is not valid JSON: {exc}", USAGE)
    found = ", ".join(profile.get("pii_kinds", [])) or "none"
    errors.print(
        f"{profile['rows']:,} rows, {len(profile['columns'])} columns; personal information: {found}"
    )
    show(call(node, key, "POST", "/api/datasets", {k: v for k, v in body.items() if v is not None}))


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
