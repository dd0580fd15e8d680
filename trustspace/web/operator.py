"""Running the space, on the operator's node: membership applications, members, the listing
review queue, crawls of the federated catalog, evidence checkpoints and a dashboard.

Reviewers and admins decide; the regulator reads every page and may change nothing.  Each
decision calls the same operator service as ``/api/operator/...``
(:mod:`trustspace.operator.routes`), then records who took it.  On any other node these pages
do not exist.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from trustspace.operator import registry
from trustspace.services import operator_views
from trustspace.services.errors import NotFound
from trustspace.web.i18n import N_
from trustspace.web.membership import APPLICATION_STATES, MEMBER_ROLE_NAMES
from trustspace.web.page import PORTAL, NavItem, OperatorParts, Portal, View, get, post
from trustspace.web.words import SECTOR_NAMES

PATH = f"{PORTAL}/operator"
READ = ("reviewer", "admin", "regulator")
DECIDE = ("reviewer", "admin")
NAV = [NavItem(READ, PATH, N_("Space operations"))]

TABS = (
    (PATH, N_("Overview")),
    (f"{PATH}/applications", N_("Applications")),
    (f"{PATH}/members", N_("Members")),
    (f"{PATH}/listings", N_("Listing review")),
    (f"{PATH}/crawl", N_("Catalog crawls")),
    (f"{PATH}/checkpoints", N_("Evidence checkpoints")),
)
MEMBER_STATES = {"active": N_("active"), "suspended": N_("suspended"), "revoked": N_("revoked")}
LISTING_STATES = {
    "submitted": N_("submitted"),
    "assessed": N_("assessed"),
    "listed": N_("listed"),
    "rejected": N_("rejected"),
    "delisted": N_("delisted"),
}
OUTCOMES = {"pass": N_("pass"), "conditional": N_("conditional"), "fail": N_("fail")}
FINDINGS = {"met": N_("met"), "not-met": N_("not met"), "not-applicable": N_("not applicable")}
QUALITY = {
    "completeness": N_("Completeness"),
    "accuracy": N_("Accuracy"),
    "consistency": N_("Consistency"),
    "timeliness": N_("Timeliness"),
    "uniqueness": N_("Uniqueness"),
}
RIGHTS = {"holding": N_("holding"), "processing": N_("processing"), "operation": N_("operation")}
MEMBER_ACTIONS = ("suspend", "reinstate", "revoke")
LISTING_ACTIONS = ("approve", "reject", "delist")

REASONS = (
    N_("reason"),
    N_("a rejection needs a reason"),
    N_("a rejection gives its reasons"),
    N_("delisting gives a reason"),
    N_("no such action"),
)
"""The operator's refusals a reviewer commonly meets, translated when shown."""


def _count(values: Iterable[str]) -> list[tuple[str, int]]:
    return sorted(Counter(values).items())


def _chart(name: str, pairs: list[tuple[str, int]], kind: str = "bar") -> dict[str, Any]:
    return {"name": name, "kind": kind, "labels": [k for k, _ in pairs],
            "values": [n for _, n in pairs]}  # fmt: skip


