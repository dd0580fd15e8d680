"""``trustspace operator``, ``trustspace member`` and ``trustspace search``: running a space,
joining one, and finding data across it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from trustspace.cli.common import (
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
from trustspace.core.odrl.vocab import is_region
from trustspace.core.registry import ROLES, SECTORS

CLASSIFICATIONS = ("general", "important", "core")
REGION_HELP = "ISO 3166 code: a country (CN, US, DE, ...) or a subdivision (CN-BJ, CN-SH, ...)."


def _region(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not is_region(value):
        raise click.BadParameter(f"{value!r} is not an ISO 3166 code such as CN or CN-BJ")
    return value


def _roles(ctx: click.Context, param: click.Parameter, value: str) -> str:
    wrong = [r.strip() for r in value.split(",") if r.strip() and r.strip() not in ROLES]
    if wrong:
        raise click.BadParameter(f"{', '.join(wrong)}: the roles are {', '.join(ROLES)}")
    return value


@click.group()
def operator() -> None:
    """Review applications, manage members and keys, crawl the catalog (operator node)."""


@operator.command("applications")
@node_option
@key_option
@click.option("--status", type=click.Choice(["pending", "approved", "rejected"]),
              help="Only applications in this state.")  # fmt: skip
@json_option
def applications(node: str, key: str, status: str | None, as_json: bool) -> None:
    """List membership applications."""
    rows = call(
        node, key, "GET", "/api/operator/applications" + (f"?status={status}" if status else "")
    )

    def render(rows: list[dict[str, Any]]) -> None:
        t = table("id", "participant", "legal name", "registration", "region", "sector",
                  "status", "submitted", ids=("id", "participant"))  # fmt: skip
        for a in rows:
            t.add_row(a["id"], a["participantId"], a["legalName"], a["registrationNumber"],
                      a["region"], a["sector"], a["status"], iso(a.get("submittedAt")))  # fmt: skip
        print_table(t)

    records(rows, as_json, render)


@operator.command("approve")
@node_option
@key_option
@click.argument("application_id")
@json_option
def approve(node: str, key: str, application_id: str, as_json: bool) -> None:
    """Approve APPLICATION_ID (a unique prefix will do): the member gets its membership
    credential."""
    aid = resolve(node, key, "application", application_id)
    result = call(node, key, "POST", f"/api/operator/applications/{aid}/approve", {})
    show({k: result.get(k) for k in ("id", "participantId", "status")})


@operator.command("reject")
@node_option
@key_option
@click.argument("application_id")
@click.option("--reason", required=True, help="Why (the applicant sees it).")
@json_option
def reject(node: str, key: str, application_id: str, reason: str, as_json: bool) -> None:
    """Reject APPLICATION_ID (a unique prefix will do) with a reason."""
    aid = resolve(node, key, "application", application_id)
    result = call(node, key, "POST", f"/api/operator/applications/{aid}/reject",
                   {"reason": reason})  # fmt: skip
    show({k: result.get(k) for k in ("id", "participantId", "status", "reason")})


@operator.command("members")
@node_option
@key_option
@json_option
def members(node: str, key: str, as_json: bool) -> None:
    """List members and their status."""

    def render(rows: list[dict[str, Any]]) -> None:
        t = table("participant", "legal name", "region", "sector", "roles", "status", "reason",
                  "joined", ids=("participant",))  # fmt: skip
        for mm in rows:
            t.add_row(mm["participantId"], mm["legalName"], mm["region"], mm["sector"],
                      ", ".join(mm["roles"]), mm["status"], mm["reason"] or "",
                      iso(mm.get("joinedAt")))  # fmt: skip
        print_table(t)

    records(call(node, key, "GET", "/api/operator/members"), as_json, render)


def _status_command(action: str) -> None:
    @operator.command(action, help=f"{action.capitalize()} member PARTICIPANT_ID.")
    @node_option
    @key_option
    @click.argument("participant_id")
    @click.option("--reason", default="", help="Why (published in the status list).")
    @json_option
    def command(node: str, key: str, participant_id: str, reason: str, as_json: bool) -> None:
        show(call(node, key, "POST", f"/api/operator/members/{participant_id}/{action}",
                     {"reason": reason}))  # fmt: skip


for _action in ("suspend", "revoke", "reinstate"):
    _status_command(_action)


@operator.command("rotate-key")
@node_option
@key_option
@json_option
def rotate_key(node: str, key: str, as_json: bool) -> None:
    """Start signing with a new operator key; the old ones stay published."""
    show(call(node, key, "POST", "/api/operator/keys/rotate", {}))


@operator.command("crawl")
@node_option
@key_option
@json_option
def crawl(node: str, key: str, as_json: bool) -> None:
    """Crawl every member's catalog (and linked spaces) now."""
    show(call(node, key, "POST", "/api/operator/crawl", {}))


