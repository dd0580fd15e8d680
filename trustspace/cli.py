"""The ``trustspace`` command line: run a node, drive it, run the demo."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from trustspace import settings as settings_mod
from trustspace.client import ApiError
from trustspace.cliutil import _call, _client, _fail, _print, console, key_option, node_option
from trustspace.computecli import compute
from trustspace.evidencecli import evidence_group, verify_certificate
from trustspace.operatorcli import member, operator, search
from trustspace.policycli import policy
from trustspace.productcli import product


def _load(config: Path | None, flags: dict[str, Any]) -> settings_mod.Settings:
    try:
        return settings_mod.load(config, flags=flags)
    except ValueError as exc:
        _fail(str(exc))
        raise AssertionError from exc  # unreachable


def _node_options(f: Any) -> Any:
    for opt in reversed(
        [
            click.option(
                "--config",
                "-c",
                type=click.Path(path_type=Path, dir_okay=False),
                help="Settings file (TOML).",
            ),
            click.option("--participant-id", help=settings_mod.BY_NAME["participant_id"].help),
            click.option("--host", help=settings_mod.BY_NAME["host"].help),
            click.option("--port", type=int, help=settings_mod.BY_NAME["port"].help),
            click.option("--public-url", help=settings_mod.BY_NAME["public_url"].help),
            click.option("--data-dir", help=settings_mod.BY_NAME["data_dir"].help),
            click.option("--database", help=settings_mod.BY_NAME["database"].help),
            click.option("--trust-list", help=settings_mod.BY_NAME["trust_list"].help),
            click.option("--management-key", help=settings_mod.BY_NAME["management_key"].help),
            click.option(
                "--tck", is_flag=True, default=None, help=settings_mod.BY_NAME["tck"].help
            ),
            click.option("--log-level", help=settings_mod.BY_NAME["log_level"].help),
            click.option(
                "--role",
                type=click.Choice(["connector", "operator"]),
                help=settings_mod.BY_NAME["role"].help,
            ),
            click.option("--operators", help=settings_mod.BY_NAME["operators"].help),
        ]
    ):
        f = opt(f)
    return f


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="trustspace")
def main() -> None:
    """trustspace: a trusted data space node speaking the Dataspace Protocol 2025-1.

    Run a node with `serve`, try everything with `demo`, and drive a running node
    (publish, catalog, negotiate, transfer, download) with the other commands.
    Those talk to the node's management API: --node URL and --key KEY, or the
    TRUSTSPACE_NODE and TRUSTSPACE_MANAGEMENT_KEY environment variables.
    """


@main.command()
@_node_options
def serve(config: Path | None, **flags: Any) -> None:
    """Run one node (DSP endpoints, data plane, management API)."""
    import logging

    import uvicorn

    from trustspace.edge import http_protocol
    from trustspace.node import Node

    s = _load(config, flags)
    scratch: str | None = None
    if s.tck:
        scratch = tempfile.mkdtemp(prefix="trustspace-tck-")
        s = settings_mod.tck_defaults(s, scratch)
        if s.data_dir != scratch:  # a folder was given: keep state there, not in the scratch one
            shutil.rmtree(scratch, ignore_errors=True)
            scratch = None
    logging.basicConfig(
        level=str(s.log_level).upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        node = Node(s)
    except (ValueError, OSError) as exc:
        _fail(str(exc))
        return
    console.print(
        f"trustspace node [bold]{s.participant_id}[/bold]  DSP {node.ctx.dsp_base}  database {node.db.redacted_url}"
    )
    if s.tck:
        console.print(
            f"TCK profile ON: webhooks {s.base_url}/tck/negotiations/requests, {s.base_url}/tck/transfers/requests"
        )
    if scratch is not None:  # the TCK profile's state is throw-away
        node.on_stop.append(partial(shutil.rmtree, scratch, ignore_errors=True))
    uvicorn.run(
        node.app,
        host=s.host,
        port=s.port,
        log_level=str(s.log_level).lower(),
        access_log=False,
        lifespan="on",
        http=http_protocol(s.header_timeout, s.max_connections),
    )


@main.command()
@_node_options
def init(config: Path | None, **flags: Any) -> None:
    """Create the data folder and key pair; print this node's trust-list entry."""
    from trustspace.trust.keys import NodeKey

    s = _load(config, flags)
    key = NodeKey.load_or_create(s.data_path / "node.key")
    entry = {
        "id": s.participant_id,
        "public_key": key.public_b64,
        "address": s.base_url + "/dsp/2025-1",
    }
    click.echo(json.dumps(entry, indent=2))


