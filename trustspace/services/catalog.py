"""Publishing datasets and answering catalog requests.

A published file is copied into the node's blob folder while it is hashed, so a
dataset is immutable: later edits of the original cannot change what a
contract covers.  The hash recorded is the one the stored blob reads back as
(:mod:`trustspace.store.blobs`), checked before the dataset row is written.  Offers get URI ids; the dataset is each offer's target.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import re
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from trustspace.core import fileset
from trustspace.core import messages as m
from trustspace.core.compute import GuardError, Rule, parse_rule, with_privacy_default
from trustspace.core.odrl.model import Request
from trustspace.core.odrl.vocab import CLASSIFICATIONS, TRUSTSPACE
from trustspace.core.records import DataFile, Dataset, Offer
from trustspace.services import policy as pep
from trustspace.services.context import NodeContext
from trustspace.services.errors import NotFound, Refused
from trustspace.services.transfers import PULL_FORMAT
from trustspace.store import blobs, evidence
from trustspace.store import datasets as dataset_rows
from trustspace.store.db import Tx

DEFAULT_POLICY: dict[str, Any] = {"permission": [{"action": "use"}]}
# Catalog properties beyond DCAT, as full IRIs so JSON-LD processors keep them.
CLASSIFICATION_KEY = TRUSTSPACE + "classification"
PRICE_KEY = TRUSTSPACE + "price"
COMPUTE_RULE_KEY = TRUSTSPACE + "analysisRule"
COMPUTE_FORMAT = "Compute-SQL"
FILES_KEY = TRUSTSPACE + "files"
API_KEY = TRUSTSPACE + "api"
DCAT = "http://www.w3.org/ns/dcat#"
FREQUENCIES = (
    "continuous",
    "hourly",
    "daily",
    "weekly",
    "monthly",
    "quarterly",
    "annual",
    "irregular",
    "never",
)


def check_offer_terms(terms: dict[str, Any]) -> None:
    """Contract terms travel in DSP messages, whose schema wants each action as a plain term:
    refinements belong in the rule's constraints.  Every term must be in the vocabulary."""
    for key in ("permission", "prohibition", "obligation"):
        rules = terms.get(key, [])
        for i, rule in enumerate(rules if isinstance(rules, list) else [rules]):
            if isinstance(rule, dict) and not isinstance(rule.get("action"), str):
                raise Refused(
                    f"offer {key}[{i}]: the action must be a term such as 'use' "
                    "(DSP carries actions as plain terms; put conditions in 'constraint')"
                )
    pep.validate({"@id": "urn:offer", "@type": "Offer", **terms}, what="offer")


def _service_id(ctx: NodeContext) -> str:
    return ctx.dsp_base


def _ingest_file(ctx: NodeContext, source: Path) -> DataFile:
    try:
        blob, size, sha = blobs.ingest(source, ctx.blob_dir)
    except blobs.BlobMismatch as exc:
        raise Refused(f"{exc}; nothing was published, try again") from None
    media = mimetypes.guess_type(source.name)[0] or "application/octet-stream"
    return DataFile(source.name, str(blob), size, sha, media)


_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


def check_api(api: dict[str, Any]) -> dict[str, Any]:
    """The descriptor of an HTTP API product: where the backend is, and how the node calls it.

    ``baseUrl`` (http or https) is the backend's address, never shown to consumers.  The
    credential the node sends (``authHeader``, default ``Authorization``) is read at call time
    from the environment variable ``authEnv``: no secret is stored.  ``mediaType`` describes
    the answers for the catalog.  ``methods`` are the HTTP methods consumers may call: ``GET``
    (the default) and ``POST`` (for query APIs that take a body)."""
    unknown = sorted(set(api) - {"baseUrl", "authHeader", "authEnv", "mediaType", "methods"})
    if unknown:
        raise Refused(f"api: unknown fields {', '.join(unknown)}")
    url = api.get("baseUrl")
    if not isinstance(url, str):
        raise Refused("api: baseUrl must be an http(s) URL of the backend")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("api: baseUrl must be an http(s) URL of the backend")
    if parts.query or parts.fragment:
        raise Refused("api: baseUrl takes no query or fragment; consumers add their own query")
    env = api.get("authEnv")
    if env is not None and not (isinstance(env, str) and _ENV_NAME.fullmatch(env)):
        raise Refused("api: authEnv names an environment variable (A-Z, 0-9, _)")
    header = api.get("authHeader", "Authorization")
    if not isinstance(header, str) or not re.fullmatch(r"[A-Za-z0-9-]+", header):
        raise Refused("api: authHeader is a header name")
    media = api.get("mediaType", "application/json")
    if not isinstance(media, str) or "/" not in media:
        raise Refused("api: mediaType is a media type such as application/json")
    methods = api.get("methods", ["GET"])
    if (not isinstance(methods, list) or not methods
            or not set(methods) <= {"GET", "POST"}):  # fmt: skip
        raise Refused("api: methods is a list of GET and POST")
    return {"baseUrl": url.rstrip("/"), "authHeader": header, "authEnv": env, "mediaType": media,
            "methods": sorted(set(methods))}  # fmt: skip


