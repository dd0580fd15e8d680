"""``trustspace compute``: submit queries that run at the provider, follow them, review them,
and try them on mock data first."""

from __future__ import annotations

import csv
import json
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
from rich.table import Table

from trustspace.cli.common import (
    REFUSED,
    USAGE,
    call,
    console,
    fail,
    iso,
    json_option,
    key_option,
    node_option,
    print_table,
    records,
    refused,
    resolve,
    show,
    table,
)
from trustspace.core.compute.release import compute_note

ENDED_BADLY = ("REFUSED", "REJECTED", "FAILED")


def _show(job: dict[str, Any]) -> None:
    console.print(f"job {job['id']}: [bold]{job['state']}[/bold] {job.get('reason') or ''}",
                  highlight=False)  # fmt: skip
    result = job.get("result")
    if result:
        t = Table(*result["columns"])
        for row in result["rows"]:
            t.add_row(*(str(v) for v in row))
        print_table(t)
        if result.get("noise"):
            console.print(f"(values carry {result['noise']} noise: differential privacy)")
        for line in compute_note(result):
            console.print(line, markup=False)


@click.group()
def compute() -> None:
    """Compute-to-data: the query goes to the data, only guarded aggregates come back."""


@compute.command("submit")
@node_option
@key_option
@click.argument("agreement_id")
@click.argument("query")
@click.option("--purpose", help="The purpose of this analysis (usage policies check it).")
@json_option
@click.option("--wait/--no-wait", default=True, help="Wait until the job has ended.")
@click.option(
    "--submission-key",
    help="Names this submission: submitting again with the same key returns the same job"
    " (after a time-out, say) instead of running and paying for it twice.",
)
def submit(
    node: str,
    key: str,
    agreement_id: str,
    query: str,
    purpose: str | None,
    wait: bool,
    submission_key: str | None,
    as_json: bool,
) -> None:
    """Run QUERY (SQL) under AGREEMENT_ID (a unique prefix will do) at the provider.

    Exits 1 when the job ends REFUSED, REJECTED or FAILED, with the reason on stderr."""
    body = {
        "agreementId": resolve(node, key, "agreement", agreement_id),
        "query": query,
        **({"purpose": purpose} if purpose else {}),
        **({"key": submission_key} if submission_key else {}),
    }
    job = call(node, key, "POST", "/api/compute/jobs", body)
    while wait and job["state"] in ("SUBMITTED", "QUEUED", "RUNNING"):
        time.sleep(0.3)
        job = call(node, key, "GET", f"/api/compute/jobs/{job['id']}")
    _outcome(job, as_json)


def _outcome(job: dict[str, Any], as_json: bool) -> None:
    records(job, as_json, _show)
    if job["state"] in ENDED_BADLY:
        refused(f"job {job['id']} ended {job['state']}: {job.get('reason') or ''}")


@compute.command("status")
@node_option
@key_option
@click.argument("job_id")
@json_option
def status(node: str, key: str, job_id: str, as_json: bool) -> None:
    """Show job JOB_ID (a unique prefix will do) and, once released, its result.  Exits 1
    when it ended REFUSED, REJECTED or FAILED."""
    jid = resolve(node, key, "job", job_id)
    _outcome(call(node, key, "GET", f"/api/compute/jobs/{jid}"), as_json)


@compute.command("jobs")
@node_option
@key_option
@click.option(
    "--agreement",
    help="Only this agreement's jobs, first brought up to date from its provider (which also"
    " finds jobs this node lost track of).",
)
@json_option
def jobs(node: str, key: str, agreement: str | None, as_json: bool) -> None:
    """This node's compute jobs as consumer, newest first."""
    if agreement:
        agreement = resolve(node, key, "agreement", agreement)
    path = "/api/compute/jobs" + (f"?agreement={quote(agreement, safe='')}" if agreement else "")

    def render(rows: list[dict[str, Any]]) -> None:
        t = table("job", "key", "state", "query", "reason", "updated", ids=("job",))
        for job in rows:
            t.add_row(job["id"], job["key"] or "", job["state"], job["query"],
                      job["reason"] or "", iso(job.get("updatedAt")))  # fmt: skip
        print_table(t)

    records(call(node, key, "GET", path), as_json, render)


@compute.command("review")
@node_option
@key_option
@json_option
def review(node: str, key: str, as_json: bool) -> None:
    """Provider: jobs waiting for a decision."""

    def render(rows: list[dict[str, Any]]) -> None:
        t = table("job", "consumer", "dataset", "query", ids=("job", "dataset"))
        for job in rows:
            t.add_row(job["id"], job["consumerId"], job["datasetId"], job["query"])
        print_table(t)

    records(call(node, key, "GET", "/api/compute/review"), as_json, render)


@compute.command("approve")
@node_option
@key_option
@click.argument("job_id")
@json_option
def approve(node: str, key: str, job_id: str, as_json: bool) -> None:
    """Provider: let JOB_ID (a unique prefix of a job in review will do) run."""
    jid = resolve(node, key, "review job", job_id)
    show(call(node, key, "POST", f"/api/compute/jobs/{jid}/approve", {}))


@compute.command("reject")
@node_option
@key_option
@click.argument("job_id")
@click.option("--reason", required=True, help="Why (the consumer sees it).")
@json_option
def reject(node: str, key: str, job_id: str, reason: str, as_json: bool) -> None:
    """Provider: refuse JOB_ID (a unique prefix of a job in review will do) with a reason."""
    jid = resolve(node, key, "review job", job_id)
    show(call(node, key, "POST", f"/api/compute/jobs/{jid}/reject", {"reason": reason}))


@compute.command("mock")
@node_option
@key_option
@click.argument("agreement_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="Where to write the mock (JSON).",
)
def mock(node: str, key: str, agreement_id: str, output: Path) -> None:
    """Fetch the provider's synthetic sample and analysis rule for AGREEMENT_ID (a unique
    prefix will do)."""
    agreement = resolve(node, key, "agreement", agreement_id)
    data = call(node, key, "GET", f"/api/compute/mock/{agreement}")
    output.write_text(json.dumps(data, indent=1))
    console.print(
        f"{len(data['rows'])} synthetic rows of table {data['table']} written to {output}"
    )


@compute.command("try")
@click.argument("mock_file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.argument("query")
def try_locally(mock_file: Path, query: str) -> None:
    """Run QUERY on MOCK_FILE (from `compute mock`) with the provider's guard, locally, for
    free.  Exits 1 when the provider would refuse the query."""
    from trustspace.core.compute import GuardError, check, parse_rule
    from trustspace.dataplane.compute import EngineError
    from trustspace.services.compute import preview

    try:
        data = json.loads(mock_file.read_text())
        rule = parse_rule(data["rule"])
    except (ValueError, KeyError, TypeError, GuardError) as exc:
        fail(f"{mock_file} is not a mock from `compute mock`: {exc}", USAGE)
    try:
        plan = check(rule, query)
    except GuardError as exc:
        fail(f"the provider would refuse this query: {exc}", REFUSED)
    mocks = {data["table"]: data, **data.get("joined", {})}
    with tempfile.TemporaryDirectory() as tmp:
        tables: dict[str, tuple[Path, str]] = {}
        for table, mock_table in mocks.items():
            path = Path(tmp) / f"{table}.csv"
            with path.open("w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=mock_table["columns"])
                w.writeheader()
                w.writerows(mock_table["rows"])
            tables[table] = (path, ".csv")
        try:
            result = preview(plan, tables)
        except EngineError as exc:
            fail(exc.reason, REFUSED)
    _show({"id": "(mock)", "state": "accepted on mock data", "reason": "", "result": result})
