"""This node as a member of data spaces (admins): applying to an operator, following the
application, the membership credentials it holds, and moving to a new key.

The same use cases as ``/api/membership``: :class:`~trustspace.services.membership.Membership`
through the runtime.  Opening the page picks up the decisions on pending applications, as
``GET /api/membership`` does.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from trustspace.core.registry import ROLES, SECTORS
from trustspace.services.membership import MembershipError
from trustspace.web.i18n import N_
from trustspace.web.page import PORTAL, NavItem, Portal, View, get, post
from trustspace.web.words import SECTOR_NAMES

PATH = f"{PORTAL}/membership"
NAV = [NavItem(("admin",), PATH, N_("Membership"))]

MEMBER_ROLES = tuple(r for r in ROLES if r != "operator")
"""The roles a member may ask for (the operator role is not given to members)."""
MEMBER_ROLE_NAMES = {
    "provider": N_("data provider"),
    "consumer": N_("data consumer"),
    "assessor": N_("assessor"),
    "auditor": N_("auditor"),
    "operator": N_("operator"),
}
APPLICATION_STATES = {
    "pending": N_("pending"),
    "approved": N_("approved"),
    "rejected": N_("rejected"),
}
FIELDS = (
    ("legalName", N_("Legal name"), 200),
    ("registrationNumber", N_("Registration number (unified social credit code)"), 64),
    ("region", N_("Region (ISO 3166, e.g. CN-BJ)"), 16),
    ("contact", N_("Contact (e-mail or phone)"), 200),
)

REASONS = (
    N_("no membership to rotate the key for"),
    N_("choose at least one role"),
    N_("choose an operator this node trusts"),
)
"""Refusals a person meets here, translated when shown."""


def routes(portal: Portal) -> list[BaseRoute]:
    rt = portal.rt

    def trusted() -> list[str]:
        return list(rt.operators.trusted) if rt.operators is not None else []

    def state() -> dict[str, Any]:
        rt.membership.poll()
        described = rt.membership.describe()
        applications = sorted(described["applications"].items())
        return {
            "participant": described["participantId"],
            "credentials": described["credentials"],
            "applications": applications,
            "waiting": any(app.get("status") == "pending" for _, app in applications),
        }

    def values(v: View) -> dict[str, Any]:
        return {
            "operator": v.field("operator", limit=200),
            **{name: v.field(name, limit=limit) for name, _label, limit in FIELDS},
            "sector": v.field("sector", limit=64),
            "roles": v.fields("roles"),
        }

    def page(v: View, *, error: str | None = None, entered: dict[str, Any] | None = None,
             status_code: int = 200) -> Response:  # fmt: skip
        now = state()
        held = {c["operator"] for c in now["credentials"]}
        waiting = {op for op, app in now["applications"] if app.get("status") == "pending"}
        operators = [op for op in trusted() if op not in held | waiting]
        if entered is not None:  # a refused form shows again, whichever operator it named
            operators = trusted()
        default = {"operator": operators[0] if operators else "", "sector": "", "roles": []}
        return v.render("membership/index.html", status=status_code, **now,
                        operators=operators, trusted=trusted(), fields=FIELDS, sectors=SECTORS,
                        sector_names=SECTOR_NAMES, member_roles=MEMBER_ROLES,
                        role_names=MEMBER_ROLE_NAMES, states=APPLICATION_STATES,
                        error=error, entered=entered or default)  # fmt: skip

    def index(v: View) -> Response:
        return page(v)

    def status(v: View) -> Response:
        """The live part of the page while an application is pending (htmx polls it)."""
        now = state()
        response = v.render("membership/_status.html", **now, role_names=MEMBER_ROLE_NAMES,
                            sector_names=SECTOR_NAMES, states=APPLICATION_STATES)  # fmt: skip
        if not now["waiting"]:  # decided: the whole page again (the form may apply anew)
            response.headers["HX-Refresh"] = "true"
        return response

    def apply(v: View) -> Response:
        entered = values(v)
        operator = entered["operator"]
        if operator not in trusted():
            return page(v, error=v._("choose an operator this node trusts"), entered=entered,
                        status_code=400)  # fmt: skip
        if not entered["roles"]:
            return page(v, error=v._("choose at least one role"), entered=entered,
                        status_code=400)  # fmt: skip
        details = {k: entered[k] for k in entered if k != "operator"}
        try:
            answer = rt.membership.apply(operator, details)
        except MembershipError as exc:
            return page(v, error=v._(str(exc)), entered=entered, status_code=400)
        v.act("membership.apply", str(answer.get("id", "")), operator=operator,
              legalName=entered["legalName"], roles=entered["roles"])  # fmt: skip
        return v.redirect(PATH, v._("Your application was sent to %(operator)s; it awaits the"
                                    " operator's decision.", operator=operator))  # fmt: skip

    def rotate(v: View) -> Response:
        try:
            rotated = rt.membership.rotate_key()
        except MembershipError as exc:
            return page(v, error=v._(str(exc)), status_code=400)
        v.act("membership.rotate-key", rotated["kid"], operators=rotated["operators"])
        return v.redirect(PATH, v._("The node now signs with key %(kid)s; its credentials were"
                                    " renewed.", kid=rotated["kid"]))  # fmt: skip

    return [
        get(portal, PATH, index, ("admin",)),
        get(portal, f"{PATH}/status", status, ("admin",)),
        post(portal, f"{PATH}/apply", apply, ("admin",)),
        post(portal, f"{PATH}/rotate-key", rotate, ("admin",)),
    ]
