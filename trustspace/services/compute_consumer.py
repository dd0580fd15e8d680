"""Compute-to-data on the consumer's side: submitting a query to the provider under one of this
node's agreements, and keeping a copy of each job.

A submission carries a key (the caller's, or a new one); the job's id is derived from it
before the provider is called, so a lost answer loses nothing and submitting again with the
same key returns the same job (see :func:`trustspace.services.compute.job_id`).  Listing the
jobs of an agreement first brings them up to date from the provider, which also finds jobs
this node lost track of.  Every call to the provider goes through the outbound seam; an
answer that is not a job is a failed peer (502).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any
from urllib.parse import quote

from trustspace.core.records import Agreement
from trustspace.services import compute
from trustspace.services.errors import BadRequest, NotFound
from trustspace.services.peers import RemoteError, as_refusal
from trustspace.services.runtime import Runtime
from trustspace.store import agreements
from trustspace.store import compute as jobs
from trustspace.store import negotiations as negotiation_rows

CONSUMER = "consumer"
JOB_FIELDS = frozenset({"id", "query", "querySha256", "purpose", "state", "reason", "result",
                        "resultSha256"})  # fmt: skip


def _agreement(rt: Runtime, agreement_id: object) -> tuple[Agreement, str]:
    """One of this node's agreements as consumer, and its provider's compute address."""
    with rt.ctx.db.tx() as tx:
        agreement = (
            agreements.get_agreement(tx, agreement_id) if isinstance(agreement_id, str) else None
        )
        neg = negotiation_rows.get_negotiation(tx, agreement.negotiation_id) if agreement else None
    if agreement is None or neg is None or agreement.consumer_id != rt.ctx.participant_id:
        raise NotFound(f"no agreement {agreement_id} where this node is the consumer")
    return agreement, neg.counterparty_address.rstrip("/") + "/compute/jobs"


def _call(rt: Runtime, method: str, url: str, peer: str, body: Any = None) -> Any:
    listing = method == "GET" and url.split("?")[0].endswith("/compute/jobs")
    answer = rt.peers.call(method, url, peer_id=peer, body=body, expect_object=not listing)
    # A job's answer is read field by field below: one without them is a failed peer.
    answered = answer if listing else [answer] if "/compute/jobs" in url else []
    if listing and not isinstance(answer, list):
        raise RemoteError(None, f"{url} did not answer with a list of compute jobs")
    for job in answered:
        if not isinstance(job, dict) or not job.keys() >= JOB_FIELDS:
            missing = ", ".join(
                sorted(JOB_FIELDS - (job.keys() if isinstance(job, dict) else set()))
            )
            raise RemoteError(None, f"{url} answered a compute job without {missing}")
    return answer


def _mirror(rt: Runtime, answer: Any, agreement: Agreement, url: str) -> None:
    """This node's copy of a job the provider holds."""
    ctx = rt.ctx
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


def submit(rt: Runtime, body: dict[str, Any]) -> Any:
    """Record the job under its key, then hand it to the provider and mirror its answer."""
    ctx = rt.ctx
    agreement, url = _agreement(rt, body.get("agreementId"))
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
        answer = _call(rt, "POST", url, agreement.provider_id, {**body, "key": key})
    except RemoteError as exc:
        note = (f"the provider did not confirm the submission ({exc.reason}); the job is"
                f" kept as {jid} with key {key}: submit again with the same key, or read it")  # fmt: skip
        if exc.status is None or exc.status >= 500:
            with ctx.db.tx() as tx:
                jobs.update(tx, jid, CONSUMER, {"reason": note, "updated_at": ctx.clock()})
            raise RemoteError(exc.status, note) from None
        refusal = as_refusal(exc, "provider")
        with ctx.db.tx() as tx:  # the provider answered: it refused, nothing was created
            jobs.update(tx, jid, CONSUMER, {"state": "REFUSED", "reason": str(refusal),
                                            "updated_at": ctx.clock()})  # fmt: skip
        raise refusal from None
    _mirror(rt, answer, agreement, url)
    return answer


def job(rt: Runtime, job_id: str) -> Any:
    """One of this node's jobs, as the provider has it now."""
    with rt.ctx.db.tx() as tx:
        row = jobs.get(tx, job_id, CONSUMER)
    if row is None:
        raise NotFound(f"no compute job {job_id}")
    url = row["provider_url"] or row["checked_sql"]
    try:
        answer = _call(rt, "GET", f"{url}/{row['id']}", row["provider_id"])
    except RemoteError as exc:
        if exc.status == 404 and row["state"] == "SUBMITTING":
            return {**compute.view(row), "reason": "the provider never received this job:"
                    f" submit it again with key {row['submission_key']}"}  # fmt: skip
        raise as_refusal(exc, "provider") from None
    with rt.ctx.db.tx() as tx:
        agreement = agreements.get_agreement(tx, row["agreement_id"])
    if agreement is not None:
        _mirror(rt, answer, agreement, url)
    return answer


def jobs_of(rt: Runtime, agreement_id: str | None) -> list[dict[str, Any]]:
    """This node's jobs; with an agreement, first brought up to date from the provider."""
    ctx = rt.ctx
    if agreement_id is not None:
        agreement, url = _agreement(rt, agreement_id)
        answer = _call(rt, "GET", f"{url}?agreement={quote(agreement.id, safe='')}",
                       agreement.provider_id)  # fmt: skip
        for one in answer if isinstance(answer, list) else []:
            _mirror(rt, one, agreement, url)
    with ctx.db.tx() as tx:
        rows = jobs.of_consumer(tx, CONSUMER, ctx.participant_id, agreement_id)
    return [compute.view(r) for r in rows]


def mock(rt: Runtime, agreement_id: str) -> Any:
    """The provider's synthetic rows for the product of one of this node's agreements."""
    agreement, url = _agreement(rt, agreement_id)
    mock_url = url.removesuffix("/jobs") + f"/mock/{agreement.dataset_id}"
    return _call(rt, "GET", mock_url, agreement.provider_id)
