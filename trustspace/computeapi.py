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
from trustspace.dsp.client import RemoteError
from trustspace.dsp.routes import BASE_PATH
from trustspace.services import catalog, compute
from trustspace.services.errors import NotFound
from trustspace.store import repo

if TYPE_CHECKING:
    from trustspace.node import Node


def mock_rows(
    profile: dict[str, Any] | None, rule: dict[str, Any], n: int = 200, seed: int = 7
) -> dict[str, Any]:
    """Synthetic rows with the product's columns and types; never a real value."""
    rng = random.Random(seed)
    columns = [(c["name"], c.get("type", "string"), c.get("min"), c.get("max"))
               for c in (profile or {}).get("columns", [])] or [(name, "string", None, None)
                                                                for name in rule["columns"]]  # fmt: skip
    if rule["entity"] not in {c[0] for c in columns}:
        columns.append((rule["entity"], "string", None, None))
    rows = []
    for i in range(n):
        row: dict[str, Any] = {}
        for name, kind, lo, hi in columns:
            if kind == "integer":
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
                row[name] = (
                    f"mock-{name}-{rng.randrange(max(3, n // 10))}"
                    if name != rule["entity"]
                    else f"mock-entity-{i % (n // 2)}"
                )
        rows.append(row)
    return {
        "table": rule["table"],
        "columns": [c[0] for c in columns],
        "rows": rows,
        "synthetic": True,
    }


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
        return {**mock_rows(d.profile, d.compute_rule), "rule": d.compute_rule}

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
    response = node.http.request(
        method, url, json=body, headers={"Authorization": node.authorization(peer)}
    )
    try:
        answer = response.json()
    except ValueError:
        answer = {"error": response.text[:300]}
    if response.status_code >= 300:
        raise RemoteError(
            response.status_code,
            f"{url} answered {response.status_code}: {answer.get('error', answer)}",
        )
    return answer
