"""Compute-to-data in the portal.

A buyer picks one of this node's agreements whose product offers compute, writes a query
beside the product's analysis rule (in words), tries it on the provider's mock data (free),
submits it (:func:`trustspace.services.compute_consumer.submit`) and follows the job until its
aggregate is released, or refused with the guard's reason.  Provider staff decide the jobs
waiting for review (:func:`trustspace.services.compute.review`), as the management API does.
"""

from __future__ import annotations

import re
import uuid
from functools import partial
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from trustspace.core.compute import GuardError, Rule, parse_rule
from trustspace.services import compute, compute_consumer, compute_views
from trustspace.services.compute_views import ComputeAgreement, Tried
from trustspace.services.errors import NotFound, Refused
from trustspace.web.i18n import N_
from trustspace.web.page import PORTAL, NavItem, Portal, View, get, post

BASE = f"{PORTAL}/compute"
NAV = [
    NavItem(("buyer",), BASE, N_("Compute")),
    NavItem(("provider",), f"{BASE}/reviews", N_("Compute reviews")),
]

FINAL = ("RELEASED", "REFUSED", "REJECTED", "FAILED")
STATES = {
    "SUBMITTING": N_("Being submitted"),
    "SUBMITTED": N_("Submitted to the provider"),
    "PENDING_REVIEW": N_("Waiting for the provider's review"),
    "QUEUED": N_("Queued"),
    "RUNNING": N_("Running"),
    "RELEASED": N_("Released"),
    "REFUSED": N_("Refused"),
    "REJECTED": N_("Rejected by the provider"),
    "FAILED": N_("Failed"),
}
ROLE_WORDS = {"group": N_("group on"), "filter": N_("filter on"), "aggregate": N_("aggregate")}

REASONS = (
    N_("SELECT * returns rows; aggregate instead"),
    N_("exactly one SELECT statement is allowed"),
    N_("subqueries are not allowed"),
    N_("set operations (UNION, INTERSECT, EXCEPT) are not allowed"),
    N_("the query is empty"),
    N_("the query selects nothing"),
    N_("the query returns rows, not aggregates: add COUNT, SUM, ..."),
    N_("AVG is not allowed under differential privacy; use SUM and COUNT"),
    N_("a rejection gives a reason"),
)
"""The guard's and the review's fixed reasons a person meets here, translated when shown."""

CLAUSE = re.compile(r"(SELECT|WHERE|GROUP BY|ORDER BY|FROM|JOIN|LIMIT|OFFSET)\b")
PREFIXES = ("the provider refused: ", "the provider answered: ")


def clause_of(v: View, reason: str | None) -> str | None:
    """The part of the query (or of the rule) a refusal names."""
    if not reason:
        return None
    text = reason
    for prefix in PREFIXES:
        text = text.removeprefix(prefix)
    found = CLAUSE.match(text)
    if found:
        return found.group(1)
    if "privacy budget" in text:
        return v._("the privacy budget")
    if "not allowed" in text and ("aggregate" in text or "MIN" in text or "MAX" in text):
        return v._("the allowed aggregates")
    if "groups; narrow the query" in text:
        return v._("the most groups a result may have")
    return None


def reason_text(v: View, reason: str | None) -> str:
    return v._(reason) if reason else ""


