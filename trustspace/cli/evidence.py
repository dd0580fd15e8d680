"""``trustspace evidence``: export a node's evidence log and verify it, with its checkpoints.

``verify`` reads the log from a node's store (``--data-dir`` / ``--database``) or from an
exported JSON Lines file, walks the hash chain and holds it against every checkpoint:
- the log's own copies, their signatures checked when the operator's keys are known (``--keys``
  or ``--operator``);
- the record the operator itself keeps (``--operator URL``: fetched as the node, with its key
  and membership credential from ``--data-dir``; or ``--operator-checkpoints FILE``: what the
  operator or the regulator exported), every signature checked against the operator's keys.
  A countersigned entry the log no longer has is a truncation, and a checkpoint the operator
  holds that the log has no copy of is reported;
- the store's own record of its newest entry, which a careless truncation leaves behind.

It reports every problem, and how many entries after the last checkpoint nothing outside the
node vouches for.  Sources are read in the order that keeps a live node consistent: the head
first, then the operator's record, then the local checkpoints, then the entries.

Exit 0: verified; 1: broken; 2: the input cannot be read; 3: not checked, because an operator
could not be reached or would not answer (the local findings are still printed).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeGuard

import click
import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from trustspace.core.evidence import (
    LOCAL,
    OPERATOR,
    Audit,
    Mark,
    Problem,
    audit,
    unvouched_text,
)
from trustspace.services.membership import Membership
from trustspace.settings import Settings, load
from trustspace.store import evidence
from trustspace.store.db import Database
from trustspace.trust.credentials import jwk_key, read_certificate, read_checkpoint
from trustspace.trust.keys import NodeKey
from trustspace.trust.tokens import AuthError, bearer, issue_token

VERIFIED, BROKEN, UNREADABLE, UNCHECKED = 0, 1, 2, 3
Keys = dict[str, Ed25519PublicKey]


def _settings(data_dir: str | None, database: str | None) -> Settings:
    flags = {k: v for k, v in (("data_dir", data_dir), ("database", database)) if v}
    return load(None, flags=flags)


def _database(data_dir: str | None, database: str | None) -> Database:
    settings = _settings(data_dir, database)
    if not database and not (settings.data_path / "trustspace.db").exists():
        raise click.UsageError(
            f"no node store in {settings.data_path} (use --data-dir or --database)"
        )
    db = Database(settings.database_url)
    db.migrate()
    return db


def fail(message: str, code: int = UNREADABLE) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


class Unreachable(Exception):
    """An operator could not be reached, or would not answer: nothing could be checked there."""


def _jwks(text: str) -> tuple[str | None, Keys]:
    doc = json.loads(text)
    issuer = doc.get("issuer")
    return (issuer if isinstance(issuer, str) else None), {
        str(k["kid"]): jwk_key(k) for k in doc["keys"]
    }


def _read_keys(source: str) -> tuple[str | None, Keys]:
    """An operator's published keys, from its URL or a JWKS file; a URL that cannot be read
    leaves the evidence unchecked (exit 3), a file that cannot be read is bad input (exit 2)."""
    remote = source.startswith(("http://", "https://"))
    try:
        if remote:
            response = httpx.get(source.rstrip("/") + "/operator/keys", timeout=10)
            response.raise_for_status()
            text = response.text
        else:
            text = Path(source).read_text()
        return _jwks(text)
    except httpx.HTTPError as exc:
        raise Unreachable(f"cannot read the operator's keys at {source}: {exc}") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        if remote:
            raise Unreachable(f"{source} answered no operator keys: {exc}") from exc
        fail(f"cannot read operator keys from {source}: {exc}")


def _from_file(
    path: Path,
) -> tuple[Iterator[dict[str, Any]], list[dict[str, Any]], tuple[int, str] | None]:
    entries: list[dict[str, Any]] = []
    checkpoints: list[dict[str, Any]] = []
    head: tuple[int, str] | None = None
    with path.open(encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, start=1):
            try:
                item = json.loads(line)
            except ValueError:
                entries.append({"seq": len(entries) + 1, "corrupt": True, "line": n})
                continue
            kind = item.get("type") if isinstance(item, dict) else None
            if kind == "head":
                try:
                    head = (int(item["seq"]), str(item["hash"]))
                except (KeyError, TypeError, ValueError):
                    fail(f"{path}, line {n}: the head names no sequence number and hash")
            elif kind == "checkpoint":
                checkpoints.append(item)
            else:
                entries.append(item if isinstance(item, dict) else {"corrupt": True, "line": n})
    return iter(entries), checkpoints, head


@dataclass
class Witnesses:
    """What the operators say, and how much of it could be checked."""

    keys: dict[str | None, Keys] = field(default_factory=dict)  # by operator id; None: --keys
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    unreachable: list[str] = field(default_factory=list)
    participant: str | None = None

    def keys_for(self, operator_id: str) -> Keys | None:
        return self.keys.get(operator_id, self.keys.get(None))


def _node_identity(data_dir: Path, operator_id: str) -> tuple[NodeKey, str, str]:
    """The node's key, its participant id and its credential from ``operator_id``."""
    key_file = data_dir / "node.key"
    if not key_file.exists():
        raise click.UsageError(
            f"--operator reads the operator's record as the node: no node key in {data_dir}"
            " (give --data-dir, or use --operator-checkpoints)"
        )
    key = NodeKey.from_pem(key_file.read_bytes())
    with httpx.Client() as http:
        held = Membership(data_dir, "", "", key=lambda: key, set_key=lambda _k: None,
                          operators=None, http=http).credentials()  # fmt: skip
    for credential in held:
        claims = jwt.decode(credential, options={"verify_signature": False})
        if claims.get("iss") == operator_id and isinstance(claims.get("sub"), str):
            return key, str(claims["sub"]), credential
    raise Unreachable(
        f"the node in {data_dir} holds no current credential from {operator_id}, so it cannot"
        " read the operator's record (use --operator-checkpoints with what the operator or"
        " the regulator exports)"
    )


