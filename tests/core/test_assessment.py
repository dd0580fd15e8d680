"""The assessor's report format: the documented examples pass, each broken field is named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trustspace.core.assessment import ReportError, check_reports

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def _examples() -> dict[str, Any]:
    return {"complianceReport": json.loads((EXAMPLES / "compliance-report.json").read_text()),
            "qualityReport": json.loads((EXAMPLES / "quality-report.json").read_text())}  # fmt: skip


def _check(reports: dict[str, Any]) -> None:
    """Check as the operator would, for the listing the examples name."""
    scope = _examples()["complianceReport"]["scope"]
    check_reports(reports, dataset_id=scope["datasetId"], version_hash=scope["versionHash"])


def test_the_documented_examples_are_accepted() -> None:
    _check(_examples())


def test_a_pass_without_findings_not_met_and_without_optional_fields_is_accepted() -> None:
    reports = _examples()
    compliance = reports["complianceReport"]
    compliance.update(outcome="pass", findings=[{"requirement": "rights", "status": "met"}])
    del compliance["notes"], compliance["scope"]["datasetId"]
    quality = reports["qualityReport"]
    for key in ("consistency", "timeliness", "notes"):
        del quality[key]
    _check(reports)


@pytest.mark.parametrize(
    ("report", "change", "message"),
    [
        ("complianceReport", {"assessor": ""}, "complianceReport.assessor must be a non-empty"),
        ("complianceReport", {"assessedAt": "2026-03-02T10:00:00"}, "complianceReport.assessedAt needs its UTC offset"),
        ("complianceReport", {"assessedAt": 20260302}, "complianceReport.assessedAt must be a non-empty string"),
        ("complianceReport", {"scope": "everything"}, "complianceReport.scope must be an object"),
        ("complianceReport", {"scope": {"versionHash": "x" * 64, "datasetId": "urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427"}},
         "complianceReport.scope.versionHash must be the listing's version hash"),
        ("complianceReport", {"scope": {"versionHash": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "datasetId": "urn:other"}},
         "complianceReport.scope.datasetId must be the listing's dataset"),
        ("complianceReport", {"outcome": "PASS"}, "complianceReport.outcome must be one of pass, conditional, fail"),
        ("complianceReport", {"findings": []}, "complianceReport.findings must be a non-empty list"),
        ("complianceReport", {"findings": ["ok"]}, "complianceReport.findings[0] must be a JSON object"),
        ("complianceReport", {"findings": [{"requirement": "rights", "status": "not-met"}]},
         "complianceReport.findings[0].note must be a non-empty string"),
        ("complianceReport", {"findings": [{"status": "met"}]}, "complianceReport.findings[0].requirement"),
        ("complianceReport", {"findings": [{"requirement": "x", "status": "met", "severity": 1}]},
         "complianceReport.findings[0].severity is not a field of the report"),
        ("complianceReport", {"outcome": "fail", "findings": [{"requirement": "rights", "status": "met"}]},
         "complianceReport.outcome is fail: name the finding that is not-met"),
        ("complianceReport", {"ok": True}, "complianceReport.ok is not a field of the report"),
        ("qualityReport", {"accuracy": -0.1}, "qualityReport.accuracy must be a number from 0 to 1"),
        ("qualityReport", {"accuracy": True}, "qualityReport.accuracy must be a number from 0 to 1"),
        ("qualityReport", {"accuracy": float("nan")}, "qualityReport.accuracy must be a number from 0 to 1"),
        ("qualityReport", {"timeliness": "high"}, "qualityReport.timeliness must be a number from 0 to 1"),
        ("qualityReport", {"sampleSize": 0}, "qualityReport.sampleSize must be a whole number"),
        ("qualityReport", {"sampleSize": 2.5}, "qualityReport.sampleSize must be a whole number"),
        ("qualityReport", {"method": None}, "qualityReport.method must be a non-empty string"),
        ("qualityReport", {"rows": "as declared"}, "qualityReport.rows is not a field of the report"),
    ],
)  # fmt: skip
def test_each_broken_field_is_refused_by_name(
    report: str, change: dict[str, Any], message: str
) -> None:
    reports = _examples()
    reports[report].update(change)
    with pytest.raises(ReportError) as refused:
        _check(reports)
    assert message in str(refused.value)


@pytest.mark.parametrize("missing", ["complianceReport", "qualityReport"])
def test_a_missing_or_non_object_report_is_refused(missing: str) -> None:
    for value in (None, [], "report"):
        reports = {**_examples(), missing: value}
        with pytest.raises(ReportError, match=f"^{missing} must be a JSON object"):
            _check(reports)
