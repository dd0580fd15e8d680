"""Compute-to-data jobs at the provider: admission, review, running, release.

A job moves SUBMITTED → (PENDING_REVIEW →) QUEUED → RUNNING → RELEASED, or ends REFUSED,
REJECTED or FAILED with a reason.

**Submission is idempotent.**  The consumer sends a key of its choosing; the job's id is
derived from the consumer and the key, so a retry after a lost answer returns the job the
first attempt created, and never spends budget twice.  The same key with another query or
agreement is refused.

**Admission** checks the query with the guard first, outside any transaction (checking is
bounded and linear, but no write lock is held while it runs), then in one transaction:
1. the agreement is the consumer's, finalised, for a product with an analysis rule;
2. the ODRL agreement permits ``aggregate`` for the declared purpose, now;
3. under differential privacy, the query's epsilon fits in what is left of the consumer's
   budget on the product (one budget across all its agreements and the product's versions),
   and is spent; then the use is counted.

**Release** happens after the sandboxed run:
- under DP, noise is added and a group is released only if its noisy size clears the release
  threshold (:mod:`trustspace.core.compute.release`);
- under the threshold alone, the overlap audit withholds groups that would let a combination
  of releases isolate fewer than ``minGroupSize`` entities; its state is updated in the same
  transaction as the release (:mod:`trustspace.dataplane.audit`);
- the agreement is re-checked (time window, standing);
- the result says which rules withheld groups (``withheld``), never how many
  (:func:`trustspace.core.compute.release.withheld`).

Then the result and its SHA-256 are stored.  Raw rows never leave: only the released
aggregate does.  Every step is evidence, with the query's hash and the result's hash.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any

from trustspace.core import negotiation as n
from trustspace.core.compute import GuardError, Plan, Rule, check, logic, parse_rule
from trustspace.core.compute import release as rel
from trustspace.core.fileset import table_name
from trustspace.core.odrl.model import Request
from trustspace.core.records import Agreement, Dataset
from trustspace.dataplane import audit as overlap
from trustspace.dataplane.compute import EngineError, Result, run
from trustspace.products.mock import mock_rows
from trustspace.services import catalog
from trustspace.services import policy as pep
from trustspace.services.context import NodeContext
from trustspace.services.errors import NotFound, Refused
from trustspace.store import Conflict, agreements, datasets, evidence, usage
from trustspace.store import compute as jobs
from trustspace.store import negotiations as negotiation_rows
from trustspace.store.db import Row, Tx

ACTION = "aggregate"
PROVIDER = "provider"
_KEYS = uuid.UUID("6f1d9a8e-2b47-4c1e-9d55-0b7f3c2a9e10")  # namespace of job ids
MAX_KEY = 200


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def job_id(consumer_id: str, key: str) -> str:
    """The id of the job a consumer submits with ``key``; both sides compute it."""
    return f"urn:uuid:{uuid.uuid5(_KEYS, consumer_id + chr(10) + key)}"


def view(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "key": row["submission_key"],
        "agreementId": row["agreement_id"],
        "datasetId": row["dataset_id"],
        "consumerId": row["consumer_id"],
        "query": row["query"],
        "querySha256": row["query_sha256"],
        "purpose": row["purpose"],
        "state": row["state"],
        "reason": row["reason"],
        "epsilon": row["epsilon"],
        "result": jobs.result_of(row),
        "resultSha256": row["result_sha256"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }


def _set(ctx: NodeContext, tx: Tx, job: Row, state: str, **fields: Any) -> None:
    now = ctx.clock()
    jobs.update(tx, job["id"], PROVIDER, {"state": state, "updated_at": now, **fields})
    data = {"state": state, "querySha256": job["query_sha256"], "agreement": job["agreement_id"]}
    data.update({k: v for k, v in fields.items() if k in ("reason", "result_sha256", "epsilon")})
    evidence.record(tx, at=now, kind="compute-job", subject=job["id"], data=data)


def _guard(ctx: NodeContext, dataset: Dataset, query: str) -> tuple[Plan | None, str | None]:
    """The plan, or why the query (or the product's rule) is refused."""
    try:
        rule = parse_rule(dataset.compute_rule)
    except GuardError as exc:
        return None, f"the product's analysis rule is not valid any more: {exc}"
    try:
        return check(rule, query, ctx.compute_limits), None
    except GuardError as exc:
        return None, str(exc)


def _budget_problem(tx: Tx, dataset: Dataset, consumer_id: str, plan: Plan) -> str | None:
    """The budget is the consumer's on the product, whatever agreement or version it uses."""
    rule = plan.rule
    if rule.privacy is None or plan.epsilon <= 0:
        return None
    product = dataset.product_id or dataset.id
    # Lock the consumer's row first (created at zero), so concurrent admissions queue here.
    jobs.spend(tx, product, consumer_id, 0.0)
    spent = jobs.spent(tx, product, consumer_id, lock=True)
    if spent + plan.epsilon > rule.privacy.budget + 1e-9:
        return (f"the privacy budget of this product is exhausted: {spent:g} of"
                f" {rule.privacy.budget:g} spent, this query needs {plan.epsilon:g}")  # fmt: skip
    jobs.spend(tx, product, consumer_id, plan.epsilon)
    return None


def _admit(ctx: NodeContext, tx: Tx, principal: str, agreement: Agreement, dataset: Dataset,
           job: Row, plan: Plan) -> tuple[str, str | None]:  # fmt: skip
    """The state a new job goes to, and why."""
    standing = ctx.standing(principal)
    if standing is not None:
        return "REFUSED", standing
    pep.decide(
        ctx, tx, point="compute", principal=principal,
        policy=ctx.policies.get(f"agreement:{agreement.id}", agreement.policy),
        request=Request(action=ACTION, assignee=principal, target=dataset.id,
                        purpose=job["purpose"]),
        world=pep.world(ctx, tx, principal=principal, now=ctx.clock(), agreement=agreement,
                        dataset=dataset),
        process_id=job["id"], agreement_id=agreement.id, dataset_id=dataset.id,
    )  # fmt: skip
    problem = _budget_problem(tx, dataset, principal, plan)
    if problem is not None:
        return "REFUSED", problem
    usage.record_usage(tx, agreement.id, ACTION, job["id"], ctx.clock())
    return ("PENDING_REVIEW" if plan.rule.approval == "manual" else "QUEUED"), None


def _submission(body: dict[str, Any]) -> tuple[str, str, str | None, str | None]:
    agreement_id, query = body.get("agreementId"), body.get("query")
    purpose, key = body.get("purpose"), body.get("key")
    if not isinstance(agreement_id, str) or not isinstance(query, str) or not query.strip():
        raise Refused("a job needs agreementId and query")
    if purpose is not None and not isinstance(purpose, str):
        raise Refused("purpose must be a string")
    if key is not None and (not isinstance(key, str) or not 0 < len(key) <= MAX_KEY):
        raise Refused(f"key must be a string of 1 to {MAX_KEY} characters")
    return agreement_id, query, purpose, key


def same_job(job: Row, agreement_id: str, query: str, purpose: str | None) -> Row:
    """``job``, if it is the submission described; a key means one job."""
    if job["agreement_id"] != agreement_id or job["query"] != query or job["purpose"] != purpose:
        raise Refused(f"key {job['submission_key']!r} was used for another job ({job['id']})")
    return job


def submit(ctx: NodeContext, principal: str, body: dict[str, Any]) -> dict[str, Any]:
    """A consumer submits a query under one of its agreements; a retry with the same key
    returns the job the first attempt created."""
    agreement_id, query, purpose, key = _submission(body)
    key = key or ctx.ids()
    jid = job_id(principal, key)
    with ctx.db.tx() as tx:
        existing = jobs.get(tx, jid, PROVIDER)
        agreement = agreements.get_agreement(tx, agreement_id)
        neg = negotiation_rows.get_negotiation(tx, agreement.negotiation_id) if agreement else None
        dataset = datasets.get_dataset(tx, agreement.dataset_id) if agreement else None
    if existing is not None:
        if existing["consumer_id"] != principal:
            raise NotFound(f"no compute job {jid}")
        return view(same_job(existing, agreement_id, query, purpose))
    if (agreement is None or agreement.consumer_id != principal
            or agreement.provider_id != ctx.participant_id):  # fmt: skip
        raise NotFound(f"no agreement {agreement_id} of {principal} with this provider")
    if neg is None or neg.state != n.FINALIZED:
        raise Refused(f"agreement {agreement_id} is not finalized")
    if dataset is None or dataset.compute_rule is None:
        raise Refused(f"dataset {agreement.dataset_id} does not offer compute")
    plan, refusal = _guard(ctx, dataset, query)  # no transaction is open while checking
    now = ctx.clock()
    try:
        with ctx.db.tx() as tx:
            agreement = agreements.get_agreement(tx, agreement_id, lock=True)
            assert agreement is not None
            row = {"id": jid, "role": PROVIDER, "agreement_id": agreement_id,
                   "consumer_id": principal, "provider_id": ctx.participant_id,
                   "dataset_id": dataset.id, "query": query, "query_sha256": _sha(query),
                   "purpose": purpose, "state": "SUBMITTED", "submission_key": key,
                   "created_at": now, "updated_at": now}  # fmt: skip
            jobs.insert(tx, row)
            job = jobs.get(tx, jid, PROVIDER)
            assert job is not None
            evidence.record(tx, at=now, kind="compute-job", subject=jid,
                            data={"state": "SUBMITTED", "querySha256": job["query_sha256"],
                                  "agreement": agreement_id})  # fmt: skip
            if plan is None:
                _set(ctx, tx, job, "REFUSED", reason=refusal, epsilon=0.0)
            else:
                state, reason = _admit(ctx, tx, principal, agreement, dataset, job, plan)
                _set(ctx, tx, job, state, reason=reason,
                     epsilon=plan.epsilon if state != "REFUSED" else 0.0)  # fmt: skip
    except pep.PolicyDenied as denied:
        pep.log_denial(ctx, denied)
        raise
    except Conflict:  # the same key, submitted twice at once: the other attempt won
        with ctx.db.tx() as tx:
            raced = jobs.get(tx, jid, PROVIDER)
        if raced is None:
            raise
        return view(same_job(raced, agreement_id, query, purpose))
    ctx.wake()
    return get(ctx, principal, jid)


def get(ctx: NodeContext, principal: str | None, job_id: str) -> dict[str, Any]:
    """One job; to its consumer also ``budgetSpent``: what it has spent on the job's product
    now, over all its agreements (what the next admission is checked against)."""
    with ctx.db.tx() as tx:
        job = jobs.get(tx, job_id, PROVIDER)
        if job is None or (principal is not None and job["consumer_id"] != principal):
            raise NotFound(f"no compute job {job_id}")
        dataset = datasets.get_dataset(tx, job["dataset_id"])
        spent = (jobs.spent(tx, dataset.product_id or dataset.id, job["consumer_id"])
                 if dataset is not None else None)  # fmt: skip
    found = view(job)
    if spent is not None:
        found["budgetSpent"] = spent
    return found


def list_for(ctx: NodeContext, principal: str, agreement_id: str | None) -> list[dict[str, Any]]:
    """A consumer's own jobs here (to find jobs it lost track of), newest first."""
    with ctx.db.tx() as tx:
        return [view(r) for r in jobs.of_consumer(tx, PROVIDER, principal, agreement_id)]


def mock(ctx: NodeContext, principal: str, dataset_id: str) -> dict[str, Any]:
    """Synthetic rows of a compute product, for a participant allowed to see the product."""
    with ctx.db.tx() as tx:
        d = datasets.get_dataset(tx, dataset_id)
        if d is not None and not catalog.visible_to(ctx, tx, principal, d.id):
            d = None  # a dataset hidden by its access policy looks like a missing one
    if d is None or d.compute_rule is None:
        raise NotFound(f"no compute product {dataset_id}")
    files = {table_name(f.name): f.name for f in d.files} if d.fileset else None
    return {**mock_rows(d.profile, d.compute_rule, files=files), "rule": d.compute_rule}


def review_queue(ctx: NodeContext) -> list[dict[str, Any]]:
    with ctx.db.tx() as tx:
        rows = jobs.in_state(tx, "PENDING_REVIEW")
    return [view(r) for r in rows]


def review(ctx: NodeContext, job_id: str, approve: bool, reason: str = "") -> dict[str, Any]:
    with ctx.db.tx() as tx:
        job = jobs.get(tx, job_id, PROVIDER, lock=True)
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
        return jobs.requeue_running(tx)


def claim(ctx: NodeContext) -> Row | None:
    with ctx.db.tx() as tx:
        job = jobs.claim_next(tx)
        if job is None:
            return None
        _set(ctx, tx, job, "RUNNING", attempts=int(job["attempts"]) + 1)
        return jobs.get(tx, job["id"], PROVIDER)


def fail(ctx: NodeContext, job_id: str, reason: str) -> None:
    with ctx.db.tx() as tx:
        job = jobs.get(tx, job_id, PROVIDER, lock=True)
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


def laplace(value: float, scale: float, integer: bool) -> float:
    """``value`` with Laplace noise of ``scale`` (sensitivity / epsilon)."""
    if integer:
        return float(_mechanism(scale, True)(int(value)))
    return float(_mechanism(scale, False)(float(value)))


def product_tables(dataset: Dataset, rule: Rule) -> dict[str, tuple[Path, str]]:
    """The tables a query may read: the one file under the rule's table name, or every file
    of a multi-file version under its own table name."""
    if not dataset.fileset:
        only = dataset.files[0]
        return {rule.table: (Path(only.path), Path(only.name).suffix)}
    return {table_name(f.name): (Path(f.path), Path(f.name).suffix) for f in dataset.files}


def run_plan(plan: Plan, tables: dict[str, tuple[Path, str]]) -> Result:
    """The plan on its engine; the overlap audit's projection too under the threshold alone."""
    rule = plan.rule
    audit_sql = None if rule.dp else plan.audit_sql(rule.engine)
    if rule.engine == "spark":
        from trustspace.dataplane import spark

        return spark.run(tables, plan.sql("spark"), seconds=rule.seconds,
                         max_rows=rule.max_rows, audit_sql=audit_sql)  # fmt: skip
    return run(tables, plan.sql("duckdb"), seconds=rule.seconds, memory_mib=rule.memory_mib,
               max_rows=rule.max_rows, audit_sql=audit_sql)  # fmt: skip


def preview(plan: Plan, tables: dict[str, tuple[Path, str]]) -> dict[str, Any]:
    """What the provider would release for ``plan`` as a first query on ``tables`` (a mock):
    the same engine and release rules, with a fresh overlap audit, on the DuckDB engine."""
    from dataclasses import replace

    local = replace(plan, rule=replace(plan.rule, engine="duckdb"))
    result = run_plan(local, tables)
    if len(result.rows) > local.rule.max_rows:
        raise EngineError(
            f"the result has more than {local.rule.max_rows} groups; narrow the query"
        )
    groups = rel.ordered(rel.candidates(local, result.rows))
    if local.rule.dp:
        released = rel.with_noise(local, groups, laplace)
    else:
        keys, _ = overlap.audit(overlap.load(None), result.audit, audit_groups(local, groups),
                                local.rule.min_group_size)  # fmt: skip
        released = [g.values for g in groups if g.key in keys]
    return {"columns": [o.name for o in local.outputs], "rows": rel.finish(local, released),
            "noise": "laplace" if local.rule.dp else None,
            "withheld": rel.withheld(local)}  # fmt: skip


def execute(ctx: NodeContext, job: Row) -> None:
    """Run a claimed job and release (or fail) it."""
    with ctx.db.tx() as tx:
        dataset = datasets.get_dataset(tx, job["dataset_id"])
    if dataset is None or not dataset.files or dataset.compute_rule is None:
        with ctx.db.tx() as tx:
            _set(ctx, tx, job, "FAILED", reason="the product is gone")
        return
    plan, refusal = _guard(ctx, dataset, job["query"])  # the same guard, right before running
    if plan is None:
        with ctx.db.tx() as tx:
            _set(ctx, tx, job, "FAILED", reason=refusal)
        return
    rule = plan.rule
    try:
        result = run_plan(plan, product_tables(dataset, rule))
    except EngineError as exc:
        with ctx.db.tx() as tx:
            _set(ctx, tx, job, "FAILED", reason=exc.reason)
        return
    problem = None
    if len(result.rows) > rule.max_rows:
        problem = f"the result has more than {rule.max_rows} groups; narrow the query"
    groups = rel.ordered(rel.candidates(plan, result.rows))
    noisy = rel.with_noise(plan, groups, laplace) if rule.dp and problem is None else None
    with ctx.db.tx() as tx:
        current = jobs.get(tx, job["id"], PROVIDER, lock=True)
        if current is None or current["state"] != "RUNNING":
            return
        problem = problem or _release_problem(ctx, tx, job, dataset)
        if problem is not None:
            _set(ctx, tx, current, "FAILED", reason=problem)
            return
        if noisy is not None:
            released = noisy
        else:
            released = _audited(ctx, tx, job, dataset, plan, groups, result)
        text = json.dumps({"columns": [o.name for o in plan.outputs],
                           "rows": rel.finish(plan, released),
                           "noise": "laplace" if rule.dp else None,
                           "withheld": rel.withheld(plan)},
                          sort_keys=True, separators=(",", ":"))  # fmt: skip
        _set(ctx, tx, current, "RELEASED", result=text, result_sha256=_sha(text))


def audit_groups(plan: Plan, groups: list[rel.Candidate]) -> list[overlap.Group]:
    """What each group's definition says about its rows, per space: the product's rows (0)
    and, for a joined query, the joined pairs (1).  A joined group's product rows are those
    with a pair in it: only its conditions on the product table hold for them."""
    main = plan.rule.table + "."
    out = []
    for group in groups:
        definition = rel.definition(plan, group)
        inside, outside = logic.when_true(definition), logic.when_not_true(definition)
        if not plan.joined:
            out.append(overlap.Group(group.key, {0: inside}, {0: outside}))
            continue
        product = [[m for m in alt if str(m.literal[1]).startswith(main)] for alt in inside]
        out.append(overlap.Group(group.key, {0: product, 1: inside}, {0: [[]], 1: outside}))
    return out


def _audited(ctx: NodeContext, tx: Tx, job: Row, dataset: Dataset, plan: Plan,
             groups: list[rel.Candidate], result: Result) -> list[tuple[Any, ...]]:  # fmt: skip
    """The groups the overlap audit lets this consumer have; its state is saved with them."""
    product = dataset.product_id or dataset.id
    now = ctx.clock()
    state = overlap.load(jobs.audit_state(tx, product, job["consumer_id"], now))
    keys, new_state = overlap.audit(state, result.audit, audit_groups(plan, groups),
                                    plan.rule.min_group_size)  # fmt: skip
    jobs.save_audit_state(tx, product, job["consumer_id"], overlap.dump(new_state),
                          new_state.rows.num_rows, now)  # fmt: skip
    return [g.values for g in groups if g.key in keys]


def _release_problem(ctx: NodeContext, tx: Tx, job: Row, dataset: Dataset) -> str | None:
    """Why the agreement no longer permits release (time window, region, standing)."""
    standing = ctx.standing(job["consumer_id"])
    if standing is not None:
        return standing
    agreement = agreements.get_agreement(tx, job["agreement_id"])
    if agreement is None:
        return "the agreement is gone"
    try:
        pep.decide(
            ctx, tx, point="compute-release", principal=job["consumer_id"],
            policy=ctx.policies.get(f"agreement:{agreement.id}", agreement.policy),
            request=Request(action=ACTION, assignee=job["consumer_id"],
                            target=job["dataset_id"], purpose=job["purpose"]),
            world=pep.world(ctx, tx, principal=job["consumer_id"], now=ctx.clock(),
                            agreement=agreement, dataset=dataset, exclude_transfer=job["id"]),
            process_id=job["id"], agreement_id=agreement.id, dataset_id=job["dataset_id"],
        )  # fmt: skip
    except pep.PolicyDenied as denied:
        return "the agreement no longer permits release: " + denied.reason
    return None
