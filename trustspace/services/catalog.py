"""Publishing product versions and answering catalog requests.

A version is described by one value, :class:`VersionSpec`, whichever surface built it.  Its
files are a path the node reads or an upload already in the blob folder
(:mod:`trustspace.services.uploads`).  A file read from a path is copied into the node's blob
folder while it is hashed, so a dataset is immutable: later edits of the original cannot
change what a contract covers.  The hash recorded is the one the stored blob reads back as
(:mod:`trustspace.store.blobs`), checked before the dataset row is written, for uploads too.
Every check (:mod:`trustspace.services.version_checks`) runs before any file is copied.
Offers get URI ids; the dataset is each offer's target.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from trustspace.core import fileset
from trustspace.core import messages as m
from trustspace.core.compute import GuardError, parse_rule, with_privacy_default
from trustspace.core.odrl.model import Request
from trustspace.core.odrl.vocab import TRUSTSPACE
from trustspace.core.records import DataFile, Dataset, Offer
from trustspace.services import policy as pep
from trustspace.services.buyer_views import (
    CERTIFICATES_KEY,
    PROFILE_KEY,
    certificates_for,
    profile_summary,
)
from trustspace.services.context import NodeContext
from trustspace.services.errors import NotFound, Refused
from trustspace.services.transfers import PULL_FORMAT
from trustspace.services.version_checks import (
    api_version_hash,
    check_api,
    check_description,
    check_offer_terms,
    check_profile,
    check_rule_columns,
    check_rule_tables,
    holds_personal_information,
    scan,
)
from trustspace.store import blobs, evidence
from trustspace.store import datasets as dataset_rows
from trustspace.store.buyer_views import registration_certificates
from trustspace.store.db import Tx

Json = dict[str, Any]
DEFAULT_POLICY: Json = {"permission": [{"action": "use"}]}
# Catalog properties beyond DCAT, as full IRIs so JSON-LD processors keep them.
CLASSIFICATION_KEY = TRUSTSPACE + "classification"
PRICE_KEY = TRUSTSPACE + "price"
COMPUTE_RULE_KEY = TRUSTSPACE + "analysisRule"
COMPUTE_FORMAT = "Compute-SQL"
FILES_KEY = TRUSTSPACE + "files"
API_KEY = TRUSTSPACE + "api"
DCAT = "http://www.w3.org/ns/dcat#"


@dataclass(frozen=True)
class FileSource:
    """One file of a version to publish: a ``path`` the node reads itself, or an ``upload``
    (the SHA-256 of a blob sent to ``/api/uploads``) published as ``name``."""

    name: str
    path: Path | None = None
    upload: str | None = None

    @classmethod
    def at(cls, path: Path) -> FileSource:
        return cls(path.name, path=path)


@dataclass(frozen=True)
class VersionSpec:
    """Everything that describes a product version to publish.  ``files`` empty: an entry
    without content (or an HTTP ``api``).  With ``previous_version`` the new dataset is the
    next version of that one's product.  ``profile`` for several files holds one profile per
    file under ``files``, keyed by file name."""

    title: str
    files: tuple[FileSource, ...] = ()
    description: str = ""
    policy: Json | None = None
    formats: tuple[str, ...] = (PULL_FORMAT,)
    dataset_id: str | None = None
    offer_id: str | None = None
    access_policy: Json | None = None
    classification: str = "general"
    keywords: tuple[str, ...] = ()
    license: str | None = None
    price: str | None = None
    currency: str | None = None
    version: str | None = None
    declaration: Json | None = None
    profile: Json | None = None
    compute_rule: Json | None = None
    update_frequency: str | None = None
    previous_version: str | None = None
    api: Json | None = None


def _service_id(ctx: NodeContext) -> str:
    return ctx.dsp_base


def _stored_file(ctx: NodeContext, source: FileSource) -> DataFile:
    """The blob of ``source``: copied from its path, or the upload, read back against its hash."""
    media = mimetypes.guess_type(source.name)[0] or "application/octet-stream"
    if source.upload is not None:
        found = blobs.stored(ctx.blob_dir, source.upload)
        if found is None:
            raise Refused(f"no upload {source.upload} for {source.name}: upload the file first")
        return DataFile(source.name, str(found[0]), found[1], source.upload, media)
    assert source.path is not None
    try:
        blob, size, sha = blobs.ingest(source.path, ctx.blob_dir)
    except blobs.BlobMismatch as exc:
        raise Refused(f"{exc}; nothing was published, try again") from None
    except OSError as exc:
        raise Refused(
            f"{source.name} could not be copied to the blob folder: {exc.strerror or exc}"
        ) from None
    return DataFile(source.name, str(blob), size, sha, media)


def _product_of(tx: Tx, previous_version: str) -> str:
    """The product a new version following ``previous_version`` belongs to; it must follow the
    product's newest version."""
    before = dataset_rows.get_dataset(tx, previous_version)
    if before is None:
        raise Refused(f"no dataset {previous_version} to make a new version of")
    product = before.product_id or before.id
    latest = dataset_rows.latest_version(tx, product)
    if latest is not None and latest.id != before.id:
        raise Refused(
            f"{previous_version} is not the newest version of product {product}:"
            f" {latest.id} is; a new version follows the newest"
        )
    return product