def api_version_hash(api: dict[str, Any], version: str | None) -> str:
    """An API has no bytes to hash: its version hash covers the descriptor and the label."""
    doc = {"kind": "http-api", "baseUrl": api["baseUrl"], "version": version}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _check_rule_tables(rule: Rule, names: list[str]) -> None:
    """A multi-file version's rule reads its files' tables; joins need such a version."""
    if len(names) > 1:
        tables = sorted(fileset.table_name(n) for n in names)
        missing = [t for t in rule.tables if t not in tables]
        if missing:
            raise Refused(f"analysis rule: {', '.join(missing)} is not a table of this version"
                          f" (its tables: {', '.join(tables)})")  # fmt: skip
    elif rule.joins:
        raise Refused("analysis rule: joins need a version of several files, one per table")


def _check_profile(profile: dict[str, Any] | None, files: tuple[DataFile, ...]) -> None:
    """A profile has to describe the very files published (it is what the listing shows)."""
    if profile is None or not files:
        return
    if len(files) == 1:
        described = {files[0].name: profile}
    else:
        per_file = profile.get("files")
        if not isinstance(per_file, dict) or set(per_file) != {f.name for f in files}:
            raise Refused("the profile has to hold one profile per file, keyed by file name")
        described = per_file
    for f in files:
        theirs = described[f.name]
        if not isinstance(theirs, dict) or theirs.get("sha256") not in (None, f.sha256):
            raise Refused(f"the profile describes another file than {f.name}: its SHA-256 differs")


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


def publish(
    ctx: NodeContext,
    *,
    path: Path | None,
    title: str,
    paths: Sequence[Path] = (),
    description: str = "",
    policy: dict[str, Any] | None = None,
    formats: Sequence[str] = (PULL_FORMAT,),
    dataset_id: str | None = None,
    offer_id: str | None = None,
    access_policy: dict[str, Any] | None = None,
    classification: str = "general",
    keywords: Sequence[str] = (),
    license: str | None = None,
    price: str | None = None,
    currency: str | None = None,
    version: str | None = None,
    declaration: dict[str, Any] | None = None,
    profile: dict[str, Any] | None = None,
    compute_rule: dict[str, Any] | None = None,
    update_frequency: str | None = None,
    previous_version: str | None = None,
    api: dict[str, Any] | None = None,
) -> tuple[Dataset, Offer]:
    """Publish a product version: ``path`` (one file) or ``paths`` (several, one table each),
    or neither for an entry without content.  With ``previous_version`` the new dataset is the
    next version of that one's product.  ``profile`` for several files holds one profile per
    file under ``files``, keyed by file name."""
    sources = [path] if path is not None else list(paths)
    if api is not None:
        if sources:
            raise Refused("a product is files or an HTTP API, not both")
        api = check_api(api)
    terms = dict(policy or DEFAULT_POLICY)
    if "permission" not in terms and "prohibition" not in terms:
        raise Refused("the policy needs at least one permission or prohibition")
    check_offer_terms(terms)
    if access_policy is not None:
        access_policy = {"@id": f"urn:access:{dataset_id or 'dataset'}", **access_policy}
        access_policy.setdefault("@type", "Set")
        pep.validate(access_policy, what="access policy")
    if classification not in CLASSIFICATIONS:
        raise Refused(f"classification {classification!r}: use one of {', '.join(CLASSIFICATIONS)}")
    if classification == "core":
        raise Refused("core data is never listed")
    if compute_rule is not None:
        try:
            rule = parse_rule(compute_rule)
        except GuardError as exc:
            raise Refused(f"analysis rule: {exc}") from None
        if not sources:
            raise Refused("analysis rule: compute runs on the product's files; publish them too")
        _check_rule_tables(rule, [s.name for s in sources])
        if COMPUTE_FORMAT not in formats:
            formats = (*formats, COMPUTE_FORMAT)
    if update_frequency is not None and update_frequency not in FREQUENCIES:
        raise Refused(f"update frequency {update_frequency!r}: use one of {', '.join(FREQUENCIES)}")
    if price is not None:
        try:
            amount = Decimal(price)
        except ArithmeticError:
            raise Refused(f"price {price!r} is not a number") from None
        if not amount.is_finite() or amount < 0 or not currency:
            raise Refused("a price is a non-negative amount with a currency (e.g. 100 CNY)")
    problem = fileset.name_problem([p.name for p in sources]) if sources else None
    if problem:
        raise Refused(problem)
    if previous_version is not None:  # before the files are copied, which may take long
        with ctx.db.tx() as tx:
            _product_of(tx, previous_version)
    for source in sources:
        if not source.is_file():
            raise Refused(f"{source} is not a readable file")
    files = tuple(_ingest_file(ctx, source) for source in sources)
    _check_profile(profile, files)
    privacy: dict[str, Any] | None = None
    if compute_rule is not None:
        if profile is None:  # the scan decides whether the product holds personal information
            profile = _scan(files)
        personal = holds_personal_information(profile, declaration)
        compute_rule = with_privacy_default(compute_rule, personal)
        _check_rule_columns(rule, profile, [f.name for f in files])
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
        sha = api_version_hash(api, version)
    single = files[0] if len(files) == 1 else None
    now = ctx.clock()
    dataset = Dataset(
        id=dataset_id or ctx.ids(),
        title=title,
        description=description,
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
        previous_version=previous_version,
        api=api,
        access_policy=access_policy,
        classification=classification,
        keywords=tuple(keywords),
        license=license,
        price=price,
        currency=currency if price is not None else None,
        version=version,
        declaration=declaration,
        profile=profile,
        compute_rule=compute_rule,
        update_frequency=update_frequency,
    )
    offer = Offer(id=offer_id or ctx.ids(), dataset_id=dataset.id, policy=terms, created_at=now)
    with ctx.db.tx() as tx:
        if dataset_rows.get_dataset(tx, dataset.id) is not None:
            raise Refused(f"dataset {dataset.id} already exists")
        if previous_version is not None:  # again: another version may have come meanwhile
            dataset = replace(dataset, product_id=_product_of(tx, previous_version))
        if dataset_rows.get_offer(tx, offer.id) is not None:
            raise Refused(f"offer {offer.id} already exists")
        dataset_rows.insert_dataset(tx, dataset)
        dataset_rows.insert_offer(tx, offer)
        if privacy is not None:  # how compute results are protected, and who declared what
            evidence.record(tx, at=now, kind="compute-privacy", subject=dataset.id, data=privacy)
    return dataset, offer


