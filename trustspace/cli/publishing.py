"""Publishing a product version from the command line, once: ``publish FILE`` is ``product add``
with one file, and both take the same options (:func:`version_options`) and run
:func:`publish_version`.

Rules:
- Files are uploaded to the node over the management API (``POST /api/uploads``), streamed
  with a progress bar on stderr and checked against the SHA-256 the command computed, so the
  command works from any machine.  ``--path-on-node`` sends paths the node reads on its own
  disk instead (the node's machine, or a folder it shares).
- CSV, JSON Lines and Parquet files are profiled and scanned for personal information on the
  way (streaming, a progress bar); other files are published without a profile.
- Nothing is sent before every option file is read and every local file is found.
- stdout carries the node's answer as JSON; progress and summaries go to stderr.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TransferSpeedColumn

from trustspace.cli.client import ApiError
from trustspace.cli.common import USAGE, api_failed, client, fail, show

err = Console(stderr=True)
IDENTIFYING = ("cn_resident_id", "passport", "cn_mobile", "email", "bank_card")
TABULAR = (".csv", ".jsonl", ".ndjson", ".parquet")


def _bar() -> Progress:
    return Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                    TransferSpeedColumn(), console=err, transient=True)  # fmt: skip


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

    with _bar() as bar:
        task = bar.add_task(f"profiling {path.name}", total=path.stat().st_size)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            result: dict[str, Any] = profile_file(path, validate=validate, on_progress=progress)
        except ValueError as exc:
            fail(f"{path}: {exc}", USAGE)
            raise AssertionError from exc
    result["persons"] = persons(result)
    return result


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


def _json_file(kind: str, help: str) -> Callable[[Any], Any]:
    return click.option(f"--{kind}", f"{kind.replace('-', '_')}_file",
                        type=click.Path(path_type=Path, exists=True, dir_okay=False), help=help)  # fmt: skip


OPTIONS: tuple[Callable[[Any], Any], ...] = (
    click.option("--title", help="Title (default: the first file's name)."),
    click.option("--description", default="", help="Description."),
    click.option("--keywords", default="", help="Comma-separated keywords."),
    click.option("--version", "version", help="Version label (the content hash always names it)."),
    click.option(
        "--classification",
        type=click.Choice(["general", "important", "core"]),
        default="general",
        show_default=True,
        help="Data classification (core data is never listed).",
    ),
    _json_file("policy", "JSON file with the offer's ODRL rules (default: permission to use)."),
    _json_file("access-policy", "JSON file with an ODRL policy deciding who sees the version."),
    _json_file("compute-rule", "JSON analysis rule: offer compute-to-data (Compute-SQL)."),
    _json_file("declaration", "JSON: source and its reference, legal basis, rights, crossBorder."),
    click.option("--update-frequency", help="How often new versions come: daily, weekly, ..."),
    click.option("--previous-version", help="Dataset id of the product's newest version."),
    click.option("--license", "license_", help="License (a URL or an SPDX id)."),
    click.option("--price", help="Price, a decimal amount (with --currency)."),
    click.option("--currency", help="Currency of the price, e.g. CNY."),
    click.option("--id", "dataset_id", help="Dataset id (default: a new urn:uuid)."),
    click.option(
        "--pii-sample",
        type=click.IntRange(min=1),
        default=256,
        show_default=True,
        help="Pattern candidates per column and batch whose check digits are verified.",
    ),
    click.option(
        "--path-on-node",
        is_flag=True,
        help="Send the node the files' paths to read on its own disk instead of uploading them"
        " (only where the node sees the same files).",
    ),
)


def version_options(f: Any) -> Any:
    """The options of ``publish`` and ``product add``."""
    for option in reversed(OPTIONS):
        f = option(f)
    return f


def _read_json(source: Path) -> Any:
    try:
        return json.loads(source.read_text())
    except (ValueError, OSError) as exc:
        fail(f"{source} is not valid JSON: {exc}", USAGE)


def _upload(node: str, key: str, files: tuple[Path, ...],
            profiles: dict[str, dict[str, Any]]) -> list[dict[str, str]]:  # fmt: skip
    sent = []
    with client(node, key) as c, _bar() as bar:
        for f in files:
            task = bar.add_task(f"uploading {f.name}", total=f.stat().st_size)

            def progress(done: int, total: int, task: TaskID = task) -> None:
                bar.update(task, completed=done, total=total)

            expected = profiles.get(f.name, {}).get("sha256")
            try:
                answer = c.upload(f, sha256=expected, progress=progress)
            except ApiError as exc:
                api_failed(exc)
                raise AssertionError from exc
            sent.append({"name": f.name, "upload": str(answer["upload"])})
    return sent


def publish_version(node: str, key: str, files: tuple[Path, ...], *, title: str | None,
                    description: str, keywords: str, version: str | None, classification: str,
                    policy_file: Path | None, access_policy_file: Path | None,
                    compute_rule_file: Path | None, declaration_file: Path | None,
                    update_frequency: str | None, previous_version: str | None,
                    license_: str | None, price: str | None, currency: str | None,
                    dataset_id: str | None, pii_sample: int, path_on_node: bool) -> None:  # fmt: skip
    """Profile, upload (or name on the node) and publish ``files`` as one product version."""
    from trustspace.core.fileset import name_problem

    for f in files:
        if not path_on_node and not f.is_file():
            raise click.BadParameter(f"File '{f}' does not exist.", param_hint="FILE")
    problem = name_problem([f.name for f in files])
    if problem:
        fail(problem, USAGE)
    body: dict[str, Any] = {
        "title": title or files[0].name, "description": description,
        "keywords": [k.strip() for k in keywords.split(",") if k.strip()],
        "classification": classification, "version": version, "license": license_,
        "price": price, "currency": currency, "updateFrequency": update_frequency,
        "previousVersion": previous_version, "id": dataset_id,
    }  # fmt: skip
    for field, source in (("policy", policy_file), ("accessPolicy", access_policy_file),
                          ("computeRule", compute_rule_file), ("declaration", declaration_file)):  # fmt: skip
        if source:
            body[field] = _read_json(source)
    profiles = {f.name: profile_with_progress(f, pii_sample) for f in files
                if f.suffix.lower() in TABULAR and f.is_file()}  # fmt: skip
    if len(profiles) == len(files):  # a version is profiled whole, or the node scans it
        profile = profiles[files[0].name] if len(files) == 1 else combined(profiles)
        found = ", ".join(profile.get("pii_kinds", [])) or "none"
        err.print(f"{profile['rows']:,} rows, {len(profile['columns'])} columns;"
                  f" personal information: {found}")  # fmt: skip
        body["profile"] = profile
    if path_on_node:
        paths = [str(f if f.is_absolute() else f.resolve()) for f in files]
        body.update({"path": paths[0]} if len(files) == 1 else {"paths": paths})
    else:
        body["files"] = _upload(node, key, files, profiles)
    with client(node, key) as c:
        try:
            answer = c.call(
                "POST", "/api/datasets", {k: v for k, v in body.items() if v is not None}
            )
        except ApiError as exc:
            api_failed(exc)
    show(answer)