@click.group()
def member() -> None:
    """Apply to an operator, show this node's memberships, rotate its key."""


@member.command("apply")
@node_option
@key_option
@click.option("--operator", "operator_id", required=True, help="Operator id (from 'operators').")
@click.option("--legal-name", required=True, help="The organisation's registered name.")
@click.option("--registration-number", required=True, help="E.g. a unified social credit code.")
@click.option("--region", required=True, callback=_region, help=REGION_HELP)
@click.option("--sector", required=True, type=click.Choice(SECTORS), help="The member's sector.")
@click.option("--contact", required=True, help="Who the operator talks to.")
@click.option("--roles", default="provider,consumer", show_default=True, callback=_roles,
              help=f"Comma-separated roles asked for, of: {', '.join(ROLES)}.")  # fmt: skip
@json_option
def apply(node: str, key: str, operator_id: str, legal_name: str, registration_number: str,
          region: str, sector: str, contact: str, roles: str, as_json: bool) -> None:  # fmt: skip
    """Apply for membership (signed with this node's key).  Exits 1 when the operator rejects
    the application at once."""
    body = {"operator": operator_id, "legalName": legal_name,
            "registrationNumber": registration_number, "region": region, "sector": sector,
            "contact": contact, "roles": [r.strip() for r in roles.split(",") if r.strip()]}  # fmt: skip
    answer = call(node, key, "POST", "/api/membership/apply", body)
    show(answer)
    if isinstance(answer, dict) and answer.get("status") == "rejected":
        refused(f"application {answer.get('id')} rejected: {answer.get('reason') or ''}")


@member.command("status")
@node_option
@key_option
@json_option
def status(node: str, key: str, as_json: bool) -> None:
    """This node's credentials and pending applications.  Exits 1 when an application was
    rejected and that operator has issued no credential."""
    state: dict[str, Any] = call(node, key, "GET", "/api/membership")

    def render(state: dict[str, Any]) -> None:
        for c in state["credentials"]:
            console.print(f"member of [bold]{c['operator']}[/bold] until {iso(c['expires'])}: "
                          f"{c['claims']['region']}, {c['claims']['sector']}, "
                          f"{', '.join(c['claims']['roles'])}", highlight=False)  # fmt: skip
        for op, app in state["applications"].items():
            if app.get("status") != "approved":
                console.print(f"application to {op}: {app['status']} {app.get('reason') or ''}",
                              highlight=False)  # fmt: skip

    records(state, as_json, render)
    held = {c["operator"] for c in state["credentials"]}
    for op, app in state["applications"].items():
        if app.get("status") == "rejected" and op not in held:
            refused(f"the application to {op} was rejected: {app.get('reason') or ''}")


@member.command("rotate-key")
@node_option
@key_option
@json_option
def member_rotate_key(node: str, key: str, as_json: bool) -> None:
    """Move this node to a new key, with new credentials from every operator."""
    show(call(node, key, "POST", "/api/membership/rotate-key", {}))


@click.command()
@node_option
@key_option
@click.argument("query", required=False, default="")
@click.option("--sector", type=click.Choice(SECTORS), help="Only providers of this sector.")
@click.option("--region", callback=_region,
              help="Only providers in this region (a country includes its subdivisions). "
              + REGION_HELP)  # fmt: skip
@click.option("--format", "fmt", help="Only datasets with this distribution format.")
@click.option("--license", help="Only datasets under this license.")
@click.option("--classification", type=click.Choice(CLASSIFICATIONS),
              help="Only datasets of this data classification.")  # fmt: skip
