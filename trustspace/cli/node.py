"""Running a node: ``serve``, ``init``, ``settings`` and the ``demo``."""

from __future__ import annotations

import errno
import json
import shutil
import socket
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from trustspace import settings as settings_mod
from trustspace.cli.common import console, fail, json_option, show


def _load(config: Path | None, flags: dict[str, Any]) -> settings_mod.Settings:
    try:
        return settings_mod.load(config, flags=flags)
    except ValueError as exc:
        fail(str(exc))
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


@click.command()
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
    sock = _listen(s.host, s.port)  # before anything starts: the node says "up" once it listens
    try:
        node = Node(s)
    except (ValueError, OSError) as exc:
        sock.close()
        fail(str(exc))
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
    server = uvicorn.Server(
        uvicorn.Config(
            node.app,
            log_level=str(s.log_level).lower(),
            access_log=False,
            lifespan="on",
            http=http_protocol(s.header_timeout, s.max_connections),
        )
    )
    server.run(sockets=[sock])


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` and listening, or a plain exit when it cannot be."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror}; check --host")
        raise AssertionError from exc
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past connections' TIME_WAIT
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            fail(f"port {port} is already in use (another node or program listens on"
                 f" {host}:{port}); choose another with --port")  # fmt: skip
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
        raise AssertionError from exc
    return sock


@click.command()
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


@click.command("settings")
@_node_options
@json_option
def show_settings(config: Path | None, as_json: bool, **flags: Any) -> None:
    """Print the effective settings and where each value came from (secrets hidden)."""
    s = _load(config, flags)
    rows = [{"setting": name, "value": value, "source": source, "meaning": spec.help}
            for (name, value, source), spec in zip(
                settings_mod.describe(s), settings_mod.SETTINGS, strict=True)]  # fmt: skip
    if as_json:
        show(rows)
        return
    table = Table("setting", "value", "source", "meaning")
    for row in rows:
        table.add_row(row["setting"], row["value"], row["source"], row["meaning"])
    console.print(table)


# --- driving a node ---------------------------------------------------------------------------


@click.command()
@click.option("--once", is_flag=True, help="Run the whole flow once and exit (0 on success).")
@click.option(
    "--dir",
    "workdir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for the demo nodes, kept afterwards (default: a new temporary folder, removed "
    "when the demo ends).",
)
@click.option("--keep", is_flag=True, help="Keep the temporary folder (nodes' data and logs).")
@click.option("--verbose", "-v", is_flag=True,
              help="Also show protocol detail: message types, states, ids, pids, ODRL.")  # fmt: skip
@click.option("--size-mib", default=32, show_default=True, help="Size of the sample dataset.")
def demo(once: bool, workdir: Path | None, keep: bool, verbose: bool, size_mib: int) -> None:
    """Run the demo data space: four nodes on loopback, an operator that runs the space and a
    provider, a consumer and an assessor that it onboards as members. They publish, agree a
    contract, transfer and check the data, list and certify the product, search the space, and
    compute on data that never leaves the provider. The folder is removed at the end unless
    --keep or --dir; --verbose adds the protocol detail."""
    from trustspace.cli.demo import run_demo

    code = run_demo(
        console, once=once, workdir=workdir, size_mib=size_mib, keep=keep, verbose=verbose
    )
    sys.exit(code)