def publish(ctx: NodeContext, spec: VersionSpec) -> tuple[Dataset, Offer]:
    """Publish the product version ``spec`` describes, with its offer."""
    sources = spec.files
    api = spec.api
    if api is not None:
        if sources:
            raise Refused("a product is files or an HTTP API, not both")
        api = check_api(api)
    terms = dict(spec.policy or DEFAULT_POLICY)
    if "permission" not in terms and "prohibition" not in terms:
        raise Refused("the policy needs at least one permission or prohibition")
    check_offer_terms(terms)
    access_policy = spec.access_policy
    if access_policy is not None:
        access_policy = {"@id": f"urn:access:{spec.dataset_id or 'dataset'}", **access_policy}
        access_policy.setdefault("@type", "Set")
        pep.validate(access_policy, what="access policy")
    check_description(spec.classification, spec.update_frequency, spec.price, spec.currency)
    formats = spec.formats
    compute_rule = spec.compute_rule
    if compute_rule is not None:
        try:
            rule = parse_rule(compute_rule)
        except GuardError as exc:
            raise Refused(f"analysis rule: {exc}") from None
        if not sources:
            raise Refused("analysis rule: compute runs on the product's files; publish them too")
        check_rule_tables(rule, [s.name for s in sources])
        if COMPUTE_FORMAT not in formats:
            formats = (*formats, COMPUTE_FORMAT)
    problem = fileset.name_problem([s.name for s in sources]) if sources else None
    if problem:
        raise Refused(problem)
    if spec.previous_version is not None:  # before the files are copied, which may take long
        with ctx.db.tx() as tx:
            _product_of(tx, spec.previous_version)
    for source in sources:
        if (source.path is None) == (source.upload is None):
            raise Refused(f"{source.name}: give a path on the node or an upload, one of them")
        if source.path is not None and not source.path.is_file():
            raise Refused(f"{source.path} is not a readable file")
    files = tuple(_stored_file(ctx, source) for source in sources)
    profile = spec.profile
    check_profile(profile, files)
    privacy: Json | None = None
    if compute_rule is not None:
        if profile is None:  # the scan decides whether the product holds personal information
            profile = scan(files)
        personal = holds_personal_information(profile, spec.declaration)
        compute_rule = with_privacy_default(compute_rule, personal)
        check_rule_columns(rule, profile, [f.name for f in files])
        try:
            parse_rule(compute_rule)
        except GuardError as exc:
            raise Refused(f"analysis rule: this product holds personal information, so results"
                          f" get differential privacy by default, and {exc}; declare"
                          " thresholdOnly with a reason to release under the threshold alone") from None  # fmt: skip
        privacy = {"personalInformation": personal,
                   "privacy": "differential" if compute_rule.get("dp") else "threshold",
                   "thresholdOnly": compute_rule.get("thresholdOnly")}  # fmt: skip
    sha = fileset.version_hash((f.name, f.sha256) for f in files) if files else None
    if api is not None:
        sha = api_version_hash(api, spec.version)
    single = files[0] if len(files) == 1 else None
    now = ctx.clock()
    dataset = Dataset(
        id=spec.dataset_id or ctx.ids(),
        title=spec.title,
        description=spec.description,
        formats=tuple(formats),
        created_at=now,
        path=single.path if single else None,
        filename=single.name if single else None,
        media_type=single.media_type
        if single
        else str((api or {}).get("mediaType", "application/octet-stream")),
        size=sum(f.size for f in files) if files else None,
        sha256=sha,
        files=files,
        previous_version=spec.previous_version,
        api=api,
        access_policy=access_policy,
        classification=spec.classification,
        keywords=tuple(spec.keywords),
        license=spec.license,
        price=spec.price,
        currency=spec.currency if spec.price is not None else None,
        version=spec.version,
        declaration=spec.declaration,
        profile=profile,
        compute_rule=compute_rule,
        update_frequency=spec.update_frequency,
    )
    offer = Offer(id=spec.offer_id or ctx.ids(), dataset_id=dataset.id, policy=terms,
                  created_at=now)  # fmt: skip
    with ctx.db.tx() as tx:
        if dataset_rows.get_dataset(tx, dataset.id) is not None:
            raise Refused(f"dataset {dataset.id} already exists")
        if spec.previous_version is not None:  # again: another version may have come meanwhile
            dataset = replace(dataset, product_id=_product_of(tx, spec.previous_version))
        if dataset_rows.get_offer(tx, offer.id) is not None:
            raise Refused(f"offer {offer.id} already exists")
        dataset_rows.insert_dataset(tx, dataset)
        dataset_rows.insert_offer(tx, offer)
        if privacy is not None:  # how compute results are protected, and who declared what
            evidence.record(tx, at=now, kind="compute-privacy", subject=dataset.id, data=privacy)
    return dataset, offer


