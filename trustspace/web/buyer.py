"""A data buyer's pages: finding data in the space, a dataset's page, asking for access,
the agreements this node holds as consumer, and transfers with their downloads.

Each page calls the services the management API calls, the same way: the federated search at
the node's operator, the provider's dataset over DSP, a negotiation and a transfer as consumer.
A download is streamed from the provider's data plane through this node, with the transfer's
own token, one chunk at a time: the token never reaches the browser.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from babel import numbers
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

from trustspace.core import negotiation as n
from trustspace.core import transfer as t
from trustspace.core.fileset import FILESET_MEDIA_TYPE
from trustspace.core.odrl.vocab import CLASSIFICATIONS, PURPOSE_PARENT
from trustspace.dataplane.fileset import fetch_manifest
from trustspace.services import buyer_views, directory, negotiations, status, transfers
from trustspace.services.catalog import API_KEY, CLASSIFICATION_KEY, DCAT, FILES_KEY, PRICE_KEY
from trustspace.services.errors import BadRequest, NotFound, Refused
from trustspace.services.peers import RemoteError
from trustspace.web.i18n import N_
from trustspace.web.page import HEADERS, PORTAL, NavItem, Portal, View, get, post

NAV = [
    NavItem(("buyer",), f"{PORTAL}/search", N_("Find data")),
    NavItem(("buyer",), f"{PORTAL}/agreements", N_("My agreements")),
    NavItem(("buyer",), f"{PORTAL}/transfers", N_("Transfers")),
]

ROLES = ("buyer",)
FACETS = ("q", "sector", "region", "format", "license", "classification", "maxPrice")
PAGE = 20
MOST = 200  # the operator's search answers at most this many results
TRANSFER_ACTIONS = ("suspend", "resume", "complete")
FORMATS = ("HttpData-PULL", "Compute-SQL")
CHUNK = 1 << 16

STATE_NAMES = {
    "REQUESTED": N_("Requested"),
    "OFFERED": N_("Offered"),
    "ACCEPTED": N_("Accepted"),
    "AGREED": N_("Agreed"),
    "VERIFIED": N_("Verified"),
    "FINALIZED": N_("Finalized: access granted"),
    "TERMINATED": N_("Terminated"),
    "STARTED": N_("Started: data can be downloaded"),
    "SUSPENDED": N_("Suspended"),
    "COMPLETED": N_("Completed"),
}

TYPE_NAMES = {
    "integer": N_("integer"),
    "float": N_("decimal number"),
    "boolean": N_("true or false"),
    "date": N_("date"),
    "datetime": N_("date and time"),
    "string": N_("text"),
}

CLASSIFICATION_NAMES = {"general": N_("general"), "important": N_("important"), "core": N_("core")}

REASONS = (
    N_("terminated by the counterparty"),
    N_("the transfer is not started: data can be downloaded only while it is STARTED"),
    N_("this version has several files: download them one by one"),
    N_("the provider's data plane did not answer"),
    N_("the provider refused the download"),
    N_("this dataset has no such offer"),
    N_("no such provider in the space"),
    N_("Use: any purpose, no conditions"),
    N_("Or, alternatively:"),
)
"""What these pages commonly show from the services, translated when shown."""

TERMS = (
    (re.compile(r"At most (?P<n>\d+) downloads"), N_("At most %(n)s downloads")),
    (re.compile(r"At most (?P<n>\d+) compute jobs"), N_("At most %(n)s compute jobs")),
    (re.compile(r"Use: (?P<v>.+) only"), N_("Use: %(v)s only")),
    (re.compile(r"Consumers in: (?P<v>.+)"), N_("Consumers in: %(v)s")),
    (re.compile(r"Within (?P<v>.+) of the agreement"), N_("Within %(v)s of the agreement")),
    (re.compile(r"Until (?P<v>.+)"), N_("Until %(v)s")),
    (re.compile(r"Price: (?P<v>.+)"), N_("Price: %(v)s")),
    (re.compile(r"Allowed: (?P<v>.+)"), N_("Allowed: %(v)s")),
    (re.compile(r"Not allowed: (?P<v>.+)"), N_("Not allowed: %(v)s")),
    (re.compile(r"Data classified: (?P<v>.+)"), N_("Data classified: %(v)s")),
    (re.compile(r"Only for: (?P<v>.+)"), N_("Only for: %(v)s")),
)
"""The most common lines of an offer's terms in words (:mod:`trustspace.core.odrl.words`),
shown in the person's language; any other line is shown as written."""

