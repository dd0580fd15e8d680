"""A provider's side of listing: submit a product version for review, report finalised trades.

The submission carries what the operator's rules and assessors need:
- the version's content hash;
- the classification, the declaration and the schema;
- what the ingest scan found (personal-information kinds, whether any is sensitive, an estimate
  of distinct persons).

Trades are reported after an agreement is FINALIZED, and the operator answers with a trade
certificate, which the provider keeps.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import jwt

from trustspace.core.records import Dataset
from trustspace.services.context import NodeContext
from trustspace.services.errors import NotFound, Refused
from trustspace.store import certs, repo

Authorization = Callable[[str], str]


def submission(d: Dataset) -> dict[str, Any]:
    profile = d.profile or {}
    if d.sha256 is None:
        raise Refused(f"dataset {d.id} has no content to list")
    return {
        "datasetId": d.id,
        "version": d.version or d.sha256[:12],
        "versionHash": d.sha256,
        "title": d.title,
        "description": d.description,
        "keywords": list(d.keywords),
        "classification": d.classification,
        "declaration": d.declaration,
        "piiKinds": list(profile.get("pii_kinds", [])),
        "sensitive": bool(profile.get("sensitive", False)),
        "persons": int(profile.get("persons", 0)),
        "rows": profile.get("rows"),
        "schema": [
            {"name": c.get("name"), "type": c.get("type")} for c in profile.get("columns", [])
        ],
    }


def _post(http: httpx.Client, url: str, body: Any, authorization: str) -> dict[str, Any]:
    try:
        response = http.post(url, json=body, headers={"Authorization": authorization}, timeout=15)
    except httpx.HTTPError as exc:
        raise Refused(f"cannot reach {url}: {exc}") from exc
    try:
        answer: dict[str, Any] = response.json()
    except ValueError:
        answer = {}
    if response.status_code >= 300:
        raise Refused(f"the operator refused: {answer.get('error', response.text[:300])}")
    return answer


def submit(
    ctx: NodeContext, http: httpx.Client, authorization: Authorization, operator: tuple[str, str],
    dataset_id: str,
) -> dict[str, Any]:  # fmt: skip
    operator_id, url = operator
    with ctx.db.tx() as tx:
        d = repo.get_dataset(tx, dataset_id)
    if d is None:
        raise NotFound(f"no dataset {dataset_id}")
    return _post(http, url + "/operator/listings", submission(d), authorization(operator_id))


def report_trades(
    ctx: NodeContext, http: httpx.Client, authorization: Authorization, operator: tuple[str, str]
) -> list[str]:
    """Report every finalised agreement without a trade certificate; keep the certificates."""
    operator_id, url = operator
    with ctx.db.tx() as tx:
        pending = certs.uncertified_trades(tx, ctx.participant_id)
    done = []
    for row in pending:
        agreement = json.loads(row["policy"])
        with ctx.db.tx() as tx:
            d = repo.get_dataset(tx, row["dataset_id"])
        price = (
            None if d is None or d.price is None else {"amount": d.price, "currency": d.currency}
        )
        body = {"agreement": agreement, "versionHash": d.sha256 if d else None, "price": price}
        answer = _post(http, url + "/operator/trades", body, authorization(operator_id))
        token = str(answer["certificate"])
        claims = jwt.decode(token, options={"verify_signature": False})
        with ctx.db.tx() as tx:
            certs.store(tx, str(claims["jti"]), "trade", row["id"], token, ctx.clock())
        done.append(row["id"])
    return done
