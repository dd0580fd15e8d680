"""``trustspace evidence``: export a node's evidence log and verify it, with its checkpoints.

``verify`` reads the log from a node's store (``--data-dir`` / ``--database``) or from an
exported JSON Lines file, walks the hash chain, checks every checkpoint (its operator signature
when ``--keys`` gives the operator's published keys, and that the log still has the
countersigned hash at that entry), and names the first broken entry.  Exit 0: intact; 1:
broken; 2: the input cannot be read.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import httpx

from trustspace.core.evidence import verify as verify_chain
from trustspace.settings import load
from trustspace.store import evidence
from trustspace.store.db import Database
from trustspace.trust.credentials import jwk_key, read_certificate, read_checkpoint
from trustspace.trust.tokens import AuthError


def _database(data_dir: str | None, database: str | None) -> Database:
    flags = {k: v for k, v in (("data_dir", data_dir), ("database", database)) if v}
    settings = load(None, flags=flags)
    if not database and not (settings.data_path / "trustspace.db").exists():
        raise click.UsageError(
            f"no node store in {settings.data_path} (use --data-dir or --database)"
        )
    db = Database(settings.database_url)
    db.migrate()
    return db


def _keys(source: str) -> dict[str, Any]:
    try:
        if source.startswith(("http://", "https://")):
            text = httpx.get(source.rstrip("/") + "/operator/keys", timeout=10).text
        else:
            text = Path(source).read_text()
        return {str(k["kid"]): jwk_key(k) for k in json.loads(text)["keys"]}
    except (OSError, ValueError, KeyError, TypeError, httpx.HTTPError) as exc:
        click.echo(f"error: cannot read operator keys from {source}: {exc}", err=True)
        sys.exit(2)


def _from_file(path: Path) -> tuple[Iterator[dict[str, Any]], list[dict[str, Any]]]:
    entries: list[dict[str, Any]] = []
    checkpoints: list[dict[str, Any]] = []
    with path.open(encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, start=1):
            try:
                item = json.loads(line)
            except ValueError:
                entries.append({"seq": len(entries) + 1, "corrupt": True, "line": n})
                continue
            (checkpoints if item.get("type") == "checkpoint" else entries).append(item)
    return iter(entries), checkpoints


@click.group("evidence")
def evidence_group() -> None:
    """Export and verify the tamper-evident evidence log."""


@evidence_group.command("export")
@click.option("--data-dir", help="The node's data folder.")
@click.option("--database", help="The node's database URL (instead of --data-dir).")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="File (default: stdout).")
def export(data_dir: str | None, database: str | None, output: Path | None) -> None:
    """Write the log and its checkpoints as JSON Lines."""
    db = _database(data_dir, database)
    out = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        for entry in evidence.entries(db):
            out.write(json.dumps({"type": "entry", **entry}, ensure_ascii=False) + "\n")
        with db.tx() as tx:
            for cp in evidence.checkpoints(tx):
                out.write(json.dumps({"type": "checkpoint", **cp}) + "\n")
    finally:
        if output:
            out.close()
        db.close()


@evidence_group.command("verify")
@click.argument("file", required=False, type=click.Path(path_type=Path))
@click.option("--data-dir", help="The node's data folder (when no FILE is given).")
@click.option("--database", help="The node's database URL (when no FILE is given).")
@click.option("--keys", help="The operator's published keys: a JWKS file or the operator URL.")
def verify(file: Path | None, data_dir: str | None, database: str | None, keys: str | None) -> None:
    """Check the hash chain and the countersigned checkpoints; name the first broken entry."""
    db = None
    if file is not None:
        if not file.exists():
            click.echo(f"error: {file} does not exist", err=True)
            sys.exit(2)
        entries, checkpoints = _from_file(file)
    else:
        db = _database(data_dir, database)
        entries = evidence.entries(db)
        with db.tx() as tx:
            checkpoints = evidence.checkpoints(tx)
    operator_keys = _keys(keys) if keys else None
    marks: dict[int, str] = {}
    for cp in checkpoints:
        seq, digest = int(cp["seq"]), str(cp["hash"])
        if operator_keys is not None:
            try:
                claims = read_checkpoint(str(cp["token"]), operator_keys)
            except AuthError as exc:
                click.echo(f"BROKEN: checkpoint at entry {seq} from {cp['operator']}: {exc.reason}")
                sys.exit(1)
            if int(claims["seq"]) != seq or claims["hash"] != digest:
                click.echo(f"BROKEN: checkpoint at entry {seq} does not say what is stored")
                sys.exit(1)
        if marks.get(seq, digest) != digest:
            click.echo(f"BROKEN: two checkpoints disagree about entry {seq}")
            sys.exit(1)
        marks[seq] = digest
    verdict = verify_chain(entries, marks)
    if db is not None:
        db.close()
    signed = (
        "signatures verified" if operator_keys is not None else "signatures not checked (no --keys)"
    )
    if verdict.ok:
        click.echo(
            f"OK: {verdict.entries} entries, head {verdict.head}, {len(marks)} checkpoint(s) ({signed})"
        )
        return
    click.echo(f"BROKEN at entry {verdict.broken_at}: {verdict.reason}")
    click.echo(f"the first {verdict.entries} entries are intact")
    sys.exit(1)


@click.command("verify")
@click.argument("certificate")
@click.option("--keys", required=True, help="The operator's published keys: a JWKS file or URL.")
def verify_certificate(certificate: str, keys: str) -> None:
    """Verify a registration or trade CERTIFICATE (a file or the token itself), offline with
    the operator's keys; print its claims.  Exit 0: valid; 1: not valid; 2: unreadable."""
    try:
        path = Path(certificate)
        token = path.read_text().strip() if path.is_file() else certificate.strip()
    except OSError:  # not a file name (a token is longer than a path may be)
        token = certificate.strip()
    try:
        claims = read_certificate(token, _keys(keys))
    except AuthError as exc:
        click.echo(f"NOT VALID: {exc.reason}")
        sys.exit(1)
    click.echo(f"VALID {claims['type']} {claims['jti']} issued by {claims['iss']}")
    click.echo(json.dumps(claims, indent=2, ensure_ascii=False))