_FILENAME = re.compile(r"filename\*=UTF-8''([^;\s]+)|filename=\"([^\"]*)\"", re.IGNORECASE)


def _number(text: str, default: int, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        return default
    return max(low, min(value, high))


def routes(portal: Portal) -> list[BaseRoute]:
    rt = portal.rt
    ctx = rt.ctx

    def price(v: View, amount: object, currency: object) -> str:
        """A catalog price (a decimal amount in ``currency``) in the person's language."""
        if amount in (None, "") or not isinstance(currency, str) or not currency:
            return "–"
        try:
            value = Decimal(str(amount))
            minor = int(value * 10 ** numbers.get_currency_precision(currency))
        except (InvalidOperation, ValueError):
            return f"{amount} {currency}"
        return v.fmt.money(minor, currency)

    def reason(v: View, text: str | None) -> str:
        """A service's reason in the person's language where it is a known one."""
        if not text:
            return ""
        head, sep, rest = text.partition(": ")
        if v._(text) != text:
            return v._(text)
        if sep and v._(head) != head:
            return f"{v._(head)}: {rest}"
        for pattern, message in TERMS:
            found = pattern.fullmatch(text)
            if found is not None:
                return v._(message, **found.groupdict())
        return text

    def base(v: View) -> dict[str, Any]:
        return {
            "price": lambda a, c: price(v, a, c),
            "reason": lambda text: reason(v, text),
            "state_names": STATE_NAMES,
        }

    # --- finding data -------------------------------------------------------------------

    def search(v: View) -> Response:
        chosen = {k: v.query(k).strip() for k in FACETS}
        query = {k: value for k, value in chosen.items() if value}
        limit = _number(v.query("limit"), PAGE, 1, 50)
        offset = _number(v.query("offset"), 0, 0, MOST - limit - 1)
        results: list[dict[str, Any]] = []
        error = None
        more = False
        try:
            answer = directory.search(rt, None, {**query, "limit": str(offset + limit + 1)})
            found = list(answer.get("results", [])) if isinstance(answer, dict) else []
            results = found[offset : offset + limit]
            more = len(found) > offset + limit
        except (Refused, BadRequest) as exc:
            error = reason(v, exc.reason)
        except RemoteError as exc:
            error = reason(v, exc.detail)

        def page_at(at: int) -> str:
            return f"{PORTAL}/search?" + urllib.parse.urlencode(
                {**query, "limit": limit, "offset": at}
            )

        return v.render(
            "buyer/search.html",
            chosen=chosen,
            results=results,
            error=error,
            limit=limit,
            offset=offset,
            previous=page_at(max(0, offset - limit)) if offset > 0 else None,
            next=page_at(offset + limit) if more else None,
            classifications=CLASSIFICATIONS,
            classification_names=CLASSIFICATION_NAMES,
            formats=FORMATS,
            dataset_link=dataset_link,
            **base(v),
        )

    def dataset_link(result: dict[str, Any]) -> str:
        return f"{PORTAL}/datasets?" + urllib.parse.urlencode(
            {"provider": result.get("providerId") or result.get("dspUrl") or "",
             "id": result.get("datasetId") or ""}
        )  # fmt: skip

    def provider_of(v: View, provider: str) -> tuple[str, str]:
        """The participant id and DSP address of a provider named by either."""
        if not provider:
            raise BadRequest(v._("'%(name)s' is required", name="provider"))
        if provider.startswith(("http://", "https://")):
            return directory.find_peer(rt, provider)
        member = rt.operators.member(provider) if rt.operators is not None else None
        if member is None or not member.get("dspUrl"):
            raise NotFound(v._("no such provider in the space"))
        return provider, str(member["dspUrl"])

    # --- a dataset's page ---------------------------------------------------------------

    def dataset_page(v: View, refusal: str | None = None, status_code: int = 200) -> Response:
        provider = v.query("provider") or v.field("provider")
        dataset_id = v.query("id") or v.field("dataset")
        if not dataset_id:
            raise BadRequest(v._("'%(name)s' is required", name="id"))
        peer_id, address = provider_of(v, provider)
        remote = directory.remote_dataset(rt, address, peer_id, dataset_id)
        return v.render(
            "buyer/dataset.html",
            status=status_code,
            refusal=refusal,
            d=remote,
            dataset_id=dataset_id,
            provider_id=peer_id,
            address=address,
            described=_described(remote),
            offers=[
                {"id": o.get("@id"), "terms": buyer_views.terms_in_words(o)}
                for o in remote.get("hasPolicy", [])
                if isinstance(o, dict)
            ],
            certificates=buyer_views.read_certificates(
                rt.operators, remote.get(buyer_views.CERTIFICATES_KEY)
            ),
            classification_names=CLASSIFICATION_NAMES,
            type_names=TYPE_NAMES,
            **base(v),
        )

    def request_access(v: View) -> Response:
        peer_id, address = provider_of(v, v.field("provider", required=True))
        dataset_id = v.field("dataset", required=True)
        offer_id = v.field("offer", required=True)
        remote = directory.remote_dataset(rt, address, peer_id, dataset_id)
        chosen = [o for o in remote.get("hasPolicy", [])
                  if isinstance(o, dict) and o.get("@id") == offer_id]  # fmt: skip
        if not chosen:
            raise BadRequest(v._("this dataset has no such offer"))
        try:
            neg = negotiations.request(ctx, provider_id=peer_id, provider_address=address,
                                       dataset_id=dataset_id, offer=chosen[0])  # fmt: skip
        except Refused as exc:
            return dataset_page(v, refusal=reason(v, exc.reason), status_code=400)
        v.act("request-access", neg.id, provider=peer_id, dataset=dataset_id, offer=offer_id)
        return v.redirect(f"{PORTAL}/negotiations/{neg.id}",
                          v._("Access was requested: the provider is answering."))  # fmt: skip

    # --- a negotiation ------------------------------------------------------------------

    def negotiation_page(v: View) -> Response:
        neg = buyer_views.negotiation(ctx, v.request.path_params["id"])
        values = {
            "neg": neg,
            "history": status.history(ctx, neg.id),
            "done": neg.state in (n.FINALIZED, n.TERMINATED),
            "purposes": list(PURPOSE_PARENT),
            **base(v),
        }
        if v.query("partial") == "1":
            return v.render("buyer/negotiation_status.html", **values)
        return v.render("buyer/negotiation.html", **values)

    # --- agreements ---------------------------------------------------------------------

    def agreements_page(v: View) -> Response:
        offset = _number(v.query("offset"), 0, 0, 1 << 30)
        found = buyer_views.agreements(ctx, PAGE + 1, offset)
        return v.render(
            "buyer/agreements.html",
            agreements=found[:PAGE],
            previous=f"{PORTAL}/agreements?offset={max(0, offset - PAGE)}" if offset else None,
            next=f"{PORTAL}/agreements?offset={offset + PAGE}" if len(found) > PAGE else None,
            purposes=list(PURPOSE_PARENT),
            **base(v),
        )

    # --- transfers ----------------------------------------------------------------------

    def transfer_start(v: View) -> Response:
        agreement = buyer_views.agreement(ctx, v.field("agreement", required=True, limit=200))
        purpose = v.field("purpose", limit=100) or None
        tp = transfers.request(ctx, agreement_id=agreement["id"], format=transfers.PULL_FORMAT,
                               purpose=purpose)  # fmt: skip
        v.act("start-transfer", tp.id, agreement=agreement["id"], purpose=purpose)
        return v.redirect(f"{PORTAL}/transfers/{tp.id}",
                          v._("The transfer was requested: the provider is starting it."))  # fmt: skip

    def transfers_page(v: View) -> Response:
        offset = _number(v.query("offset"), 0, 0, 1 << 30)
        found = buyer_views.transfers(ctx, PAGE + 1, offset)
        return v.render(
            "buyer/transfers.html",
            transfers=found[:PAGE],
            previous=f"{PORTAL}/transfers?offset={max(0, offset - PAGE)}" if offset else None,
            next=f"{PORTAL}/transfers?offset={offset + PAGE}" if len(found) > PAGE else None,
            **base(v),
        )

    def files_of(tp_view: dict[str, Any]) -> list[dict[str, Any]] | None:
        """The manifest's files of a started transfer of several files, else None."""
        endpoint, token = tp_view.get("endpoint"), tp_view.get("authorization")
        if tp_view["state"] != t.STARTED or not endpoint or not token:
            return None
        try:
            manifest = fetch_manifest(str(endpoint), str(token), client=rt.peers.http)
        except Exception:  # shown as a plain download; the download says what went wrong
            return None
        if manifest is None:
            return None
        return [f for f in manifest.get("files", []) if isinstance(f, dict)]

    def transfer_page(v: View) -> Response:
        tp = buyer_views.transfer(ctx, v.request.path_params["id"])
        shown = transfers.view(tp)
        values = {
            "tp": tp,
            "history": status.history(ctx, tp.id),
            "done": tp.state in (t.COMPLETED, t.TERMINATED),
            "can_download": tp.state == t.STARTED and bool(shown.get("endpoint")),
            "files": files_of(shown),
            **base(v),
        }
        if v.query("partial") == "1":
            return v.render("buyer/transfer_status.html", **values)
        return v.render("buyer/transfer.html", **values)

    def transfer_act(v: View) -> Response:
        action = v.request.path_params["action"]
        if action not in TRANSFER_ACTIONS:
            raise NotFound(v._("no such change"))
        tp = buyer_views.transfer(ctx, v.request.path_params["id"])
        done = transfers.act(ctx, tp.id, action, v.field("reason", limit=500) or None)
        v.act(f"transfer-{action}", tp.id, state=done.state)
        return v.redirect(f"{PORTAL}/transfers/{tp.id}",
                          v._("The transfer is now: %(state)s", state=v._(STATE_NAMES[done.state])))  # fmt: skip

    def download(v: View) -> Response:
        tp = buyer_views.transfer(ctx, v.request.path_params["id"])
        shown = transfers.view(tp)
        endpoint, token = shown.get("endpoint"), shown.get("authorization")
        if tp.state != t.STARTED or not endpoint or not token:
            raise Refused(
                v._("the transfer is not started: data can be downloaded only while it is STARTED")
            )
        name = v.query("file")
        url = str(endpoint)
        if name:
            url = f"{url.rstrip('/')}/{urllib.parse.quote(name, safe='')}"
        v.act("download", tp.id, file=name or None)

        def refuse(status_code: int, text: str) -> Response:
            return v.render("error.html", status=status_code, status_code=status_code,
                            reason=reason(v, text))  # fmt: skip

        return Download(url, str(token), name or tp.dataset_id, refuse)

    return [
        get(portal, f"{PORTAL}/search", search, ROLES),
        get(portal, f"{PORTAL}/datasets", dataset_page, ROLES),
        post(portal, f"{PORTAL}/negotiations", request_access, ROLES),
        get(portal, f"{PORTAL}/negotiations/{{id}}", negotiation_page, ROLES),
        get(portal, f"{PORTAL}/agreements", agreements_page, ROLES),
        get(portal, f"{PORTAL}/transfers", transfers_page, ROLES),
        post(portal, f"{PORTAL}/transfers", transfer_start, ROLES),
        get(portal, f"{PORTAL}/transfers/{{id}}", transfer_page, ROLES),
        get(portal, f"{PORTAL}/transfers/{{id}}/download", download, ROLES),
        post(portal, f"{PORTAL}/transfers/{{id}}/{{action}}", transfer_act, ROLES),
    ]


def _described(d: dict[str, Any]) -> dict[str, Any]:
    """What a dataset's DSP entry says, by plain names for the page."""
    files = d.get(FILES_KEY)
    checksum = d.get("checksum") if isinstance(d.get("checksum"), dict) else {}
    price = d.get(PRICE_KEY) if isinstance(d.get(PRICE_KEY), dict) else None
    profile = d.get(buyer_views.PROFILE_KEY)
    keywords = d.get("keyword") or []
    return {
        "title": d.get("title") or d.get("@id"),
        "description": d.get("description") or "",
        "keywords": keywords if isinstance(keywords, list) else [keywords],
        "license": d.get("license"),
        "classification": d.get(CLASSIFICATION_KEY),
        "price": price,
        "version": d.get(DCAT + "version"),
        "product": d.get(DCAT + "isVersionOf"),
        "previous": d.get(DCAT + "previousVersion"),
        "frequency": d.get("accrualPeriodicity"),
        "formats": [x.get("format") for x in d.get("distribution", []) if isinstance(x, dict)],
        "api": isinstance(d.get(API_KEY), dict),
        "files": [
            {
                "name": f.get("name"),
                "size": f.get("byteSize"),
                "sha256": (f.get("checksum") or {}).get("checksumValue"),
            }
            for f in files
            if isinstance(f, dict)
        ]
        if isinstance(files, list)
        else [],
        "size": d.get("byteSize"),
        "sha256": (checksum or {}).get("checksumValue"),
        "media_type": d.get("mediaType"),
        "profile": _charts(profile) if isinstance(profile, dict) else None,
    }


def _charts(profile: dict[str, Any]) -> dict[str, Any]:
    """The scan summary with, per file, the figures its charts draw (as JSON for the page)."""
    files = []
    for i, (name, part) in enumerate(sorted((profile.get("files") or {}).items())):
        if not isinstance(part, dict):
            continue
        columns = [c for c in part.get("columns", []) if isinstance(c, dict)]
        labels = [str(c.get("name")) for c in columns]
        nulls = {"labels": labels, "unit": "%", "kind": "bar",
                 "values": [round(float(c.get("nullRate") or 0) * 100, 2) for c in columns]}  # fmt: skip
        distinct = {"labels": labels, "kind": "bar",
                    "values": [int(c.get("distinct") or 0) for c in columns]}  # fmt: skip
        files.append({
            "name": name, "index": i, "rows": part.get("rows"), "columns": columns,
            "nulls": _json(nulls), "distinct": _json(distinct),
        })  # fmt: skip
    return {
        "files": files,
        "personal": bool(profile.get("personalInformation")),
        "kinds": [str(k) for k in profile.get("piiKinds", [])],
        "sensitive": bool(profile.get("sensitive")),
        "legal_basis": profile.get("legalBasis"),
    }


def _attachment(filename: str) -> str:
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in filename)
    quoted = urllib.parse.quote(filename, safe="")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quoted}"