def rule_words(v: View, doc: dict[str, Any] | None) -> dict[str, Any]:
    """The analysis rule for a person: its tables and columns with what each may be used for,
    and its limits in sentences."""
    try:
        rule: Rule = parse_rule(doc)
    except GuardError as exc:
        return {"tables": [], "facts": [v._("The analysis rule is not valid: %(reason)s",
                                            reason=str(exc))]}  # fmt: skip
    tables = [{"name": rule.table, "join": None, "entity": rule.entity,
               "columns": sorted(rule.columns.items())}]  # fmt: skip
    for j in rule.joins:
        tables.append({"name": j.table, "entity": None, "columns": sorted(j.columns.items()),
                       "join": f"{rule.table}.{j.left} = {j.table}.{j.right}"})  # fmt: skip
    n = v.fmt.number
    facts = [
        v._("Each person or organisation is identified by %(entity)s; it may appear only as"
            " COUNT(DISTINCT %(entity)s).", entity=rule.entity),
        v._("Allowed aggregates: %(list)s.",
            list=", ".join(a.upper() for a in sorted(rule.aggregates)) or "–"),
        v._("Minimum group size: %(n)s distinct entities; smaller groups are left out of the"
            " result, exactly like empty ones.", n=n(rule.min_group_size)),
        v._("At most %(n)s groups in a result.", n=n(rule.max_rows)),
    ]  # fmt: skip
    if rule.privacy is not None:
        p = rule.privacy
        facts.append(v._("Differential privacy: each query spends ε = %(eps)s of a privacy"
                         " budget of %(budget)s (yours, on this product), and values carry"
                         " random noise.", eps=n(p.epsilon_per_query), budget=n(p.budget)))  # fmt: skip
        for column, (low, high) in sorted(p.bounds.items()):
            facts.append(v._("Values of %(column)s are clipped to %(low)s … %(high)s.",
                             column=column, low=n(low), high=n(high)))  # fmt: skip
    elif rule.threshold_only:
        facts.append(v._("No noise: the provider declares that results are released under the"
                         " group size and the overlap audit alone (%(reason)s).",
                         reason=rule.threshold_only))  # fmt: skip
    if rule.approval == "manual":
        facts.append(v._("Each job waits for the provider's review before it runs."))
    facts.append(v._("A job may run for %(seconds)s seconds.", seconds=n(rule.seconds)))
    return {"tables": tables, "facts": facts}


def chart_of(result: dict[str, Any] | None) -> dict[str, Any] | None:
    """A bar chart of a released table: its first text column (the groups) against its last
    number; None for a table without groups."""
    if not result or not result.get("rows"):
        return None
    columns, data = list(result.get("columns") or []), result["rows"]
    if not all(isinstance(r, list) and len(r) == len(columns) for r in data):
        return None

    def all_are(index: int, kinds: tuple[type, ...]) -> bool:
        return all(isinstance(r[index], kinds) and not isinstance(r[index], bool) for r in data)

    labels = next((i for i in range(len(columns)) if all_are(i, (str,))), None)
    values = next((i for i in reversed(range(len(columns))) if all_are(i, (int, float))), None)
    if values is None or labels is None:
        return None
    return {"labels": [str(r[labels]) for r in data], "values": [r[values] for r in data],
            "name": str(columns[values]),
            "kind": "bar"}  # fmt: skip


def numeric(result: dict[str, Any] | None) -> set[int]:
    """The columns of a result whose values are all numbers (shown right-aligned)."""
    columns = list((result or {}).get("columns") or [])
    data = [r for r in (result or {}).get("rows") or [] if isinstance(r, list)]
    return {i for i in range(len(columns))
            if data and all(i < len(r) and isinstance(r[i], int | float)
                            and not isinstance(r[i], bool) for r in data)}  # fmt: skip