@click.option("--max-price", help="Only datasets priced at most this amount.")
@click.option("--operator", "operator_id", help="Which operator's catalog (default: the first).")
@json_option
def search(node: str, key: str, query: str, sector: str | None, region: str | None,
           fmt: str | None, license: str | None, classification: str | None,
           max_price: str | None, operator_id: str | None, as_json: bool) -> None:  # fmt: skip
    """Search the federated catalog of the space for QUERY (words of titles, descriptions
    and keywords; none: everything)."""
    body = {"q": query, "sector": sector, "region": region, "format": fmt, "license": license,
            "classification": classification, "maxPrice": max_price, "operator": operator_id}  # fmt: skip
    found = call(node, key, "POST", "/api/search", {k: v for k, v in body.items() if v})

    def render(found: dict[str, Any]) -> None:
        t = table("title", "provider", "sector", "region", "price", "dataset", "connector",
                  ids=("dataset", "connector"))  # fmt: skip
        for r in found["results"]:
            price = f"{r['price']['amount']} {r['price']['currency']}" if r["price"] else ""
            t.add_row(r["title"], r["providerId"], r["sector"], r["region"], price,
                      r["datasetId"], r["dspUrl"])  # fmt: skip
        print_table(t)

    records(found, as_json, render)


@member.command("assess")
@node_option
@key_option
@click.argument("listing_id")
@click.option(
    "--compliance",
    "compliance_file",
    required=True,
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help='The compliance report (JSON; docs/compliance.md, "The assessor\'s reports").',
)
@click.option(
    "--quality",
    "quality_file",
    required=True,
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="The quality report (JSON; same document).",
)
@click.option("--operator", "operator_id", help="Operator id (default: the first trusted).")
@json_option
def assess(node: str, key: str, listing_id: str, compliance_file: Path, quality_file: Path,
           operator_id: str | None, as_json: bool) -> None:  # fmt: skip
    """As an assessor member: attach compliance and quality reports (JSON) to LISTING_ID
    (the full id: the listing is the operator's)."""
    body: dict[str, Any] = {}
    for field, source in (("complianceReport", compliance_file), ("qualityReport", quality_file)):
        try:
            body[field] = json.loads(source.read_text())
        except ValueError as exc:
            fail(f"{source} is not valid JSON: {exc}", USAGE)
    request = {"method": "POST", "path": f"/operator/listings/{listing_id}/assessment",
               "body": body}  # fmt: skip
    if operator_id:
        request["operator"] = operator_id
    show(call(node, key, "POST", "/api/operator-call", request))


@operator.command("listings")
@node_option
@key_option
@click.option(
    "--status", type=click.Choice(["submitted", "assessed", "listed", "rejected", "delisted"]),
    help="Only listings in this state.",
)  # fmt: skip
@json_option
def listings(node: str, key: str, status: str | None, as_json: bool) -> None:
    """List product listings and their review state."""
    rows = call(
        node, key, "GET", "/api/operator/listings" + (f"?status={status}" if status else "")
    )

    def render(rows: list[dict[str, Any]]) -> None:
        t = table("id", "provider", "dataset", "title", "status", "reasons", "updated",
                  ids=("id", "dataset"))  # fmt: skip
        for r in rows:
            t.add_row(r["id"], r["providerId"], r["datasetId"], r["submission"]["title"],
                      r["status"], "; ".join(r["reasons"]), iso(r.get("updatedAt")))  # fmt: skip
        print_table(t)

    records(rows, as_json, render)


def _listing_command(action: str, needs_reason: bool) -> None:
    @operator.command(f"{action}-listing", help=f"{action.capitalize()} listing LISTING_ID"
                      " (a unique prefix will do).")  # fmt: skip
    @node_option
    @key_option
    @click.argument("listing_id")
    @click.option("--reason", required=needs_reason, default="",
                  help="Why (the provider sees it).")  # fmt: skip
    @json_option
    def command(node: str, key: str, listing_id: str, reason: str, as_json: bool) -> None:
        lid = resolve(node, key, "listing", listing_id)
        show(call(node, key, "POST", f"/api/operator/listings/{lid}/{action}",
                     {"reason": reason} if reason else {}))  # fmt: skip


_listing_command("approve", False)
_listing_command("reject", True)
_listing_command("delist", True)