def _filename(disposition: str, default: str) -> str:
    found = _FILENAME.search(disposition or "")
    if found is None:
        return default
    name = urllib.parse.unquote(found.group(1)) if found.group(1) else found.group(2)
    name = name.replace("/", "_").replace("\\", "_").strip()
    return name or default


class Download(Response):
    """The provider's file, read from its data plane and passed on chunk by chunk: the next
    chunk is read only once the browser took the last one, so memory stays flat.  A refusal
    by the data plane (or no answer) is an error page instead."""

    def __init__(self, url: str, token: str, default_name: str,
                 refuse: Any) -> None:  # fmt: skip
        super().__init__(status_code=200)
        self.url, self.token, self.default_name, self.refuse = url, token, default_name, refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {"Authorization": f"Bearer {self.token}", "Accept-Encoding": "identity"}
        started = False
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0)) as client:
            try:
                async with client.stream("GET", self.url, headers=headers) as answer:
                    media = answer.headers.get("content-type", "application/octet-stream")
                    if answer.status_code != 200:
                        found = 404 if answer.status_code == 404 else 403
                        await self.refuse(found, N_("the provider refused the download"))(
                            scope, receive, send
                        )
                        return
                    if media.startswith(FILESET_MEDIA_TYPE):
                        text = N_("this version has several files: download them one by one")
                        await self.refuse(409, text)(scope, receive, send)
                        return
                    name = _filename(answer.headers.get("content-disposition", ""),
                                     self.default_name)  # fmt: skip
                    out = {**HEADERS, "Content-Type": media,
                           "Content-Disposition": _attachment(name)}  # fmt: skip
                    length = answer.headers.get("content-length")
                    if length and length.isdigit():
                        out["Content-Length"] = length
                    await send({"type": "http.response.start", "status": 200,
                                "headers": [(k.lower().encode("latin-1"), v.encode("latin-1"))
                                            for k, v in out.items()]})  # fmt: skip
                    started = True
                    async for chunk in answer.aiter_raw(CHUNK):
                        await send({"type": "http.response.body", "body": chunk,
                                    "more_body": True})  # fmt: skip
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
            except httpx.HTTPError:
                if started:  # the browser sees a cut-off download, never a wrong whole file
                    raise
                await self.refuse(502, N_("the provider's data plane did not answer"))(
                    scope, receive, send
                )


def _json(value: object) -> str:
    """JSON to sit inside a <script type="application/json">: no "<" can close it."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
