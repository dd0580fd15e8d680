"""Transfers and their data: ``transfers``, ``transfer ...``, ``download``, ``call``."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from trustspace.cli.client import ApiError
from trustspace.cli.common import call, client, console, fail, key_option, node_option, show


@click.command()
@node_option
@key_option
def transfers(node: str, key: str) -> None:
    """List this node's transfer processes."""
    table = Table("id", "role", "state", "counterparty", "agreement", "format")
    for t in call(node, key, "GET", "/api/transfers"):
        table.add_row(
            t["id"], t["role"], t["state"], t["counterpartyId"], t["agreementId"], t["format"]
        )
    console.print(table)


@click.group()
def transfer() -> None:
    """Start and steer transfer processes."""


@transfer.command("start")
@node_option
@key_option
@click.argument("agreement_id")
@click.option("--format", "fmt", default="HttpData-PULL", show_default=True)
@click.option(
    "--purpose",
    help="The purpose of this transfer (e.g. ai-training); usage policies check it.",
)
@click.option("--wait/--no-wait", default=True, help="Wait until the provider started it.")
def transfer_start(
    node: str, key: str, agreement_id: str, fmt: str, purpose: str | None, wait: bool
) -> None:
    """Request a transfer under AGREEMENT_ID."""
    body = {"agreementId": agreement_id, "format": fmt}
    if purpose:
        body["purpose"] = purpose
    with client(node, key) as c:
        try:
            tp = c.call("POST", "/api/transfers", body)
            if wait:
                tp = c.wait(f"/api/transfers/{tp['id']}", ["STARTED", "COMPLETED"])
        except ApiError as exc:
            fail(str(exc))
    show(tp)


for _action in ("suspend", "resume", "complete", "terminate"):

    def _make(action: str) -> None:
        @transfer.command(action, help=f"{action.capitalize()} transfer TRANSFER_ID.")
        @node_option
        @key_option
        @click.argument("transfer_id")
        @click.option("--reason", help="Reason sent to the counterparty.")
        def cmd(node: str, key: str, transfer_id: str, reason: str | None) -> None:
            show(
                call(
                    node, key, "POST", f"/api/transfers/{transfer_id}/{action}", {"reason": reason}
                )
            )

    _make(_action)


@click.command()
@node_option
@key_option
@click.argument("transfer_id")
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path),
    required=True,
    help="Where to write the data: a file, or a folder for a version of several files.",
)
@click.option(
    "--sha256", "expected",
    help="Expected SHA-256 (the version hash for several files); the download fails if it differs.",
)  # fmt: skip
def download(node: str, key: str, transfer_id: str, out: Path, expected: str | None) -> None:
    """Download the data of a STARTED pull transfer (resumes a partial download)."""
    from trustspace.cli.progress import download_any
    from trustspace.dataplane.fileset import VersionResult

    tp = call(node, key, "GET", f"/api/transfers/{transfer_id}")
    if tp.get("state") != "STARTED" or not tp.get("endpoint"):
        fail(
            f"transfer {transfer_id} is {tp.get('state')}; it has to be STARTED with a data address"
        )
    try:
        result = download_any(console, tp["endpoint"], tp["authorization"], out, expected)
    except Exception as exc:  # a download error is reported, not raised at the user
        fail(f"download failed: {exc}")
        return
    if isinstance(result, VersionResult):
        console.print(f"{len(result.files)} files, {result.size} bytes -> {out}/"
                      f"  version {result.version_hash}")  # fmt: skip
        got = result.version_hash
    else:
        console.print(f"{result.size} bytes -> {out}  sha256 {result.sha256}")
        got = result.sha256
    if expected and expected != got:
        fail(f"checksum mismatch: expected {expected}")


@click.command("call")
@node_option
@key_option
@click.argument("transfer_id")
@click.argument("path", default="")
@click.option("--data", help="Send this body with POST (for APIs that take POST).")
@click.option("--content-type", default="application/json", show_default=True)
def call_api(
    node: str, key: str, transfer_id: str, path: str, data: str | None, content_type: str
) -> None:
    """Call an HTTP API product under a STARTED transfer: GET PATH (with its ?query) below the
    API's base, or POST it with --data, and print the answer."""
    import httpx

    tp = call(node, key, "GET", f"/api/transfers/{transfer_id}")
    if tp.get("state") != "STARTED" or not tp.get("endpoint"):
        fail(f"transfer {transfer_id} is {tp.get('state')}; it has to be STARTED")
    url = tp["endpoint"].rstrip("/") + ("/" + path.lstrip("/") if path else "")
    try:
        headers = {"Authorization": f"Bearer {tp['authorization']}"}
        if data is None:
            response = httpx.get(url, headers=headers, timeout=60)
        else:
            headers["Content-Type"] = content_type
            response = httpx.post(url, headers=headers, content=data.encode(), timeout=60)
    except httpx.HTTPError as exc:
        fail(f"cannot reach the provider: {exc}")
        return
    if response.status_code >= 400:
        try:
            reason = response.json().get("error", response.text)
        except ValueError:
            reason = response.text[:300]
        fail(f"HTTP {response.status_code}: {reason}")
    click.echo(response.text)
