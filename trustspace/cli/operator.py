"""``trustspace operator``, ``trustspace member`` and ``trustspace search``: running a space,
joining one, and finding data across it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from trustspace.cli.common import call, console, key_option, node_option, show


@click.group()
def operator() -> None:
    """Review applications, manage members and keys, crawl the catalog (operator node)."""


@operator.command("applications")
@node_option
@key_option
@click.option("--status", type=click.Choice(["pending", "approved", "rejected"]))
def applications(node: str, key: str, status: str | None) -> None:
    """List membership applications."""
    rows = call(
        node, key, "GET", "/api/operator/applications" + (f"?status={status}" if status else "")
    )
    table = Table("id", "participant", "legal name", "registration", "region", "sector", "status")
    for a in rows:
        table.add_row(a["id"], a["participantId"], a["legalName"], a["registrationNumber"],
                      a["region"], a["sector"], a["status"])  # fmt: skip
    console.print(table)


@operator.command("approve")
@node_option
@key_option
@click.argument("application_id")
def approve(node: str, key: str, application_id: str) -> None:
    """Approve APPLICATION_ID: the member gets its membership credential."""
    result = call(node, key, "POST", f"/api/operator/applications/{application_id}/approve", {})
    show({k: result.get(k) for k in ("id", "participantId", "status")})


@operator.command("reject")
@node_option
@key_option
@click.argument("application_id")
@click.option("--reason", required=True, help="Why (the applicant sees it).")
def reject(node: str, key: str, application_id: str, reason: str) -> None:
    """Reject APPLICATION_ID with a reason."""
    result = call(node, key, "POST", f"/api/operator/applications/{application_id}/reject",
                   {"reason": reason})  # fmt: skip
    show({k: result.get(k) for k in ("id", "participantId", "status", "reason")})


@operator.command("members")
@node_option
@key_option
def members(node: str, key: str) -> None:
    """List members and their status."""
    table = Table("participant", "legal name", "region", "sector", "roles", "status", "reason")
    for mm in call(node, key, "GET", "/api/operator/members"):
        table.add_row(mm["participantId"], mm["legalName"], mm["region"], mm["sector"],
                      ", ".join(mm["roles"]), mm["status"], mm["reason"] or "")  # fmt: skip
    console.print(table)


def _status_command(action: str) -> None:
    @operator.command(action, help=f"{action.capitalize()} member PARTICIPANT_ID.")
    @node_option
    @key_option
    @click.argument("participant_id")
    @click.option("--reason", default="", help="Why (published in the status list).")
    def command(node: str, key: str, participant_id: str, reason: str) -> None:
        show(call(node, key, "POST", f"/api/operator/members/{participant_id}/{action}",
                     {"reason": reason}))  # fmt: skip


for _action in ("suspend", "revoke", "reinstate"):
    _status_command(_action)


@operator.command("rotate-key")
@node_option
@key_option
def rotate_key(node: str, key: str) -> None:
    """Start signing with a new operator key; the old ones stay published."""
    show(call(node, key, "POST", "/api/operator/keys/rotate", {}))


@operator.command("crawl")
@node_option
@key_option
def crawl(node: str, key: str) -> None:
    """Crawl every member's catalog (and linked spaces) now."""
    show(call(node, key, "POST", "/api/operator/crawl", {}))


@click.group()
def member() -> None:
    """Apply to an operator, show this node's memberships, rotate its key."""


@member.command("apply")
@node_option
@key_option
@click.option("--operator", "operator_id", required=True, help="Operator id (from 'operators').")
@click.option("--legal-name", required=True)
@click.option("--registration-number", required=True, help="E.g. a unified social credit code.")
@click.option("--region", required=True, help="ISO 3166 code, e.g. CN or CN-BJ.")
@click.option("--sector", required=True)
@click.option("--contact", required=True, help="Who the operator talks to.")
@click.option("--roles", default="provider,consumer", show_default=True)
def apply(node: str, key: str, operator_id: str, legal_name: str, registration_number: str,
          region: str, sector: str, contact: str, roles: str) -> None:  # fmt: skip
    """Apply for membership (signed with this node's key)."""
    body = {"operator": operator_id, "legalName": legal_name,
            "registrationNumber": registration_number, "region": region, "sector": sector,
            "contact": contact, "roles": [r.strip() for r in roles.split(",") if r.strip()]}  # fmt: skip
    show(call(node, key, "POST", "/api/membership/apply", body))