def _fetch_record(url: str, data_dir: Path, w: Witnesses) -> None:
    operator_id, keys = _read_keys(url)
    if operator_id is None:
        raise Unreachable(f"{url}/operator/keys names no issuer")
    w.keys[operator_id] = keys
    key, participant, credential = _node_identity(data_dir, operator_id)
    token = issue_token(key, participant, operator_id, now=time.time(),
                        extra={"credentials": [credential]})  # fmt: skip
    try:
        response = httpx.get(
            url.rstrip("/") + "/operator/checkpoints",
            headers={"Authorization": bearer(token)},
            timeout=30,
        )
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise Unreachable(f"cannot read the operator's record at {url}: {exc}") from exc
    if response.status_code != 200 or not isinstance(body, dict):
        reason = body.get("error") if isinstance(body, dict) else body
        raise Unreachable(f"{url} answered {response.status_code}: {reason}")
    items = body.get("checkpoints")
    if not _well_formed(items):
        raise Unreachable(f"{url} answered no list of checkpoints")
    w.records[operator_id] = items
    w.sources[operator_id] = url
    w.participant = participant


def _well_formed(items: Any) -> TypeGuard[list[dict[str, Any]]]:
    return isinstance(items, list) and all(
        isinstance(c, dict) and isinstance(c.get("seq"), int) and isinstance(c.get("hash"), str)
        and isinstance(c.get("token"), str) for c in items
    )  # fmt: skip