def _check_rule_columns(rule: Rule, profile: dict[str, Any] | None, names: list[str]) -> None:
    """Every column the rule names is a column of its table's file (a missing one would fail
    every job)."""
    per_file = (profile or {}).get("files") if len(names) > 1 else {names[0]: profile}
    if not isinstance(per_file, dict):
        return
    for name, described in per_file.items():
        columns = {
            c.get("name") for c in (described or {}).get("columns", []) if isinstance(c, dict)
        }
        table = fileset.table_name(name) if len(names) > 1 else rule.table
        if not columns or table not in rule.tables:
            continue
        wanted = set(rule.roles(table))
        if table == rule.table:
            wanted |= {rule.entity, *(j.left for j in rule.joins)}
        wanted |= {j.right for j in rule.joins if j.table == table}
        missing = sorted(wanted - columns)
        if missing:
            raise Refused(f"analysis rule: {name} has no column {', '.join(missing)}"
                          f" (its columns: {', '.join(sorted(str(c) for c in columns))})")  # fmt: skip


def holds_personal_information(
    profile: dict[str, Any] | None, declaration: dict[str, Any] | None
) -> bool:
    """By the provider's declaration (personal information, or a legal basis for it) or by
    the personal-information scan of any of the version's files."""
    declared = declaration or {}
    if declared.get("personalInformation") or declared.get("legalBasis"):
        return True
    profiles = [profile or {}]
    if isinstance((profile or {}).get("files"), dict):
        profiles = [p for p in profile["files"].values() if isinstance(p, dict)]  # type: ignore[index]
    return any(p.get("pii_kinds") for p in profiles)


def _scan(files: tuple[DataFile, ...]) -> dict[str, Any] | None:
    from trustspace.products.profile import profile_file

    scanned = {}
    for f in files:
        try:
            scanned[f.name] = profile_file(Path(f.path), fmt=_format(f.name))
        except (ValueError, OSError) as exc:
            raise Refused(
                f"{f.name} could not be scanned for personal information: {exc}"
            ) from None
    if len(files) == 1:
        return scanned[files[0].name]
    return {"files": scanned}


def _format(name: str) -> str | None:
    return {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}.get(
        Path(name).suffix.lower()
    )


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
    for denied in hidden:
        pep.log_denial(ctx, denied)
    if d is None or not offers.get(dataset_id):
        raise NotFound(f"no dataset {dataset_id}")
    return m.with_context(_dataset_json(ctx, d, offers[dataset_id]))


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