def routes(portal: Portal) -> list[BaseRoute]:
    if portal.operator is None:  # not the operator's node: no such pages, nor their entries
        portal.nav[:] = [item for item in portal.nav if item not in NAV]
        return []
    parts: OperatorParts = portal.operator
    op, listings, federation = parts.operator, parts.listings, parts.federation
    rt = portal.rt
    labels: dict[str, Any] = {"member_states": MEMBER_STATES, "listing_states": LISTING_STATES,
              "application_states": APPLICATION_STATES, "sector_names": SECTOR_NAMES,
              "role_names": MEMBER_ROLE_NAMES, "outcomes": OUTCOMES, "findings": FINDINGS,
              "quality": QUALITY, "rights": RIGHTS, "tabs": TABS}  # fmt: skip

    def show(v: View, template: str, **values: Any) -> Response:
        return v.render(f"operator/{template}", can_decide=v.me.has(*DECIDE), **labels,
                        **values)  # fmt: skip

    def member_list() -> list[dict[str, Any]]:
        with op.db.tx() as tx:  # as GET /api/operator/members reads them
            return registry.list_members(tx)

    # --- the dashboard ---------------------------------------------------------------------

    def dashboard(v: View) -> Response:
        members = member_list()
        all_listings = listings.all()
        summary = operator_views.space_summary(op.db)
        by_status = _count(m["status"] for m in members)
        by_sector = _count(m["sector"] for m in members)
        by_region = _count(m["region"] for m in members)
        listing_states = _count(item["status"] for item in all_listings)
        trades = [(month, n) for month, n in summary["tradesByMonth"]]
        charts = {
            "chart-members-status": _chart(
                v._("Members"), [(v._(MEMBER_STATES.get(k, k)), n) for k, n in by_status]
            ),
            "chart-members-sector": _chart(
                v._("Members"), [(v._(SECTOR_NAMES.get(k, k)), n) for k, n in by_sector]
            ),
            "chart-members-region": _chart(v._("Members"), by_region),
            "chart-listings": _chart(
                v._("Listings"), [(v._(LISTING_STATES.get(k, k)), n) for k, n in listing_states]
            ),
            "chart-trades": _chart(v._("Trade certificates"), trades, kind="line"),
            "chart-catalog": _chart(
                v._("Datasets"), [(c["provider"], c["datasets"]) for c in summary["catalog"]]
            ),
        }
        pending = len(op.applications("pending"))
        return show(v, "dashboard.html", members=members, by_status=by_status,
                    by_sector=by_sector, by_region=by_region, listing_counts=listing_states,
                    trades=trades, summary=summary, charts=charts, pending=pending,
                    to_review=sum(1 for i in all_listings if i["status"] == "assessed"))  # fmt: skip

    # --- applications ----------------------------------------------------------------------

    def applications(v: View) -> Response:
        wanted = v.query("status", "pending")
        status = wanted if wanted in APPLICATION_STATES else None
        return show(v, "applications.html", applications=op.applications(status),
                    wanted=status or "all")  # fmt: skip

    def application_decide(v: View) -> Response:
        app_id, action = v.request.path_params["id"], v.request.path_params["action"]
        if action == "approve":
            decided = op.approve(app_id)
            message = v._("%(name)s was approved: its membership credential was issued.",
                          name=decided["legalName"])  # fmt: skip
            v.act("operator.application.approve", app_id, participant=decided["participantId"])
        elif action == "reject":
            reason = v.field("reason", required=True, limit=2000)
            decided = op.reject(app_id, reason)
            message = v._("The application of %(name)s was rejected.", name=decided["legalName"])
            v.act("operator.application.reject", app_id, participant=decided["participantId"],
                  reason=reason)  # fmt: skip
        else:
            raise NotFound(v._("no such action"))
        return v.redirect(f"{PATH}/applications", message)

    # --- members ---------------------------------------------------------------------------

    def members(v: View) -> Response:
        return show(v, "members.html", members=member_list(), keys=op.jwks()["keys"])

    def member_change(v: View) -> Response:
        member_id, action = v.request.path_params["id"], v.request.path_params["action"]
        if action not in MEMBER_ACTIONS:
            raise NotFound(v._("no such action"))
        reason = v.field("reason", required=action != "reinstate", limit=2000)
        changed = op.set_status(member_id, action, reason)
        v.act(f"operator.member.{action}", member_id, reason=reason, status=changed["status"])
        shown = v._(MEMBER_STATES.get(changed["status"], changed["status"]))
        return v.redirect(f"{PATH}/members", v._("%(member)s is now %(status)s.",
                                                  member=member_id, status=shown))  # fmt: skip

    def rotate_keys(v: View) -> Response:
        kid = op.rotate_key()
        v.act("operator.keys.rotate", kid)
        return v.redirect(f"{PATH}/members", v._("The operator now signs with key %(kid)s; the"
                                                  " old keys stay published.", kid=kid))  # fmt: skip

    # --- listings --------------------------------------------------------------------------

    def listing_queue(v: View) -> Response:
        wanted = v.query("status")
        status = wanted if wanted in LISTING_STATES else None
        every = listings.all()
        shown = [i for i in every if status is None or i["status"] == status]
        counts = dict(_count(i["status"] for i in every))
        return show(v, "listings.html", listings=list(reversed(shown)), wanted=status or "all",
                    counts=counts, total=len(every))  # fmt: skip

    def listing_page(v: View) -> Response:
        listing = listings.get(v.request.path_params["id"])
        return show(v, "listing.html", listing=listing)

    def listing_decide(v: View) -> Response:
        listing_id, action = v.request.path_params["id"], v.request.path_params["action"]
        if action not in LISTING_ACTIONS:
            raise NotFound(v._("no such action"))
        if action == "approve":
            decided = listings.approve(listing_id)
            message = v._("%(title)s is listed: its registration certificate was issued.",
                          title=decided["submission"].get("title", listing_id))  # fmt: skip
            v.act("operator.listing.approve", listing_id, provider=decided["providerId"])
        else:
            reason = v.field("reason", required=True, limit=2000)
            if action == "reject":
                decided = listings.reject(listing_id, [reason])
                message = v._("%(title)s was rejected.",
                              title=decided["submission"].get("title", listing_id))  # fmt: skip
            else:
                decided = listings.delist(listing_id, reason)
                message = v._("%(title)s was delisted.",
                              title=decided["submission"].get("title", listing_id))  # fmt: skip
            v.act(f"operator.listing.{action}", listing_id, provider=decided["providerId"],
                  reason=reason)  # fmt: skip
        return v.redirect(f"{PATH}/listings/{listing_id}", message)

    # --- crawls and checkpoints ------------------------------------------------------------

    def crawl_page(v: View) -> Response:
        return show(v, "crawl.html", crawls=operator_views.crawls(op.db),
                    summary=operator_views.space_summary(op.db))  # fmt: skip

    def crawl_now(v: View) -> Response:
        report = federation.crawl()
        errors = {str(k): str(e) for k, e in report.get("errors", {}).items()}
        v.act("crawl", "federated-catalog", members=report["members"],
              datasets=report["datasets"], errors=errors)  # fmt: skip
        return v.redirect(f"{PATH}/crawl", v._(
            "Crawled %(members)s members: %(datasets)s datasets indexed, %(errors)s failed.",
            members=v.fmt.number(report["members"]), datasets=v.fmt.number(report["datasets"]),
            errors=v.fmt.number(len(errors))))  # fmt: skip

    def checkpoint_page(v: View) -> Response:
        return show(v, "checkpoints.html", found=operator_views.checkpoints(op.db))

    def checkpoint_now(v: View) -> Response:
        signed = rt.checkpoint()
        seqs = sorted({int(s["seq"]) for s in signed})
        v.act("checkpoint", "evidence", signed=[{"operator": s["operator"], "seq": s["seq"]}
                                                for s in signed])  # fmt: skip
        if not seqs:
            return v.redirect(f"{PATH}/checkpoints", v._("The head was already countersigned."))
        return v.redirect(f"{PATH}/checkpoints", v._(
            "Entry %(seq)s was countersigned.", seq=v.fmt.number(seqs[-1])))  # fmt: skip

    return [
        get(portal, PATH, dashboard, READ),
        get(portal, f"{PATH}/applications", applications, READ),
        post(portal, f"{PATH}/applications/{{id}}/{{action}}", application_decide, DECIDE),
        get(portal, f"{PATH}/members", members, READ),
        post(portal, f"{PATH}/members/{{id}}/{{action}}", member_change, DECIDE),
        post(portal, f"{PATH}/keys/rotate", rotate_keys, DECIDE),
        get(portal, f"{PATH}/listings", listing_queue, READ),
        get(portal, f"{PATH}/listings/{{id}}", listing_page, READ),
        post(portal, f"{PATH}/listings/{{id}}/{{action}}", listing_decide, DECIDE),
        get(portal, f"{PATH}/crawl", crawl_page, READ),
        post(portal, f"{PATH}/crawl", crawl_now, DECIDE),
        get(portal, f"{PATH}/checkpoints", checkpoint_page, READ),
        post(portal, f"{PATH}/checkpoints", checkpoint_now, DECIDE),
    ]
