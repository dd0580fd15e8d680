"""``trustspace policy``: evaluate ODRL policies offline, read a node's decision log, record
payments that ``payAmount`` constraints read."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from trustspace.cli.common import (
    USAGE,
    call,
    iso,
    json_option,
    key_option,
    node_option,
    print_table,
    records,
    resolve,
    show,
    table,
)


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
@json_option
def policy_eval(
    policy_file: Path,
    request_file: Path,
    sotw_file: Path | None,
    assignee: str | None,
    target: str | None,
    assigner: str | None,
    as_json: bool,
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
        sys.exit(USAGE)
    if note:
        click.echo(f"note: {note}", err=True)
    show(report)
    sys.exit(0 if report["decision"] == "permit" else 1)


@policy.command("vocabulary")
@json_option
def policy_vocabulary(as_json: bool) -> None:
    """Print the vocabulary policies on this node may use."""
    from trustspace.core.odrl.vocab import describe

    show(describe())


@policy.command("decisions")
@node_option
@key_option
@click.option("--agreement", help="Only decisions about this agreement (a unique prefix will do).")
@click.option("--process", help="Only decisions about this negotiation or transfer (its full id).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000),
              help="At most this many decisions.")  # fmt: skip
@json_option
def policy_decisions(
    node: str, key: str, agreement: str | None, process: str | None, limit: int, as_json: bool
) -> None:
    """List the node's policy decisions, newest first, with their reasons."""
    if agreement:
        agreement = resolve(node, key, "agreement", agreement)
    query = f"?limit={limit}"
    query += f"&agreement={agreement}" if agreement else ""
    query += f"&process={process}" if process else ""
    rows = call(node, key, "GET", "/api/decisions" + query)

    def render(rows: list[dict[str, Any]]) -> None:
        t = table("at", "point", "principal", "decision", "reasons", ids=("at",))
        for row in rows:
            t.add_row(iso(row["at"]), row["point"], row["principal"], row["decision"],
                      "\n".join(row["reasons"]))  # fmt: skip
        print_table(t)

    records(rows, as_json, render)


@policy.command("pay")
@node_option
@key_option
@click.argument("agreement_id")
@click.argument("amount")
@click.argument("unit")
@click.option("--reference", help="Payment reference (e.g. a bank transfer id).")
@json_option
def policy_pay(
    node: str, key: str, agreement_id: str, amount: str, unit: str, reference: str | None,
    as_json: bool,
) -> None:  # fmt: skip
    """Record a payment of AMOUNT in UNIT (a currency, e.g. CNY) received under AGREEMENT_ID
    (a unique prefix will do; read by payAmount constraints)."""
    body = {"amount": amount, "unit": unit, "reference": reference}
    aid = resolve(node, key, "agreement", agreement_id)
    show(call(node, key, "POST", f"/api/agreements/{aid}/payments", body))
