"""The operator's records: applications, members, issued credentials, signing keys."""

from __future__ import annotations

import json
from typing import Any

from trustspace.store.db import Row, Tx


def _member(row: Row) -> dict[str, Any]:
    return {
        "participantId": row["participant_id"],
        "legalName": row["legal_name"],
        "registrationNumber": row["registration_number"],
        "region": row["region"],
        "sector": row["sector"],
        "roles": json.loads(row["roles"]),
        "dspUrl": row["dsp_url"],
        "publicKey": row["public_key"],
        "status": row["status"],
        "reason": row["reason"],
        "joinedAt": row["joined_at"],
    }


def _application(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "participantId": row["participant_id"],
        "legalName": row["legal_name"],
        "registrationNumber": row["registration_number"],
        "region": row["region"],
        "sector": row["sector"],
        "contact": row["contact"],
        "dspUrl": row["dsp_url"],
        "publicKey": row["public_key"],
        "roles": json.loads(row["roles"]),
        "status": row["status"],
        "reason": row["reason"],
        "submittedAt": row["submitted_at"],
        "decidedAt": row["decided_at"],
    }


def insert_application(tx: Tx, app_id: str, fields: dict[str, Any], now: float) -> None:
    tx.execute(
        "INSERT INTO applications (id, participant_id, legal_name, registration_number, region,"
        " sector, contact, dsp_url, public_key, roles, status, submitted_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,'pending',?)",
        (
            app_id,
            fields["participantId"],
            fields["legalName"],
            fields["registrationNumber"],
            fields["region"],
            fields["sector"],
            fields["contact"],
            fields["dspUrl"],
            fields["publicKey"],
            json.dumps(fields["roles"]),
            now,
        ),
    )


def get_application(tx: Tx, app_id: str, *, lock: bool = False) -> dict[str, Any] | None:
    suffix = " FOR UPDATE" if lock and tx.dialect == "postgresql" else ""
    row = tx.one(f"SELECT * FROM applications WHERE id = ?{suffix}", (app_id,))
    return None if row is None else _application(row)


def pending_for(tx: Tx, participant_id: str) -> bool:
    row = tx.one(
        "SELECT 1 AS x FROM applications WHERE participant_id = ? AND status = 'pending'",
        (participant_id,),
    )
    return row is not None


def list_applications(tx: Tx, status: str | None = None) -> list[dict[str, Any]]:
    if status is None:
        rows = tx.all("SELECT * FROM applications ORDER BY submitted_at")
    else:
        rows = tx.all(
            "SELECT * FROM applications WHERE status = ? ORDER BY submitted_at", (status,)
        )
    return [_application(r) for r in rows]


def decide_application(tx: Tx, app_id: str, status: str, reason: str | None, now: float) -> None:
    tx.execute(
        "UPDATE applications SET status = ?, reason = ?, decided_at = ? WHERE id = ?",
        (status, reason, now, app_id),
    )


def insert_member(tx: Tx, app: dict[str, Any], now: float) -> None:
    tx.execute(
        "INSERT INTO members (participant_id, application_id, legal_name, registration_number,"
        " region, sector, roles, dsp_url, public_key, status, joined_at, updated_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,'active',?,?)",
        (
            app["participantId"],
            app["id"],
            app["legalName"],
            app["registrationNumber"],
            app["region"],
            app["sector"],
            json.dumps(app["roles"]),
            app["dspUrl"],
            app["publicKey"],
            now,
            now,
        ),
    )


def get_member(tx: Tx, participant_id: str) -> dict[str, Any] | None:
    row = tx.one("SELECT * FROM members WHERE participant_id = ?", (participant_id,))
    return None if row is None else _member(row)


def list_members(tx: Tx) -> list[dict[str, Any]]:
    return [_member(r) for r in tx.all("SELECT * FROM members ORDER BY participant_id")]


def set_member_status(
    tx: Tx, participant_id: str, status: str, reason: str | None, now: float
) -> None:
    tx.execute(
        "UPDATE members SET status = ?, reason = ?, updated_at = ? WHERE participant_id = ?",
        (status, reason, now, participant_id),
    )


def set_member_key(tx: Tx, participant_id: str, public_key: str, now: float) -> None:
    tx.execute(
        "UPDATE members SET public_key = ?, updated_at = ? WHERE participant_id = ?",
        (public_key, now, participant_id),
    )


def insert_credential(
    tx: Tx,
    credential_id: str,
    participant_id: str,
    public_key: str,
    token: str,
    issued_at: float,
    expires_at: float,
) -> None:
    tx.execute(
        "INSERT INTO credentials (id, participant_id, public_key, token, issued_at, expires_at)"
        " VALUES (?,?,?,?,?,?)",
        (credential_id, participant_id, public_key, token, issued_at, expires_at),
    )


def latest_credential(tx: Tx, participant_id: str) -> str | None:
    row = tx.one(
        "SELECT token FROM credentials WHERE participant_id = ? AND revoked = 0"
        " ORDER BY issued_at DESC LIMIT 1",
        (participant_id,),
    )
    return None if row is None else str(row["token"])


def revoked_credentials(tx: Tx, now: float) -> list[str]:
    rows = tx.all("SELECT id FROM credentials WHERE revoked = 1 AND expires_at > ?", (now,))
    return [str(r["id"]) for r in rows]


def insert_key(tx: Tx, kid: str, public_key: str, now: float) -> None:
    tx.execute(
        "INSERT INTO operator_keys (kid, public_key, created_at) VALUES (?,?,?)",
        (kid, public_key, now),
    )


def retire_keys_except(tx: Tx, kid: str, now: float) -> None:
    tx.execute(
        "UPDATE operator_keys SET retired_at = ? WHERE kid <> ? AND retired_at IS NULL",
        (now, kid),
    )


def keys(tx: Tx) -> list[Row]:
    return tx.all("SELECT * FROM operator_keys ORDER BY created_at")
