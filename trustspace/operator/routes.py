"""HTTP routes of the operator role.

Anyone may read ``/operator/keys``, ``/operator/status`` and ``/operator/members``, apply, and
follow an application; a member rotates its key with a request signed by its current key.
Searching the federated catalog, and reading the checkpoints the operator countersigned for
oneself (``GET /operator/checkpoints``), need a member's signed token (as on DSP); so do
listings: a provider submits and reads its own, an assessor also reads the others' that are open
for assessment (``GET /operator/listings``) and attaches its reports.  Reviewing
applications, suspending and revoking members, rotating the operator key and crawling need the
management key (``/api/operator/...``).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from trustspace.api.endpoint import PUBLIC, BadRequest, managed, signed
from trustspace.operator import registry
from trustspace.operator.federation import Federation
from trustspace.operator.listings import Listings
from trustspace.operator.service import Operator
from trustspace.services.errors import NotFound, Refused
from trustspace.services.runtime import Runtime
from trustspace.store import Conflict


def _signed(body: Any, key: str) -> str:
    value = body.get(key) if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        raise BadRequest(f"'{key}' must be a signed request (a JWT)")
    return value


def routes(
    rt: Runtime, op: Operator, federation: Federation, listings: Listings
) -> list[BaseRoute]:
    public = managed(PUBLIC)
    management = managed(rt.management_key)

    def keys(request: Request, body: Any) -> Any:
        return op.jwks()

    def status(request: Request, body: Any) -> Any:
        return {"statusList": op.status_list()}

    def members(request: Request, body: Any) -> Any:
        return {"members": op.directory()}

    def apply(request: Request, body: Any) -> Any:
        app = op.apply(_signed(body, "application"))
        return {"id": app["id"], "status": app["status"], "participantId": app["participantId"]}

    def application(request: Request, body: Any) -> Any:
        app = op.application(request.path_params["id"])
        return {k: app.get(k) for k in ("id", "participantId", "status", "reason", "credential")}

    def member_keys(request: Request, body: Any) -> Any:
        credential = op.rotate_member_key(request.path_params["id"], _signed(body, "request"))
        return {"credential": credential}

    as_member = signed(rt.authenticate)

    def search(member: str, request: Request, body: Any) -> Any:
        """Members only: the same signed token and credential as on DSP."""
        return federation.search(dict(request.query_params))

    def checkpoint(member: str, request: Request, body: Any) -> Any:
        """A member's evidence head, countersigned; the member authenticates as on DSP."""
        try:
            seq, digest = int(body["seq"]), str(body["hash"])
            if not 0 < seq < 1 << 63:
                raise ValueError(seq)
        except (ValueError, KeyError, TypeError, OverflowError):
            raise BadRequest('expected {"seq": n, "hash": hex}') from None
        try:
            return {"checkpoint": op.countersign(member, seq, digest)}
        except Refused as exc:  # a head that contradicts one countersigned before
            raise Conflict(exc.reason) from None

    def submit_listing(member: str, request: Request, body: Any) -> Any:
        return listings.submit(member, body)

    def assess_listing(member: str, request: Request, body: Any) -> Any:
        return listings.assess(member, rt.roles_of(member), request.path_params["id"], body)

    def get_listing(member: str, request: Request, body: Any) -> Any:
        listing = listings.get(request.path_params["id"])
        roles = rt.roles_of(member)
        if member != listing["providerId"] and "assessor" not in roles:
            raise NotFound(f"no listing {request.path_params['id']}")
        return listing

    def member_listings(member: str, request: Request, body: Any) -> Any:
        """A provider's own listings; to an assessor also the others' open for assessment."""
        assessor = "assessor" in rt.roles_of(member)
        status = request.query_params.get("status")
        if not assessor:  # only its own: read only those
            return listings.all(status, provider=member)
        return [x for x in listings.all(status)
                if x["providerId"] == member
                or (assessor and x["status"] in ("submitted", "assessed"))]  # fmt: skip

    def own_checkpoints(member: str, request: Request, body: Any) -> Any:
        """What the operator countersigned for the caller: its verifier's outside witness."""
        return {"operator": op.operator_id, "participantId": member,
                "checkpoints": op.member_checkpoints(member)}  # fmt: skip

    def report_trade(member: str, request: Request, body: Any) -> Any:
        return {"certificate": listings.certify_trade(member, body)}

    def listing_list(request: Request, body: Any) -> Any:
        q = request.query_params
        return listings.all(q.get("status"), q.get("provider"))

    def listing_decide(request: Request, body: Any) -> Any:
        listing_id, action = request.path_params["id"], request.path_params["action"]
        if action == "approve":
            return listings.approve(listing_id)
        if action == "reject":
            reasons = body.get("reasons") or ([body["reason"]] if body.get("reason") else [])
            return listings.reject(listing_id, reasons)
        if action == "delist":
            return listings.delist(listing_id, str(body.get("reason") or ""))
        raise NotFound(f"no action {action}: approve, reject or delist")

    def certificate_list(request: Request, body: Any) -> Any:
        return listings.certificates()

    def member_checkpoints(request: Request, body: Any) -> Any:
        return op.member_checkpoints(request.path_params["id"])

    def export(request: Request, body: Any) -> Any:
        return federation.export()

    def list_applications(request: Request, body: Any) -> Any:
        return op.applications(request.query_params.get("status"))

    def approve(request: Request, body: Any) -> Any:
        return op.approve(request.path_params["id"])

    def reject(request: Request, body: Any) -> Any:
        return op.reject(request.path_params["id"], str(body.get("reason") or ""))

    def list_members(request: Request, body: Any) -> Any:
        with op.db.tx() as tx:
            return registry.list_members(tx)

    def member_status(request: Request, body: Any) -> Any:
        return op.set_status(
            request.path_params["id"], request.path_params["action"], str(body.get("reason") or "")
        )

    def rotate(request: Request, body: Any) -> Any:
        return {"kid": op.rotate_key(), "keys": op.jwks()["keys"]}

    def crawl(request: Request, body: Any) -> Any:
        return federation.crawl()

    regulator = managed(rt.regulator_key or None)
    return [
        Route("/operator/listings", as_member(submit_listing, 201), methods=["POST"]),
        Route("/operator/listings", as_member(member_listings), methods=["GET"]),
        Route("/operator/listings/{id}", as_member(get_listing), methods=["GET"]),
        Route("/operator/listings/{id}/assessment", as_member(assess_listing), methods=["POST"]),
        Route("/operator/trades", as_member(report_trade, 201), methods=["POST"]),
        Route("/api/operator/listings", management(listing_list), methods=["GET"]),
        Route("/api/operator/listings/{id}/{action}", management(listing_decide), methods=["POST"]),
        Route("/api/operator/certificates", management(certificate_list), methods=["GET"]),
        # The regulator: read-only, with its own key.
        Route("/api/regulator/listings", regulator(listing_list), methods=["GET"]),
        Route("/api/regulator/certificates", regulator(certificate_list), methods=["GET"]),
        Route("/api/regulator/members", regulator(list_members), methods=["GET"]),
        Route(
            "/api/regulator/members/{id}/checkpoints",
            regulator(member_checkpoints),
            methods=["GET"],
        ),
        Route("/operator/keys", public(keys), methods=["GET"]),
        Route("/operator/status", public(status), methods=["GET"]),
        Route("/operator/members", public(members), methods=["GET"]),
        Route("/operator/applications", public(apply, 201), methods=["POST"]),
        Route("/operator/applications/{id}", public(application), methods=["GET"]),
        Route("/operator/members/{id}/keys", public(member_keys), methods=["POST"]),
        Route("/operator/catalog/search", as_member(search), methods=["GET"]),
        Route("/operator/catalog/export", public(export), methods=["GET"]),
        Route("/operator/checkpoints", as_member(checkpoint), methods=["POST"]),
        Route("/operator/checkpoints", as_member(own_checkpoints), methods=["GET"]),
        Route(
            "/api/operator/members/{id}/checkpoints",
            management(member_checkpoints),
            methods=["GET"],
        ),
        Route("/api/operator/applications", management(list_applications), methods=["GET"]),
        Route("/api/operator/applications/{id}/approve", management(approve), methods=["POST"]),
        Route("/api/operator/applications/{id}/reject", management(reject), methods=["POST"]),
        Route("/api/operator/members", management(list_members), methods=["GET"]),
        Route("/api/operator/members/{id}/{action}", management(member_status), methods=["POST"]),
        Route("/api/operator/keys/rotate", management(rotate), methods=["POST"]),
        Route("/api/operator/crawl", management(crawl), methods=["POST"]),
    ]
