"""Transfers and their data: ``transfers``, ``transfer ...``, ``download``, ``call``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from trustspace.cli.client import ApiError
from trustspace.cli.common import (
    ERROR,
    REFUSED,
    USAGE,
    api_failed,
    call,
    client,
    console,
    errors,
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


def _table(rows: list[dict[str, Any]]) -> None:
    t = table("id", "role", "state", "counterparty", "agreement", "format", "updated",
              ids=("id", "agreement"))  # fmt: skip
    for tp in rows:
        t.add_row(tp["id"], tp["role"], tp["state"], tp["counterpartyId"], tp["agreementId"],
                  tp["format"], iso(tp.get("updatedAt")))  # fmt: skip
    print_table(t)


@click.command()
@node_option
@key_option
@json_option
def transfers(node: str, key: str, as_json: bool) -> None:
    """List this node's transfer processes."""
    records(call(node, key, "GET", "/api/transfers"), as_json, _table)


@click.group()
def transfer() -> None:
    """Start and steer transfer processes."""


@transfer.command("start")
@node_option
@key_option
@click.argument("agreement_id")
@click.option(
    "--format", "fmt", default="HttpData-PULL", show_default=True,
    help="The transfer format: one of the dataset's distributions in the catalog.",
)  # fmt: skip
@click.option(
    "--purpose",
    help="The purpose of this transfer (e.g. ai-training); usage policies check it.",
)
@click.option("--wait/--no-wait", default=True, help="Wait until the provider started it.")
@json_option
def transfer_start(
    node: str, key: str, agreement_id: str, fmt: str, purpose: str | None, wait: bool,
    as_json: bool,
) -> None:  # fmt: skip
    """Request a transfer under AGREEMENT_ID (a unique prefix will do).

    Prints the transfer as JSON.  Exits 1 when it ends TERMINATED (a purpose the policy
    refuses, say), with the reason on stderr."""
    body = {"agreementId": resolve(node, key, "agreement", agreement_id), "format": fmt}
    if purpose:
        body["purpose"] = purpose
    with client(node, key) as c:
        try:
            tp = c.call("POST", "/api/transfers", body)
            if wait:
                tp = c.wait(f"/api/transfers/{tp['id']}", ["STARTED", "COMPLETED"])
        except ApiError as exc:
            api_failed(exc)
    show(tp)
    if tp["state"] == "TERMINATED":
        refused(f"transfer {tp['id']} ended TERMINATED: {tp.get('error')}")


for _action in ("suspend", "resume", "complete", "terminate"):

    def _make(action: str) -> None:
        @transfer.command(
            action,
            help=f"{action.capitalize()} transfer TRANSFER_ID (a unique prefix will do).",
        )
        @node_option
        @key_option
        @click.argument("transfer_id")
        @click.option("--reason", help="Reason sent to the counterparty.")
        @json_option
        def cmd(node: str, key: str, transfer_id: str, reason: str | None, as_json: bool) -> None:
            pid = resolve(node, key, "transfer", transfer_id)
            show(call(node, key, "POST", f"/api/transfers/{pid}/{action}", {"reason": reason}))

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
@json_option
def download(
    node: str, key: str, transfer_id: str, out: Path, expected: str | None, as_json: bool
) -> None:
    """Download the data of TRANSFER_ID, a STARTED pull transfer (a unique prefix of its id
    will do; resumes a partial download).  The progress goes to stderr.  Exits 1 when the
    provider refuses it or the data is not the expected data."""
    from trustspace.cli.progress import download_any
    from trustspace.dataplane.client import ChecksumMismatch, DownloadError
    from trustspace.dataplane.fileset import VersionResult

    pid = resolve(node, key, "transfer", transfer_id)
    tp = call(node, key, "GET", f"/api/transfers/{pid}")
    if tp.get("state") != "STARTED" or not tp.get("endpoint"):
        fail(f"transfer {pid} is {tp.get('state')}; it has to be STARTED with a data address",
             REFUSED)  # fmt: skip
    try:
        result = download_any(errors, tp["endpoint"], tp["authorization"], out, expected)
    except ChecksumMismatch as exc:
        fail(f"download failed: {exc}", REFUSED)
    except DownloadError as exc:
        fail(f"download failed: {exc}", REFUSED if 400 <= exc.status < 500 else ERROR)
    except ValueError as exc:  # the destination does not fit what the transfer holds
        fail(f"download failed: {exc}", USAGE)
    except Exception as exc:  # a download error is reported, not raised at the user
        fail(f"download failed: {exc}")
    if isinstance(result, VersionResult):
        got = result.version_hash
        summary: dict[str, Any] = {"transfer": pid, "path": str(out), "files": len(result.files),
                                   "size": result.size, "version": got}  # fmt: skip
        note = f"{len(result.files)} files, {result.size} bytes -> {out}/  version {got}"
    else:
        got = result.sha256
        summary = {"transfer": pid, "path": str(out), "size": result.size, "sha256": got}
        note = f"{result.size} bytes -> {out}  sha256 {got}"
    if as_json:
        show(summary)
    else:
        console.print(note, highlight=False)
    if expected and expected != got:
        fail(f"checksum mismatch: expected {expected}", REFUSED)


@click.command("call")
@node_option
@key_option
@click.argument("transfer_id")
@click.argument("path", default="")
@click.option("--data", help="Send this body with POST (for APIs that take POST).")
@click.option("--content-type", default="application/json", show_default=True,
              help="Content type of the --data body.")  # fmt: skip
def call_api(
    node: str, key: str, transfer_id: str, path: str, data: str | None, content_type: str
) -> None:
    """Call an HTTP API product under TRANSFER_ID, a STARTED transfer (a unique prefix will
    do): GET PATH (with its ?query) below the API's base, or POST it with --data, and print
    the answer.  Exits 1 when the API answers 4xx, 3 when it fails or cannot be reached."""
    import httpx

    pid = resolve(node, key, "transfer", transfer_id)
    tp = call(node, key, "GET", f"/api/transfers/{pid}")
    if tp.get("state") != "STARTED" or not tp.get("endpoint"):
        fail(f"transfer {pid} is {tp.get('state')}; it has to be STARTED", REFUSED)
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
    if response.status_code >= 400:
        try:
            reason = response.json().get("error", response.text)
        except ValueError:
            reason = response.text[:300]
        code = REFUSED if response.status_code < 500 else ERROR
        fail(f"HTTP {response.status_code}: {reason}", code)
    click.echo(response.text)
