"""HTTP for compute-to-data.

Provider side, under the DSP base path and authenticated like DSP (the consumer's signed token):
- ``POST …/compute/jobs`` submits a query under an agreement;
- ``GET …/compute/jobs/{id}`` reads the consumer's own job, ``GET …/compute/jobs`` lists them;
- ``GET …/compute/mock/{dataset}`` gives synthetic rows with the product's schema.

Management API:
- consumer: ``POST /api/compute/jobs`` (recorded here under its key first, then forwarded to
  the provider and mirrored), ``GET /api/compute/jobs/{id}``, ``GET /api/compute/jobs``
  (``?agreement=`` syncs with the provider, finding jobs this node lost track of) and
  ``GET /api/compute/mock/{agreement}`` (only for this node's own agreements);
- provider: ``GET /api/compute/review``, then ``POST /api/compute/jobs/{id}/approve|reject``.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from trustspace.api import BadRequest, json_endpoint, signed_endpoint
from trustspace.core.fileset import table_name
from trustspace.core.records import Agreement
from trustspace.dsp.client import RemoteError
from trustspace.dsp.routes import BASE_PATH
from trustspace.services import catalog, compute, peers
from trustspace.services.errors import NotFound
from trustspace.store import compute as jobs
from trustspace.store import repo

if TYPE_CHECKING:
    from trustspace.node import Node

CONSUMER = "consumer"


def _table_rows(
    columns: list[tuple[str, str, Any, Any]], keys: dict[str, str], entity: str | None,
    rng: random.Random, n: int,
) -> list[dict[str, Any]]:  # fmt: skip
    rows = []
    for i in range(n):
        row: dict[str, Any] = {}
        for name, kind, lo, hi in columns:
            if name == entity:
                row[name] = f"mock-entity-{i % (n // 2)}"
            elif name in keys:  # join keys share their values with the other side
                row[name] = f"{keys[name]}-{rng.randrange(n // 2)}"
            elif kind == "integer":
                row[name] = rng.randint(int(lo or 0), int(hi if hi is not None else 100))
            elif kind == "float":
                row[name] = round(
                    rng.uniform(float(lo or 0), float(hi if hi is not None else 100)), 2
                )
            elif kind == "boolean":
                row[name] = rng.random() < 0.5
            elif kind in ("date", "datetime"):
                row[name] = f"2026-01-{1 + rng.randrange(28):02d}"
            else:
                row[name] = f"mock-{name}-{rng.randrange(max(3, n // 10))}"
        rows.append(row)
    return rows


def _columns(
    profile: dict[str, Any] | None, roles: dict[str, Any], extra: list[str]
) -> list[tuple[str, str, Any, Any]]:
    # Without a profile, columns that may be aggregated are numbers, the rest text.
    columns = [(c["name"], c.get("type", "string"), c.get("min"), c.get("max"))
               for c in (profile or {}).get("columns", [])] or [
        (name, "integer" if "aggregate" in role else "string", None, None)
        for name, role in roles.items()]  # fmt: skip
    for name in extra:
        if name not in {c[0] for c in columns}:
            columns.append((name, "string", None, None))
    return columns


def mock_rows(
    profile: dict[str, Any] | None,
    rule: dict[str, Any],
    n: int = 200,
    seed: int = 7,
    files: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Synthetic rows with the product's columns and types; never a real value.  For a product
    with joins, ``joined`` holds each joinable table's mock too, with join keys that match.
    ``files`` maps table names to file names for a multi-file version's per-file profiles."""
    rng = random.Random(seed)
    per_file = (profile or {}).get("files") if files else None

    def profile_of(table: str) -> dict[str, Any] | None:
        if per_file is None:
            return profile if table == rule["table"] else None
        found: dict[str, Any] | None = per_file.get((files or {}).get(table, ""))
        return found

    joins = rule.get("joins") or []
    entity = rule["entity"]
    keys = {j["left"]: ("mock-entity" if j["left"] == entity else f"mock-key-{j['left']}")
            for j in joins}  # fmt: skip
    main = _columns(profile_of(rule["table"]), rule["columns"], [entity, *keys])
    out: dict[str, Any] = {
        "table": rule["table"],
        "columns": [c[0] for c in main],
        "rows": _table_rows(main, {k: v for k, v in keys.items() if k != entity}, entity, rng, n),
        "synthetic": True,
    }
    joined = {}
    for j in joins:
        cols = _columns(profile_of(j["table"]), j.get("columns", {}), [j["right"]])
        rows = _table_rows(cols, {j["right"]: keys[j["left"]]}, None, rng, n)
        joined[j["table"]] = {"columns": [c[0] for c in cols], "rows": rows}
    if joined:
        out["joined"] = joined
    return out


