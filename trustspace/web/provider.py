"""The data provider's pages: upload files, describe and publish a product, submit it for
listing, follow the requests that come in and the uses of the products over time.

- ``POST /portal/uploads`` takes one file's bytes as the raw body (a script sends each file
  with its progress shown), streamed to the blob folder in a worker thread chunk by chunk, as
  ``POST /api/uploads`` does.  The session, the ``provider`` role and the ``X-CSRF-Token``
  header are checked from the headers alone, before any byte of the body is read.
- A plain multipart form (without a script) posts its files to the same address: the form is
  read first (session and role checked before, the CSRF field after, as every form), and each
  file is streamed from the form's spooled copy into the blob folder.
- ``/portal/publish`` is the product wizard: the files' profile and personal-information
  report, the declarations, the terms (the ODRL policy they make is shown, and checked as
  publishing checks it), an optional analysis rule; then publish (the management API's
  version description, :func:`trustspace.api.datasets.version_spec`).
"""

from __future__ import annotations

import hmac
import json
import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from trustspace.api import uploads as api_uploads
from trustspace.api.datasets import version_spec
from trustspace.core.compliance import LEGAL_BASES, RIGHTS, SOURCES, listing_problems
from trustspace.core.compute import GuardError, parse_rule
from trustspace.core.machine import Role
from trustspace.core.odrl.vocab import CLASSIFICATIONS, PURPOSE_PARENT
from trustspace.services import accounts, directory, listing, negotiations, provider_views, uploads
from trustspace.services import transfers as transfer_service
from trustspace.services.catalog import publish as publish_version
from trustspace.services.errors import BadRequest, NotFound, Refused
from trustspace.services.peers import RemoteError
from trustspace.services.version_checks import check_description, check_offer_terms
from trustspace.store import blobs
from trustspace.web.i18n import N_
from trustspace.web.page import (
    HEADERS,
    PORTAL,
    SESSION_COOKIE,
    UPLOADS,
    NavItem,
    Portal,
    View,
    get,
    post,
)

PROVIDER = ("provider",)
READERS = ("provider", "regulator")
NAV = [
    NavItem(PROVIDER, f"{PORTAL}/publish", N_("Publish a product")),
    NavItem(READERS, f"{PORTAL}/products", N_("My products")),
    NavItem(READERS, f"{PORTAL}/incoming", N_("Incoming requests")),
    NavItem(READERS, f"{PORTAL}/usage", N_("Usage")),
]
FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")
CHUNK = 1 << 20

SOURCE_NAMES = {
    "self-collected": N_("Self-collected"),
    "purchased": N_("Purchased"),
    "open-licence": N_("Open licence"),
    "user-authorised": N_("Authorised by the data subjects"),
}
SOURCE_REFS = {
    "collectionLog": N_("Collection log"),
    "contractId": N_("Purchase contract id"),
    "licenceId": N_("Licence id"),
    "authorisationRef": N_("Authorisation reference"),
}
BASIS_NAMES = {
    "": N_("None (no personal information)"),
    "consent": N_("Consent of the data subjects"),
    "anonymised": N_("Anonymised"),
}
CLASSIFICATION_NAMES = {
    "general": N_("General data"),
    "important": N_("Important data"),
    "core": N_("Core data (never listed)"),
}
RIGHT_NAMES = {
    "holding": N_("Holding the data"),
    "processing": N_("Processing and use"),
    "operation": N_("Operating it as a product"),
}
PURPOSE_NAMES = {
    "any": N_("Any purpose"),
    "ai": N_("AI development"),
    "ai-training": N_("AI training"),
    "ai-fine-tuning": N_("AI fine-tuning"),
    "ai-evaluation": N_("AI evaluation"),
    "ai-retrieval": N_("AI retrieval"),
    "research": N_("Research"),
    "academic-research": N_("Academic research"),
    "commercial-research": N_("Commercial research"),
    "analytics": N_("Analytics"),
    "service-provision": N_("Service provision"),
    "marketing": N_("Marketing"),
    "public-interest": N_("Public interest"),
    "regulatory-compliance": N_("Regulatory compliance"),
}
STATE_NAMES = {
    "REQUESTED": N_("requested"),
    "OFFERED": N_("offered"),
    "ACCEPTED": N_("accepted"),
    "AGREED": N_("agreed"),
    "VERIFIED": N_("verified"),
    "FINALIZED": N_("finalized"),
    "TERMINATED": N_("terminated"),
    "STARTED": N_("started"),
    "SUSPENDED": N_("suspended"),
    "COMPLETED": N_("completed"),
}
LISTING_NAMES = {
    "submitted": N_("submitted for review"),
    "assessed": N_("assessed"),
    "listed": N_("listed"),
    "rejected": N_("rejected"),
    "delisted": N_("delisted"),
}
REASONS = (
    N_("the time window ends before it starts"),
    N_("the analysis rule is not valid JSON"),
    N_("upload at least one file"),
    N_("the upload stopped before its end"),
    N_("core data is never listed"),
    N_("listing needs the right to operate the data as a product"),
    N_(
        "personal information without a legal basis cannot be listed: declare consent"
        " records or anonymisation evidence"
    ),
)
"""Refusals a provider commonly meets here, translated when shown."""