@member.command("status")
@node_option
@key_option
def status(node: str, key: str) -> None:
    """This node's credentials and pending applications."""
    state: dict[str, Any] = call(node, key, "GET", "/api/membership")
    for c in state["credentials"]:
        expires = datetime.fromtimestamp(c["expires"], UTC).strftime("%Y-%m-%d")
        console.print(f"member of [bold]{c['operator']}[/bold] until {expires}: "
                      f"{c['claims']['region']}, {c['claims']['sector']}, "
                      f"{', '.join(c['claims']['roles'])}")  # fmt: skip
    for op, app in state["applications"].items():
        if app.get("status") != "approved":
            console.print(f"application to {op}: {app['status']} {app.get('reason') or ''}")


@member.command("rotate-key")
@node_option
@key_option
def member_rotate_key(node: str, key: str) -> None:
    """Move this node to a new key, with new credentials from every operator."""
    show(call(node, key, "POST", "/api/membership/rotate-key", {}))


@click.command()
@node_option
@key_option
@click.argument("query", required=False, default="")
@click.option("--sector")
@click.option("--region")
@click.option("--format", "fmt")
@click.option("--license")
@click.option("--classification")
@click.option("--max-price")
@click.option("--operator", "operator_id", help="Which operator's catalog (default: the first).")
def search(node: str, key: str, query: str, sector: str | None, region: str | None,
           fmt: str | None, license: str | None, classification: str | None,
           max_price: str | None, operator_id: str | None) -> None:  # fmt: skip
    """Search the federated catalog of the space."""
    body = {"q": query, "sector": sector, "region": region, "format": fmt, "license": license,
            "classification": classification, "maxPrice": max_price, "operator": operator_id}  # fmt: skip
    found = call(node, key, "POST", "/api/search", {k: v for k, v in body.items() if v})
    table = Table("title", "provider", "sector", "region", "price", "dataset", "connector")
    for r in found["results"]:
        price = f"{r['price']['amount']} {r['price']['currency']}" if r["price"] else ""
        table.add_row(r["title"], r["providerId"], r["sector"], r["region"], price,
                      r["datasetId"], r["dspUrl"])  # fmt: skip
    console.print(table)


@member.command("assess")
@node_option
@key_option
@click.argument("listing_id")
@click.option(
    "--compliance",
    "compliance_file",
    required=True,
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
)
@click.option(
    "--quality",
    "quality_file",
    required=True,
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
)
@click.option("--operator", "operator_id")
def assess(node: str, key: str, listing_id: str, compliance_file: Path, quality_file: Path,
           operator_id: str | None) -> None:  # fmt: skip
    """As an assessor member: attach compliance and quality reports (JSON) to LISTING_ID."""
    body = {"complianceReport": json.loads(compliance_file.read_text()),
            "qualityReport": json.loads(quality_file.read_text())}  # fmt: skip
    request = {"method": "POST", "path": f"/operator/listings/{listing_id}/assessment",
               "body": body}  # fmt: skip
    if operator_id:
        request["operator"] = operator_id
    show(call(node, key, "POST", "/api/operator-call", request))


@operator.command("listings")
@node_option
@key_option
@click.option(
    "--status", type=click.Choice(["submitted", "assessed", "listed", "rejected", "delisted"])
)
def listings(node: str, key: str, status: str | None) -> None:
    """List product listings and their review state."""
    rows = call(
        node, key, "GET", "/api/operator/listings" + (f"?status={status}" if status else "")
    )
    table = Table("id", "provider", "dataset", "title", "status", "reasons")
    for r in rows:
        table.add_row(r["id"], r["providerId"], r["datasetId"], r["submission"]["title"],
                      r["status"], "; ".join(r["reasons"]))  # fmt: skip
    console.print(table)


def _listing_command(action: str, needs_reason: bool) -> None:
    @operator.command(f"{action}-listing", help=f"{action.capitalize()} listing LISTING_ID.")
    @node_option
    @key_option
    @click.argument("listing_id")
    @click.option("--reason", required=needs_reason, default="")
    def command(node: str, key: str, listing_id: str, reason: str) -> None:
        show(call(node, key, "POST", f"/api/operator/listings/{listing_id}/{action}",
                     {"reason": reason} if reason else {}))  # fmt: skip


_listing_command("approve", False)
_listing_command("reject", True)
_listing_command("delist", True)
