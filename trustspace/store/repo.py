"""Repository functions: rows in, records out, always inside a caller's transaction."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from trustspace.core.machine import Role
from trustspace.core.records import (
    Agreement,
    DataFile,
    Dataset,
    Negotiation,
    Offer,
    OutboxItem,
    Transfer,
)
from trustspace.store import evidence
from trustspace.store.db import Row, Tx


def _lock(tx: Tx) -> str:
    """Row lock for read-modify-write on PostgreSQL (SQLite serialises whole transactions)."""
    return " FOR UPDATE" if tx.dialect == "postgresql" else ""


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


# --- datasets and offers ----------------------------------------------------------------------


def insert_dataset(tx: Tx, d: Dataset) -> None:
    tx.execute(
        "INSERT INTO datasets (id, title, description, path, filename, media_type, size, sha256,"
        " formats, created_at, access_policy, classification, keywords, license, price, currency,"
        " version, declaration, profile, compute_rule, update_frequency, product_id,"
        " previous_version, api) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            d.id,
            d.title,
            d.description,
            d.path,
            d.filename,
            d.media_type,
            d.size,
            d.sha256,
            _dump(list(d.formats)),
            d.created_at,
            None if d.access_policy is None else _dump(d.access_policy),
            d.classification,
            _dump(list(d.keywords)),
            d.license,
            d.price,
            d.currency,
            d.version,
            None if d.declaration is None else _dump(d.declaration),
            None if d.profile is None else _dump(d.profile),
            None if d.compute_rule is None else _dump(d.compute_rule),
            d.update_frequency,
            d.product_id,
            d.previous_version,
            None if d.api is None else _dump(d.api),
        ),
    )
    for position, f in enumerate(d.files):
        tx.execute(
            "INSERT INTO dataset_files (dataset_id, position, name, path, size, sha256, media_type)"
            " VALUES (?,?,?,?,?,?,?)",
            (d.id, position, f.name, f.path, f.size, f.sha256, f.media_type),
        )


def _file(row: Row) -> DataFile:
    return DataFile(row["name"], row["path"], row["size"], row["sha256"], row["media_type"])


def _dataset(row: Row, files: list[DataFile]) -> Dataset:
    return Dataset(
        id=row["id"],
        title=row["title"],
        description=row["description"],
        path=row["path"],
        filename=row["filename"],
        media_type=row["media_type"],
        size=row["size"],
        sha256=row["sha256"],
        formats=tuple(json.loads(row["formats"])),
        created_at=row["created_at"],
        access_policy=None if row["access_policy"] is None else json.loads(row["access_policy"]),
        classification=row["classification"],
        keywords=tuple(json.loads(row["keywords"])),
        license=row["license"],
        price=row["price"],
        currency=row["currency"],
        version=row["version"],
        declaration=None if row["declaration"] is None else json.loads(row["declaration"]),
        profile=None if row["profile"] is None else json.loads(row["profile"]),
        compute_rule=None if row["compute_rule"] is None else json.loads(row["compute_rule"]),
        update_frequency=row["update_frequency"],
        files=tuple(files),
        product_id=row["product_id"],
        previous_version=row["previous_version"],
        api=None if row["api"] is None else json.loads(row["api"]),
    )


def get_dataset(tx: Tx, dataset_id: str) -> Dataset | None:
    row = tx.one("SELECT * FROM datasets WHERE id = ?", (dataset_id,))
    if row is None:
        return None
    files = tx.all(
        "SELECT * FROM dataset_files WHERE dataset_id = ? ORDER BY position", (dataset_id,)
    )
    return _dataset(row, [_file(f) for f in files])


def list_datasets(tx: Tx) -> list[Dataset]:
    files: dict[str, list[DataFile]] = {}
    for f in tx.all("SELECT * FROM dataset_files ORDER BY dataset_id, position"):
        files.setdefault(f["dataset_id"], []).append(_file(f))
    rows = tx.all("SELECT * FROM datasets ORDER BY created_at, id")
    return [_dataset(r, files.get(r["id"], [])) for r in rows]


def latest_version(tx: Tx, product_id: str) -> Dataset | None:
    """The newest version of a product (a dataset with no product id is its own product)."""
    row = tx.one(
        "SELECT id FROM datasets WHERE id = ? OR product_id = ? ORDER BY created_at DESC, id DESC"
        " LIMIT 1",
        (product_id, product_id),
    )
    return None if row is None else get_dataset(tx, row["id"])


def insert_offer(tx: Tx, o: Offer) -> None:
    tx.execute(
        "INSERT INTO offers (id, dataset_id, policy, created_at) VALUES (?,?,?,?)",
        (o.id, o.dataset_id, _dump(o.policy), o.created_at),
    )


def _offer(row: Row) -> Offer:
    return Offer(row["id"], row["dataset_id"], json.loads(row["policy"]), row["created_at"])


def offers_for(tx: Tx, dataset_ids: list[str]) -> dict[str, list[Offer]]:
    out: dict[str, list[Offer]] = {d: [] for d in dataset_ids}
    if not dataset_ids:
        return out
    marks = ",".join("?" * len(dataset_ids))
    for row in tx.all(
        f"SELECT * FROM offers WHERE dataset_id IN ({marks}) ORDER BY created_at, id",
        dataset_ids,
    ):
        out[row["dataset_id"]].append(_offer(row))
    return out


def get_offer(tx: Tx, offer_id: str) -> Offer | None:
    row = tx.one("SELECT * FROM offers WHERE id = ?", (offer_id,))
    return None if row is None else _offer(row)


# --- negotiations -----------------------------------------------------------------------------

_NEG_COLS = (
    "id, role, provider_pid, consumer_pid, state, counterparty_id, counterparty_address,"
    " dataset_id, offer, agreement_id, error, created_at, updated_at"
)


def _neg_params(n: Negotiation) -> tuple[Any, ...]:
    return (
        n.id,
        n.role.value,
        n.provider_pid,
        n.consumer_pid,
        n.state,
        n.counterparty_id,
        n.counterparty_address,
        n.dataset_id,
        _dump(n.offer),
        n.agreement_id,
        n.error,
        n.created_at,
        n.updated_at,
    )


def insert_negotiation(tx: Tx, n: Negotiation) -> None:
    tx.execute(
        f"INSERT INTO negotiations ({_NEG_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", _neg_params(n)
    )


def update_negotiation(tx: Tx, n: Negotiation) -> None:
    p = _neg_params(n)
    tx.execute(
        "UPDATE negotiations SET provider_pid=?, consumer_pid=?, state=?, counterparty_address=?,"
        " offer=?, agreement_id=?, error=?, updated_at=? WHERE id=?",
        (p[2], p[3], p[4], p[6], p[8], p[9], p[10], p[12], n.id),
    )


def _negotiation(row: Row) -> Negotiation:
    return Negotiation(
        id=row["id"],
        role=Role(row["role"]),
        provider_pid=row["provider_pid"],
        consumer_pid=row["consumer_pid"],
        state=row["state"],
        counterparty_id=row["counterparty_id"],
        counterparty_address=row["counterparty_address"],
        dataset_id=row["dataset_id"],
        offer=json.loads(row["offer"]),
        agreement_id=row["agreement_id"],
        error=row["error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def get_negotiation(tx: Tx, negotiation_id: str, *, lock: bool = False) -> Negotiation | None:
    """``lock=True`` before changing the record (a row lock on PostgreSQL)."""
    row = tx.one(
        f"SELECT {_NEG_COLS} FROM negotiations WHERE id = ?{_lock(tx) if lock else ''}",
        (negotiation_id,),
    )
    return None if row is None else _negotiation(row)


def find_provider_negotiation(
    tx: Tx, counterparty_id: str, consumer_pid: str
) -> Negotiation | None:
    row = tx.one(
        f"SELECT {_NEG_COLS} FROM negotiations WHERE role = 'provider' AND counterparty_id = ?"
        f" AND consumer_pid = ?{_lock(tx)}",
        (counterparty_id, consumer_pid),
    )
    return None if row is None else _negotiation(row)


def list_negotiations(tx: Tx, limit: int = 100, offset: int = 0) -> list[Negotiation]:
    rows = tx.all(
        f"SELECT {_NEG_COLS} FROM negotiations ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
        (limit, offset),
    )
    return [_negotiation(r) for r in rows]


# --- agreements -------------------------------------------------------------------------------


def insert_agreement(tx: Tx, a: Agreement) -> None:
    tx.execute(
        "INSERT INTO agreements (id, negotiation_id, dataset_id, provider_id, consumer_id, policy,"
        " created_at) VALUES (?,?,?,?,?,?,?)",
        (
            a.id,
            a.negotiation_id,
            a.dataset_id,
            a.provider_id,
            a.consumer_id,
            _dump(a.policy),
            a.created_at,
        ),
    )
    evidence.record(
        tx,
        at=a.created_at,
        kind="agreement",
        subject=a.id,
        data={
            "negotiation": a.negotiation_id,
            "dataset": a.dataset_id,
            "provider": a.provider_id,
            "consumer": a.consumer_id,
            "policySha256": hashlib.sha256(_dump(a.policy).encode()).hexdigest(),
        },
    )


def get_agreement(tx: Tx, agreement_id: str, *, lock: bool = False) -> Agreement | None:
    """``lock=True`` serialises uses of one agreement (a row lock on PostgreSQL)."""
    row = tx.one(
        f"SELECT * FROM agreements WHERE id = ?{_lock(tx) if lock else ''}", (agreement_id,)
    )
    if row is None:
        return None
    return Agreement(
        id=row["id"],
        negotiation_id=row["negotiation_id"],
        dataset_id=row["dataset_id"],
        provider_id=row["provider_id"],
        consumer_id=row["consumer_id"],
        policy=json.loads(row["policy"]),
        created_at=row["created_at"],
    )


# --- transfers --------------------------------------------------------------------------------

_TP_COLS = (
    "id, role, provider_pid, consumer_pid, state, counterparty_id, counterparty_address,"
    " agreement_id, dataset_id, format, data_address, token_hash, error, created_at, updated_at,"
    " purpose"
)


def _tp_params(t: Transfer) -> tuple[Any, ...]:
    return (
        t.id,
        t.role.value,
        t.provider_pid,
        t.consumer_pid,
        t.state,
        t.counterparty_id,
        t.counterparty_address,
        t.agreement_id,
        t.dataset_id,
        t.format,
        None if t.data_address is None else _dump(t.data_address),
        t.token_hash,
        t.error,
        t.created_at,
        t.updated_at,
        t.purpose,
    )


def insert_transfer(tx: Tx, t: Transfer) -> None:
    tx.execute(
        f"INSERT INTO transfers ({_TP_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        _tp_params(t),
    )


def update_transfer(tx: Tx, t: Transfer) -> None:
    p = _tp_params(t)
    tx.execute(
        "UPDATE transfers SET provider_pid=?, consumer_pid=?, state=?, data_address=?,"
        " token_hash=?, error=?, updated_at=? WHERE id=?",
        (p[2], p[3], p[4], p[10], p[11], p[12], p[14], t.id),
    )


def _transfer(row: Row) -> Transfer:
    return Transfer(
        id=row["id"],
        role=Role(row["role"]),
        provider_pid=row["provider_pid"],
        consumer_pid=row["consumer_pid"],
        state=row["state"],
        counterparty_id=row["counterparty_id"],
        counterparty_address=row["counterparty_address"],
        agreement_id=row["agreement_id"],
        dataset_id=row["dataset_id"],
        format=row["format"],
        data_address=None if row["data_address"] is None else json.loads(row["data_address"]),
        token_hash=row["token_hash"],
        error=row["error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        purpose=row["purpose"],
    )


def get_transfer(tx: Tx, transfer_id: str, *, lock: bool = False) -> Transfer | None:
    """``lock=True`` before changing the record (a row lock on PostgreSQL)."""
    row = tx.one(
        f"SELECT {_TP_COLS} FROM transfers WHERE id = ?{_lock(tx) if lock else ''}", (transfer_id,)
    )
    return None if row is None else _transfer(row)


def find_provider_transfer(tx: Tx, counterparty_id: str, consumer_pid: str) -> Transfer | None:
    row = tx.one(
        f"SELECT {_TP_COLS} FROM transfers WHERE role = 'provider' AND counterparty_id = ?"
        f" AND consumer_pid = ?{_lock(tx)}",
        (counterparty_id, consumer_pid),
    )
    return None if row is None else _transfer(row)


def provider_transfers_in(tx: Tx, states: tuple[str, ...]) -> list[Transfer]:
    marks = ",".join("?" for _ in states)
    rows = tx.all(
        f"SELECT {_TP_COLS} FROM transfers WHERE role = 'provider' AND state IN ({marks})"
        " ORDER BY created_at",
        states,
    )
    return [_transfer(r) for r in rows]


def list_transfers(tx: Tx, limit: int = 100, offset: int = 0) -> list[Transfer]:
    rows = tx.all(
        f"SELECT {_TP_COLS} FROM transfers ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
        (limit, offset),
    )
    return [_transfer(r) for r in rows]


# --- outbox -----------------------------------------------------------------------------------


def enqueue(
    tx: Tx,
    *,
    process_kind: str,
    process_id: str,
    peer_id: str,
    url: str,
    body: dict[str, Any],
    not_before: float,
    created_at: float,
    final: bool = False,
) -> None:
    tx.execute(
        "INSERT INTO outbox (process_kind, process_id, peer_id, url, body, final, status, attempts,"
        " not_before, created_at) VALUES (?,?,?,?,?,?,'pending',0,?,?)",
        (process_kind, process_id, peer_id, url, _dump(body), int(final), not_before, created_at),
    )


def claim_due(tx: Tx, *, now: float, lease: float, limit: int) -> list[OutboxItem]:
    """Lease the oldest pending message of each process that is due.

    Messages of one process go out strictly in order: a message is only claimed
    when no earlier pending message of the same process exists.
    """
    lock = " FOR UPDATE SKIP LOCKED" if tx.dialect == "postgresql" else ""
    rows = tx.all(
        "SELECT o.id, o.process_kind, o.process_id, o.peer_id, o.url, o.body, o.final, o.attempts,"
        " o.not_before, o.last_error FROM outbox o WHERE o.status = 'pending' AND o.not_before <= ?"
        " AND o.lease_until <= ? AND NOT EXISTS (SELECT 1 FROM outbox e WHERE"
        " e.process_id = o.process_id AND e.status = 'pending' AND e.id < o.id)"
        f" ORDER BY o.id LIMIT ?{lock}",
        (now, now, limit),
    )
    if rows:
        marks = ",".join("?" * len(rows))
        tx.execute(
            f"UPDATE outbox SET lease_until = ? WHERE id IN ({marks})",
            [now + lease, *[r["id"] for r in rows]],
        )
    return [
        OutboxItem(
            id=int(r["id"]),
            process_kind=r["process_kind"],
            process_id=r["process_id"],
            peer_id=r["peer_id"],
            url=r["url"],
            body=json.loads(r["body"]),
            final=bool(r["final"]),
            attempts=int(r["attempts"]),
            not_before=float(r["not_before"]),
            last_error=r["last_error"],
        )
        for r in rows
    ]


def next_due(tx: Tx) -> float | None:
    row = tx.one(
        "SELECT min(CASE WHEN lease_until > not_before THEN lease_until ELSE not_before END) AS t"
        " FROM outbox WHERE status = 'pending'"
    )
    return None if row is None or row["t"] is None else float(row["t"])


def mark_sent(tx: Tx, item_id: int) -> None:
    tx.execute(
        "UPDATE outbox SET status = 'sent', attempts = attempts + 1, lease_until = 0 WHERE id = ?",
        (item_id,),
    )


def mark_retry(tx: Tx, item_id: int, *, not_before: float, error: str) -> None:
    tx.execute(
        "UPDATE outbox SET attempts = attempts + 1, not_before = ?, lease_until = 0, last_error = ?"
        " WHERE id = ?",
        (not_before, error, item_id),
    )


def mark_dead(tx: Tx, item_id: int, error: str) -> None:
    tx.execute(
        "UPDATE outbox SET status = 'dead', attempts = attempts + 1, lease_until = 0,"
        " last_error = ? WHERE id = ?",
        (error, item_id),
    )


def drop_pending(tx: Tx, process_id: str, reason: str) -> None:
    tx.execute(
        "UPDATE outbox SET status = 'dropped', last_error = ? WHERE process_id = ? AND status = 'pending'",
        (reason, process_id),
    )


def release_leases(tx: Tx) -> None:
    tx.execute("UPDATE outbox SET lease_until = 0 WHERE status = 'pending'")


def pending_count(tx: Tx) -> int:
    row = tx.one("SELECT count(*) AS n FROM outbox WHERE status = 'pending'")
    return int(row["n"]) if row else 0


def outbox_items(tx: Tx, process_id: str) -> list[Row]:
    return tx.all("SELECT * FROM outbox WHERE process_id = ? ORDER BY id", (process_id,))


# --- idempotency and replay -------------------------------------------------------------------


def remember_message(tx: Tx, process_id: str, message_id: str, now: float) -> bool:
    """Record a received message id; False if it was already processed."""
    return (
        tx.execute(
            "INSERT INTO received_messages (process_id, message_id, received_at) VALUES (?,?,?)"
            " ON CONFLICT DO NOTHING",
            (process_id, message_id, now),
        )
        == 1
    )


def seen_message(tx: Tx, process_id: str, message_id: str) -> bool:
    row = tx.one(
        "SELECT 1 AS x FROM received_messages WHERE process_id = ? AND message_id = ?",
        (process_id, message_id),
    )
    return row is not None


def remember_token(tx: Tx, jti: str, expires_at: float, now: float) -> bool:
    tx.execute("DELETE FROM seen_tokens WHERE expires_at < ?", (now,))
    return (
        tx.execute(
            "INSERT INTO seen_tokens (jti, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (jti, expires_at),
        )
        == 1
    )


# --- process history --------------------------------------------------------------------------


def record_event(
    tx: Tx,
    process_id: str,
    *,
    at: float,
    direction: str,
    message: str,
    state: str,
    detail: str | None = None,
) -> None:
    """One line of a process's history: a message received ("in"), queued ("out") or a local step."""
    tx.execute(
        "INSERT INTO process_events (process_id, at, direction, message, state, detail) VALUES (?,?,?,?,?,?)",
        (process_id, at, direction, message, state, detail),
    )
    evidence.record(
        tx,
        at=at,
        kind="process-message" if direction in ("in", "out") else "process-step",
        subject=process_id,
        data={"direction": direction, "message": message, "state": state, "detail": detail},
    )


def arrivals(tx: Tx, process_id: str, state: str) -> int:
    """How often received messages brought the process to ``state``."""
    row = tx.one(
        "SELECT count(*) AS n FROM process_events WHERE process_id = ? AND direction = 'in'"
        " AND state = ?",
        (process_id, state),
    )
    return int(row["n"]) if row else 0


def events(tx: Tx, process_id: str) -> list[Row]:
    return tx.all(
        "SELECT at, direction, message, state, detail FROM process_events WHERE process_id = ? ORDER BY id",
        (process_id,),
    )