_FILE = re.compile(r"([0-9a-f]{64}):(.+)")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def uploaded(values: list[str]) -> list[tuple[str, str]]:
    """``sha:name`` pairs (the wizard's hidden fields) as (name, upload SHA-256)."""
    found = []
    for value in values[:20]:
        match = _FILE.fullmatch(value)
        if match is None:
            raise BadRequest(f"{value[:80]!r} does not name an upload")
        found.append((match.group(2)[:255], match.group(1)))
    return found


def terms_of(v: View) -> dict[str, Any]:
    """The ODRL rules the terms builder's fields make: a permission to use, under constraints
    on purpose, region, number of uses and time window.  Values go as given: the policy
    engine decides whether they are valid."""
    constraints: list[dict[str, Any]] = []
    purpose = v.field("purpose", limit=100)
    if purpose:
        constraints.append({"leftOperand": "purpose", "operator": "eq", "rightOperand": purpose})
    region = v.field("region", limit=20)
    if region:
        constraints.append(
            {"leftOperand": "spatial", "operator": "isPartOf", "rightOperand": region}
        )
    uses = v.field("uses", limit=20)
    if uses:
        count: int | str = int(uses) if uses.isdigit() else uses
        constraints.append({"leftOperand": "count", "operator": "lteq", "rightOperand": count})
    start, end = v.field("start", limit=40), v.field("end", limit=40)
    if start:
        moment = f"{start}T00:00:00Z" if _DAY.fullmatch(start) else start
        constraints.append({"leftOperand": "dateTime", "operator": "gteq", "rightOperand": moment})
    if end:
        moment = f"{end}T23:59:59Z" if _DAY.fullmatch(end) else end
        constraints.append({"leftOperand": "dateTime", "operator": "lteq", "rightOperand": moment})
    if start and end and _DAY.fullmatch(start) and _DAY.fullmatch(end) and end < start:
        raise Refused("the time window ends before it starts")
    rule: dict[str, Any] = {"action": "use"}
    if constraints:
        rule["constraint"] = constraints
    return {"permission": [rule]}


def declaration_of(v: View) -> dict[str, Any]:
    """The provider's declaration, in the shape the listing rules read."""
    declared: dict[str, Any] = {}
    source = v.field("source", limit=40)
    if source:
        declared["source"] = source
        ref = SOURCES.get(source)
        value = v.field("source_ref", limit=500)
        if ref and value:
            declared[ref] = value
    basis = v.field("basis", limit=40)
    if basis:
        records = [line.strip() for line in v.field("basis_refs").splitlines() if line.strip()]
        field = LEGAL_BASES.get(basis, "records")
        declared["legalBasis"] = {"kind": basis, field: records}
    if v.field("personal") == "1":
        declared["personalInformation"] = True
    declared["rights"] = {r: r in v.fields("rights") for r in RIGHTS}
    assessment = v.field("cross_border", limit=500)
    if assessment:
        declared["crossBorder"] = {"assessmentRef": assessment}
    return declared


