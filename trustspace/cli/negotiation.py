"""Contract negotiation: ``negotiate``, ``negotiations``, ``terminate``."""

from __future__ import annotations

import click
from rich.table import Table

from trustspace.cli.client import ApiError
from trustspace.cli.common import call, client, console, fail, key_option, node_option, show


@click.command()
@node_option
@key_option
@click.argument("address")
@click.argument("dataset_id")
@click.option("--offer", "offer_id", help="Offer id (default: the dataset's first offer).")
@click.option("--provider-id", help="The provider's participant id (default: from the trust list).")
@click.option("--wait/--no-wait", default=True, help="Follow the negotiation until it ends.")
def negotiate(
    node: str,
    key: str,
    address: str,
    dataset_id: str,
    offer_id: str | None,
    provider_id: str | None,
    wait: bool,
) -> None:
    """Negotiate a contract for DATASET_ID with the provider at ADDRESS."""
    with client(node, key) as c:
        try:
            neg = c.call(
                "POST",
                "/api/negotiations",
                {
                    "address": address,
                    "datasetId": dataset_id,
                    "offerId": offer_id,
                    "providerId": provider_id,
                },
            )
            console.print(f"negotiation {neg['id']}: {neg['state']}")
            if wait:
                neg = c.wait(
                    f"/api/negotiations/{neg['id']}",
                    ["FINALIZED"],
                    on_change=lambda p: console.print(f"  -> {p['state']}"),
                )
        except ApiError as exc:
            fail(str(exc))
    show(neg)
    if neg["state"] == "TERMINATED":
        fail(f"negotiation terminated: {neg.get('error')}")


@click.command()
@node_option
@key_option
def negotiations(node: str, key: str) -> None:
    """List this node's negotiations."""
    table = Table("id", "role", "state", "counterparty", "dataset", "agreement")
    for n in call(node, key, "GET", "/api/negotiations"):
        table.add_row(
            n["id"],
            n["role"],
            n["state"],
            n["counterpartyId"],
            n["datasetId"],
            n.get("agreementId") or "",
        )
    console.print(table)


@click.command()
@node_option
@key_option
@click.argument("negotiation_id")
@click.option("--reason", help="Reason sent to the counterparty.")
def terminate(node: str, key: str, negotiation_id: str, reason: str | None) -> None:
    """Terminate negotiation NEGOTIATION_ID."""
    show(
        call(node, key, "POST", f"/api/negotiations/{negotiation_id}/terminate", {"reason": reason})
    )
