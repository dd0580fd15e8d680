"""The management API: plain JSON under ``/api``, for the CLI and scripts.

Authenticated with ``Authorization: Bearer <management_key>``; with no key
configured the API is off (every call 401).  Errors are ``{"error": reason}``
with a 4xx status; nothing here answers 500 for bad input.  A body is a JSON
object read by :func:`trustspace.core.jsondoc.loads` (400 when it is not one,
or nests too deep), after :mod:`trustspace.edge` bounded its size.  Exceptions
map to statuses through one table, :data:`STATUS`; a peer that failed
(:class:`~trustspace.services.peers.RemoteError`) is 502, or 504 when it did
not answer in time.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from trustspace.core import jsondoc
from trustspace.core import messages as m
from trustspace.core.machine import TransitionError
from trustspace.core.odrl.vocab import describe as describe_vocabulary
from trustspace.services import catalog, listing, negotiations, peers, transfers
from trustspace.services import policy as pep
from trustspace.services.errors import NotFound, Refused
from trustspace.services.peers import RemoteError
from trustspace.services.policy import PolicyDenied
from trustspace.store import Conflict, audit, certs, evidence, repo, usage
from trustspace.trust.membership import MembershipError
from trustspace.trust.tokens import AuthError

if TYPE_CHECKING:
    from trustspace.node import Node

Handler = Callable[[Request, Any], Any]


class BadRequest(Exception):
    pass


def _str(body: Any, key: str, required: bool = True) -> str | None:
    value = body.get(key) if isinstance(body, dict) else None
    if value in (None, "") and not required:
        return None
    if not isinstance(value, str) or not value:
        raise BadRequest(f"'{key}' is required (a non-empty string)")
    return value


def _strings(body: Any, key: str) -> list[str]:
    value = body.get(key, []) if isinstance(body, dict) else []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise BadRequest(f"'{key}' must be a list of strings")
    return value


def _object(body: Any, key: str) -> dict[str, Any] | None:
    value = body.get(key) if isinstance(body, dict) else None
    if value is not None and not isinstance(value, dict):
        raise BadRequest(f"'{key}' must be an object")
    return value


PUBLIC = "<public>"

STATUS: tuple[tuple[type[Exception], int], ...] = (
    (PolicyDenied, 403),
    (BadRequest, 400),
    (Refused, 400),
    (m.MessageError, 400),
    (TransitionError, 409),
    (Conflict, 409),
    (NotFound, 404),
)
"""Exceptions a handler may raise and the status each answers, looked up by the exception's
class hierarchy (the first entry that matches wins).  A policy denial is 403 on the routes for
other participants and 400 on the management API, where it is the operator's own request."""


def failure(exc: Exception, *, denial: int = 403) -> JSONResponse | None:
    """The answer for an exception from a handler; None for one that is a bug."""
    if isinstance(exc, RemoteError):
        return JSONResponse({"error": exc.reason}, status_code=exc.http_status)
    for kind, status in STATUS:
        if isinstance(exc, kind):
            body: dict[str, Any] = {"error": str(exc)}
            if isinstance(exc, PolicyDenied):
                if denial != 403:
                    return JSONResponse(body, status_code=denial)
                body["reasons"] = exc.reasons
            return JSONResponse(body, status_code=status)
    return None


async def json_object(request: Request) -> dict[str, Any] | JSONResponse:
    """The request body as a JSON object (an empty body is ``{}``), or the 400 answer."""
    raw = await request.body()
    try:
        body = jsondoc.loads(raw) if raw.strip() else {}
    except jsondoc.JsonError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    if not isinstance(body, dict):
        return JSONResponse({"error": "the body must be a JSON object"}, status_code=400)
    return body


def json_endpoint(key: str | None) -> Callable[..., Callable[[Request], Awaitable[Response]]]:
    """JSON handlers behind the management key (or open to anyone with ``key=PUBLIC``): the
    body must be a JSON object; exceptions map through :data:`STATUS`."""

    def endpoint(handler: Handler, status: int = 200) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            given = request.headers.get("authorization", "")
            if key is not PUBLIC and (
                not key or not hmac.compare_digest(given.encode(), f"Bearer {key}".encode())
            ):
                return JSONResponse({"error": "missing or wrong management key"}, status_code=401)
            body: Any = None
            if request.method == "POST":
                body = await json_object(request)
                if isinstance(body, Response):
                    return body
            try:
                result = await run_in_threadpool(handler, request, body)
            except Exception as exc:
                answer = failure(exc, denial=400)
                if answer is None:
                    raise
                return answer
            return JSONResponse(result, status_code=status)

        return run

    return endpoint


PeerHandler = Callable[[str, Request, Any], Any]


