"""Compliance-gated listing at the operator, and the certificates it issues.

Workflow of a product version:
1. **submitted** by its provider. The listing rules (:mod:`trustspace.core.compliance`) are
   checked first, and a version that breaks one is refused, not queued.
2. **assessed**: an assessor member attaches a compliance report and a quality report, in the
   format of :mod:`trustspace.core.assessment` (a report that does not follow it is refused and
   changes nothing).
3. **listed**: the operator approves and issues a registration certificate; a version whose
   compliance report's outcome is ``fail`` cannot be approved. Alternatively it is
   **rejected** with reasons.
4. **delisted** later, with a reason.

Only listed versions reach the federated catalog.  A trade certificate is issued for a finalised
agreement when its provider reports it.  Every decision and certificate is evidence.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from trustspace.core.assessment import ReportError, check_reports
from trustspace.core.compliance import listing_problems
from trustspace.operator.service import Operator
from trustspace.services.errors import NotFound, Refused
from trustspace.store import evidence
from trustspace.store.db import Row, Tx
from trustspace.trust.credentials import issue_certificate


def _sha(value: Any) -> str:
    return hashlib.sha256(
        json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def _listing(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "providerId": row["provider_id"],
        "datasetId": row["dataset_id"],
        "versionHash": row["version_hash"],
        "submission": json.loads(row["submission"]),
        "status": row["status"],
        "reasons": json.loads(row["reasons"]) if row["reasons"] else [],
        "assessment": json.loads(row["assessment"]) if row["assessment"] else None,
        "certificate": row["certificate"],
        "submittedAt": row["submitted_at"],
        "updatedAt": row["updated_at"],
    }


class Listings:
    def __init__(self, operator: Operator) -> None:
        self.op = operator
        self.db = operator.db

    def _get(self, tx: Tx, listing_id: str) -> dict[str, Any]:
        suffix = " FOR UPDATE" if tx.dialect == "postgresql" else ""
        row = tx.one(f"SELECT * FROM listings WHERE id = ?{suffix}", (listing_id,))
        if row is None:
            raise NotFound(f"no listing {listing_id}")
        return _listing(row)

    def _set(self, tx: Tx, listing_id: str, status: str, **fields: Any) -> None:
        now = self.op.clock()
        sets, params = ["status = ?", "updated_at = ?"], [status, now]
        for key, value in fields.items():
            sets.append(f"{key} = ?")
            params.append(value)
        tx.execute(f"UPDATE listings SET {', '.join(sets)} WHERE id = ?", (*params, listing_id))
        evidence.record(tx, at=now, kind="listing-decision", subject=listing_id,
                        data={"status": status, **{k: v for k, v in fields.items()
                                                   if k != "certificate"}})  # fmt: skip

    def submit(self, provider_id: str, submission: dict[str, Any]) -> dict[str, Any]:
        for key in ("datasetId", "versionHash", "title", "classification"):
            if not isinstance(submission.get(key), str) or not submission[key]:
                raise Refused(f"the submission needs {key}")
        pii_kinds = submission.get("piiKinds", [])
        if not isinstance(pii_kinds, list):
            raise Refused("piiKinds must be a list of the kinds of personal information found")
        pii = [str(k) for k in pii_kinds]
        problems = listing_problems(
            submission["classification"], pii, submission.get("declaration")
        )
        if problems:
            raise Refused("; ".join(problems))
        now = self.op.clock()
        listing_id = f"urn:uuid:{uuid.uuid4()}"
        with self.db.tx() as tx:
            member = tx.one("SELECT status FROM members WHERE participant_id = ?", (provider_id,))
            if member is None or member["status"] != "active":
                raise Refused(f"{provider_id} is not an active member")
            tx.execute(
                "INSERT INTO listings (id, provider_id, dataset_id, version_hash, submission,"
                " status, submitted_at, updated_at) VALUES (?,?,?,?,?,'submitted',?,?)",
                (listing_id, provider_id, submission["datasetId"], submission["versionHash"],
                 json.dumps(submission), now, now),
            )  # fmt: skip
            evidence.record(tx, at=now, kind="listing-submitted", subject=listing_id,
                            data={"provider": provider_id, "dataset": submission["datasetId"],
                                  "versionHash": submission["versionHash"]})  # fmt: skip
            return self._get(tx, listing_id)

    def assess(self, assessor: str, roles: tuple[str, ...], listing_id: str,
               reports: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
        if "assessor" not in roles:
            raise Refused(f"{assessor} is not an assessor member")
        with self.db.tx() as tx:
            listing = self._get(tx, listing_id)
            if listing["status"] not in ("submitted", "assessed"):
                raise Refused(f"listing {listing_id} is {listing['status']}")
            if listing["providerId"] == assessor:
                raise Refused("a provider cannot assess its own product")
            try:
                check_reports(reports, dataset_id=listing["datasetId"],
                              version_hash=listing["versionHash"])  # fmt: skip
            except ReportError as exc:
                raise Refused(str(exc)) from None
            assessment = {
                "assessor": assessor,
                "complianceReport": reports["complianceReport"],
                "qualityReport": reports["qualityReport"],
                "complianceReportSha256": _sha(reports["complianceReport"]),
                "qualityReportSha256": _sha(reports["qualityReport"]),
            }
            self._set(tx, listing_id, "assessed", assessment=json.dumps(assessment))
            return self._get(tx, listing_id)

    def approve(self, listing_id: str) -> dict[str, Any]:
        now = self.op.clock()
        with self.db.tx() as tx:
            listing = self._get(tx, listing_id)
            if listing["status"] != "assessed":
                raise Refused(
                    f"listing {listing_id} is {listing['status']}; it must be assessed first"
                )
            sub, assessment = listing["submission"], listing["assessment"]
            outcome = (assessment.get("complianceReport") or {}).get("outcome")
            if outcome == "fail":
                raise Refused(f"listing {listing_id}'s compliance report's outcome is fail:"
                              " reject it, or have it assessed again")  # fmt: skip
            token, cert_id = issue_certificate(
                self.op.signing_key, self.op.operator_id, kind="RegistrationCertificate",
                subject=listing["providerId"],
                claims={
                    "listing": listing_id,
                    "product": {"provider": listing["providerId"], "dataset": listing["datasetId"],
                                "versionHash": listing["versionHash"], "title": sub["title"]},
                    "classification": sub["classification"],
                    "rights": (sub.get("declaration") or {}).get("rights", {}),
                    "assessor": assessment["assessor"],
                    "complianceOutcome": outcome,
                    "complianceReportSha256": assessment["complianceReportSha256"],
                    "qualityReportSha256": assessment["qualityReportSha256"],
                },
                now=now,
            )  # fmt: skip
            self._set(tx, listing_id, "listed", certificate=token)
            self._store_cert(tx, cert_id, "registration", listing_id, token, now)
            return self._get(tx, listing_id)

    def reject(self, listing_id: str, reasons: list[str]) -> dict[str, Any]:
        if not reasons or not all(isinstance(r, str) and r.strip() for r in reasons):
            raise Refused("a rejection gives its reasons")
        with self.db.tx() as tx:
            listing = self._get(tx, listing_id)
            if listing["status"] not in ("submitted", "assessed"):
                raise Refused(f"listing {listing_id} is {listing['status']}")
            self._set(tx, listing_id, "rejected", reasons=json.dumps(reasons))
            return self._get(tx, listing_id)

    def delist(self, listing_id: str, reason: str) -> dict[str, Any]:
        if not reason.strip():
            raise Refused("delisting gives a reason")
        with self.db.tx() as tx:
            listing = self._get(tx, listing_id)
            if listing["status"] != "listed":
                raise Refused(f"listing {listing_id} is {listing['status']}, not listed")
            self._set(tx, listing_id, "delisted", reasons=json.dumps([reason]))
            return self._get(tx, listing_id)

    def get(self, listing_id: str) -> dict[str, Any]:
        with self.db.tx() as tx:
            return self._get(tx, listing_id)

    def all(self, status: str | None = None, provider: str | None = None) -> list[dict[str, Any]]:
        where, params = [], []
        if status:
            where.append("status = ?")
            params.append(status)
        if provider:
            where.append("provider_id = ?")
            params.append(provider)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self.db.tx() as tx:
            rows = tx.all(f"SELECT * FROM listings{clause} ORDER BY submitted_at", params)
        return [_listing(r) for r in rows]

    def listed(self) -> set[tuple[str, str]]:
        """(provider, dataset) pairs with a listed version: what the catalog may show."""
        with self.db.tx() as tx:
            rows = tx.all("SELECT provider_id, dataset_id FROM listings WHERE status = 'listed'")
        return {(r["provider_id"], r["dataset_id"]) for r in rows}

    def certify_trade(self, provider_id: str, report: dict[str, Any]) -> str:
        agreement = report.get("agreement")
        if not isinstance(agreement, dict) or not isinstance(agreement.get("@id"), str):
            raise Refused("a trade report carries the agreement")
        if agreement.get("assigner") != provider_id:
            raise Refused("only the provider of an agreement reports its trade")
        now = self.op.clock()
        with self.db.tx() as tx:
            existing = tx.one(
                "SELECT token FROM certificates WHERE kind = 'trade' AND subject = ?",
                (agreement["@id"],),
            )
            if existing is not None:
                return str(existing["token"])
            consumer = tx.one(
                "SELECT status FROM members WHERE participant_id = ?", (agreement.get("assignee"),)
            )
            if consumer is None:
                raise Refused(f"the consumer {agreement.get('assignee')} is not a member")
            listing = tx.one(
                "SELECT id, version_hash FROM listings WHERE provider_id = ? AND dataset_id = ?"
                " AND status = 'listed' ORDER BY updated_at DESC LIMIT 1",
                (provider_id, agreement.get("target")),
            )
            token, cert_id = issue_certificate(
                self.op.signing_key, self.op.operator_id, kind="TradeCertificate",
                subject=agreement["@id"],
                claims={
                    "provider": provider_id,
                    "consumer": agreement.get("assignee"),
                    "product": {"dataset": agreement.get("target"),
                                "versionHash": report.get("versionHash")
                                or (listing["version_hash"] if listing else None),
                                "listing": listing["id"] if listing else None},
                    "agreementSha256": _sha(agreement),
                    "price": report.get("price"),
                },
                now=now,
            )  # fmt: skip
            self._store_cert(tx, cert_id, "trade", agreement["@id"], token, now)
        return token

    def _store_cert(
        self, tx: Tx, cert_id: str, kind: str, subject: str, token: str, now: float
    ) -> None:
        tx.execute(
            "INSERT INTO certificates (id, kind, subject, token, issued_at) VALUES (?,?,?,?,?)",
            (cert_id, kind, subject, token, now),
        )
        evidence.record(tx, at=now, kind=f"certificate-{kind}", subject=subject,
                        data={"certificate": cert_id, "sha256": hashlib.sha256(token.encode()).hexdigest()})  # fmt: skip

    def certificates(self) -> list[dict[str, Any]]:
        with self.db.tx() as tx:
            rows = tx.all("SELECT * FROM certificates ORDER BY issued_at")
        return [dict(r) for r in rows]
