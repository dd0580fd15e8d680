"""Supervision (the regulator, read-only, on the operator's node).

The pages read the operator's records the way ``/api/regulator/...`` does: listings by data
classification and by sector, trades per month from the trade certificates, cross-border trades
per provider against the thresholds, the evidence log's head and its checkpoints, and a
certificate checker that verifies a certificate offline with the operator's own keys.

Nothing here changes anything: every route is a GET but the certificate checker, which is a
POST (with the session's CSRF token, so a certificate is not put in a URL and its logs) whose
handler only reads: it writes no record and no evidence.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from trustspace.operator import registry
from trustspace.services import oversight_views as views
from trustspace.services import status
from trustspace.services.errors import NotFound
from trustspace.web.i18n import N_
from trustspace.web.page import PORTAL, NavItem, OperatorParts, Portal, View, get, post
from trustspace.web.words import CLASSIFICATION_NAMES as CLASSIFICATIONS
from trustspace.web.words import LISTING_NAMES as STATUS_NAMES
from trustspace.web.words import SECTOR_NAMES

BASE = f"{PORTAL}/regulator"
NAV = [NavItem(("regulator",), BASE, N_("Supervision"))]
ROLES = ("regulator",)
MAX_CERTIFICATE = 64 * 1024
PAGES = (
    (BASE, N_("Overview")),
    (f"{BASE}/listings", N_("Listings")),
    (f"{BASE}/trades", N_("Trades")),
    (f"{BASE}/cross-border", N_("Cross-border")),
    (f"{BASE}/evidence", N_("Evidence")),
    (f"{BASE}/certificates", N_("Certificate checker")),
)
LEVELS = {
    "below": N_("below the thresholds"),
    "standard": N_(
        "past 100,000 persons: a standard contract, certification or security assessment"
    ),
    "assessment": N_("past a security-assessment threshold"),
}

REASONS = (
    N_("no certificate was given"),
    N_("not a trustspace certificate"),
)
"""The certificate checker's answers that are fixed sentences, translated when shown."""


def routes(portal: Portal) -> list[BaseRoute]:
    def parts(v: View) -> OperatorParts:
        if portal.operator is None:
            raise NotFound(v._("This node is not a data space operator: supervision is on the"
                               " operator's node."))  # fmt: skip
        return portal.operator

    def members(op: OperatorParts) -> list[dict[str, Any]]:
        with op.operator.db.tx() as tx:
            return registry.list_members(tx)

    def page(v: View, template: str, **values: Any) -> Response:
        return v.render(f"oversight/{template}", pages=PAGES, status_names=STATUS_NAMES,
                        classifications=CLASSIFICATIONS, sectors=SECTOR_NAMES,
                        **values)  # fmt: skip

    def chart(labels: list[str], values: list[int], name: str) -> dict[str, Any]:
        return {"labels": labels, "values": values, "name": name, "kind": "bar"}

    def overview(v: View) -> Response:
        op = parts(v)
        listings = op.listings.all()
        certificates = op.listings.certificates()
        everyone = members(op)
        return page(v, "overview.html", operator_id=op.operator.operator_id,
                    counts=views.listing_counts(listings, everyone), listings=len(listings),
                    members=views.count_by(m["status"] for m in everyone),
                    certificates=views.count_by(c["kind"] for c in certificates),
                    head=status.evidence_head(portal.rt.ctx))  # fmt: skip

    def listings_page(v: View) -> Response:
        op = parts(v)
        listings = op.listings.all()
        everyone = members(op)
        counts = views.listing_counts(listings, everyone)
        sector = {m["participantId"]: m.get("sector") for m in everyone}
        by_class = counts["classification"]
        by_sector = counts["sector"]
        return page(v, "listings.html", counts=counts, listings=listings, sector=sector,
                    class_chart=chart([v._(CLASSIFICATIONS.get(k, k)) for k, _n in by_class],
                                      [n for _k, n in by_class], v._("Listings")),
                    sector_chart=chart([v._(SECTOR_NAMES.get(k, k)) for k, _n in by_sector], [n for _k, n in by_sector],
                                       v._("Listings")))  # fmt: skip

    def trades_page(v: View) -> Response:
        op = parts(v)
        trades = views.trades(op.listings.certificates())
        months = views.per_month(trades)
        return page(v, "trades.html", trades=trades, months=months,
                    month_chart=chart([m for m, _n in months], [n for _m, n in months],
                                      v._("Trades")))  # fmt: skip

    def cross_border(v: View) -> Response:
        op = parts(v)
        this_year = dt.datetime.fromtimestamp(portal.rt.ctx.clock(), dt.UTC).year
        try:
            year = int(v.query("year") or this_year)
        except ValueError:
            year = this_year
        year = min(max(year, 2000), 9999)
        everyone = members(op)
        counters = views.cross_border(views.trades(op.listings.certificates()),
                                      op.listings.all(), everyone, year)  # fmt: skip
        return page(v, "cross_border.html", year=year, this_year=this_year, counters=counters,
                    thresholds=views.THRESHOLDS, levels=LEVELS,
                    persons_chart=chart([c.provider for c in counters],
                                        [c.persons for c in counters], v._("Persons")))  # fmt: skip

    def evidence_page(v: View) -> Response:
        op = parts(v)
        head = status.evidence_head(portal.rt.ctx)
        own = views.latest_checkpoints(head["checkpoints"], "operator")
        countersigned = []
        for m in members(op):
            rows = op.operator.member_checkpoints(m["participantId"])
            countersigned += [{**r, "member": m["participantId"]} for r in rows]
        return page(v, "evidence.html", head=head, own=own,
                    members=views.latest_checkpoints(countersigned, "member"))  # fmt: skip

    def checker(v: View, result: views.CertificateCheck | None = None,
                token: str = "") -> Response:  # fmt: skip
        op = parts(v)
        listing = None
        if result is not None and result.claims.get("listing"):
            try:
                listing = op.listings.get(str(result.claims["listing"]))
            except NotFound:
                listing = None
        return page(v, "certificates.html", result=result, token=token, listing=listing,
                    operator_id=op.operator.operator_id,
                    claims=views.pretty(result.claims) if result and result.claims else "")  # fmt: skip

    def checker_form(v: View) -> Response:
        return checker(v)

    def check(v: View) -> Response:
        # A POST (not a GET with the token in its query, which would put certificates into
        # addresses and logs) that reads only: it calls no service that writes, and records no
        # evidence (no v.act), so a regulator's role stays read-only.
        op = parts(v)
        files = v.files("certificate_file")
        if files:
            token = files[0].file.read(MAX_CERTIFICATE).decode("utf-8", errors="replace")
        else:
            token = v.field("certificate", limit=MAX_CERTIFICATE)
        result = views.check_certificate(token, op.operator.jwks(), op.operator.operator_id)
        return checker(v, result, token.strip())

    return [
        get(portal, BASE, overview, ROLES),
        get(portal, f"{BASE}/listings", listings_page, ROLES),
        get(portal, f"{BASE}/trades", trades_page, ROLES),
        get(portal, f"{BASE}/cross-border", cross_border, ROLES),
        get(portal, f"{BASE}/evidence", evidence_page, ROLES),
        get(portal, f"{BASE}/certificates", checker_form, ROLES),
        post(portal, f"{BASE}/certificates", check, ROLES),
    ]
