"""Usage-control records: uses counted against agreements, payments, and the decision log."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from trustspace.store import evidence
from trustspace.store.db import Row, Tx


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def usage_counts(tx: Tx, agreement_id: str) -> dict[str, int]:
    rows = tx.all(
        "SELECT action, COUNT(*) AS n FROM usage WHERE agreement_id = ? GROUP BY action",
        (agreement_id,),
    )
    return {r["action"]: int(r["n"]) for r in rows}


def used_by(tx: Tx, agreement_id: str, action: str, transfer_id: str) -> bool:
    row = tx.one(
        "SELECT 1 AS x FROM usage WHERE agreement_id = ? AND action = ? AND transfer_id = ?",
        (agreement_id, action, transfer_id),
    )
    return row is not None


def record_usage(tx: Tx, agreement_id: str, action: str, transfer_id: str, at: float) -> None:
    tx.execute(
        "INSERT INTO usage (agreement_id, action, transfer_id, at) VALUES (?,?,?,?)",
        (agreement_id, action, transfer_id, at),
    )
    evidence.record(
        tx,
        at=at,
        kind="data-access",
        subject=transfer_id,
        data={"agreement": agreement_id, "action": action, "allowed": True},
    )


def insert_payment(
    tx: Tx, agreement_id: str, amount: str, unit: str, reference: str | None, at: float
) -> None:
    tx.execute(
        "INSERT INTO payments (agreement_id, amount, unit, reference, at) VALUES (?,?,?,?,?)",
        (agreement_id, amount, unit, reference, at),
    )


def payments(tx: Tx, agreement_id: str) -> list[Row]:
    return tx.all(
        "SELECT amount, unit, reference, at FROM payments WHERE agreement_id = ? ORDER BY id",
        (agreement_id,),
    )


def insert_decision(
    tx: Tx,
    *,
    at: float,
    point: str,
    principal: str,
    process_id: str | None,
    agreement_id: str | None,
    dataset_id: str | None,
    decision: str,
    reasons: list[str],
    report: Any,
) -> None:
    tx.execute(
        "INSERT INTO decisions (at, point, principal, process_id, agreement_id, dataset_id,"
        " decision, reasons, report) VALUES (?,?,?,?,?,?,?,?,?)",
        (
            at,
            point,
            principal,
            process_id,
            agreement_id,
            dataset_id,
            decision,
            _dump(reasons),
            _dump(report),
        ),
    )
    evidence.record(
        tx,
        at=at,
        kind="policy-decision",
        subject=process_id or dataset_id or principal,
        data={
            "point": point,
            "principal": principal,
            "agreement": agreement_id,
            "dataset": dataset_id,
            "decision": decision,
            "reasons": reasons,
            "reportSha256": hashlib.sha256(_dump(report).encode()).hexdigest(),
        },
    )


def decisions(
    tx: Tx,
    *,
    agreement_id: str | None = None,
    process_id: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    where, params = [], []
    if agreement_id is not None:
        where.append("agreement_id = ?")
        params.append(agreement_id)
    if process_id is not None:
        where.append("process_id = ?")
        params.append(process_id)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    rows = tx.all(f"SELECT * FROM decisions{clause} ORDER BY id DESC LIMIT ?", (*params, limit))
    return [
        {
            "id": r["id"],
            "at": r["at"],
            "point": r["point"],
            "principal": r["principal"],
            "processId": r["process_id"],
            "agreementId": r["agreement_id"],
            "datasetId": r["dataset_id"],
            "decision": r["decision"],
            "reasons": json.loads(r["reasons"]),
            "report": json.loads(r["report"]),
        }
        for r in rows
    ]
