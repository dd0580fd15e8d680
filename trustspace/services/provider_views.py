"""What a data provider's people read about their own products: the profile of uploaded files
before they are published, the products and their versions with their listing submissions,
and the uses of the products over time.

Reads only: nothing here writes to the store or the blob folder.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trustspace.core import fileset
from trustspace.core.records import Dataset, Offer
from trustspace.services.context import NodeContext
from trustspace.services.errors import NotFound, Refused
from trustspace.store import blobs
from trustspace.store import datasets as dataset_rows

Json = dict[str, Any]
IDENTIFYING = ("cn_resident_id", "passport", "cn_mobile", "email", "bank_card")
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
LISTING_ACTION = "portal.listing-submit"
"""The evidence kind the portal writes when a person submits a version for listing."""


def persons(profile: Json) -> int:
    """Distinct persons: the most distinct values of a column holding an identifying kind."""
    most = 0
    for column in profile.get("columns", []):
        kinds = (column.get("pii") or {}).get("kinds", {})
        if any(kind in kinds for kind in IDENTIFYING):
            most = max(most, int(column.get("distinct") or 0))
    return most


def _combined(profiles: dict[str, Json]) -> Json:
    """The profile of a version of several files: each file's under ``files``, and the totals
    the listing rules read (columns as ``table.column``; persons summed, an upper bound)."""
    return {
        "files": profiles,
        "sha256": fileset.version_hash((name, p["sha256"]) for name, p in profiles.items()),
        "rows": sum(int(p.get("rows", 0)) for p in profiles.values()),
        "columns": [
            {**c, "name": f"{fileset.table_name(name)}.{c['name']}"}
            for name, p in profiles.items()
            for c in p.get("columns", [])
        ],
        "pii_kinds": sorted({k for p in profiles.values() for k in p.get("pii_kinds", [])}),
        "sensitive": any(bool(p.get("sensitive")) for p in profiles.values()),
        "persons": sum(int(p.get("persons", 0)) for p in profiles.values()),
    }


def profile_uploads(ctx: NodeContext, files: list[tuple[str, str]]) -> Json | None:
    """The profile and personal-information scan of uploaded files (name, upload SHA-256), as
    the version's profile: one file's own, or the combined one of several.  None when a file is
    not tabular (CSV, JSON Lines, Parquet): such a version is published without a profile."""
    from trustspace.products.profile import profile_file

    problem = fileset.name_problem([name for name, _ in files]) if files else None
    if problem:
        raise Refused(problem)
    found: dict[str, Json] = {}
    for name, sha in files:
        stored = blobs.stored(ctx.blob_dir, sha)
        if stored is None:
            raise NotFound(f"no upload {sha} for {name}: upload the file first")
        fmt = FORMATS.get(Path(name).suffix.lower())
        if fmt is None:
            return None
        try:
            profile = profile_file(stored[0], fmt=fmt)
        except (ValueError, OSError) as exc:
            raise Refused(f"{name} could not be profiled: {exc}") from None
        profile["persons"] = persons(profile)
        found[name] = profile
    if not found:
        return None
    return found[files[0][0]] if len(files) == 1 else _combined(found)


@dataclass
class Version:
    dataset: Dataset
    offers: list[Offer]
    listings: list[Json] = field(default_factory=list)


@dataclass
class Product:
    id: str
    versions: list[Version]

    @property
    def latest(self) -> Version:
        return self.versions[-1]


def _listings(ctx: NodeContext, dataset_ids: list[str]) -> dict[str, list[Json]]:
    found: dict[str, list[Json]] = {d: [] for d in dataset_ids}
    if not dataset_ids:
        return found
    with ctx.db.tx() as tx:
        marks = ",".join("?" for _ in dataset_ids)
        rows = tx.all(f"SELECT at, subject, data FROM evidence WHERE kind = ?"
                      f" AND subject IN ({marks}) ORDER BY seq", (LISTING_ACTION, *dataset_ids))  # fmt: skip
    for row in rows:
        data = json.loads(row["data"])
        found[row["subject"]].append({"at": row["at"], **data})
    return found


def products(ctx: NodeContext) -> list[Product]:
    """This node's products, each with its versions (oldest first), newest product first."""
    with ctx.db.tx() as tx:
        datasets = dataset_rows.list_datasets(tx)
        offers = dataset_rows.offers_for(tx, [d.id for d in datasets])
    listings = _listings(ctx, [d.id for d in datasets])
    grouped: dict[str, list[Version]] = {}
    for d in sorted(datasets, key=lambda d: d.created_at):
        grouped.setdefault(d.product_id or d.id, []).append(
            Version(d, offers.get(d.id, []), listings.get(d.id, []))
        )
    found = [Product(pid, versions) for pid, versions in grouped.items()]
    return sorted(found, key=lambda p: -p.latest.dataset.created_at)


def product_of(ctx: NodeContext, dataset_id: str) -> tuple[Product, Version]:
    """The product ``dataset_id`` is a version of, and that version."""
    for product in products(ctx):
        for version in product.versions:
            if version.dataset.id == dataset_id:
                return product, version
    raise NotFound(f"no dataset {dataset_id}")


@dataclass(frozen=True)
class Usage:
    days: list[tuple[str, int]]
    """Uses per day (UTC, ``YYYY-MM-DD``), every day of the period, oldest first."""
    by_product: list[tuple[str, str, int]]
    """(dataset id, title, uses) over the period, most used first."""
    total: int


def usage(ctx: NodeContext, days: int = 30) -> Usage:
    """Uses of this node's products (each access served under an agreement where this node is
    the provider, as the usage records count them) per day over the last ``days`` days."""
    now = ctx.clock()
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    first = today - dt.timedelta(days=days - 1)
    since = dt.datetime.combine(first, dt.time(), dt.UTC).timestamp()
    with ctx.db.tx() as tx:
        rows = tx.all(
            "SELECT u.at AS at, a.dataset_id AS dataset_id FROM usage u"
            " JOIN agreements a ON a.id = u.agreement_id"
            " WHERE a.provider_id = ? AND u.at >= ? ORDER BY u.at",
            (ctx.participant_id, since),
        )
        titles = {d.id: d.title for d in dataset_rows.list_datasets(tx)}
    per_day: Counter[str] = Counter()
    per_dataset: Counter[str] = Counter()
    for row in rows:
        if row["dataset_id"] not in titles:
            continue
        day = dt.datetime.fromtimestamp(float(row["at"]), dt.UTC).date().isoformat()
        per_day[day] += 1
        per_dataset[row["dataset_id"]] += 1
    series = [
        ((first + dt.timedelta(days=i)).isoformat(),
         per_day[(first + dt.timedelta(days=i)).isoformat()])
        for i in range(days)
    ]  # fmt: skip
    ranked = [(d, titles[d], n) for d, n in per_dataset.most_common()]
    return Usage(series, ranked, sum(per_day.values()))