def _load_record(path: Path, w: Witnesses) -> None:
    """A file of the operator's record: a list of checkpoints, or an object holding one."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        fail(f"cannot read {path}: {exc}")
    items = doc.get("checkpoints") if isinstance(doc, dict) else doc
    if not _well_formed(items):
        fail(f"{path}: expected a list of checkpoints, each with its seq, hash and token")
    for item in items:
        try:
            issuer = jwt.decode(item["token"], options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError as exc:
            fail(f"{path}: a checkpoint is not a signed token: {exc}")
        w.records.setdefault(str(issuer), []).append(item)
        w.sources[str(issuer)] = str(path)


def _checked(
    cp: dict[str, Any], operator_id: str, held_by: str, w: Witnesses, problems: list[Problem]
) -> Mark | None:
    """The checkpoint as a mark, if its signature (when the keys are known) says what it says."""
    seq, digest = int(cp["seq"]), str(cp["hash"])
    keys = w.keys_for(operator_id)
    if keys is None:
        return Mark(seq, digest, operator_id, held_by)
    try:
        claims = read_checkpoint(str(cp["token"]), keys)
        said = (claims.get("iss"), claims.get("seq"), claims.get("hash"))
        if said != (operator_id, seq, digest):
            wrong: str | None = f"it does not say what {operator_id} signed"
        elif w.participant is not None and claims.get("sub") != w.participant:
            wrong = f"it is for {claims.get('sub')}, not {w.participant}"
        else:
            wrong = None
    except AuthError as exc:
        wrong = exc.reason
    if wrong is None:
        return Mark(seq, digest, operator_id, held_by)
    where = "the operator's record" if held_by == OPERATOR else "this log's copy"
    problems.append(
        Problem(seq, "signature", f"the checkpoint at entry {seq:,} ({where}): {wrong}")
    )
    return None


def _signatures(marks: int, w: Witnesses, operators: set[str]) -> str:
    if not marks:
        return "no checkpoints"
    unchecked = [o for o in operators if w.keys_for(o) is None]
    return "signatures verified" if not unchecked else "signatures not checked (no --keys)"


def _export_head(db: Database) -> dict[str, Any]:
    with db.tx() as tx:
        seq, digest = evidence.head(tx)
    return {"type": "head", "seq": seq, "hash": digest}


@click.group("evidence")
def evidence_group() -> None:
    """Export and verify the tamper-evident evidence log."""


@evidence_group.command("export")
@click.option("--data-dir", help="The node's data folder.")
@click.option("--database", help="The node's database URL (instead of --data-dir).")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="File (default: stdout).")
def export(data_dir: str | None, database: str | None, output: Path | None) -> None:
    """Write the log's head, its entries and its checkpoints as JSON Lines."""
    db = _database(data_dir, database)
    out = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        out.write(json.dumps(_export_head(db)) + "\n")  # first: every entry it names follows
        for entry in evidence.entries(db):
            out.write(json.dumps({"type": "entry", **entry}, ensure_ascii=False) + "\n")
        with db.tx() as tx:
            for cp in evidence.checkpoints(tx):
                out.write(json.dumps({"type": "checkpoint", **cp}) + "\n")
    finally:
        if output:
            out.close()
        db.close()


def _participant(w: Witnesses) -> None:
    """Whose log this is, when only the operator's exported record says."""
    if w.participant is not None:
        return
    subjects = set()
    for items in w.records.values():
        for item in items:
            try:
                subjects.add(jwt.decode(item["token"], options={"verify_signature": False})["sub"])
            except (jwt.PyJWTError, KeyError):
                continue
    if len(subjects) > 1:
        fail(f"the operator's records are about several participants: {sorted(subjects)}")
    w.participant = next(iter(subjects), None)


def _report(
    w: Witnesses, a: Audit, problems: list[Problem], local: int, operators: set[str]
) -> dict[str, Any]:
    status = "broken" if problems else ("unchecked" if w.unreachable else "verified")
    span = a.unvouched
    return {
        "status": status,
        "ok": status == "verified",
        "participantId": w.participant,
        "entries": a.entries,
        "end": a.end,
        "head": a.head,
        "checkpoints": {
            "local": local,
            "operator": sum(len(r) for r in w.records.values()),
            "signatures": _signatures(local + sum(map(len, w.records.values())), w, operators),
        },
        "operators": [
            {"operator": o, "source": w.sources[o], "checkpoints": len(r)}
            for o, r in sorted(w.records.items())
        ],
        "notChecked": w.unreachable,
        "lastCheckpoint": a.vouched or None,
        "unvouched": None
        if span is None
        else {"first": span[0], "last": span[1], "count": span[1] - span[0] + 1},
        "unvouchedText": unvouched_text(a),
        "problems": [{"seq": p.seq, "kind": p.kind, "message": p.message} for p in problems],
    }


def show(report: dict[str, Any]) -> None:
    for p in report["problems"]:
        click.echo(f"BROKEN at entry {p['seq']}: {p['message']}")
    for reason in report["notChecked"]:
        click.echo(f"NOT CHECKED: {reason}")
    cps = report["checkpoints"]
    own = (
        f"{cps['local']} checkpoint(s) ({cps['signatures']})" if cps["local"] else "no checkpoints"
    )
    summary = f"{report['entries']:,} entries, head {report['head']}, {own}"
    if report["status"] == "verified":
        click.echo(f"OK: {summary}")
    elif report["status"] == "unchecked":
        click.echo(f"the log itself: {summary}; not verified against the operator")
    else:
        click.echo(f"the first {report['entries']:,} entries are intact")
    if report["operators"]:
        held = ", ".join(f"{o['operator']} ({o['checkpoints']} checkpoint(s))"
                         for o in report["operators"])  # fmt: skip
        click.echo(f"held against the operator's own record: {held}")
    elif not report["notChecked"]:
        click.echo("not held against any operator's own record (--operator): a truncation, or a"
                   " rewrite after deleting this log's checkpoints, would not show")  # fmt: skip
    if report["end"]:
        click.echo(report["unvouchedText"])