def _dataset_json(ctx: NodeContext, d: Dataset, offers: list[Offer]) -> m.Json:
    extra: dict[str, Any] = {}
    if d.sha256:
        extra["checksum"] = {"algorithm": "SHA-256", "checksumValue": d.sha256}
    if d.size is not None:
        extra["byteSize"] = d.size
    if d.api is not None:
        extra[API_KEY] = {"kind": "http-api", "methods": d.api.get("methods", ["GET"])}
    if d.fileset:
        extra[FILES_KEY] = [
            {"name": f.name, "byteSize": f.size, "mediaType": f.media_type,
             "checksum": {"algorithm": "SHA-256", "checksumValue": f.sha256}}
            for f in d.files
        ]  # fmt: skip
    elif d.media_type:
        extra["mediaType"] = d.media_type
    if d.version:
        extra[DCAT + "version"] = d.version
    if d.product_id:
        extra[DCAT + "isVersionOf"] = d.product_id
    if d.previous_version:
        extra[DCAT + "previousVersion"] = d.previous_version
    if d.keywords:
        extra["keyword"] = list(d.keywords)
    if d.license:
        extra["license"] = d.license
    if d.update_frequency:
        extra["accrualPeriodicity"] = d.update_frequency
    extra[CLASSIFICATION_KEY] = d.classification
    if d.compute_rule is not None:
        extra[COMPUTE_RULE_KEY] = d.compute_rule
    if d.price is not None:
        extra[PRICE_KEY] = {"amount": d.price, "currency": d.currency}
    return m.dataset(
        dataset_id=d.id,
        offers=[m.offer_for_catalog(o.id, o.policy) for o in offers],
        formats=d.formats,
        service_id=_service_id(ctx),
        title=d.title,
        description=d.description,
        extra=extra,
    )


