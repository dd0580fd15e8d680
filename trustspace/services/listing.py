"""A provider's side of listing: submit a product version for review, report finalised trades.

The submission carries what the operator's rules and assessors need:
- the version's content hash;
- the classification, the declaration and the schema;
- what the ingest scan found (personal-information kinds, whether any is sensitive, an estimate
  of distinct persons).

Trades are reported after an agreement is FINALIZED, and the operator answers with a trade
certificate, which the provider keeps.

Calls go through :mod:`trustspace.services.peers`: an operator that refuses (4xx) gives
``Refused`` with its reason; one that cannot be reached, fails or times out gives its
``RemoteError`` (502 or 504).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import jwt

from trustspace.core.records import Dataset
from trustspace.services import peers
from trustspace.services.context import NodeContext
from trustspace.services.errors import NotFound, Refused
from trustspace.store import certs, datasets

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


def _post(
    http: httpx.Client, url: str, body: Any, authorization: Authorization, operator_id: str
) -> dict[str, Any]:
    try:
        answer: dict[str, Any] = peers.call(
            http, "POST", url, peer_id=operator_id, authorization=authorization, body=body
        )
    except peers.RemoteError as exc:
        if exc.refused:
            raise Refused(f"the operator refused: {exc.detail}") from exc
        raise
    return answer


def submit(
    ctx: NodeContext, http: httpx.Client, authorization: Authorization, operator: tuple[str, str],
    dataset_id: str,
) -> dict[str, Any]:  # fmt: skip
    operator_id, url = operator
    with ctx.db.tx() as tx:
        d = datasets.get_dataset(tx, dataset_id)
    if d is None:
        raise NotFound(f"no dataset {dataset_id}")
    return _post(http, url + "/operator/listings", submission(d), authorization, operator_id)


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
            d = datasets.get_dataset(tx, row["dataset_id"])
        price = (
            None if d is None or d.price is None else {"amount": d.price, "currency": d.currency}
        )
        body = {"agreement": agreement, "versionHash": d.sha256 if d else None, "price": price}
        answer = _post(http, url + "/operator/trades", body, authorization, operator_id)
        token = str(answer.get("certificate"))
        try:
            jti = jwt.decode(token, options={"verify_signature": False})["jti"]
        except (jwt.PyJWTError, KeyError) as exc:
            raise peers.RemoteError(None, f"{url} answered no trade certificate: {exc}") from exc
        with ctx.db.tx() as tx:
            certs.store(tx, str(jti), "trade", row["id"], token, ctx.clock())
        done.append(row["id"])
    return done


def collect_registrations(
    ctx: NodeContext, http: httpx.Client, authorization: Authorization, operator: tuple[str, str]
) -> list[str]:
    """Keep the registration certificate of every version of ours the operator has listed, so
    the dataset's own description can show it to consumers; the ids of the ones new here."""
    operator_id, url = operator
    try:
        listed = peers.call(http, "GET", url + "/operator/listings", params={"status": "listed"},
                            peer_id=operator_id, authorization=authorization,
                            expect_object=False)  # fmt: skip
    except peers.RemoteError as exc:
        if exc.refused:
            raise Refused(f"the operator refused: {exc.detail}") from exc
        raise
    new = []
    for item in listed if isinstance(listed, list) else []:
        token = item.get("certificate") if isinstance(item, dict) else None
        if item.get("providerId") != ctx.participant_id or not isinstance(token, str):
            continue
        try:
            jti = str(jwt.decode(token, options={"verify_signature": False})["jti"])
        except (jwt.PyJWTError, KeyError):
            continue  # not a certificate: nothing is kept
        with ctx.db.tx() as tx:
            if not any(c["id"] == jti for c in certs.held(tx)):
                certs.store(tx, jti, "registration", str(item.get("datasetId")), token, ctx.clock())
                new.append(jti)
    return new