@evidence_group.command("verify")
@click.argument("file", required=False, type=click.Path(path_type=Path))
@click.option("--data-dir", help="The node's data folder: its log (when no FILE is given), and "
              "its key and credential for reading the operator's record.")  # fmt: skip
@click.option("--database", help="The node's database URL (when no FILE is given).")
@click.option("--keys", help="The operator's published keys: a JWKS file or the operator URL.")
@click.option("--operator", "operator_urls", multiple=True, metavar="URL",
              help="An operator's URL: hold the log against the checkpoints it keeps for this "
              "node, read as the node (repeatable).")  # fmt: skip
@click.option("--operator-checkpoints", "records", multiple=True, metavar="FILE",
              type=click.Path(path_type=Path), help="The checkpoints an operator keeps for this "
              "node, as the operator or the regulator exports them (repeatable).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(
    file: Path | None, data_dir: str | None, database: str | None, keys: str | None,
    operator_urls: tuple[str, ...], records: tuple[Path, ...], as_json: bool,
) -> None:  # fmt: skip
    """Check the hash chain of FILE (an export; none: the node's store) against the log's
    checkpoints and the operator's own record; name every broken entry and what nothing
    vouches for.  Exit 0 verified, 1 broken, 2 unreadable
    input, 3 an operator could not be reached."""
    w = Witnesses()
    db = None
    head: tuple[int, str] | None = None
    if file is not None:
        if not file.exists():
            fail(f"{file} does not exist")
        entries, local, head = _from_file(file)
    else:
        db = _database(data_dir, database)
        with db.tx() as tx:
            head = evidence.head(tx)
    if keys:
        try:
            issuer, found = _read_keys(keys)
            w.keys[None] = found
            if issuer is not None:
                w.keys[issuer] = found
        except Unreachable as exc:
            w.unreachable.append(str(exc))
    node_dir = _settings(data_dir, database).data_path
    for url in operator_urls:
        try:
            _fetch_record(url, node_dir, w)
        except Unreachable as exc:
            w.unreachable.append(str(exc))
    for path in records:
        _load_record(path, w)
    _participant(w)
    if db is not None:
        with db.tx() as tx:
            local = evidence.checkpoints(tx)
        entries = evidence.entries(db)
    problems: list[Problem] = []
    checked = [_checked(cp, str(cp["operator"]), LOCAL, w, problems) for cp in local]
    for operator_id, items in w.records.items():
        if w.keys_for(operator_id) is None:
            if w.unreachable:  # its keys could not be had: reported as not checked
                continue
            fail(f"the checkpoints from {operator_id} need its keys (--keys or --operator)")
        checked += [_checked(cp, operator_id, OPERATOR, w, problems) for cp in items]
    marks = [m for m in checked if m is not None]
    result = audit(entries, marks, head=head, consulted=set(w.records))
    if db is not None:
        db.close()
    problems = sorted([*problems, *result.problems], key=lambda p: p.seq)
    operators = {str(cp["operator"]) for cp in local} | set(w.records)
    report = _report(w, result, problems, len(local), operators)
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        show(report)
    sys.exit({"verified": VERIFIED, "broken": BROKEN, "unchecked": UNCHECKED}[report["status"]])


@click.command("verify")
@click.argument("certificate")
@click.option("--keys", required=True, help="The operator's published keys: a JWKS file or URL.")
@click.option("--json", "as_json", is_flag=True, help="Print only the claims, as JSON.")
def verify_certificate(certificate: str, keys: str, as_json: bool) -> None:
    """Verify a registration or trade CERTIFICATE (a file or the token itself), offline with
    the operator's keys; print its claims.  Exit 0: valid; 1: not valid; 2: unreadable."""
    try:
        path = Path(certificate)
        token = path.read_text().strip() if path.is_file() else certificate.strip()
    except OSError:  # not a file name (a token is longer than a path may be)
        token = certificate.strip()
    try:
        claims = read_certificate(token, _certificate_keys(keys))
    except AuthError as exc:
        click.echo(f"NOT VALID: {exc.reason}", err=as_json)
        sys.exit(1)
    if not as_json:
        click.echo(f"VALID {claims['type']} {claims['jti']} issued by {claims['iss']}")
    click.echo(json.dumps(claims, indent=2, ensure_ascii=False))


def _certificate_keys(source: str) -> Keys:
    try:
        return _read_keys(source)[1]
    except Unreachable as exc:
        fail(str(exc))
