"""``trustspace policy``: evaluate ODRL policies offline, read a node's decision log, record
payments that ``payAmount`` constraints read."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from trustspace.cli.common import call, console, key_option, node_option, show


@click.group()
def policy() -> None:
    """Evaluate ODRL policies and read the decision log."""


@policy.command("eval")
@click.option("--policy", "policy_file", type=click.Path(path_type=Path), required=True,
              help="The policy: DSP compact JSON-LD or Turtle.")  # fmt: skip
@click.option("--request", "request_file", type=click.Path(path_type=Path), required=True,
              help="The request: who asks to do what with which asset (JSON or Turtle).")  # fmt: skip
@click.option("--sotw", "sotw_file", type=click.Path(path_type=Path),
              help="The state of the world (JSON or Turtle); default: just the current time.")  # fmt: skip
@click.option("--assignee", help="An offer's consumer (default: the request's assignee).")
@click.option("--target", help="An offer's dataset (default: the request's target).")
@click.option("--assigner", help="An offer's provider (default: 'provider').")
def policy_eval(
    policy_file: Path,
    request_file: Path,
    sotw_file: Path | None,
    assignee: str | None,
    target: str | None,
    assigner: str | None,
) -> None:
    """Print the compliance report; exit 0 for permit, 1 for deny, 2 for invalid input.

    The policy may be an agreement, a set, or an offer as `publish --policy` takes it: an offer
    is evaluated as the agreement it would become, with --assignee, --target and --assigner
    (or the request's assignee and target) as its parties.
    """
    from trustspace.cli.policyfiles import Parties, evaluate_files
    from trustspace.core.odrl import PolicyError

    try:
        report, note = evaluate_files(
            policy_file, request_file, sotw_file, Parties(assigner, assignee, target)
        )
    except PolicyError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if note:
        click.echo(f"note: {note}", err=True)
    show(report)
    sys.exit(0 if report["decision"] == "permit" else 1)


@policy.command("vocabulary")
def policy_vocabulary() -> None:
    """Print the vocabulary policies on this node may use."""
    from trustspace.core.odrl.vocab import describe

    show(describe())


def _ago(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


@policy.command("decisions")
@node_option
@key_option
@click.option("--agreement", help="Only decisions about this agreement.")
@click.option("--process", help="Only decisions about this negotiation or transfer.")
@click.option("--limit", default=20, show_default=True)
def policy_decisions(
    node: str, key: str, agreement: str | None, process: str | None, limit: int
) -> None:
    """List the node's policy decisions, newest first, with their reasons."""
    query = f"?limit={limit}"
    query += f"&agreement={agreement}" if agreement else ""
    query += f"&process={process}" if process else ""
    rows = call(node, key, "GET", "/api/decisions" + query)
    table = Table("at", "point", "principal", "decision", "reasons")
    for row in rows:
        table.add_row(
            _ago(row["at"]), row["point"], row["principal"], row["decision"],
            "\n".join(row["reasons"]),
        )  # fmt: skip
    console.print(table)


@policy.command("pay")
@node_option
@key_option
@click.argument("agreement_id")
@click.argument("amount")
@click.argument("unit")
@click.option("--reference", help="Payment reference (e.g. a bank transfer id).")
def policy_pay(
    node: str, key: str, agreement_id: str, amount: str, unit: str, reference: str | None
) -> None:
    """Record a payment of AMOUNT in UNIT received under AGREEMENT_ID (read by payAmount)."""
    body = {"amount": amount, "unit": unit, "reference": reference}
    show(call(node, key, "POST", f"/api/agreements/{agreement_id}/payments", body))
