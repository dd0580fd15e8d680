"""The assessor's reports on a product version.  Pure: the caller passes the listing's facts.

An assessment attaches two JSON objects, documented in ``docs/compliance.md`` with examples in
``docs/examples/``:

- a **compliance report**: who assessed (``assessor``), when (``assessedAt``, ISO 8601 with
  its UTC offset), which version (``scope.versionHash``, the listing's; ``scope.datasetId``
  when given, the listing's dataset), the ``outcome`` (``pass``, ``conditional`` or ``fail``)
  and its ``findings``, each ``{requirement, status, note}`` with status ``met``, ``not-met``
  or ``not-applicable``.  The outcome must agree with the findings: ``pass`` has no finding
  ``not-met``; ``conditional`` and ``fail`` have at least one, and every ``not-met`` finding
  says why in its note.
- a **quality report**: ``assessedAt``, the ``method`` and the ``sampleSize`` (rows checked, a
  whole number of at least 1), and the measured ``completeness`` and ``accuracy`` (and, when
  measured, ``consistency``, ``timeliness`` and ``uniqueness``), each a share in [0, 1].

Any other field is refused (a misspelt ``completness`` must not pass as a report without a
completeness).  Each problem names the field, as ``complianceReport.findings[1].status``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

OUTCOMES = ("pass", "conditional", "fail")
STATUSES = ("met", "not-met", "not-applicable")
QUALITY_REQUIRED = ("completeness", "accuracy")
QUALITY_OPTIONAL = ("consistency", "timeliness", "uniqueness")
MAX_TEXT = 4000
MAX_FINDINGS = 200

COMPLIANCE_FIELDS = ("assessor", "assessedAt", "scope", "outcome", "findings", "notes")
QUALITY_FIELDS = ("assessedAt", "method", "sampleSize", *QUALITY_REQUIRED, *QUALITY_OPTIONAL,
                  "notes")  # fmt: skip


class ReportError(ValueError):
    """A report does not follow the format; the message names the field."""


def _text(doc: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    value = doc.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ReportError(f"{where}.{key} must be a non-empty string")
    if len(value) > MAX_TEXT:
        raise ReportError(f"{where}.{key} must be at most {MAX_TEXT} characters")
    return value


def _instant(doc: Mapping[str, Any], where: str) -> None:
    value = _text(doc, "assessedAt", where)
    assert value is not None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ReportError(
            f"{where}.assessedAt must be an ISO 8601 date and time, like 2026-03-02T10:00:00Z"
        ) from None
    if at.tzinfo is None:
        raise ReportError(f"{where}.assessedAt needs its UTC offset (Z or +08:00)")


def _fields(doc: object, allowed: tuple[str, ...], where: str) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise ReportError(f"{where} must be a JSON object")
    unknown = sorted(set(doc) - set(allowed))
    if unknown:
        raise ReportError(f"{where}.{unknown[0]} is not a field of the report"
                          f" (fields: {', '.join(allowed)})")  # fmt: skip
    return doc


def compliance_problem(report: object, *, dataset_id: str, version_hash: str) -> None:
    """Raise :class:`ReportError` unless ``report`` is a compliance report on this version."""
    where = "complianceReport"
    doc = _fields(report, COMPLIANCE_FIELDS, where)
    _text(doc, "assessor", where)
    _instant(doc, where)
    scope = doc.get("scope")
    if not isinstance(scope, Mapping):
        raise ReportError(f"{where}.scope must be an object naming the versionHash assessed")
    _fields(scope, ("datasetId", "versionHash"), f"{where}.scope")
    if scope.get("versionHash") != version_hash:
        raise ReportError(f"{where}.scope.versionHash must be the listing's version hash"
                          f" {version_hash}")  # fmt: skip
    if "datasetId" in scope and scope["datasetId"] != dataset_id:
        raise ReportError(f"{where}.scope.datasetId must be the listing's dataset {dataset_id}")
    outcome = doc.get("outcome")
    if outcome not in OUTCOMES:
        raise ReportError(f"{where}.outcome must be one of {', '.join(OUTCOMES)}")
    findings = doc.get("findings")
    if not isinstance(findings, list) or not findings:
        raise ReportError(f"{where}.findings must be a non-empty list of"
                          " {requirement, status, note}")  # fmt: skip
    if len(findings) > MAX_FINDINGS:
        raise ReportError(f"{where}.findings holds at most {MAX_FINDINGS} findings")
    unmet = []
    for i, finding in enumerate(findings):
        at = f"{where}.findings[{i}]"
        item = _fields(finding, ("requirement", "status", "note"), at)
        _text(item, "requirement", at)
        if item.get("status") not in STATUSES:
            raise ReportError(f"{at}.status must be one of {', '.join(STATUSES)}")
        note = _text(item, "note", at, required=item["status"] == "not-met")
        if item["status"] == "not-met":
            unmet.append((i, note))
    if outcome == "pass" and unmet:
        raise ReportError(f"{where}.outcome is pass, but findings[{unmet[0][0]}] is not-met")
    if outcome != "pass" and not unmet:
        raise ReportError(f"{where}.outcome is {outcome}: name the finding that is not-met")
    _text(doc, "notes", where, required=False)


def _share(doc: Mapping[str, Any], key: str, where: str) -> None:
    value = doc.get(key)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= 1
    ):
        raise ReportError(f"{where}.{key} must be a number from 0 to 1 (a share, 0.98 for 98%)")


def quality_problem(report: object) -> None:
    """Raise :class:`ReportError` unless ``report`` is a quality report."""
    where = "qualityReport"
    doc = _fields(report, QUALITY_FIELDS, where)
    _instant(doc, where)
    _text(doc, "method", where)
    size = doc.get("sampleSize")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ReportError(f"{where}.sampleSize must be a whole number of rows, at least 1")
    for key in QUALITY_REQUIRED:
        _share(doc, key, where)
    for key in QUALITY_OPTIONAL:
        if key in doc:
            _share(doc, key, where)
    _text(doc, "notes", where, required=False)


def check_reports(reports: Mapping[str, Any], *, dataset_id: str, version_hash: str) -> None:
    """Both reports of an assessment; raises :class:`ReportError` at the first problem."""
    compliance_problem(reports.get("complianceReport"), dataset_id=dataset_id,
                       version_hash=version_hash)  # fmt: skip
    quality_problem(reports.get("qualityReport"))
