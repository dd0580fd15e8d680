"""``trustspace product``: add a data product version (profiled and scanned on the way in) and
submit it for listing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from trustspace.cliutil import _call, _fail, _print, console, key_option, node_option

IDENTIFYING = ("cn_resident_id", "passport", "cn_mobile", "email", "bank_card")


def persons(profile: dict[str, Any]) -> int:
    """Distinct persons, estimated as the most distinct values in an identifying column."""
    best = 0
    for column in profile.get("columns", []):
        kinds = (column.get("pii") or {}).get("kinds", {})
        if any(k in kinds for k in IDENTIFYING):
            best = max(best, int(column.get("distinct") or 0))
    return best


def profile_with_progress(path: Path) -> dict[str, Any]:
    from trustspace.products.profile import profile_file

    with Progress(
        "[progress.description]{task.description}", BarColumn(), DownloadColumn(),
        TransferSpeedColumn(), console=console, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task(f"profiling {path.name}", total=path.stat().st_size)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            result: dict[str, Any] = profile_file(path, on_progress=progress)
        except ValueError as exc:
            _fail(f"{path}: {exc}")
            raise AssertionError from exc
    result["persons"] = persons(result)
    return result


@click.group()
def product() -> None:
    """Add data product versions and submit them for listing."""


@product.command("add")
@node_option
@key_option
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--title", help="Title (default: the file name).")
@click.option("--description", default="")
@click.option("--keywords", default="", help="Comma-separated keywords.")
@click.option("--version", "version", help="Version label (default: the content hash).")
@click.option(
    "--classification",
    type=click.Choice(["general", "important", "core"]),
    default="general",
    show_default=True,
)
@click.option(
    "--declaration",
    "declaration_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="JSON: source and its reference, legal basis, rights, crossBorder.",
)
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="JSON with the offer's ODRL rules.",
)
@click.option("--update-frequency", help="How often new versions come: daily, weekly, monthly, ...")
@click.option("--license", "license_")
@click.option("--price")
@click.option("--currency")
def add(node: str, key: str, file: Path, title: str | None, description: str, keywords: str,
        version: str | None, classification: str, declaration_file: Path | None,
        policy_file: Path | None, update_frequency: str | None, license_: str | None, price: str | None,
        currency: str | None) -> None:  # fmt: skip
    """Profile and scan FILE (CSV, JSON Lines, Parquet), then publish it as a product version."""
    profile = profile_with_progress(file)
    body: dict[str, Any] = {
        "path": str(file.resolve()), "title": title or file.name, "description": description,
        "keywords": [k.strip() for k in keywords.split(",") if k.strip()],
        "classification": classification, "version": version, "license": license_,
        "price": price, "currency": currency, "profile": profile,
        "updateFrequency": update_frequency,
    }  # fmt: skip
    for field, source in (("declaration", declaration_file), ("policy", policy_file)):
        if source:
            try:
                body[field] = json.loads(source.read_text())
            except ValueError as exc:
                _fail(f"{source} is not valid JSON: {exc}")
    found = ", ".join(profile.get("pii_kinds", [])) or "none"
    console.print(
        f"{profile['rows']:,} rows, {len(profile['columns'])} columns; personal information: {found}"
    )
    _print(
        _call(node, key, "POST", "/api/datasets", {k: v for k, v in body.items() if v is not None})
    )


@product.command("submit")
@node_option
@key_option
@click.argument("dataset_id")
@click.option("--operator", "operator_id", help="Operator id (default: the first trusted).")
def submit(node: str, key: str, dataset_id: str, operator_id: str | None) -> None:
    """Submit DATASET_ID's current version for review and listing."""
    _print(_call(node, key, "POST", f"/api/datasets/{dataset_id}/listing",
                 {"operator": operator_id} if operator_id else {}))  # fmt: skip
