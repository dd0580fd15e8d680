"""``trustspace compute``: submit queries that run at the provider, follow them, review them,
and try them on mock data first."""

from __future__ import annotations

import csv
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
from rich.table import Table

from trustspace.cli.common import call, console, fail, key_option, node_option, show
from trustspace.core.compute.release import compute_note


def _show(job: dict[str, Any]) -> None:
    console.print(f"job {job['id']}: [bold]{job['state']}[/bold] {job.get('reason') or ''}")
    result = job.get("result")
    if result:
        table = Table(*result["columns"])
        for row in result["rows"]:
            table.add_row(*(str(v) for v in row))
        console.print(table)
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
) -> None:
    """Run QUERY under AGREEMENT_ID at the provider."""
    body = {
        "agreementId": agreement_id,
        "query": query,
        **({"purpose": purpose} if purpose else {}),
        **({"key": submission_key} if submission_key else {}),
    }
    job = call(node, key, "POST", "/api/compute/jobs", body)
    while wait and job["state"] in ("SUBMITTED", "QUEUED", "RUNNING"):
        time.sleep(0.3)
        job = call(node, key, "GET", f"/api/compute/jobs/{job['id']}")
    _show(job)
    if job["state"] in ("REFUSED", "REJECTED", "FAILED"):
        sys.exit(1)


@compute.command("status")
@node_option
@key_option
@click.argument("job_id")
def status(node: str, key: str, job_id: str) -> None:
    """Show a job and, once released, its result."""
    _show(call(node, key, "GET", f"/api/compute/jobs/{job_id}"))


@compute.command("jobs")
@node_option
@key_option
@click.option(
    "--agreement",
    help="Only this agreement's jobs, first brought up to date from its provider (which also"
    " finds jobs this node lost track of).",
)
def jobs(node: str, key: str, agreement: str | None) -> None:
    """This node's compute jobs as consumer, newest first."""
    path = "/api/compute/jobs" + (f"?agreement={quote(agreement, safe='')}" if agreement else "")
    table = Table("job", "key", "state", "query", "reason")
    for job in call(node, key, "GET", path):
        table.add_row(job["id"], job["key"] or "", job["state"], job["query"], job["reason"] or "")
    console.print(table)


@compute.command("review")
@node_option
@key_option
def review(node: str, key: str) -> None:
    """Provider: jobs waiting for a decision."""
    table = Table("job", "consumer", "dataset", "query")
    for job in call(node, key, "GET", "/api/compute/review"):
        table.add_row(job["id"], job["consumerId"], job["datasetId"], job["query"])
    console.print(table)


@compute.command("approve")
@node_option
@key_option
@click.argument("job_id")
def approve(node: str, key: str, job_id: str) -> None:
    """Provider: let JOB_ID run."""
    show(call(node, key, "POST", f"/api/compute/jobs/{job_id}/approve", {}))


@compute.command("reject")
@node_option
@key_option
@click.argument("job_id")
@click.option("--reason", required=True)
def reject(node: str, key: str, job_id: str, reason: str) -> None:
    """Provider: refuse JOB_ID with a reason."""
    show(call(node, key, "POST", f"/api/compute/jobs/{job_id}/reject", {"reason": reason}))


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
    """Fetch the provider's synthetic sample and analysis rule for AGREEMENT_ID."""
    data = call(node, key, "GET", f"/api/compute/mock/{agreement_id}")
    output.write_text(json.dumps(data, indent=1))
    console.print(
        f"{len(data['rows'])} synthetic rows of table {data['table']} written to {output}"
    )


@compute.command("try")
@click.argument("mock_file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.argument("query")
def try_locally(mock_file: Path, query: str) -> None:
    """Run QUERY on a mock (from `compute mock`) with the provider's guard, locally, for free."""
    from trustspace.core.compute import GuardError, check, parse_rule
    from trustspace.dataplane.compute import EngineError
    from trustspace.services.compute import preview

    data = json.loads(mock_file.read_text())
    try:
        rule = parse_rule(data["rule"])
        plan = check(rule, query)
    except GuardError as exc:
        fail(f"the provider would refuse this query: {exc}")
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
            fail(exc.reason)
    _show({"id": "(mock)", "state": "accepted on mock data", "reason": "", "result": result})