def routes(portal: Portal) -> list[BaseRoute]:
    rt = portal.rt
    ctx = rt.ctx

    def editor(v: View, agreement: ComputeAgreement, *, query: str = "", purpose: str = "",
               tried: Tried | None = None, error: str | None = None,
               status: int = 200) -> Response:  # fmt: skip
        jobs = compute_consumer.jobs_of(rt, agreement.id)
        return v.render("compute/editor.html", status=status, agreement=agreement,
                        rule=rule_words(v, agreement.rule),
                        budget=compute_views.budget(rt, agreement), query=query,
                        purpose=purpose, key=uuid.uuid4().hex, tried=tried,
                        tried_clause=clause_of(v, tried.refusal if tried else None),
                        tried_chart=chart_of(tried.result if tried else None), error=error,
                        error_clause=clause_of(v, error), jobs=jobs, states=STATES,
                        role_words=ROLE_WORDS, reason_text=partial(reason_text, v),
                        numeric=numeric)  # fmt: skip

    def index(v: View) -> Response:
        chosen = v.query("agreement")
        if chosen:
            return editor(v, compute_views.compute_agreement(rt, chosen))
        return v.render("compute/index.html", agreements=compute_views.compute_agreements(rt),
                        jobs=compute_consumer.jobs_of(rt, None), states=STATES)  # fmt: skip

    def try_query(v: View) -> Response:
        agreement = compute_views.compute_agreement(rt, v.field("agreement", required=True))
        query = v.field("query", required=True, limit=20000)
        tried = compute_views.try_on_mock(rt, agreement.id, query)
        return editor(v, agreement, query=query, purpose=v.field("purpose", limit=500),
                      tried=tried)  # fmt: skip

    def submit(v: View) -> Response:
        agreement = compute_views.compute_agreement(rt, v.field("agreement", required=True))
        query = v.field("query", required=True, limit=20000)
        purpose = v.field("purpose", limit=500)
        body: dict[str, Any] = {"agreementId": agreement.id, "query": query,
                                "key": v.field("key", limit=compute.MAX_KEY) or None}  # fmt: skip
        if purpose:
            body["purpose"] = purpose
        try:
            job = compute_consumer.submit(rt, body)
        except (Refused, NotFound) as exc:
            return editor(v, agreement, query=query, purpose=purpose, error=exc.reason,
                          status=400)  # fmt: skip
        v.act("compute-submit", str(job["id"]), agreement=agreement.id,
              querySha256=job.get("querySha256"), state=job.get("state"))  # fmt: skip
        return v.redirect(f"{BASE}/jobs/{job['id']}", v._("The query was submitted."))

    def job_values(v: View) -> dict[str, Any]:
        job = compute_consumer.job(rt, v.request.path_params["id"])
        return {"job": job, "states": STATES, "final": job.get("state") in FINAL,
                "clause": clause_of(v, job.get("reason")), "reason_text": partial(reason_text, v),
                "chart": chart_of(job.get("result")), "numeric": numeric}  # fmt: skip

    def job_page(v: View) -> Response:
        values = job_values(v)
        budget = None
        try:
            agreement = compute_views.compute_agreement(rt, str(values["job"]["agreementId"]))
            reported = values["job"].get("budgetSpent")
            budget = compute_views.budget(
                rt, agreement, reported if isinstance(reported, int | float) else None
            )
        except (NotFound, KeyError):
            agreement = None
        return v.render("compute/job.html", agreement=agreement, budget=budget, **values)

    def job_status(v: View) -> Response:
        values = job_values(v)
        response = v.render("compute/status.html", **values)
        if values["final"]:
            response.headers["HX-Refresh"] = "true"  # the whole page: its table and chart
        return response

    def reviews(v: View) -> Response:
        return v.render("compute/reviews.html", queue=compute.review_queue(ctx))

    def decide(v: View) -> Response:
        job_id = v.request.path_params["id"]
        decision = v.field("decision", required=True)
        if decision not in ("approve", "reject"):
            raise NotFound(v._("no such decision"))
        reason = v.field("reason", limit=1000)
        job = compute.review(ctx, job_id, decision == "approve", reason)
        v.act(f"compute-{decision}", job_id, consumer=job.get("consumerId"),
              **({"reason": reason} if decision == "reject" else {}))  # fmt: skip
        done = (v._("The job was approved: it runs now.") if decision == "approve"
                else v._("The job was rejected."))  # fmt: skip
        return v.redirect(f"{BASE}/reviews", done)

    return [
        get(portal, BASE, index, ("buyer",)),
        post(portal, f"{BASE}/try", try_query, ("buyer",)),
        post(portal, f"{BASE}/jobs", submit, ("buyer",)),
        get(portal, f"{BASE}/reviews", reviews, ("provider",)),
        post(portal, f"{BASE}/reviews/{{id}}", decide, ("provider",)),
        get(portal, f"{BASE}/jobs/{{id}}", job_page, ("buyer",)),
        get(portal, f"{BASE}/jobs/{{id}}/status", job_status, ("buyer",)),
    ]
