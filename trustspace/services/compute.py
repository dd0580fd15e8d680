"""Compute-to-data jobs at the provider: admission, review, running, release.

A job moves SUBMITTED → (PENDING_REVIEW →) QUEUED → RUNNING → RELEASED, or ends REFUSED,
REJECTED or FAILED with a reason.

**Admission** happens in one transaction:
1. the agreement is the consumer's, finalised, for a product with an analysis rule;
2. the ODRL agreement permits ``aggregate`` for the declared purpose, now (the count is
   consumed here);
3. the guard accepts the query;
4. under differential privacy, the query's epsilon fits in what is left of the agreement's
   budget, and is spent.

The budget is spent exactly once per job, at admission, so a job that is requeued after a
restart never costs twice.

**Release** re-checks the agreement (time window, standing), applies the group rule (refuse
mode) and adds Laplace noise under DP.  Then the result and its SHA-256 are stored.  Raw rows
never leave: only the released aggregate does.  Every step is evidence, with the query's hash
and the result's hash.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from trustspace.core import negotiation as n
from trustspace.core.compute import (
    Checked,
    GuardError,
    Output,
    Rule,
    check,
    parse_rule,
    release_problem,
)
from trustspace.core.fileset import table_name
from trustspace.core.odrl.model import Request
from trustspace.core.records import Agreement, Dataset
from trustspace.dataplane.compute import EngineError, run
from trustspace.services import policy as pep
from trustspace.services.context import NodeContext
from trustspace.services.errors import NotFound, Refused
from trustspace.store import evidence, repo, usage
from trustspace.store.db import Row, Tx

ACTION = "aggregate"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def view(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "agreementId": row["agreement_id"],
        "datasetId": row["dataset_id"],
        "consumerId": row["consumer_id"],
        "query": row["query"],
        "querySha256": row["query_sha256"],
        "purpose": row["purpose"],
        "state": row["state"],
        "reason": row["reason"],
        "epsilon": row["epsilon"],
        "result": json.loads(row["result"]) if row["result"] else None,
        "resultSha256": row["result_sha256"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }


def _get(tx: Tx, job_id: str, *, lock: bool = False) -> Row | None:
    suffix = " FOR UPDATE" if lock and tx.dialect == "postgresql" else ""
    return tx.one(
        f"SELECT * FROM compute_jobs WHERE id = ? AND role = 'provider'{suffix}", (job_id,)
    )


def _set(ctx: NodeContext, tx: Tx, job: Row, state: str, **fields: Any) -> None:
    now = ctx.clock()
    sets, params = ["state = ?", "updated_at = ?"], [state, now]
    for key, value in fields.items():
        sets.append(f"{key} = ?")
        params.append(value)
    tx.execute(f"UPDATE compute_jobs SET {', '.join(sets)} WHERE id = ?", (*params, job["id"]))
    data = {"state": state, "querySha256": job["query_sha256"], "agreement": job["agreement_id"]}
    data.update({k: v for k, v in fields.items() if k in ("reason", "result_sha256", "epsilon")})
    evidence.record(tx, at=now, kind="compute-job", subject=job["id"], data=data)


def _spent(tx: Tx, agreement_id: str) -> float:
    row = tx.one("SELECT spent FROM compute_budget WHERE agreement_id = ?", (agreement_id,))
    return 0.0 if row is None else float(row["spent"])


def _admit(ctx: NodeContext, tx: Tx, principal: str, agreement: Agreement, dataset: Dataset,
           job_id: str, query: str, purpose: str | None) -> tuple[str, str | None, Checked | None]:  # fmt: skip
    """The state a new job starts in, why, and the checked query."""
    rule = parse_rule(dataset.compute_rule)
    try:
        checked = check(rule, query)
    except GuardError as exc:
        return "REFUSED", str(exc), None
    standing = ctx.standing(principal)
    if standing is not None:
        return "REFUSED", standing, None
    pep.decide(
        ctx, tx, point="compute", principal=principal,
        policy=ctx.policies.get(f"agreement:{agreement.id}", agreement.policy),
        request=Request(action=ACTION, assignee=principal, target=dataset.id, purpose=purpose),
        world=pep.world(ctx, tx, principal=principal, now=ctx.clock(), agreement=agreement,
                        dataset=dataset),
        process_id=job_id, agreement_id=agreement.id, dataset_id=dataset.id,
    )  # fmt: skip
    usage.record_usage(tx, agreement.id, ACTION, job_id, ctx.clock())
    if rule.dp and checked.epsilon > 0:
        lock = " FOR UPDATE" if tx.dialect == "postgresql" else ""
        tx.one(f"SELECT spent FROM compute_budget WHERE agreement_id = ?{lock}", (agreement.id,))
        spent = _spent(tx, agreement.id)
        assert rule.budget is not None
        if spent + checked.epsilon > rule.budget + 1e-9:
            return "REFUSED", (f"the privacy budget of this agreement is exhausted: {spent:g} of "
                               f"{rule.budget:g} spent, this query needs {checked.epsilon:g}"), None  # fmt: skip
        tx.execute(
            "INSERT INTO compute_budget (agreement_id, spent) VALUES (?, ?)"
            " ON CONFLICT (agreement_id) DO UPDATE SET spent = compute_budget.spent + ?",
            (agreement.id, checked.epsilon, checked.epsilon),
        )
    return ("PENDING_REVIEW" if rule.approval == "manual" else "QUEUED"), None, checked


def submit(ctx: NodeContext, principal: str, body: dict[str, Any]) -> dict[str, Any]:
    """A consumer submits a query under one of its agreements."""
    agreement_id, query = body.get("agreementId"), body.get("query")
    purpose = body.get("purpose")
    if not isinstance(agreement_id, str) or not isinstance(query, str) or not query.strip():
        raise Refused("a job needs agreementId and query")
    if purpose is not None and not isinstance(purpose, str):
        raise Refused("purpose must be a string")
    job_id = ctx.ids()
    now = ctx.clock()
    try:
        with ctx.db.tx() as tx:
            agreement = repo.get_agreement(tx, agreement_id, lock=True)
            if (
                agreement is None
                or agreement.consumer_id != principal
                or agreement.provider_id != ctx.participant_id
            ):
                raise NotFound(f"no agreement {agreement_id} of {principal} with this provider")
            neg = repo.get_negotiation(tx, agreement.negotiation_id)
            dataset = repo.get_dataset(tx, agreement.dataset_id)
            if neg is None or neg.state != n.FINALIZED:
                raise Refused(f"agreement {agreement_id} is not finalized")
            if dataset is None or dataset.compute_rule is None:
                raise Refused(f"dataset {agreement.dataset_id} does not offer compute")
            tx.execute(
                "INSERT INTO compute_jobs (id, role, agreement_id, consumer_id, provider_id,"
                " dataset_id, query, query_sha256, purpose, state, created_at, updated_at)"
                " VALUES (?,'provider',?,?,?,?,?,?,?,'SUBMITTED',?,?)",
                (job_id, agreement_id, principal, ctx.participant_id, dataset.id, query,
                 _sha(query), purpose, now, now),
            )  # fmt: skip
            job = _get(tx, job_id)
            assert job is not None
            evidence.record(tx, at=now, kind="compute-job", subject=job_id,
                            data={"state": "SUBMITTED", "querySha256": job["query_sha256"],
                                  "agreement": agreement_id})  # fmt: skip
            state, reason, checked = _admit(
                ctx, tx, principal, agreement, dataset, job_id, query, purpose
            )
            _set(ctx, tx, job, state, reason=reason,
                 checked_sql=checked.sql if checked else None,
                 epsilon=checked.epsilon if checked else 0.0)  # fmt: skip
    except pep.PolicyDenied as denied:
        pep.log_denial(ctx, denied)
        raise
    ctx.wake()
    return get(ctx, principal, job_id)


def get(ctx: NodeContext, principal: str | None, job_id: str) -> dict[str, Any]:
    with ctx.db.tx() as tx:
        job = _get(tx, job_id)
    if job is None or (principal is not None and job["consumer_id"] != principal):
        raise NotFound(f"no compute job {job_id}")
    return view(job)


def review_queue(ctx: NodeContext) -> list[dict[str, Any]]:
    with ctx.db.tx() as tx:
        rows = tx.all("SELECT * FROM compute_jobs WHERE role = 'provider' AND state = 'PENDING_REVIEW'"
                      " ORDER BY created_at")  # fmt: skip
    return [view(r) for r in rows]


def review(ctx: NodeContext, job_id: str, approve: bool, reason: str = "") -> dict[str, Any]:
    with ctx.db.tx() as tx:
        job = _get(tx, job_id, lock=True)
        if job is None:
            raise NotFound(f"no compute job {job_id}")
        if job["state"] != "PENDING_REVIEW":
            raise Refused(f"job {job_id} is {job['state']}, not waiting for review")
        if not approve and not reason.strip():
            raise Refused("a rejection gives a reason")
        _set(ctx, tx, job, "QUEUED" if approve else "REJECTED", reason=None if approve else reason)
    ctx.wake()
    return get(ctx, None, job_id)


def requeue_interrupted(ctx: NodeContext) -> int:
    """At start-up: jobs that were running when the node stopped run again (their budget was
    spent at admission and is not spent again)."""
    with ctx.db.tx() as tx:
        return tx.execute(
            "UPDATE compute_jobs SET state = 'QUEUED' WHERE role = 'provider' AND state = 'RUNNING'"
        )


def claim(ctx: NodeContext) -> Row | None:
    with ctx.db.tx() as tx:
        suffix = " FOR UPDATE SKIP LOCKED" if tx.dialect == "postgresql" else ""
        job = tx.one("SELECT * FROM compute_jobs WHERE role = 'provider' AND state = 'QUEUED'"
                     f" ORDER BY created_at LIMIT 1{suffix}")  # fmt: skip
        if job is None:
            return None
        _set(ctx, tx, job, "RUNNING", attempts=int(job["attempts"]) + 1)
        return _get(tx, job["id"])


def fail(ctx: NodeContext, job_id: str, reason: str) -> None:
    with ctx.db.tx() as tx:
        job = _get(tx, job_id, lock=True)
        if job is not None and job["state"] == "RUNNING":
            _set(ctx, tx, job, "FAILED", reason=reason)


@lru_cache(maxsize=256)
def _mechanism(scale: float, integer: bool) -> Any:
    """OpenDP's Laplace mechanism: discrete for counts, floating-point-safe for sums (a
    hand-rolled sampler leaks through floating-point artefacts)."""
    import opendp.prelude as dp

    dp.enable_features("contrib")
    kind = int if integer else float
    domain = dp.atom_domain(T=kind) if integer else dp.atom_domain(T=float, nan=False)
    return dp.m.make_laplace(domain, dp.absolute_distance(T=kind), scale=scale)


def laplace(value: float, scale: float, *, integer: bool) -> float:
    """``value`` with Laplace noise of ``scale`` (sensitivity / epsilon)."""
    if integer:
        return float(_mechanism(scale, True)(int(value)))
    return float(_mechanism(scale, False)(float(value)))


def _noisy(
    rows: list[tuple[Any, ...]], outputs: tuple[Output, ...], epsilon: float
) -> list[list[Any]]:
    noisy = [o for o in outputs if o.kind in ("count", "sum")]
    share = epsilon / max(len(noisy), 1)
    out = []
    for row in rows:
        values = list(row)
        for i, o in enumerate(outputs):
            if o.kind in ("count", "sum") and values[i] is not None:
                counted = o.kind == "count"
                values[i] = laplace(float(values[i]), o.sensitivity / share, integer=counted)
                if counted:
                    values[i] = max(0, int(values[i]))
        out.append(values)
    return out


def product_tables(dataset: Dataset, rule: Rule) -> dict[str, tuple[Path, str]]:
    """The tables a query may read: the one file under the rule's table name, or every file
    of a multi-file version under its own table name."""
    if not dataset.fileset:
        only = dataset.files[0]
        return {rule.table: (Path(only.path), Path(only.name).suffix)}
    return {table_name(f.name): (Path(f.path), Path(f.name).suffix) for f in dataset.files}


def execute(ctx: NodeContext, job: Row) -> None:
    """Run a claimed job and release (or fail) it."""
    with ctx.db.tx() as tx:
        dataset = repo.get_dataset(tx, job["dataset_id"])
    if dataset is None or not dataset.files or dataset.compute_rule is None:
        with ctx.db.tx() as tx:
            _set(ctx, tx, job, "FAILED", reason="the product is gone")
        return
    rule = parse_rule(dataset.compute_rule)
    checked = check(rule, job["query"])  # the same guard, again, right before running
    tables = product_tables(dataset, rule)
    try:
        if rule.engine == "spark":
            from trustspace.dataplane import spark

            columns, rows = spark.run(tables, checked.sql, seconds=rule.seconds,
                                      max_rows=rule.max_rows)  # fmt: skip
        else:
            columns, rows = run(tables, checked.sql, seconds=rule.seconds,
                                memory_mib=rule.memory_mib, max_rows=rule.max_rows)  # fmt: skip
    except EngineError as exc:
        with ctx.db.tx() as tx:
            _set(ctx, tx, job, "FAILED", reason=exc.reason)
        return
    problem = release_problem(rule, rows)
    released = [list(r[:-1]) for r in rows]  # the group size is the guard's, not the consumer's
    if rule.dp and problem is None:
        released = _noisy([r[:-1] for r in rows], checked.outputs, checked.epsilon)
    result = {
        "columns": columns[:-1],
        "rows": _jsonable(released),
        "noise": "laplace" if rule.dp else None,
    }
    with ctx.db.tx() as tx:
        current = _get(tx, job["id"], lock=True)
        if current is None or current["state"] != "RUNNING":
            return
        agreement = repo.get_agreement(tx, job["agreement_id"])
        standing = ctx.standing(job["consumer_id"])
        if problem is None and standing is not None:
            problem = standing
        if problem is None and agreement is not None:
            try:  # the agreement again, at release: time window, region, standing
                pep.decide(
                    ctx, tx, point="compute-release", principal=job["consumer_id"],
                    policy=ctx.policies.get(f"agreement:{agreement.id}", agreement.policy),
                    request=Request(action=ACTION, assignee=job["consumer_id"],
                                    target=job["dataset_id"], purpose=job["purpose"]),
                    world=pep.world(ctx, tx, principal=job["consumer_id"], now=ctx.clock(),
                                    agreement=agreement, dataset=dataset,
                                    exclude_transfer=job["id"]),
                    process_id=job["id"], agreement_id=agreement.id, dataset_id=job["dataset_id"],
                )  # fmt: skip
            except pep.PolicyDenied as denied:
                problem = "the agreement no longer permits release: " + denied.reason
        if problem is not None:
            _set(ctx, tx, current, "FAILED", reason=problem)
            return
        text = json.dumps(result, sort_keys=True, separators=(",", ":"))
        _set(ctx, tx, current, "RELEASED", result=text, result_sha256=_sha(text))


def _jsonable(rows: list[list[Any]]) -> list[list[Any]]:
    """JSON values: decimals become numbers (both engines return them for sums), the rest text."""
    out = []
    for row in rows:
        out.append([_json_value(v) for v in row])
    return out


def _json_value(v: Any) -> Any:
    if v is None or isinstance(v, bool | int | float | str):
        return v
    return float(v) if isinstance(v, Decimal) else str(v)