@main.command("settings")
@_node_options
def show_settings(config: Path | None, **flags: Any) -> None:
    """Print the effective settings and where each value came from (secrets hidden)."""
    s = _load(config, flags)
    table = Table("setting", "value", "source", "meaning")
    for (name, value, source), spec in zip(
        settings_mod.describe(s), settings_mod.SETTINGS, strict=True
    ):
        table.add_row(name, value, source, spec.help)
    console.print(table)


# --- driving a node ---------------------------------------------------------------------------


@main.command()
@node_option
@key_option
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--title", help="Dataset title (default: the file name).")
@click.option("--description", default="", help="Dataset description.")
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="JSON file with the offer's ODRL rules (default: permission to use).",
)
@click.option(
    "--access-policy",
    "access_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="JSON file with an ODRL policy deciding who sees the dataset (default: everyone).",
)
@click.option(
    "--compute-rule",
    "compute_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="JSON analysis rule: offer compute-to-data (Compute-SQL) on this dataset.",
)
@click.option(
    "--classification",
    type=click.Choice(["general", "important"]),
    default="general",
    show_default=True,
    help="Data classification (core data is never listed).",
)
@click.option("--id", "dataset_id", help="Dataset id (default: a new urn:uuid).")
def publish(
    node: str,
    key: str,
    file: Path,
    title: str | None,
    description: str,
    policy_file: Path | None,
    access_file: Path | None,
    compute_file: Path | None,
    classification: str,
    dataset_id: str | None,
) -> None:
    """Publish FILE as a dataset with an offer (the node copies the file)."""
    body: dict[str, Any] = {
        "path": str(file.resolve()),
        "title": title or file.name,
        "description": description,
    }
    for field, source in (
        ("policy", policy_file),
        ("accessPolicy", access_file),
        ("computeRule", compute_file),
    ):
        if source:
            try:
                body[field] = json.loads(source.read_text())
            except ValueError as exc:
                _fail(f"{source} is not valid JSON: {exc}")
    body["classification"] = classification
    if dataset_id:
        body["id"] = dataset_id
    _print(_call(node, key, "POST", "/api/datasets", body))


@main.command()
@node_option
@key_option
@click.argument("address")
@click.option("--provider-id", help="The provider's participant id (default: from the trust list).")
def catalog(node: str, key: str, address: str, provider_id: str | None) -> None:
    """Show the catalog of the provider at ADDRESS (its DSP base URL)."""
    data = _call(node, key, "POST", "/api/catalog", {"address": address, "providerId": provider_id})
    table = Table("dataset", "title", "offers", "formats")
    for d in data.get("dataset", []):
        table.add_row(
            d["@id"],
            str(d.get("title", "")),
            ", ".join(o["@id"] for o in d.get("hasPolicy", [])),
            ", ".join(x["format"] for x in d.get("distribution", [])),
        )
    console.print(f"catalog of [bold]{data.get('participantId')}[/bold]")
    console.print(table)


@main.command()
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
    with _client(node, key) as c:
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
            _fail(str(exc))
    _print(neg)
    if neg["state"] == "TERMINATED":
        _fail(f"negotiation terminated: {neg.get('error')}")


@main.command()
@node_option
@key_option
def negotiations(node: str, key: str) -> None:
    """List this node's negotiations."""
    table = Table("id", "role", "state", "counterparty", "dataset", "agreement")
    for n in _call(node, key, "GET", "/api/negotiations"):
        table.add_row(
            n["id"],
            n["role"],
            n["state"],
            n["counterpartyId"],
            n["datasetId"],
            n.get("agreementId") or "",
        )
    console.print(table)


@main.command()
@node_option
@key_option
def transfers(node: str, key: str) -> None:
    """List this node's transfer processes."""
    table = Table("id", "role", "state", "counterparty", "agreement", "format")
    for t in _call(node, key, "GET", "/api/transfers"):
        table.add_row(
            t["id"], t["role"], t["state"], t["counterpartyId"], t["agreementId"], t["format"]
        )
    console.print(table)


