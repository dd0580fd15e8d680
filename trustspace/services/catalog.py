"""Publishing datasets and answering catalog requests.

A published file is copied into the node's blob folder while it is hashed, so a
dataset is immutable: later edits of the original cannot change what a
contract covers.  Offers get URI ids; the dataset is each offer's target.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trustspace.core import messages as m
from trustspace.core.records import Dataset, Offer
from trustspace.services.context import NodeContext
from trustspace.services.errors import NotFound, Refused
from trustspace.services.transfers import PULL_FORMAT
from trustspace.store import repo

DEFAULT_POLICY: dict[str, Any] = {"permission": [{"action": "use"}]}


def _service_id(ctx: NodeContext) -> str:
    return ctx.dsp_base


def _ingest(src: Path, blob_dir: Path) -> tuple[Path, int, str]:
    """Copy ``src`` into the blob folder under its SHA-256, streaming."""
    blob_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    tmp = blob_dir / f".incoming-{os.getpid()}-{src.name}"
    size = 0
    with src.open("rb") as fin, tmp.open("wb") as fout:
        while chunk := fin.read(1 << 20):
            digest.update(chunk)
            fout.write(chunk)
            size += len(chunk)
    final = blob_dir / digest.hexdigest()
    if final.exists():
        tmp.unlink()
    else:
        tmp.replace(final)
    return final, size, digest.hexdigest()


def publish(
    ctx: NodeContext,
    *,
    path: Path | None,
    title: str,
    description: str = "",
    policy: dict[str, Any] | None = None,
    formats: Sequence[str] = (PULL_FORMAT,),
    dataset_id: str | None = None,
    offer_id: str | None = None,
) -> tuple[Dataset, Offer]:
    policy = dict(policy or DEFAULT_POLICY)
    if "permission" not in policy and "prohibition" not in policy:
        raise Refused("the policy needs at least one permission or prohibition")
    blob: Path | None = None
    size: int | None = None
    sha: str | None = None
    if path is not None:
        if not path.is_file():
            raise Refused(f"{path} is not a readable file")
        blob, size, sha = _ingest(path, ctx.blob_dir)
    now = ctx.clock()
    dataset = Dataset(
        id=dataset_id or ctx.ids(),
        title=title,
        description=description,
        formats=tuple(formats),
        created_at=now,
        path=str(blob) if blob else None,
        filename=path.name if path else None,
        media_type=(mimetypes.guess_type(path.name)[0] if path else None)
        or "application/octet-stream",
        size=size,
        sha256=sha,
    )
    offer = Offer(id=offer_id or ctx.ids(), dataset_id=dataset.id, policy=policy, created_at=now)
    with ctx.db.tx() as tx:
        if repo.get_dataset(tx, dataset.id) is not None:
            raise Refused(f"dataset {dataset.id} already exists")
        if repo.get_offer(tx, offer.id) is not None:
            raise Refused(f"offer {offer.id} already exists")
        repo.insert_dataset(tx, dataset)
        repo.insert_offer(tx, offer)
    return dataset, offer


def _dataset_json(ctx: NodeContext, d: Dataset, offers: list[Offer]) -> m.Json:
    extra: dict[str, Any] = {}
    if d.sha256:
        extra["checksum"] = {"algorithm": "SHA-256", "checksumValue": d.sha256}
    if d.size is not None:
        extra["byteSize"] = d.size
    if d.media_type:
        extra["mediaType"] = d.media_type
    return m.dataset(
        dataset_id=d.id,
        offers=[m.offer_for_catalog(o.id, o.policy) for o in offers],
        formats=d.formats,
        service_id=_service_id(ctx),
        title=d.title,
        description=d.description,
        extra=extra,
    )


def catalog(ctx: NodeContext, principal: str) -> m.Json:
    with ctx.db.tx() as tx:
        datasets = repo.list_datasets(tx)
        offers = repo.offers_for(tx, [d.id for d in datasets])
    return m.catalog(
        catalog_id=f"{ctx.dsp_base}/catalog",
        participant_id=ctx.participant_id,
        service_id=_service_id(ctx),
        endpoint_url=ctx.dsp_base,
        datasets=[_dataset_json(ctx, d, offers[d.id]) for d in datasets if offers[d.id]],
    )


def dataset(ctx: NodeContext, principal: str, dataset_id: str) -> m.Json:
    with ctx.db.tx() as tx:
        d = repo.get_dataset(tx, dataset_id)
        offers = repo.offers_for(tx, [dataset_id]) if d else {}
    if d is None or not offers.get(dataset_id):
        raise NotFound(f"no dataset {dataset_id}")
    return m.with_context(_dataset_json(ctx, d, offers[dataset_id]))


def list_local(ctx: NodeContext) -> list[dict[str, Any]]:
    with ctx.db.tx() as tx:
        datasets = repo.list_datasets(tx)
        offers = repo.offers_for(tx, [d.id for d in datasets])
    return [
        {
            "id": d.id,
            "title": d.title,
            "size": d.size,
            "sha256": d.sha256,
            "formats": list(d.formats),
            "offers": [{"@id": o.id, **o.policy} for o in offers[d.id]],
        }
        for d in datasets
    ]