def compute_routes(node: Node) -> list[BaseRoute]:
    ctx = node.ctx
    managed = json_endpoint(node.settings.management_key)

    as_peer = signed_endpoint(node)

    def submit(principal: str, request: Request, body: Any) -> Any:
        return compute.submit(ctx, principal, body)

    def job(principal: str, request: Request, body: Any) -> Any:
        return compute.get(ctx, principal, request.path_params["id"])

    def own_jobs(principal: str, request: Request, body: Any) -> Any:
        return compute.list_for(ctx, principal, request.query_params.get("agreement"))

    def mock(principal: str, request: Request, body: Any) -> Any:
        with ctx.db.tx() as tx:
            d = repo.get_dataset(tx, request.path_params["dataset"])
            if d is not None and not catalog.visible_to(ctx, tx, principal, d.id):
                d = None  # a dataset hidden by its access policy looks like a missing one
        if d is None or d.compute_rule is None:
            raise NotFound(f"no compute product {request.path_params['dataset']}")
        files = {table_name(f.name): f.name for f in d.files} if d.fileset else None
        return {**mock_rows(d.profile, d.compute_rule, files=files), "rule": d.compute_rule}

    def consumer_agreement(agreement_id: object) -> tuple[Agreement, str]:
        """One of this node's agreements as consumer, and its provider's compute address."""
        with ctx.db.tx() as tx:
            agreement = (
                repo.get_agreement(tx, agreement_id) if isinstance(agreement_id, str) else None
            )
            neg = repo.get_negotiation(tx, agreement.negotiation_id) if agreement else None
        if agreement is None or neg is None or agreement.consumer_id != ctx.participant_id:
            raise NotFound(f"no agreement {agreement_id} where this node is the consumer")
        return agreement, neg.counterparty_address.rstrip("/") + "/compute/jobs"

    def mirror(answer: Any, agreement: Agreement, url: str) -> None:
        """This node's copy of a job the provider holds."""
        if not isinstance(answer, dict) or not isinstance(answer.get("id"), str):
            raise RemoteError(502, f"{url} did not answer with a compute job")
        now = ctx.clock()
        fields = {"state": str(answer.get("state")), "reason": answer.get("reason"),
                  "result": json.dumps(answer["result"]) if answer.get("result") is not None else None,
                  "result_sha256": answer.get("resultSha256"), "updated_at": now}  # fmt: skip
        with ctx.db.tx() as tx:
            if jobs.get(tx, answer["id"], CONSUMER, lock=True) is None:
                jobs.insert(tx, {"id": answer["id"], "role": CONSUMER, "agreement_id": agreement.id,
                                 "consumer_id": ctx.participant_id,
                                 "provider_id": agreement.provider_id,
                                 "dataset_id": agreement.dataset_id,
                                 "query": str(answer.get("query", "")),
                                 "query_sha256": str(answer.get("querySha256", "")),
                                 "purpose": answer.get("purpose"),
                                 "submission_key": answer.get("key"), "provider_url": url,
                                 "created_at": now, **fields})  # fmt: skip
            else:
                jobs.update(tx, answer["id"], CONSUMER, fields)

    def consumer_submit(request: Request, body: Any) -> Any:
        """Submit under a key (the caller's, or a new one): the job's id is known before the
        provider answers, so a lost answer loses nothing; submitting again with the same key
        returns the same job."""
        agreement, url = consumer_agreement(body.get("agreementId"))
        key = body.get("key") or uuid.uuid4().hex
        query, purpose = body.get("query"), body.get("purpose")
        if not isinstance(key, str) or len(key) > compute.MAX_KEY:
            raise BadRequest(f"key must be a string of at most {compute.MAX_KEY} characters")
        if not isinstance(query, str) or not query.strip():
            raise BadRequest("a job needs agreementId and query")
        jid = compute.job_id(ctx.participant_id, key)
        now = ctx.clock()
        with ctx.db.tx() as tx:
            known = jobs.get(tx, jid, CONSUMER, lock=True)
            if known is not None:
                compute.same_job(known, agreement.id, query, purpose)
            else:
                jobs.insert(tx, {"id": jid, "role": CONSUMER, "agreement_id": agreement.id,
                                 "consumer_id": ctx.participant_id,
                                 "provider_id": agreement.provider_id,
                                 "dataset_id": agreement.dataset_id, "query": query,
                                 "query_sha256": hashlib.sha256(query.encode()).hexdigest(),
                                 "purpose": purpose, "state": "SUBMITTING",
                                 "submission_key": key, "provider_url": url,
                                 "created_at": now, "updated_at": now})  # fmt: skip
        try:
            answer = _call(node, "POST", url, agreement.provider_id, {**body, "key": key})
        except RemoteError as exc:
            note = (f"the provider did not confirm the submission ({exc.reason}); the job is"
                    f" kept as {jid} with key {key}: submit again with the same key, or read it")  # fmt: skip
            if exc.status is None or exc.status >= 500:
                with ctx.db.tx() as tx:
                    jobs.update(tx, jid, CONSUMER, {"reason": note, "updated_at": ctx.clock()})
                raise RemoteError(exc.status, note) from None
            refusal = peers.as_refusal(exc, "provider")
            with ctx.db.tx() as tx:  # the provider answered: it refused, nothing was created
                jobs.update(tx, jid, CONSUMER, {"state": "REFUSED", "reason": str(refusal),
                                                "updated_at": ctx.clock()})  # fmt: skip
            raise refusal from None
        mirror(answer, agreement, url)
        return answer

    def consumer_job(request: Request, body: Any) -> Any:
        with ctx.db.tx() as tx:
            row = jobs.get(tx, request.path_params["id"], CONSUMER)
        if row is None:
            raise NotFound(f"no compute job {request.path_params['id']}")
        url = row["provider_url"] or row["checked_sql"]
        try:
            answer = _call(node, "GET", f"{url}/{row['id']}", row["provider_id"], None)
        except RemoteError as exc:
            if exc.status == 404 and row["state"] == "SUBMITTING":
                return {**compute.view(row), "reason": "the provider never received this job:"
                        f" submit it again with key {row['submission_key']}"}  # fmt: skip
            raise peers.as_refusal(exc, "provider") from None
        with ctx.db.tx() as tx:
            agreement = repo.get_agreement(tx, row["agreement_id"])
        if agreement is not None:
            mirror(answer, agreement, url)
        return answer

    def consumer_jobs(request: Request, body: Any) -> Any:
        """This node's jobs; with ``?agreement=`` first brought up to date from the provider,
        which also finds jobs this node lost track of."""
        agreement_id = request.query_params.get("agreement")
        if agreement_id is not None:
            agreement, url = consumer_agreement(agreement_id)
            answer = _call(node, "GET", f"{url}?agreement={quote(agreement.id, safe='')}",
                           agreement.provider_id, None)  # fmt: skip
            for job in answer if isinstance(answer, list) else []:
                mirror(job, agreement, url)
        with ctx.db.tx() as tx:
            rows = jobs.of_consumer(tx, CONSUMER, ctx.participant_id, agreement_id)
        return [compute.view(r) for r in rows]

    def consumer_mock(request: Request, body: Any) -> Any:
        agreement, url = consumer_agreement(request.path_params["agreement"])
        mock_url = url.removesuffix("/jobs") + f"/mock/{agreement.dataset_id}"
        return _call(node, "GET", mock_url, agreement.provider_id, None)

    def review_queue(request: Request, body: Any) -> Any:
        return compute.review_queue(ctx)

    def review(request: Request, body: Any) -> Any:
        action = request.path_params["action"]
        if action not in ("approve", "reject"):
            raise NotFound(f"no action {action}: approve or reject")
        return compute.review(
            ctx, request.path_params["id"], action == "approve", str(body.get("reason") or "")
        )

    return [
        Route(BASE_PATH + "/compute/jobs", as_peer(submit, 201), methods=["POST"]),
        Route(BASE_PATH + "/compute/jobs", as_peer(own_jobs), methods=["GET"]),
        Route(BASE_PATH + "/compute/jobs/{id}", as_peer(job), methods=["GET"]),
        Route(BASE_PATH + "/compute/mock/{dataset:path}", as_peer(mock), methods=["GET"]),
        Route("/api/compute/jobs", managed(consumer_submit, 201), methods=["POST"]),
        Route("/api/compute/jobs", managed(consumer_jobs), methods=["GET"]),
        Route("/api/compute/jobs/{id}", managed(consumer_job), methods=["GET"]),
        Route("/api/compute/mock/{agreement:path}", managed(consumer_mock), methods=["GET"]),
        Route("/api/compute/review", managed(review_queue), methods=["GET"]),
        Route("/api/compute/jobs/{id}/{action}", managed(review), methods=["POST"]),
    ]


def _call(node: Node, method: str, url: str, peer: str, body: Any) -> Any:
    listing = method == "GET" and url.split("?")[0].endswith("/compute/jobs")
    answer = peers.call(node.http, method, url, peer_id=peer, authorization=node.authorization,
                        body=body, expect_object=not listing)  # fmt: skip
    # A job's answer is read field by field by the callers: one without them is a failed peer.
    job_fields = {"id", "query", "querySha256", "purpose", "state", "reason", "result",
                  "resultSha256"}  # fmt: skip
    jobs_answered = answer if listing else [answer] if "/compute/jobs" in url else []
    if listing and not isinstance(answer, list):
        raise RemoteError(None, f"{url} did not answer with a list of compute jobs")
    for job in jobs_answered:
        if not isinstance(job, dict) or not job_fields <= job.keys():
            missing = ", ".join(
                sorted(job_fields - (job.keys() if isinstance(job, dict) else set()))
            )
            raise RemoteError(None, f"{url} answered a compute job without {missing}")
    return answer
