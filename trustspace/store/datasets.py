"""Datasets (product versions), their files and their offers.

Rows in, records out, always inside a caller's transaction."""

from __future__ import annotations

import json

from trustspace.core.records import (
    DataFile,
    Dataset,
    Offer,
)
from trustspace.store.db import Row, Tx, dump_json


def insert_dataset(tx: Tx, d: Dataset) -> None:
    tx.execute(
        "INSERT INTO datasets (id, title, description, path, filename, media_type, size, sha256,"
        " formats, created_at, access_policy, classification, keywords, license, price, currency,"
        " version, declaration, profile, compute_rule, update_frequency, product_id,"
        " previous_version, api) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            d.id,
            d.title,
            d.description,
            d.path,
            d.filename,
            d.media_type,
            d.size,
            d.sha256,
            dump_json(list(d.formats)),
            d.created_at,
            None if d.access_policy is None else dump_json(d.access_policy),
            d.classification,
            dump_json(list(d.keywords)),
            d.license,
            d.price,
            d.currency,
            d.version,
            None if d.declaration is None else dump_json(d.declaration),
            None if d.profile is None else dump_json(d.profile),
            None if d.compute_rule is None else dump_json(d.compute_rule),
            d.update_frequency,
            d.product_id,
            d.previous_version,
            None if d.api is None else dump_json(d.api),
        ),
    )
    for position, f in enumerate(d.files):
        tx.execute(
            "INSERT INTO dataset_files (dataset_id, position, name, path, size, sha256, media_type)"
            " VALUES (?,?,?,?,?,?,?)",
            (d.id, position, f.name, f.path, f.size, f.sha256, f.media_type),
        )


def _file(row: Row) -> DataFile:
    return DataFile(row["name"], row["path"], row["size"], row["sha256"], row["media_type"])


def _dataset(row: Row, files: list[DataFile]) -> Dataset:
    return Dataset(
        id=row["id"],
        title=row["title"],
        description=row["description"],
        path=row["path"],
        filename=row["filename"],
        media_type=row["media_type"],
        size=row["size"],
        sha256=row["sha256"],
        formats=tuple(json.loads(row["formats"])),
        created_at=row["created_at"],
        access_policy=None if row["access_policy"] is None else json.loads(row["access_policy"]),
        classification=row["classification"],
        keywords=tuple(json.loads(row["keywords"])),
        license=row["license"],
        price=row["price"],
        currency=row["currency"],
        version=row["version"],
        declaration=None if row["declaration"] is None else json.loads(row["declaration"]),
        profile=None if row["profile"] is None else json.loads(row["profile"]),
        compute_rule=None if row["compute_rule"] is None else json.loads(row["compute_rule"]),
        update_frequency=row["update_frequency"],
        files=tuple(files),
        product_id=row["product_id"],
        previous_version=row["previous_version"],
        api=None if row["api"] is None else json.loads(row["api"]),
    )


def get_dataset(tx: Tx, dataset_id: str) -> Dataset | None:
    row = tx.one("SELECT * FROM datasets WHERE id = ?", (dataset_id,))
    if row is None:
        return None
    files = tx.all(
        "SELECT * FROM dataset_files WHERE dataset_id = ? ORDER BY position", (dataset_id,)
    )
    return _dataset(row, [_file(f) for f in files])


def list_datasets(tx: Tx) -> list[Dataset]:
    files: dict[str, list[DataFile]] = {}
    for f in tx.all("SELECT * FROM dataset_files ORDER BY dataset_id, position"):
        files.setdefault(f["dataset_id"], []).append(_file(f))
    rows = tx.all("SELECT * FROM datasets ORDER BY created_at, id")
    return [_dataset(r, files.get(r["id"], [])) for r in rows]


def latest_version(tx: Tx, product_id: str) -> Dataset | None:
    """The newest version of a product (a dataset with no product id is its own product)."""
    row = tx.one(
        "SELECT id FROM datasets WHERE id = ? OR product_id = ? ORDER BY created_at DESC, id DESC"
        " LIMIT 1",
        (product_id, product_id),
    )
    return None if row is None else get_dataset(tx, row["id"])


def insert_offer(tx: Tx, o: Offer) -> None:
    tx.execute(
        "INSERT INTO offers (id, dataset_id, policy, created_at) VALUES (?,?,?,?)",
        (o.id, o.dataset_id, dump_json(o.policy), o.created_at),
    )


def _offer(row: Row) -> Offer:
    return Offer(row["id"], row["dataset_id"], json.loads(row["policy"]), row["created_at"])


def offers_for(tx: Tx, dataset_ids: list[str]) -> dict[str, list[Offer]]:
    out: dict[str, list[Offer]] = {d: [] for d in dataset_ids}
    if not dataset_ids:
        return out
    marks = ",".join("?" * len(dataset_ids))
    for row in tx.all(
        f"SELECT * FROM offers WHERE dataset_id IN ({marks}) ORDER BY created_at, id",
        dataset_ids,
    ):
        out[row["dataset_id"]].append(_offer(row))
    return out


def get_offer(tx: Tx, offer_id: str) -> Offer | None:
    row = tx.one("SELECT * FROM offers WHERE id = ?", (offer_id,))
    return None if row is None else _offer(row)
