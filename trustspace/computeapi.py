"""HTTP for compute-to-data.

Provider side, under the DSP base path and authenticated like DSP (the consumer's signed token):
- ``POST …/compute/jobs`` submits a query under an agreement;
- ``GET …/compute/jobs/{id}`` reads the consumer's own job;
- ``GET …/compute/mock/{dataset}`` gives synthetic rows with the product's schema.

Management API:
- consumer: ``POST /api/compute/jobs`` (forwarded to the provider, mirrored locally) and
  ``GET /api/compute/jobs/{id}``;
- provider: ``GET /api/compute/review``, then ``POST /api/compute/jobs/{id}/approve|reject``.
"""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from trustspace.api import BadRequest, json_endpoint, signed_endpoint
from trustspace.core.fileset import table_name
from trustspace.dsp.client import RemoteError
from trustspace.dsp.routes import BASE_PATH
from trustspace.services import catalog, compute
from trustspace.services.errors import NotFound
from trustspace.store import repo

if TYPE_CHECKING:
    from trustspace.node import Node


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

    def mock(principal: str, request: Request, body: Any) -> Any:
        with ctx.db.tx() as tx:
            d = repo.get_dataset(tx, request.path_params["dataset"])
            if d is not None and not catalog.visible_to(ctx, tx, principal, d.id):
                d = None  # a dataset hidden by its access policy looks like a missing one
        if d is None or d.compute_rule is None:
            raise NotFound(f"no compute product {request.path_params['dataset']}")
        files = {table_name(f.name): f.name for f in d.files} if d.fileset else None
        return {**mock_rows(d.profile, d.compute_rule, files=files), "rule": d.compute_rule}

    def consumer_submit(request: Request, body: Any) -> Any:
        agreement_id = body.get("agreementId")
        with ctx.db.tx() as tx:
            agreement = repo.get_agreement(tx, str(agreement_id)) if agreement_id else None
            neg = repo.get_negotiation(tx, agreement.negotiation_id) if agreement else None
        if agreement is None or neg is None or agreement.consumer_id != ctx.participant_id:
            raise BadRequest(f"no agreement {agreement_id} where this node is the consumer")
        url = neg.counterparty_address.rstrip("/") + "/compute/jobs"
        answer = _call(node, "POST", url, agreement.provider_id, body)
        now = ctx.clock()
        with ctx.db.tx() as tx:
            tx.execute(
                "INSERT INTO compute_jobs (id, role, agreement_id, consumer_id, provider_id,"
                " dataset_id, query, query_sha256, purpose, checked_sql, state, reason,"
                " created_at, updated_at) VALUES (?,'consumer',?,?,?,?,?,?,?,?,?,?,?,?)",
                (answer["id"], agreement.id, ctx.participant_id, agreement.provider_id,
                 agreement.dataset_id, answer["query"], answer["querySha256"], answer["purpose"],
                 url, answer["state"], answer["reason"], now, now),
            )  # fmt: skip
        return answer

    def consumer_job(request: Request, body: Any) -> Any:
        with ctx.db.tx() as tx:
            row = tx.one("SELECT * FROM compute_jobs WHERE id = ? AND role = 'consumer'",
                         (request.path_params["id"],))  # fmt: skip
        if row is None:
            raise NotFound(f"no compute job {request.path_params['id']}")
        answer = _call(node, "GET", f"{row['checked_sql']}/{row['id']}", row["provider_id"], None)
        with ctx.db.tx() as tx:
            tx.execute("UPDATE compute_jobs SET state = ?, reason = ?, result = ?, result_sha256 = ?,"
                       " updated_at = ? WHERE id = ? AND role = 'consumer'",
                       (answer["state"], answer["reason"],
                        json.dumps(answer["result"]) if answer["result"] is not None else None,
                        answer["resultSha256"], ctx.clock(), row["id"]))  # fmt: skip
        return answer

    def consumer_mock(request: Request, body: Any) -> Any:
        with ctx.db.tx() as tx:
            agreement = repo.get_agreement(tx, request.path_params["agreement"])
            neg = repo.get_negotiation(tx, agreement.negotiation_id) if agreement else None
        if agreement is None or neg is None:
            raise NotFound(f"no agreement {request.path_params['agreement']}")
        url = f"{neg.counterparty_address.rstrip('/')}/compute/mock/{agreement.dataset_id}"
        return _call(node, "GET", url, agreement.provider_id, None)

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
        Route(BASE_PATH + "/compute/jobs/{id}", as_peer(job), methods=["GET"]),
        Route(BASE_PATH + "/compute/mock/{dataset:path}", as_peer(mock), methods=["GET"]),
        Route("/api/compute/jobs", managed(consumer_submit, 201), methods=["POST"]),
        Route("/api/compute/jobs/{id}", managed(consumer_job), methods=["GET"]),
        Route("/api/compute/mock/{agreement:path}", managed(consumer_mock), methods=["GET"]),
        Route("/api/compute/review", managed(review_queue), methods=["GET"]),
        Route("/api/compute/jobs/{id}/{action}", managed(review), methods=["POST"]),
    ]


def _call(node: Node, method: str, url: str, peer: str, body: Any) -> Any:
    from trustspace.services import peers  # the one outbound seam: RemoteError, 502 or 504

    answer = peers.call(
        node.http, method, url, peer_id=peer, authorization=node.authorization, body=body
    )
    # A job's answer is read field by field by the callers: one without them is a failed peer.
    job_fields = {"id", "query", "querySha256", "purpose", "state", "reason", "result",
                  "resultSha256"}  # fmt: skip
    if "/compute/jobs" in url and not job_fields <= answer.keys():
        missing = ", ".join(sorted(job_fields - answer.keys()))
        raise RemoteError(None, f"{url} answered a compute job without {missing}")
    return answer
