"""Contract negotiation: ``negotiate``, ``negotiations``, ``terminate``."""

from __future__ import annotations

from typing import Any

import click

from trustspace.cli.client import ApiError
from trustspace.cli.common import (
    api_failed,
    call,
    client,
    errors,
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


@click.command()
@node_option
@key_option
@click.argument("address")
@click.argument("dataset_id")
@click.option("--offer", "offer_id", help="Offer id (default: the dataset's first offer).")
@click.option("--provider-id", help="The provider's participant id (default: from the trust list).")
@click.option("--wait/--no-wait", default=True, help="Follow the negotiation until it ends.")
@json_option
def negotiate(
    node: str,
    key: str,
    address: str,
    dataset_id: str,
    offer_id: str | None,
    provider_id: str | None,
    wait: bool,
    as_json: bool,
) -> None:
    """Negotiate a contract for DATASET_ID with the provider at ADDRESS (its DSP base URL).

    Prints the negotiation as JSON; its progress goes to stderr.  Exits 1 when it ends
    TERMINATED, with the reason."""
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
            errors.print(f"negotiation {neg['id']}: {neg['state']}", highlight=False)
            if wait:
                neg = c.wait(
                    f"/api/negotiations/{neg['id']}",
                    ["FINALIZED"],
                    on_change=lambda p: errors.print(f"  -> {p['state']}", highlight=False),
                )
        except ApiError as exc:
            api_failed(exc)
    show(neg)
    if neg["state"] == "TERMINATED":
        refused(f"negotiation {neg['id']} ended TERMINATED: {neg.get('error')}")


def _table(rows: list[dict[str, Any]]) -> None:
    t = table("id", "role", "state", "counterparty", "dataset", "agreement", "updated",
              ids=("id", "dataset", "agreement"))  # fmt: skip
    for n in rows:
        t.add_row(n["id"], n["role"], n["state"], n["counterpartyId"], n["datasetId"],
                  n.get("agreementId") or "", iso(n.get("updatedAt")))  # fmt: skip
    print_table(t)


@click.command()
@node_option
@key_option
@json_option
def negotiations(node: str, key: str, as_json: bool) -> None:
    """List this node's negotiations."""
    records(call(node, key, "GET", "/api/negotiations"), as_json, _table)


@click.command()
@node_option
@key_option
@click.argument("negotiation_id")
@click.option("--reason", help="Reason sent to the counterparty.")
@json_option
def terminate(node: str, key: str, negotiation_id: str, reason: str | None, as_json: bool) -> None:
    """Terminate negotiation NEGOTIATION_ID (a unique prefix of its id will do)."""
    pid = resolve(node, key, "negotiation", negotiation_id)
    show(call(node, key, "POST", f"/api/negotiations/{pid}/terminate", {"reason": reason}))