def _visible(
    ctx: NodeContext, tx: Tx, principal: str, datasets: list[Dataset]
) -> tuple[list[Dataset], list[pep.PolicyDenied]]:
    """The datasets whose access policy lets ``principal`` see them (no policy: everyone)."""
    now = ctx.clock()
    shown: list[Dataset] = []
    hidden: list[pep.PolicyDenied] = []
    for d in datasets:
        if d.access_policy is None:
            shown.append(d)
            continue
        try:
            pep.decide(
                ctx,
                tx,
                point="catalog",
                principal=principal,
                policy=ctx.policies.get(f"access:{d.id}", d.access_policy),
                request=Request(action=pep.ACTION, assignee=principal, target=d.id),
                world=pep.world(ctx, tx, principal=principal, now=now, dataset=d),
                dataset_id=d.id,
                log=False,
            )
            shown.append(d)
        except pep.PolicyDenied as denied:
            hidden.append(denied)
    return shown, hidden


def visible_to(ctx: NodeContext, tx: Tx, principal: str, dataset_id: str) -> bool:
    d = dataset_rows.get_dataset(tx, dataset_id)
    return d is not None and bool(_visible(ctx, tx, principal, [d])[0])


def catalog(ctx: NodeContext, principal: str) -> m.Json:
    with ctx.db.tx() as tx:
        datasets, hidden = _visible(ctx, tx, principal, dataset_rows.list_datasets(tx))
        offers = dataset_rows.offers_for(tx, [d.id for d in datasets])
    for denied in hidden:
        pep.log_denial(ctx, denied)
    return m.catalog(
        catalog_id=f"{ctx.dsp_base}/catalog",
        participant_id=ctx.participant_id,
        service_id=_service_id(ctx),
        endpoint_url=ctx.dsp_base,
        datasets=[_dataset_json(ctx, d, offers[d.id]) for d in datasets if offers[d.id]],
    )


def dataset(ctx: NodeContext, principal: str, dataset_id: str) -> m.Json:
    with ctx.db.tx() as tx:
        d = dataset_rows.get_dataset(tx, dataset_id)
        hidden: list[pep.PolicyDenied] = []
        if d is not None:
            shown, hidden = _visible(ctx, tx, principal, [d])
            d = shown[0] if shown else None
        offers = dataset_rows.offers_for(tx, [dataset_id]) if d else {}
        held = registration_certificates(tx) if d else []
    for denied in hidden:
        pep.log_denial(ctx, denied)
    if d is None or not offers.get(dataset_id):
        raise NotFound(f"no dataset {dataset_id}")
    # One dataset also shows what its scan found (no sample values) and its registration
    # certificates, so a consumer can judge it before asking for it.
    entry = _dataset_json(ctx, d, offers[dataset_id])
    summary = profile_summary(d.profile, d.declaration)
    if summary is not None:
        entry[PROFILE_KEY] = summary
    tokens = certificates_for(held, d.id)
    if tokens:
        entry[CERTIFICATES_KEY] = tokens
    return m.with_context(entry)


def list_local(ctx: NodeContext) -> list[dict[str, Any]]:
    with ctx.db.tx() as tx:
        datasets = dataset_rows.list_datasets(tx)
        offers = dataset_rows.offers_for(tx, [d.id for d in datasets])
    return [
        {
            "id": d.id,
            "title": d.title,
            "size": d.size,
            "sha256": d.sha256,
            "version": d.version,
            "product": d.product_id or d.id,
            "files": [{"name": f.name, "size": f.size, "sha256": f.sha256} for f in d.files],
            "formats": list(d.formats),
            "offers": [{"@id": o.id, **o.policy} for o in offers[d.id]],
        }
        for d in datasets
    ]
