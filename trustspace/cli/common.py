"""What the command-line modules share: the consoles, exit codes, ``--json``, IDs, tables, times
and talking to a node.

Rules every command follows (docs/cli.md, "Exit codes" and "Output"):

- stdout carries the records (a table, or with ``--json`` exactly one JSON document); notes,
  progress and errors go to stderr;
- the exit code says how it ended: :data:`OK`, :data:`REFUSED` (the node, a peer or a policy
  said no, or a process ended TERMINATED/REFUSED/FAILED), :data:`USAGE` (click's own, and
  input that cannot be read), :data:`ERROR` (it could not be carried out: nothing reachable,
  a server failure, a wait that timed out);
- an ID argument may be a unique prefix (with or without ``urn:uuid:``), resolved by listing;
- a table never cuts an ID; times are ISO 8601 UTC.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from trustspace.cli.client import ApiError, ManagementClient

OK, REFUSED, USAGE, ERROR = 0, 1, 2, 3

console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int = ERROR) -> NoReturn:
    errors.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    sys.exit(code)


def refused(message: str) -> NoReturn:
    """The outcome is a no: say why on stderr and exit :data:`REFUSED`."""
    errors.print(f"[red]refused:[/red] {message}", highlight=False)
    sys.exit(REFUSED)


# How a node words a peer's 4xx that it passes on as a failed peer (502): still a refusal.
_PEER_REFUSED = re.compile(r"\banswered 4\d\d\b")


def api_failed(exc: ApiError) -> NoReturn:
    """A node's 4xx is its refusal of the request, and so is a peer's 4xx it reports as a
    failed peer (:data:`REFUSED`); anything else is an error."""
    refusal = exc.status is not None and 400 <= exc.status < 500
    fail(str(exc), REFUSED if refusal or _PEER_REFUSED.search(str(exc)) else ERROR)


node_option = click.option(
    "--node",
    envvar="TRUSTSPACE_NODE",
    default="http://127.0.0.1:8080",
    show_default=True,
    help="Management URL of the node to drive (env TRUSTSPACE_NODE).",
)
key_option = click.option(
    "--key",
    envvar="TRUSTSPACE_MANAGEMENT_KEY",
    required=True,
    help="Management key of that node (env TRUSTSPACE_MANAGEMENT_KEY).",
)
json_option = click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON document on stdout and nothing else (notes go to stderr).",
)


def client(node: str, key: str) -> ManagementClient:
    return ManagementClient(node, key)


def call(node: str, key: str, method: str, path: str, body: Any = None) -> Any:
    with client(node, key) as c:
        try:
            return c.call(method, path, body)
        except ApiError as exc:
            api_failed(exc)


# --- times ------------------------------------------------------------------------------------

_TIME_KEYS = {"at", "expires", "exp", "iat", "nbf"}


def iso(ts: float | int | None) -> str:
    """An epoch time as ISO 8601 UTC, to the second: ``2026-12-02T17:24:24Z``."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_time(key: str, value: Any) -> bool:
    named = key in _TIME_KEYS or key.endswith("At")
    return named and isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def iso_times(data: Any) -> Any:
    """``data`` with every epoch time (``createdAt``, ``at``, ``expires``...) as ISO 8601."""
    if isinstance(data, dict):
        return {k: iso(v) if _is_time(k, v) else iso_times(v) for k, v in data.items()}
    if isinstance(data, list):
        return [iso_times(v) for v in data]
    return data


def show(data: Any) -> None:
    """Print ``data`` as the one JSON document on stdout, times in ISO 8601."""
    click.echo(json.dumps(iso_times(data), indent=2, ensure_ascii=False))


# --- tables -----------------------------------------------------------------------------------


def table(*columns: str, ids: Iterable[str] = ()) -> Table:
    """A table whose ``ids`` columns are never wrapped or cut."""
    keep = set(ids)
    t = Table()
    for name in columns:
        t.add_column(name, no_wrap=name in keep, overflow="fold")
    return t


def print_table(t: Table) -> None:
    """Print ``t`` at least as wide as its widest unbreakable cells: a narrow terminal folds
    the lines, but an ID is never cut."""
    needed = Measurement.get(console, console.options.update_width(100_000), t).minimum
    if needed <= console.width:
        console.print(t)
        return
    wide = Console(width=needed, force_terminal=console.is_terminal, no_color=console.no_color)
    wide.print(t)


def records(data: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    """The records as one JSON document (``--json``), or rendered for people."""
    if as_json:
        show(data)
    else:
        render(data)


# --- IDs --------------------------------------------------------------------------------------


def _bare(value: str) -> str:
    return value.removeprefix("urn:uuid:")


def match_id(given: str, known: Iterable[str], what: str) -> str:
    """The one of ``known`` that ``given`` names: itself, or a unique prefix of it (with or
    without ``urn:uuid:``).  Unknown or ambiguous: a usage error naming the candidates."""
    ids = list(dict.fromkeys(known))
    if given in ids:
        return given
    found = [i for i in ids if i.startswith(given) or _bare(i).startswith(_bare(given))]
    if len(found) == 1:
        return found[0]
    if not found:
        fail(f"no {what} matches {given!r}", USAGE)
    shown = ", ".join(found[:5]) + (", ..." if len(found) > 5 else "")
    fail(f"prefix {given} matches {len(found)} {what}s: {shown}", USAGE)


def _pages(c: ManagementClient, path: str) -> Iterable[dict[str, Any]]:
    offset = 0
    while True:
        sep = "&" if "?" in path else "?"
        page: list[dict[str, Any]] = c.call("GET", f"{path}{sep}limit=1000&offset={offset}")
        yield from page
        if len(page) < 1000:
            return
        offset += 1000


# what -> (list path, paged, the field of each record that is the id)
_LISTS: dict[str, tuple[str, bool, str]] = {
    "negotiation": ("/api/negotiations", True, "id"),
    "transfer": ("/api/transfers", True, "id"),
    "agreement": ("/api/negotiations", True, "agreementId"),
    "dataset": ("/api/datasets", False, "id"),
    "job": ("/api/compute/jobs", False, "id"),
    "review job": ("/api/compute/review", False, "id"),
    "application": ("/api/operator/applications", False, "id"),
    "listing": ("/api/operator/listings", False, "id"),
}


def resolve(node: str, key: str, what: str, given: str) -> str:
    """The full id of the ``what`` (a key of :data:`_LISTS`) that ``given`` names, found by
    listing the node's records.  A full ``urn:`` id the list does not hold is passed on as it
    is: the node itself says whether it knows it."""
    path, paged, field = _LISTS[what]
    with client(node, key) as c:
        try:
            rows = list(_pages(c, path)) if paged else c.call("GET", path)
        except ApiError as exc:
            api_failed(exc)
    known = [str(r[field]) for r in rows if isinstance(r, dict) and r.get(field)]
    if given in known or (given.startswith("urn:") and not any(k.startswith(given) for k in known)):
        return given
    return match_id(given, known, what)