@main.group()
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
    with _client(node, key) as c:
        try:
            tp = c.call("POST", "/api/transfers", body)
            if wait:
                tp = c.wait(f"/api/transfers/{tp['id']}", ["STARTED", "COMPLETED"])
        except ApiError as exc:
            _fail(str(exc))
    _print(tp)


for _action in ("suspend", "resume", "complete", "terminate"):

    def _make(action: str) -> None:
        @transfer.command(action, help=f"{action.capitalize()} transfer TRANSFER_ID.")
        @node_option
        @key_option
        @click.argument("transfer_id")
        @click.option("--reason", help="Reason sent to the counterparty.")
        def cmd(node: str, key: str, transfer_id: str, reason: str | None) -> None:
            _print(
                _call(
                    node, key, "POST", f"/api/transfers/{transfer_id}/{action}", {"reason": reason}
                )
            )

    _make(_action)


@main.command()
@node_option
@key_option
@click.argument("negotiation_id")
@click.option("--reason", help="Reason sent to the counterparty.")
def terminate(node: str, key: str, negotiation_id: str, reason: str | None) -> None:
    """Terminate negotiation NEGOTIATION_ID."""
    _print(
        _call(
            node, key, "POST", f"/api/negotiations/{negotiation_id}/terminate", {"reason": reason}
        )
    )


@main.command()
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
    from trustspace.dataplane.fileset import VersionResult
    from trustspace.transferui import download_any

    tp = _call(node, key, "GET", f"/api/transfers/{transfer_id}")
    if tp.get("state") != "STARTED" or not tp.get("endpoint"):
        _fail(
            f"transfer {transfer_id} is {tp.get('state')}; it has to be STARTED with a data address"
        )
    try:
        result = download_any(console, tp["endpoint"], tp["authorization"], out, expected)
    except Exception as exc:  # a download error is reported, not raised at the user
        _fail(f"download failed: {exc}")
        return
    if isinstance(result, VersionResult):
        console.print(f"{len(result.files)} files, {result.size} bytes -> {out}/"
                      f"  version {result.version_hash}")  # fmt: skip
        got = result.version_hash
    else:
        console.print(f"{result.size} bytes -> {out}  sha256 {result.sha256}")
        got = result.sha256
    if expected and expected != got:
        _fail(f"checksum mismatch: expected {expected}")


@main.command("call")
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

    tp = _call(node, key, "GET", f"/api/transfers/{transfer_id}")
    if tp.get("state") != "STARTED" or not tp.get("endpoint"):
        _fail(f"transfer {transfer_id} is {tp.get('state')}; it has to be STARTED")
    url = tp["endpoint"].rstrip("/") + ("/" + path.lstrip("/") if path else "")
    try:
        headers = {"Authorization": f"Bearer {tp['authorization']}"}
        if data is None:
            response = httpx.get(url, headers=headers, timeout=60)
        else:
            headers["Content-Type"] = content_type
            response = httpx.post(url, headers=headers, content=data.encode(), timeout=60)
    except httpx.HTTPError as exc:
        _fail(f"cannot reach the provider: {exc}")
        return
    if response.status_code >= 400:
        try:
            reason = response.json().get("error", response.text)
        except ValueError:
            reason = response.text[:300]
        _fail(f"HTTP {response.status_code}: {reason}")
    click.echo(response.text)


@main.command()
@click.option("--once", is_flag=True, help="Run the whole flow once and exit (0 on success).")
@click.option(
    "--dir",
    "workdir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for the demo nodes (default: a new temporary folder).",
)
@click.option("--size-mib", default=32, show_default=True, help="Size of the sample dataset.")
def demo(once: bool, workdir: Path | None, size_mib: int) -> None:
    """Start a provider and a consumer node and run catalog -> contract -> transfer -> download."""
    from trustspace.demo import run_demo

    sys.exit(run_demo(console, once=once, workdir=workdir, size_mib=size_mib))


if __name__ == "__main__":
    main()


main.add_command(policy)
main.add_command(operator)
main.add_command(member)
main.add_command(search)
main.add_command(evidence_group)
main.add_command(verify_certificate)
main.add_command(product)
main.add_command(compute)
