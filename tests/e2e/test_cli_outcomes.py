"""The command line against real nodes: the exit code says how a command ended (and stderr
why), ``--json`` prints one document, tables never cut an ID, a unique prefix names a record,
and times read as ISO 8601."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Space
from tests.e2e.flow import publish
from tests.e2e.test_cli import run
from tests.e2e.test_compute import RULE, _data

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
PURPOSE_ONLY = {"permission": [{"action": "use", "constraint": [
    {"leftOperand": "purpose", "operator": "eq", "rightOperand": "ai-training"}]}]}  # fmt: skip


def _agreement(space: Space, tmp_path: Path, **extra: Any) -> str:
    data = tmp_path / "data.csv"
    data.write_text("id,value\n1,2\n")
    published = publish(space.provider, data, **extra)
    c, p = space.consumer, space.provider
    out = run(c.url, c.key, "negotiate", p.dsp, published["id"], "--json")
    assert out.returncode == 0, out.stderr
    return str(json.loads(out.stdout)["agreementId"])


def test_a_transfer_refused_for_its_purpose_exits_1_with_the_reason(
    space: Space, tmp_path: Path
) -> None:
    c = space.consumer
    agreement = _agreement(space, tmp_path, policy=PURPOSE_ONLY)
    out = run(c.url, c.key, "transfer", "start", agreement, "--purpose", "marketing")
    assert out.returncode == 1, out.stdout + out.stderr
    assert json.loads(out.stdout)["state"] == "TERMINATED"
    reason = " ".join(out.stderr.split())
    assert "ended TERMINATED" in reason
    assert "the declared purpose is marketing; the policy requires it to be ai-training" in reason
    out = run(c.url, c.key, "transfer", "start", agreement, "--purpose", "ai-training")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["state"] == "STARTED" and out.stderr == ""


def test_a_negotiation_that_ends_terminated_exits_1(space: Space, tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("id\n1\n")
    in_cn = {"permission": [{"action": "use", "constraint": [
        {"leftOperand": "spatial", "operator": "eq", "rightOperand": "CN"}]}]}  # fmt: skip
    published = publish(space.provider, data, policy=in_cn)  # the consumer has no region
    c = space.consumer
    out = run(c.url, c.key, "negotiate", space.provider.dsp, published["id"])
    assert out.returncode == 1, out.stdout + out.stderr
    neg = json.loads(out.stdout)
    assert neg["state"] == "TERMINATED"
    assert f"negotiation {neg['id']} ended TERMINATED" in " ".join(out.stderr.split())


def test_refused_compute_jobs_exit_1_and_a_released_one_0(space: Space, tmp_path: Path) -> None:
    _data(tmp_path / "visits.parquet")
    terms = {"permission": [{"action": "use", "constraint": [
        {"leftOperand": "purpose", "operator": "eq", "rightOperand": "ai-evaluation"}]}]}  # fmt: skip
    published = publish(space.provider, tmp_path / "visits.parquet", computeRule=RULE,
                        policy=terms)  # fmt: skip
    c = space.consumer
    out = run(c.url, c.key, "negotiate", space.provider.dsp, published["id"])
    agreement = json.loads(out.stdout)["agreementId"]

    # Refused at admission: the purpose is not declared.
    out = run(c.url, c.key, "compute", "submit", agreement, "SELECT COUNT(*) AS n FROM visits")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "the declared purpose is not known" in " ".join(out.stderr.split())
    # Refused by the guard: a row-level query.
    out = run(c.url, c.key, "compute", "submit", agreement, "SELECT ward FROM visits",
              "--purpose", "ai-evaluation", "--json")  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    assert "row-level query" in " ".join(out.stderr.split())
    if out.stdout:  # the job, when the node kept one
        assert json.loads(out.stdout)["state"] in ("REFUSED", "REJECTED")
    # Released.
    out = run(c.url, c.key, "compute", "submit", agreement, "SELECT COUNT(*) AS n FROM visits",
              "--purpose", "ai-evaluation", "--json")  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    job = json.loads(out.stdout)
    assert job["state"] == "RELEASED" and ISO.match(job["createdAt"]), job
    # Its status, by a prefix of its id without urn:uuid:.
    short = job["id"].removeprefix("urn:uuid:")[:8]
    out = run(c.url, c.key, "compute", "status", short, "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["id"] == job["id"], out.stderr


def test_tables_show_whole_ids_and_json_is_one_document(space: Space, tmp_path: Path) -> None:
    c = space.consumer
    agreement = _agreement(space, tmp_path)
    out = run(c.url, c.key, "transfer", "start", agreement)
    transfer = json.loads(out.stdout)
    with c.client() as api:
        negotiation = api.call("GET", "/api/negotiations")[0]["id"]
    for columns in ("80", "120"):
        for command, ids in (("negotiations", (negotiation, agreement)),
                             ("transfers", (transfer["id"], agreement))):  # fmt: skip
            out = run(c.url, c.key, command, env={"COLUMNS": columns})
            assert out.returncode == 0, out.stderr
            assert all(i in out.stdout for i in ids), (columns, out.stdout)
            assert "…" not in out.stdout
    for command in ("negotiations", "transfers"):
        out = run(c.url, c.key, command, "--json")
        assert out.returncode == 0 and out.stderr == ""
        rows = json.loads(out.stdout)  # the whole of stdout is one document
        assert rows and all(ISO.match(r["createdAt"]) and ISO.match(r["updatedAt"]) for r in rows)
    out = run(c.url, c.key, "transfers", env={"COLUMNS": "200"})
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", out.stdout), out.stdout


def test_a_unique_prefix_names_a_record(space: Space, tmp_path: Path) -> None:
    c = space.consumer
    agreement = _agreement(space, tmp_path)
    bare = agreement.removeprefix("urn:uuid:")
    first = json.loads(run(c.url, c.key, "transfer", "start", bare[:6]).stdout)
    assert first["agreementId"] == agreement
    second = json.loads(run(c.url, c.key, "transfer", "start", "urn:uuid:" + bare[:6]).stdout)
    assert second["agreementId"] == agreement and second["id"] != first["id"]

    out = run(c.url, c.key, "transfer", "suspend", "urn:uuid:")
    assert out.returncode == 2
    assert "prefix urn:uuid: matches 2 transfers" in " ".join(out.stderr.split())
    assert first["id"] in out.stderr.replace("\n", "") and second["id"] in out.stderr.replace(
        "\n", ""
    )
    out = run(c.url, c.key, "transfer", "suspend", "zzzz")
    assert out.returncode == 2 and "no transfer matches 'zzzz'" in out.stderr

    prefix = first["id"].removeprefix("urn:uuid:")[:8]
    out = run(c.url, c.key, "transfer", "complete", prefix, "--json")
    assert out.returncode == 0, out.stderr
    done = json.loads(out.stdout)
    assert done["id"] == first["id"] and done["state"] == "COMPLETED"


def test_bad_choices_are_usage_errors_naming_the_allowed_values(space: Space) -> None:
    c = space.consumer
    out = run(c.url, c.key, "search", "--sector", "toys")
    assert out.returncode == 2 and "health" in out.stderr and "energy" in out.stderr
    out = run(c.url, c.key, "search", "--region", "China")
    assert out.returncode == 2 and "ISO 3166" in out.stderr
    out = run(c.url, c.key, "member", "apply", "--operator", "op", "--legal-name", "x",
              "--registration-number", "1", "--region", "CN", "--sector", "health",
              "--contact", "x", "--roles", "provider,king")  # fmt: skip
    assert out.returncode == 2 and "king" in out.stderr and "assessor" in out.stderr