def body_of(v: View, files: list[tuple[str, str]]) -> dict[str, Any]:
    """The wizard's fields as a ``POST /api/datasets`` body (see :func:`version_spec`)."""
    body: dict[str, Any] = {
        "title": v.field("title", limit=300) or (files[0][0] if files else ""),
        "description": v.field("description", limit=5000),
        "keywords": [k.strip() for k in v.field("keywords", limit=1000).split(",") if k.strip()],
        "classification": v.field("classification", limit=40) or "general",
        "files": [{"name": name, "upload": sha} for name, sha in files],
        "declaration": declaration_of(v),
        "policy": terms_of(v),
    }
    for key, name in (("price", "price"), ("currency", "currency"), ("version", "version"),
                      ("license", "license"), ("previousVersion", "previous")):  # fmt: skip
        value = v.field(name, limit=300)
        if value:
            body[key] = value
    rule = v.field("rule", limit=20000)
    if rule:
        try:
            body["computeRule"] = json.loads(rule)
        except ValueError:
            raise BadRequest("the analysis rule is not valid JSON") from None
    return body


def routes(portal: Portal) -> list[BaseRoute]:
    ctx = portal.rt.ctx
    rt = portal.rt

    async def upload(request: Request) -> Response:
        """One file's bytes as the raw body: checked from the headers, then streamed.  A form
        (no script) goes to :func:`form_upload`."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind in FORMS:
            return await form_route.endpoint(request)  # type: ignore[no-any-return]
        person = await run_in_threadpool(
            accounts.session, ctx, request.cookies.get(SESSION_COOKIE),
            idle=portal.idle, absolute=portal.absolute,
        )  # fmt: skip
        if person is None:
            return JSONResponse({"error": "your session has ended: sign in again"},
                                status_code=401, headers=HEADERS)  # fmt: skip
        if not person.has(*PROVIDER):
            return JSONResponse({"error": "your role may not upload files"}, status_code=403,
                                headers=HEADERS)  # fmt: skip
        given = request.headers.get("x-csrf-token", "")
        if not (given and hmac.compare_digest(given.encode(), person.csrf.encode())):
            return JSONResponse({"error": "the upload did not come from this portal"},
                                status_code=403, headers=HEADERS)  # fmt: skip
        try:
            answer = await api_uploads.receive(ctx, request)
        except ClientDisconnect:
            return JSONResponse({"error": "the upload stopped before its end"}, status_code=400,
                                headers=HEADERS)  # fmt: skip
        except (BadRequest, Refused) as exc:
            return JSONResponse({"error": exc.reason}, status_code=400, headers=HEADERS)
        name = request.query_params.get("name", "")[:255]
        await run_in_threadpool(accounts.record_action, ctx, person, "upload", answer["upload"],
                                name=name, size=answer["size"])  # fmt: skip
        return JSONResponse(answer, status_code=201, headers=HEADERS)

    def form_upload(v: View) -> Response:
        """The files of a plain form, each streamed into the blob folder."""
        sent = v.files("files")
        if not sent:
            raise BadRequest(v._("upload at least one file"))
        pairs = []
        for f in sent:

            def chunks(f: Any = f) -> Iterator[bytes]:
                while chunk := f.file.read(CHUNK):
                    yield chunk

            answer = uploads.receive(ctx, chunks())
            name = (f.filename or "file").replace("\\", "/").rsplit("/", 1)[-1][:255]
            v.act("upload", answer["upload"], name=name, size=answer["size"])
            pairs.append(f"{answer['upload']}:{name}")
        query = "&".join(f"file={_quote(p)}" for p in pairs)
        return v.redirect(f"{PORTAL}/publish?{query}",
                          v._("%(n)s files were uploaded.", n=len(pairs)))  # fmt: skip

    form_route = post(portal, UPLOADS, form_upload, PROVIDER)

    def wizard(v: View, files: list[tuple[str, str]], *, error: str | None = None,
               policy: dict[str, Any] | None = None, warnings: list[str] | None = None,
               profile: dict[str, Any] | None = None) -> Response:  # fmt: skip
        """The wizard's second step: the files' report and the form, as last filled in."""
        if profile is None:
            profile = provider_views.profile_uploads(ctx, files)
        sizes = {}
        for name, sha in files:
            found = blobs.stored(ctx.blob_dir, sha)
            if found is None:
                raise NotFound(v._("no upload %(sha)s for %(name)s: upload the file first",
                                   sha=sha, name=name))  # fmt: skip
            sizes[name] = found[1]
        values = {k: v.field(k) for k in ("title", "description", "keywords", "classification",
                                          "source", "source_ref", "basis", "basis_refs",
                                          "personal", "cross_border", "purpose", "region",
                                          "uses", "start", "end", "price", "currency",
                                          "version", "license", "previous", "rule")}  # fmt: skip
        rights = v.fields("rights")
        if not values["title"] and files:
            values["title"] = files[0][0]
        if policy is None and error is None:
            policy = terms_of(v)
        return v.render(
            "provider/details.html",
            status=400 if error else 200,  # a refusal is shown on the form, kept as filled in
            files=files,
            sizes=sizes,
            profile=profile,
            per_file=_per_file(profile, files),
            values=values,
            rights=rights,
            error=error,
            warnings=warnings or [],
            policy=json.dumps(policy, indent=2, ensure_ascii=False) if policy else None,
            sources=SOURCES,
            source_names=SOURCE_NAMES,
            source_refs=SOURCE_REFS,
            bases=BASIS_NAMES,
            classifications=[c for c in CLASSIFICATIONS],
            classification_names=CLASSIFICATION_NAMES,
            right_names=RIGHT_NAMES,
            purposes=list(PURPOSE_PARENT),
            purpose_names=PURPOSE_NAMES,
        )

    def publish_page(v: View) -> Response:
        files = uploaded(v.request.query_params.getlist("file"))
        if not files:
            return v.render("provider/publish.html", uploads_url=UPLOADS)  # fmt: skip
        return wizard(v, files)

    def checked(body: dict[str, Any]) -> dict[str, Any]:
        """What publishing would refuse, found before anything is published."""
        spec = version_spec(body)
        terms = dict(spec.policy or {})
        check_offer_terms(terms)
        check_description(spec.classification, spec.update_frequency, spec.price, spec.currency)
        if spec.compute_rule is not None:
            try:
                parse_rule(spec.compute_rule)
            except GuardError as exc:
                raise Refused(f"analysis rule: {exc}") from None
        return terms

    def publish(v: View) -> Response:
        files = uploaded(v.fields("file"))
        if not files:
            raise BadRequest(v._("upload at least one file"))
        try:
            body = body_of(v, files)
            terms = checked(body)
        except (Refused, BadRequest) as exc:
            return wizard(v, files, error=v._("Not published: %(reason)s", reason=v._(exc.reason)))
        profile = provider_views.profile_uploads(ctx, files)
        pii = list((profile or {}).get("pii_kinds", []))
        warnings = listing_problems(body["classification"], pii, body["declaration"])
        if v.field("do") != "publish":
            return wizard(v, files, policy=terms, warnings=warnings, profile=profile)
        if profile is not None:
            body["profile"] = profile
        try:
            dataset, offer = publish_version(ctx, version_spec(body))
        except (Refused, BadRequest) as exc:
            return wizard(
                v,
                files,
                policy=terms,
                profile=profile,
                error=v._("Not published: %(reason)s", reason=v._(exc.reason)),
            )
        v.act("product-publish", dataset.id, title=dataset.title, offer=offer.id,
              files=[{"name": f.name, "sha256": f.sha256} for f in dataset.files])  # fmt: skip
        return v.redirect(f"{PORTAL}/products/{_quote(dataset.id)}",
                          v._("%(title)s was published.", title=dataset.title))  # fmt: skip

    def products_page(v: View) -> Response:
        return v.render("provider/products.html", products=provider_views.products(ctx),
                        listing_names=LISTING_NAMES)  # fmt: skip

    def product_page(v: View) -> Response:
        product, version = provider_views.product_of(ctx, v.request.path_params["id"])
        d = version.dataset
        live, unreachable = None, None
        if version.listings:  # the listing as the operator holds it now (a member's read)
            last = version.listings[-1]
            try:
                found = directory.operator_call(
                    rt, last.get("operator"), "GET",
                    f"/operator/listings/{urllib.parse.quote(str(last.get('listing')), safe=':')}",
                )  # fmt: skip
                live = found.get("status") if isinstance(found, dict) else None
            except (Refused, BadRequest, RemoteError) as exc:
                unreachable = str(exc)
        return v.render(
            "provider/product.html",
            product=product,
            version=version,
            live=live,
            unreachable=unreachable,
            listing_names=LISTING_NAMES,
            d=d,
            per_file=_per_file(d.profile, [(f.name, f.sha256) for f in d.files]),
            offers=[json.dumps(o.policy, indent=2, ensure_ascii=False) for o in version.offers],
            declaration=json.dumps(d.declaration, indent=2, ensure_ascii=False)
            if d.declaration
            else None,
            rule=json.dumps(d.compute_rule, indent=2, ensure_ascii=False)
            if d.compute_rule
            else None,
            problems=listing_problems(d.classification, _pii(d.profile), d.declaration),
            classification_names=CLASSIFICATION_NAMES,
        )

    def submit(v: View) -> Response:
        dataset_id = v.request.path_params["id"]
        provider_views.product_of(ctx, dataset_id)  # 404 for what this node does not hold
        operator = directory.operator_of(rt, None)
        answer = listing.submit(ctx, rt.peers.http, rt.peers.authorization, operator, dataset_id)
        v.act("listing-submit", dataset_id, operator=operator[0], listing=answer.get("id"),
              status=answer.get("status"))  # fmt: skip
        status = str(answer.get("status", ""))
        return v.redirect(f"{PORTAL}/products/{_quote(dataset_id)}",
                          v._("Sent to %(operator)s: %(status)s.", operator=operator[0],
                              status=v._(LISTING_NAMES.get(status, status))))  # fmt: skip

    def incoming(v: View) -> Response:
        titles = {version.dataset.id: version.dataset.title
                  for p in provider_views.products(ctx) for version in p.versions}  # fmt: skip
        negs = [n for n in negotiations.list_all(ctx, limit=200) if n.role is Role.PROVIDER]
        tps = [t for t in transfer_service.list_all(ctx, limit=200) if t.role is Role.PROVIDER]
        return v.render("provider/incoming.html", negotiations=negs, transfers=tps,
                        titles=titles, state_names=STATE_NAMES)  # fmt: skip

    def usage(v: View) -> Response:
        found = provider_views.usage(ctx)
        chart = {
            "labels": [day[5:] for day, _ in found.days],
            "values": [n for _, n in found.days],
            "name": v._("Uses"),
            "unit": v._("uses"),
            "kind": "bar",
        }
        return v.render("provider/usage.html", usage=found, chart=chart)

    return [
        Route(UPLOADS, upload, methods=["POST"]),
        get(portal, f"{PORTAL}/publish", publish_page, PROVIDER),
        post(portal, f"{PORTAL}/publish", publish, PROVIDER),
        get(portal, f"{PORTAL}/products", products_page, READERS),
        get(portal, f"{PORTAL}/products/{{id:path}}", product_page, READERS),
        post(portal, f"{PORTAL}/listing/{{id:path}}", submit, PROVIDER),
        get(portal, f"{PORTAL}/incoming", incoming, READERS),
        get(portal, f"{PORTAL}/usage", usage, READERS),
    ]


def _pii(profile: dict[str, Any] | None) -> list[str]:
    return [str(k) for k in (profile or {}).get("pii_kinds", [])]


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _per_file(profile: dict[str, Any] | None, files: list[tuple[str, str]]) -> list[Any]:
    """(file name, its profile) for each file a version's profile describes."""
    if not profile:
        return []
    if isinstance(profile.get("files"), dict):
        return [(name, profile["files"].get(name)) for name, _ in files]
    return [(files[0][0] if files else "", profile)]
