"""Assessing listings (assessors, on an assessor member's node).

The listings are the operator's: they are read, and the reports attached, through the
operator's member-only endpoints, signed as this node (the same call as
``trustspace member assess`` and ``/api/operator-call``).  The operator checks the two reports
against the documented format (:mod:`trustspace.core.assessment`); its refusal names the field
and is shown on the page, and then nothing has changed.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from trustspace.services import directory
from trustspace.services.errors import BadRequest, NotFound, Refused
from trustspace.services.peers import RemoteError
from trustspace.web.i18n import N_
from trustspace.web.page import PORTAL, NavItem, Portal, View, get, post
from trustspace.web.words import CLASSIFICATION_NAMES as CLASSIFICATIONS
from trustspace.web.words import LISTING_NAMES as STATUS_NAMES

NAV = [NavItem(("assessor",), f"{PORTAL}/assess", N_("Assess listings"))]
ROLES = ("assessor",)
MAX_REPORT = 256 * 1024
REPORTS = (
    ("complianceReport", "compliance", N_("Compliance report")),
    ("qualityReport", "quality", N_("Quality report")),
)

REASONS = (
    N_("a provider cannot assess its own product"),
    N_("this node trusts no operator (setting 'operators')"),
)
"""The operator's refusals an assessor commonly meets here, translated when shown."""


def _reason(v: View, reason: str) -> str:
    """A refusal in the person's language: the operator's own words keep their prefix."""
    prefix = "the operator refused: "
    if reason.startswith(prefix):
        return v._("the operator refused: %(reason)s", reason=v._(reason[len(prefix) :]))
    return v._(reason)


def _path(listing_id: str) -> str:
    return urllib.parse.quote(listing_id, safe=":")


def routes(portal: Portal) -> list[BaseRoute]:
    rt = portal.rt

    def operator(method: str, path: str, body: Any = None) -> Any:
        return directory.operator_call(rt, None, method, path, body)

    def index(v: View) -> Response:
        error, rows = None, []
        try:
            found = operator("GET", "/operator/listings")
            rows = [x for x in found if isinstance(x, dict)] if isinstance(found, list) else []
        except (Refused, NotFound, BadRequest) as exc:
            error = _reason(v, exc.reason)
        except RemoteError as exc:
            error = exc.reason
        mine = rt.ctx.participant_id
        open_ = [x for x in rows if x["status"] == "submitted" and x["providerId"] != mine]
        done = [x for x in rows if x["status"] != "submitted" and x["providerId"] != mine]
        return v.render("oversight/assess.html", open_listings=open_, done_listings=done,
                        error=error, status_names=STATUS_NAMES, path_of=_path,
                        classifications=CLASSIFICATIONS)  # fmt: skip

    def read(listing_id: str) -> dict[str, Any]:
        found = operator("GET", f"/operator/listings/{_path(listing_id)}")
        if not isinstance(found, dict):
            raise NotFound(f"no listing {listing_id}")
        return found

    def detail(v: View, error: str | None = None, texts: dict[str, str] | None = None) -> Response:
        listing = read(v.request.path_params["id"])
        return v.render("oversight/assess_listing.html", status=400 if error else 200, listing=listing,
                        error=error, texts=texts or {}, reports=REPORTS,
                        status_names=STATUS_NAMES, path_of=_path,
                        classifications=CLASSIFICATIONS)  # fmt: skip

    def show(v: View) -> Response:
        return detail(v)

    def report(v: View, stem: str, label: str) -> tuple[Any, str]:
        """One report, from its file if one was chosen, else from its text box."""
        files = v.files(f"{stem}_file")
        if files:
            raw = files[0].file.read(MAX_REPORT + 1)
            if len(raw) > MAX_REPORT:
                raise BadRequest(v._("The %(report)s is too large.", report=v._(label)))
            text = raw.decode("utf-8", errors="replace")
        else:
            text = v.field(f"{stem}_text", limit=MAX_REPORT)
        if not text.strip():
            raise BadRequest(v._("Attach the %(report)s (a JSON file or its text).",
                                 report=v._(label)))  # fmt: skip
        try:
            return json.loads(text), text
        except ValueError as exc:
            raise BadRequest(v._("The %(report)s is not valid JSON: %(error)s",
                                 report=v._(label), error=str(exc))) from None  # fmt: skip

    def assess(v: View) -> Response:
        listing_id = v.request.path_params["id"]
        body: dict[str, Any] = {}
        texts: dict[str, str] = {}
        try:
            for field, stem, label in REPORTS:
                body[field], texts[stem] = report(v, stem, label)
            done = operator("POST", f"/operator/listings/{_path(listing_id)}/assessment", body)
        except (Refused, BadRequest) as exc:  # the operator's refusal names the field
            # shown on the form's own page, as a 400, with what was entered
            return detail(v, error=_reason(v, exc.reason), texts=texts)
        state = done.get("status") if isinstance(done, dict) else None
        outcome = body["complianceReport"].get("outcome") if isinstance(
            body["complianceReport"], dict) else None  # fmt: skip
        v.act("assess-listing", listing_id, status=state, outcome=outcome)
        return v.redirect(f"{PORTAL}/assess/{_path(listing_id)}",
                          v._("The reports were attached: the listing is %(status)s.",
                              status=v._(STATUS_NAMES.get(str(state), str(state)))))  # fmt: skip

    return [
        get(portal, f"{PORTAL}/assess", index, ROLES),
        get(portal, f"{PORTAL}/assess/{{id}}", show, ROLES),
        post(portal, f"{PORTAL}/assess/{{id}}", assess, ROLES),
    ]