def surface(request: Request) -> str:
    """Where a request arrived, for the refusal log: the route's path template (ids the caller
    chose are not kept), else the path."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "") or request.url.path)


def signed_endpoint(node: Node) -> Callable[..., Callable[[Request], Awaitable[Response]]]:
    """JSON handlers for other participants, authenticated like DSP (their signed token and
    membership credential); the handler gets the verified participant id.  A refused login is
    401 (and logged), a policy denial 403 with its reasons, a refusal 400, a missing thing 404."""

    def endpoint(
        handler: PeerHandler, status: int = 200
    ) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                principal = node.authenticate(
                    request.headers.get("authorization"), surface(request)
                )
            except AuthError as exc:
                return JSONResponse({"error": exc.reason}, status_code=401)
            body: Any = {}
            if request.method == "POST":
                body = await json_object(request)
                if isinstance(body, Response):
                    return body
            try:
                result = await run_in_threadpool(handler, principal, request, body)
            except Exception as exc:
                answer = failure(exc)
                if answer is None:
                    raise
                return answer
            return JSONResponse(result, status_code=status)

        return run

    return endpoint


def api_routes(node: Node) -> list[BaseRoute]:
    ctx = node.ctx
    key = node.settings.management_key

    endpoint = json_endpoint(key)

    def peer(body: Any) -> tuple[str, str]:
        address = _str(body, "address")
        assert address is not None
        peer_id = _str(body, "providerId", required=False)
        if peer_id is None and node.operator_client is not None:
            member = node.operator_client.by_address(address)
            peer_id = None if member is None else member["participantId"]
        if peer_id is None:
            entry = node.trust.by_address(address)
            if entry is None:
                raise BadRequest(
                    f"no participant in the trust list has address {address}; pass providerId"
                )
            peer_id = entry.id
        return peer_id, address

    def health(request: Request, body: Any) -> Any:
        with ctx.db.tx() as tx:
            pending = repo.pending_count(tx)
        return {
            "status": "ok",
            "participantId": ctx.participant_id,
            "dsp": ctx.dsp_base,
            "outboxPending": pending,
        }

    def datasets_list(request: Request, body: Any) -> Any:
        return catalog.list_local(ctx)

    def datasets_add(request: Request, body: Any) -> Any:
        path = _str(body, "path", required=False)
        paths = _strings(body, "paths")
        if path and paths:
            raise BadRequest("give 'path' (one file) or 'paths' (several), not both")
        title = _str(body, "title", required=False) or (Path(path).name if path else None)
        if title is None:
            raise BadRequest("'title' is required when no file is given")
        policy = body.get("policy")
        if policy is not None and not isinstance(policy, dict):
            raise BadRequest("'policy' must be an object with permission/prohibition rules")
        access_policy = body.get("accessPolicy")
        if access_policy is not None and not isinstance(access_policy, dict):
            raise BadRequest("'accessPolicy' must be an ODRL policy object")
        formats = body.get("formats") or [transfers.PULL_FORMAT]
        if not isinstance(formats, list) or not all(isinstance(f, str) for f in formats):
            raise BadRequest("'formats' must be a list of strings")
        dataset, offer = catalog.publish(
            ctx,
            path=Path(path) if path else None,
            paths=[Path(p) for p in paths],
            title=title,
            description=_str(body, "description", required=False) or "",
            policy=policy,
            formats=formats,
            dataset_id=_str(body, "id", required=False),
            offer_id=_str(body, "offerId", required=False),
            access_policy=access_policy,
            classification=_str(body, "classification", required=False) or "general",
            keywords=_strings(body, "keywords"),
            license=_str(body, "license", required=False),
            price=_str(body, "price", required=False),
            currency=_str(body, "currency", required=False),
            version=_str(body, "version", required=False),
            declaration=_object(body, "declaration"),
            profile=_object(body, "profile"),
            compute_rule=_object(body, "computeRule"),
            update_frequency=_str(body, "updateFrequency", required=False),
            previous_version=_str(body, "previousVersion", required=False),
            api=_object(body, "api"),
        )
        return {
            "id": dataset.id,
            "product": dataset.product_id or dataset.id,
            "files": [{"name": f.name, "sha256": f.sha256} for f in dataset.files],
            "offerId": offer.id,
            "sha256": dataset.sha256,
            "size": dataset.size,
        }

    def remote_catalog(request: Request, body: Any) -> Any:
        peer_id, address = peer(body)
        return node.dsp_client.catalog(address, peer_id)

    def negotiation_start(request: Request, body: Any) -> Any:
        peer_id, address = peer(body)
        dataset_id = _str(body, "datasetId")
        offer_id = _str(body, "offerId", required=False)
        assert dataset_id is not None
        offer = body.get("offer")
        if not isinstance(offer, dict):
            remote = node.dsp_client.dataset(address, peer_id, dataset_id)
            offers = [o for o in remote.get("hasPolicy", []) if isinstance(o, dict)]
            chosen = [o for o in offers if offer_id is None or o.get("@id") == offer_id]
            if not chosen:
                raise BadRequest(f"dataset {dataset_id} has no offer {offer_id}")
            offer = chosen[0]
        neg = negotiations.request(
            ctx, provider_id=peer_id, provider_address=address, dataset_id=dataset_id, offer=offer
        )
        return negotiations.view(neg)

    def negotiation_list(request: Request, body: Any) -> Any:
        return [negotiations.view(x) for x in negotiations.list_all(ctx, *_page(request))]

    def negotiation_get(request: Request, body: Any) -> Any:
        return {
            **negotiations.view(negotiations.get(ctx, request.path_params["id"])),
            "history": history(request.path_params["id"]),
        }

    def history(process_id: str) -> list[dict[str, Any]]:
        with ctx.db.tx() as tx:
            return repo.events(tx, process_id)

    def negotiation_act(request: Request, body: Any) -> Any:
        action = request.path_params["action"]
        if action not in ("terminate", "accept", "verify", "agree", "offer", "finalize"):
            raise NotFound(f"no action {action}")
        reason = _str(body, "reason", required=False)
        return negotiations.view(negotiations.act(ctx, request.path_params["id"], action, reason))

    def agreement_get(request: Request, body: Any) -> Any:
        with ctx.db.tx() as tx:
            agreement = repo.get_agreement(tx, request.path_params["id"])
        if agreement is None:
            raise NotFound(f"no agreement {request.path_params['id']}")
        return agreement.policy

    def transfer_start(request: Request, body: Any) -> Any:
        agreement_id = _str(body, "agreementId")
        assert agreement_id is not None
        fmt = _str(body, "format", required=False) or transfers.PULL_FORMAT
        purpose = _str(body, "purpose", required=False)
        return transfers.view(
            transfers.request(ctx, agreement_id=agreement_id, format=fmt, purpose=purpose)
        )

    def membership_get(request: Request, body: Any) -> Any:
        node.membership.poll()
        return node.membership.describe()

    def membership_apply(request: Request, body: Any) -> Any:
        operator_id = _str(body, "operator")
        assert operator_id is not None
        details = {k: body[k] for k in body if k != "operator"}
        try:
            return node.membership.apply(operator_id, details)
        except MembershipError as exc:
            raise BadRequest(str(exc)) from None

    def membership_rotate(request: Request, body: Any) -> Any:
        try:
            return node.membership.rotate_key()
        except MembershipError as exc:
            raise BadRequest(str(exc)) from None

    def auth_failure_list(request: Request, body: Any) -> Any:
        with ctx.db.tx() as tx:
            return audit.auth_failures(tx, 200)

    def federated_search(request: Request, body: Any) -> Any:
        client = node.operator_client
        operator_id = _str(body, "operator", required=False)
        if client is None or not client.trusted:
            raise BadRequest("this node trusts no operator (setting 'operators')")
        operator_id = operator_id or client.trusted[0]
        url = client.url(operator_id)
        if url is None:
            raise BadRequest(f"operator {operator_id!r} is not configured")
        query = {k: str(v) for k, v in body.items() if k != "operator" and v not in (None, "")}
        return peers.call(node.http, "GET", url + "/operator/catalog/search", params=query,
                          peer_id=operator_id, authorization=node.authorization)  # fmt: skip

    def evidence_head(request: Request, body: Any) -> Any:
        with ctx.db.tx() as tx:
            seq, digest = evidence.head(tx)
            checkpoints = evidence.checkpoints(tx)
        return {"seq": seq, "hash": digest, "checkpoints": checkpoints}

    def evidence_checkpoint(request: Request, body: Any) -> Any:
        return {"signed": node.checkpoint()}

    def operator_of(body: Any) -> tuple[str, str]:
        client = node.operator_client
        if client is None or not client.trusted:
            raise BadRequest("this node trusts no operator (setting 'operators')")
        operator_id = _str(body, "operator", required=False) or client.trusted[0]
        url = client.url(operator_id)
        if url is None:
            raise BadRequest(f"operator {operator_id!r} is not configured")
        return operator_id, url

    def listing_submit(request: Request, body: Any) -> Any:
        return listing.submit(
            ctx, node.http, node.authorization, operator_of(body), request.path_params["id"]
        )

    def trades_report(request: Request, body: Any) -> Any:
        return {
            "certified": listing.report_trades(
                ctx, node.http, node.authorization, operator_of(body)
            )
        }

    def certificate_list(request: Request, body: Any) -> Any:
        with ctx.db.tx() as tx:
            return certs.held(tx)

    def operator_call(request: Request, body: Any) -> Any:
        """Call a member-only operator endpoint as this node (signed like DSP): assessors
        attach reports, members read their listings."""
        operator_id, url = operator_of(body)
        method = _str(body, "method")
        path = _str(body, "path")
        assert method is not None and path is not None
        if method not in ("GET", "POST") or not path.startswith("/operator/"):
            raise BadRequest("only GET or POST to /operator/... paths")
        try:
            return peers.call(node.http, method, url + path, peer_id=operator_id,
                              authorization=node.authorization, expect_object=False,
                              body=body.get("body") if method == "POST" else None)  # fmt: skip
        except RemoteError as exc:  # the operator's refusal, in its words
            raise peers.as_refusal(exc, "operator") from None

    def vocabulary(request: Request, body: Any) -> Any:
        return describe_vocabulary()

    def decision_list(request: Request, body: Any) -> Any:
        q = request.query_params
        try:
            limit = min(int(q.get("limit", "100")), 1000)
        except ValueError:
            raise BadRequest("'limit' must be a number") from None
        with ctx.db.tx() as tx:
            return usage.decisions(
                tx, agreement_id=q.get("agreement"), process_id=q.get("process"), limit=limit
            )

    def payment_add(request: Request, body: Any) -> Any:
        amount = _str(body, "amount")
        unit = _str(body, "unit")
        assert amount is not None and unit is not None
        return pep.record_payment(
            ctx,
            request.path_params["id"],
            amount=amount,
            unit=unit,
            reference=_str(body, "reference", required=False),
        )

    def transfer_list(request: Request, body: Any) -> Any:
        return [transfers.view(x) for x in transfers.list_all(ctx, *_page(request))]

    def transfer_get(request: Request, body: Any) -> Any:
        return {
            **transfers.view(transfers.get(ctx, request.path_params["id"])),
            "history": history(request.path_params["id"]),
        }

    def transfer_act(request: Request, body: Any) -> Any:
        action = request.path_params["action"]
        if action not in ("terminate", "suspend", "resume", "complete", "start"):
            raise NotFound(f"no action {action}")
        reason = _str(body, "reason", required=False)
        return transfers.view(transfers.act(ctx, request.path_params["id"], action, reason))

    return [
        Route("/api/health", endpoint(health), methods=["GET"]),
        Route("/api/datasets", endpoint(datasets_list), methods=["GET"]),
        Route("/api/datasets", endpoint(datasets_add, 201), methods=["POST"]),
        Route("/api/catalog", endpoint(remote_catalog), methods=["POST"]),
        Route("/api/negotiations", endpoint(negotiation_list), methods=["GET"]),
        Route("/api/negotiations", endpoint(negotiation_start, 201), methods=["POST"]),
        Route("/api/negotiations/{id}", endpoint(negotiation_get), methods=["GET"]),
        Route("/api/negotiations/{id}/{action}", endpoint(negotiation_act), methods=["POST"]),
        Route("/api/agreements/{id}", endpoint(agreement_get), methods=["GET"]),
        Route("/api/agreements/{id}/payments", endpoint(payment_add, 201), methods=["POST"]),
        Route("/api/policy/vocabulary", endpoint(vocabulary), methods=["GET"]),
        Route("/api/membership", endpoint(membership_get), methods=["GET"]),
        Route("/api/membership/apply", endpoint(membership_apply, 201), methods=["POST"]),
        Route("/api/membership/rotate-key", endpoint(membership_rotate), methods=["POST"]),
        Route("/api/auth-failures", endpoint(auth_failure_list), methods=["GET"]),
        Route("/api/evidence", endpoint(evidence_head), methods=["GET"]),
        Route("/api/datasets/{id}/listing", endpoint(listing_submit, 201), methods=["POST"]),
        Route("/api/certificates", endpoint(certificate_list), methods=["GET"]),
        Route("/api/operator-call", endpoint(operator_call), methods=["POST"]),
        Route("/api/certificates/trades", endpoint(trades_report), methods=["POST"]),
        Route("/api/evidence/checkpoint", endpoint(evidence_checkpoint), methods=["POST"]),
        Route("/api/search", endpoint(federated_search), methods=["POST"]),
        Route("/api/decisions", endpoint(decision_list), methods=["GET"]),
        Route("/api/transfers", endpoint(transfer_list), methods=["GET"]),
        Route("/api/transfers", endpoint(transfer_start, 201), methods=["POST"]),
        Route("/api/transfers/{id}", endpoint(transfer_get), methods=["GET"]),
        Route("/api/transfers/{id}/{action}", endpoint(transfer_act), methods=["POST"]),
    ]


def _page(request: Request) -> tuple[int, int]:
    try:
        limit = int(request.query_params.get("limit", "100"))
        offset = int(request.query_params.get("offset", "0"))
    except ValueError as exc:
        raise BadRequest("limit and offset must be integers") from exc
    if not (1 <= limit <= 1000) or offset < 0:
        raise BadRequest("limit must be 1..1000 and offset >= 0")
    return limit, offset
