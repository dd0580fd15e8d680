"""Compute-to-data end to end: the consumer's SQL runs at the provider; only guarded
aggregates come back."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.e2e.conftest import Space, make_space
from tests.e2e.flow import negotiate, publish
from trustspace.cli.localnode import DemoNode

RULE = {
    "table": "visits",
    "entity": "patient_id",
    "columns": {"ward": ["group"], "age": ["filter", "aggregate"], "amount": ["aggregate"]},
    "aggregates": ["count", "sum", "avg"],
    "minGroupSize": 10,
    "groupPolicy": "suppress",
    "maxRows": 100,
}


def _data(path: Path, rows: int = 2000) -> None:
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT range AS patient_id, CASE WHEN range = 7 THEN 'icu' ELSE 'ward-' || (range % 5) END"
        f" AS ward, 20 + range % 60 AS age, (range % 97) * 10.0 AS amount FROM range({rows}))"
        f" TO '{path}' (FORMAT parquet)"
    )
    con.close()


def _job(consumer: DemoNode, agreement_id: str, query: str, **extra: Any) -> dict[str, Any]:
    with consumer.client() as c:
        job = c.call(
            "POST", "/api/compute/jobs", {"agreementId": agreement_id, "query": query, **extra}
        )
        deadline = time.monotonic() + 180  # the first Spark job starts a JVM
        while job["state"] not in ("RELEASED", "REFUSED", "REJECTED", "FAILED", "PENDING_REVIEW"):
            assert time.monotonic() < deadline, job
            time.sleep(0.1)
            job = c.call("GET", f"/api/compute/jobs/{job['id']}")
    return job


def _setup(
    space: Space, tmp_path: Path, rule: dict[str, Any], rows: int = 2000, **publish_extra: Any
) -> str:
    _data(tmp_path / "visits.parquet", rows)
    published = publish(
        space.provider, tmp_path / "visits.parquet", computeRule=rule, **publish_extra
    )
    neg = negotiate(space.consumer, space.provider, published["id"])
    assert neg["state"] == "FINALIZED", neg
    return str(neg["agreementId"])


def test_accepted_queries_release_aggregates_and_small_groups_are_suppressed(
    space: Space, tmp_path: Path
) -> None:
    agreement = _setup(space, tmp_path, RULE)
    job = _job(space.consumer, agreement,
               "SELECT ward, COUNT(*) AS n, AVG(amount) AS mean FROM visits GROUP BY ward ORDER BY ward")  # fmt: skip
    assert job["state"] == "RELEASED", job
    direct = duckdb.connect().execute(
        f"SELECT ward, COUNT(*), AVG(amount) FROM '{tmp_path / 'visits.parquet'}' GROUP BY ward"
        " HAVING COUNT(*) >= 10 ORDER BY ward").fetchall()  # fmt: skip
    assert [tuple(r) for r in job["result"]["rows"]] == [tuple(r) for r in direct]
    assert "icu" not in {r[0] for r in job["result"]["rows"]}  # one patient: suppressed
    assert job["result"]["columns"] == ["ward", "n", "mean"] and len(job["resultSha256"]) == 64
    # Differencing through a filter that isolates one person finds nothing to subtract.
    alone = _job(
        space.consumer,
        agreement,
        "SELECT COUNT(*) AS n, SUM(amount) AS s FROM visits WHERE ward = 'icu'",
    )
    assert alone["state"] == "RELEASED" and alone["result"]["rows"] == []
    assert alone["result"]["withheld"] == job["result"]["withheld"]  # the same whatever the data
    assert alone["result"]["withheld"]["counted"] is False
    assert alone["result"]["withheld"]["minGroupSize"] == 10


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("SELECT * FROM visits", "SELECT * returns rows"),
        (
            "SELECT patient_id, COUNT(*) FROM visits GROUP BY patient_id",
            "column 'patient_id' may not be grouped on",
        ),
        (
            "SELECT COUNT(*) FROM visits WHERE patient_id = 7",
            "WHERE: column 'patient_id' may not be filtered on",
        ),
        ("SELECT ward, MAX(amount) FROM visits GROUP BY ward", "MAX is not allowed"),
        (
            "SELECT COUNT(*) FROM read_parquet('/etc/passwd')",
            "only the product's tables may be read, not function READ_PARQUET",
        ),
        (
            "SELECT ward, lower(ward), COUNT(*) FROM visits GROUP BY ward",
            "function LOWER is not allowed",
        ),
        ("SELECT amount FROM visits", "may only be used inside an aggregate"),
        ("DELETE FROM visits", "exactly one SELECT"),
    ],
)
def test_queries_outside_the_rule_are_refused_with_the_reason(
    space: Space, tmp_path: Path, query: str, reason: str
) -> None:
    agreement = _setup(space, tmp_path, RULE)
    job = _job(space.consumer, agreement, query)
    assert job["state"] == "REFUSED" and reason in job["reason"], job
    assert job["result"] is None


def test_differential_privacy_budget_noise_and_differencing(space: Space, tmp_path: Path) -> None:
    rule = {**RULE, "aggregates": ["count", "sum"], "minGroupSize": 1,
            "dp": {"epsilonPerQuery": 1.0, "budget": 3.0, "bounds": {"amount": [0, 1000]}}}  # fmt: skip
    agreement = _setup(space, tmp_path, rule)
    everyone = _job(space.consumer, agreement, "SELECT SUM(amount) AS s FROM visits")
    without = _job(space.consumer, agreement, "SELECT SUM(amount) AS s FROM visits WHERE age <> 27")
    assert everyone["state"] == without["state"] == "RELEASED"
    exact = duckdb.connect().execute(
        f"SELECT SUM(amount), SUM(amount) FILTER (WHERE age <> 27) FROM '{tmp_path / 'visits.parquet'}'").fetchone()  # fmt: skip
    assert exact is not None
    noisy_difference = everyone["result"]["rows"][0][0] - without["result"]["rows"][0][0]
    assert everyone["result"]["rows"][0][0] != exact[0]  # noise was added
    assert everyone["result"]["noise"] == "laplace"
    # The difference is exact[0] - exact[1] plus the difference of two Laplace(1000) draws.
    assert noisy_difference != exact[0] - exact[1]
    third = _job(space.consumer, agreement, "SELECT COUNT(*) AS n FROM visits")
    assert third["state"] == "RELEASED"
    spent = _job(space.consumer, agreement, "SELECT COUNT(*) AS n FROM visits")
    assert spent["state"] == "REFUSED"
    assert "privacy budget of this product is exhausted: 3 of 3 spent" in spent["reason"]
    refused_avg = _job(space.consumer, agreement, "SELECT AVG(amount) FROM visits")
    assert "not allowed" in refused_avg["reason"]


def test_manual_review_and_a_job_that_runs_out_of_time(space: Space, tmp_path: Path) -> None:
    rule = {**RULE, "approval": "manual", "limits": {"seconds": 0.01}}
    agreement = _setup(space, tmp_path, rule, rows=3_000_000)  # seconds of work, not 10 ms
    waiting = _job(
        space.consumer, agreement, "SELECT ward, COUNT(*), AVG(amount) FROM visits GROUP BY ward"
    )
    assert waiting["state"] == "PENDING_REVIEW"
    with space.provider.client() as p:
        queue = p.call("GET", "/api/compute/review")
        assert [j["id"] for j in queue] == [waiting["id"]]
        p.call("POST", f"/api/compute/jobs/{waiting['id']}/approve", {})
        rejected = _job(space.consumer, agreement, "SELECT COUNT(*) FROM visits")
        p.call("POST", f"/api/compute/jobs/{rejected['id']}/reject", {"reason": "not this week"})
    with space.consumer.client() as c:
        deadline = time.monotonic() + 20
        while (job := c.call("GET", f"/api/compute/jobs/{waiting['id']}"))["state"] in (
            "QUEUED",
            "RUNNING",
        ):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert job["state"] == "FAILED" and "ran out of time" in job["reason"], job
        assert c.call("GET", f"/api/compute/jobs/{rejected['id']}")["reason"] == "not this week"
        health = c.call("GET", "/api/health")
    assert health["status"] == "ok"


def test_a_job_interrupted_by_a_restart_runs_once_and_spends_once(tmp_path: Path) -> None:
    space = make_space(tmp_path)
    try:
        rule = {**RULE, "approval": "manual", "minGroupSize": 1,
                "dp": {"epsilonPerQuery": 0.5, "budget": 5.0, "bounds": {"amount": [0, 1000]}},
                "aggregates": ["count", "sum"]}  # fmt: skip
        agreement = _setup(space, tmp_path, rule)
        job = _job(space.consumer, agreement, "SELECT COUNT(*) AS n FROM visits")
        assert job["state"] == "PENDING_REVIEW"
        space.provider.stop()
        db = sqlite3.connect(space.provider.dir / "trustspace.db")
        db.execute(
            "UPDATE compute_jobs SET state = 'RUNNING' WHERE id = ?", (job["id"],)
        )  # it was running
        db.commit()
        db.close()
        space.provider.start()
        space.provider.wait_ready()
        with space.consumer.client() as c:
            deadline = time.monotonic() + 20
            while (state := c.call("GET", f"/api/compute/jobs/{job['id']}"))["state"] != "RELEASED":
                assert time.monotonic() < deadline, state
                time.sleep(0.1)
        db = sqlite3.connect(space.provider.dir / "trustspace.db")
        spent = db.execute("SELECT spent FROM compute_spent").fetchone()[0]
        runs = db.execute("SELECT COUNT(*) FROM evidence WHERE kind = 'compute-job'"
                          " AND data LIKE '%RELEASED%'").fetchone()[0]  # fmt: skip
        db.close()
        assert spent == 0.5 and runs == 1
    finally:
        for node in space.nodes():
            node.stop()


def test_the_agreement_is_checked_at_admission(space: Space, tmp_path: Path) -> None:
    terms = {"permission": [{"action": "use", "constraint": [
        {"leftOperand": "purpose", "operator": "eq", "rightOperand": "ai-evaluation"},
        {"leftOperand": "count", "operator": "lteq", "rightOperand": 2}]}]}  # fmt: skip
    agreement = _setup(space, tmp_path, RULE, policy=terms)
    with (
        space.consumer.client() as c,
        pytest.raises(
            Exception, match="HTTP 400: the provider refused: the declared purpose is not known"
        ),
    ):
        c.call(
            "POST",
            "/api/compute/jobs",
            {"agreementId": agreement, "query": "SELECT COUNT(*) FROM visits"},
        )
    for _ in range(2):
        ok = _job(
            space.consumer, agreement, "SELECT COUNT(*) AS n FROM visits", purpose="ai-evaluation"
        )
        assert ok["state"] == "RELEASED", ok
    with (
        space.consumer.client() as c,
        pytest.raises(Exception, match=r"the provider refused: .*the use count .* is 3"),
    ):
        c.call("POST", "/api/compute/jobs", {"agreementId": agreement, "query": "SELECT COUNT(*) FROM visits",
                                             "purpose": "ai-evaluation"})  # fmt: skip
    # The consumer node keeps the provider's refusal in the provider's words.
    with space.consumer.client() as c:
        refused = [j for j in c.call("GET", "/api/compute/jobs") if j["state"] == "REFUSED"]
    assert refused and all(j["reason"].startswith("the provider refused: ") for j in refused)
    assert not any("answered 403" in j["reason"] or "502" in j["reason"] for j in refused)


def test_cli_mock_try_and_submit(space: Space, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    agreement = _setup(space, tmp_path, RULE)
    env = {"TRUSTSPACE_NODE": space.consumer.url, "TRUSTSPACE_MANAGEMENT_KEY": space.consumer.key,
           "COLUMNS": "200", "PATH": "/usr/bin:/bin"}  # fmt: skip

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "trustspace", "compute", *args], capture_output=True,
                              text=True, env=env, timeout=60)  # fmt: skip

    mock = tmp_path / "mock.json"
    assert cli("mock", agreement, "-o", str(mock)).returncode == 0
    data = json.loads(mock.read_text())
    assert data["synthetic"] is True and data["table"] == "visits"
    real = {str(v) for v in duckdb.connect().execute(
        f"SELECT DISTINCT ward FROM '{tmp_path / 'visits.parquet'}'").fetchall()}  # fmt: skip
    assert not {str(r["ward"]) for r in data["rows"]} & {
        w.strip("(),'") for w in real
    }  # no real values
    tried = cli("try", str(mock), "SELECT ward, COUNT(*) AS n FROM visits GROUP BY ward")
    assert tried.returncode == 0 and "accepted on mock data" in tried.stdout, (
        tried.stdout + tried.stderr
    )
    refused = cli("try", str(mock), "SELECT * FROM visits")
    assert refused.returncode == 1 and "the provider would refuse this query" in refused.stderr
    done = cli("submit", agreement, "SELECT COUNT(*) AS n FROM visits")
    assert done.returncode == 0 and "RELEASED" in done.stdout and "2000" in done.stdout, done.stdout
    # A result whose only group was withheld says so, and why, but not how many.
    empty = cli("submit", agreement, "SELECT COUNT(*) AS n FROM visits WHERE ward = 'icu'")
    text = " ".join(empty.stdout.split())
    assert empty.returncode == 0 and "RELEASED" in text, empty.stdout
    assert "No group released: every group the query asked for was withheld." in text
    assert "groups of fewer than 10 distinct entities are withheld" in text
    assert "the overlap audit withholds groups" in text and "how many groups" in text
    job_id = text.split("job ")[1].split(": RELEASED")[0]
    shown = " ".join(cli("status", job_id).stdout.split())
    assert "No group released" in shown and "fewer than 10 distinct entities" in shown
    # A row-level query is named as one.
    rows = cli("submit", agreement, "SELECT ward FROM visits")
    assert (
        rows.returncode == 1
        and "'ward' without GROUP BY is a row-level query: select"
        " aggregates (COUNT, SUM, AVG) or GROUP BY the column"
        in " ".join((rows.stdout + rows.stderr).split())
    )


def test_a_product_can_run_on_spark_with_the_same_result(space: Space, tmp_path: Path) -> None:
    import shutil

    if shutil.which("java") is None:
        pytest.skip("Spark needs a Java runtime (apt-get install openjdk-17-jre-headless)")
    pytest.importorskip("pyspark", reason="the Spark engine needs pyspark")
    agreement = _setup(space, tmp_path, {**RULE, "engine": "spark"})
    job = _job(
        space.consumer,
        agreement,
        "SELECT ward, COUNT(*) AS n, SUM(amount) AS s FROM visits GROUP BY ward",
    )
    assert job["state"] == "RELEASED", job
    direct = duckdb.connect().execute(
        f"SELECT ward, COUNT(*), SUM(amount) FROM '{tmp_path / 'visits.parquet'}' GROUP BY ward"
        " HAVING COUNT(*) >= 10").fetchall()  # fmt: skip
    assert sorted(tuple(r) for r in job["result"]["rows"]) == sorted(
        (w, n, float(s)) for w, n, s in direct
    )


JOIN_RULE = {
    "table": "patients",
    "entity": "patient_id",
    "columns": {"ward": ["group"]},
    "joins": [{"table": "stays", "left": "patient_id", "right": "patient",
               "columns": {"days": ["aggregate"], "kind": ["group", "filter"]}}],
    "minGroupSize": 10,
}  # fmt: skip
JOIN_QUERY = (
    "SELECT p.ward, s.kind, COUNT(*) AS n, SUM(s.days) AS d FROM patients p"
    " JOIN stays s ON p.patient_id = s.patient GROUP BY p.ward, s.kind"
)


def _two_tables(tmp_path: Path) -> tuple[Path, Path]:
    patients, stays = tmp_path / "patients.parquet", tmp_path / "stays.csv"
    con = duckdb.connect()
    con.execute(
        "COPY (SELECT range AS patient_id, CASE WHEN range = 7 THEN 'icu' ELSE 'ward-' || (range % 3)"
        f" END AS ward FROM range(300)) TO '{patients}' (FORMAT parquet)"
    )
    con.execute(
        "COPY (SELECT range % 300 AS patient, CASE WHEN range % 300 = 11 THEN 'rare' ELSE"
        " 'kind-' || (range % 2) END AS kind, 1 + range % 9 AS days FROM range(1200))"
        f" TO '{stays}' (FORMAT csv, HEADER)"
    )
    return patients, stays


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_joins_across_the_files_of_a_version(space: Space, tmp_path: Path, engine: str) -> None:
    if engine == "spark":
        import shutil

        if shutil.which("java") is None:
            pytest.skip("Spark needs a Java runtime (apt-get install openjdk-17-jre-headless)")
        pytest.importorskip("pyspark", reason="the Spark engine needs pyspark")
    patients, stays = _two_tables(tmp_path)
    rule = {**JOIN_RULE, "engine": engine}
    with space.provider.client() as p:
        published = p.call("POST", "/api/datasets", {
            "paths": [str(patients), str(stays)], "title": "stays", "computeRule": rule})  # fmt: skip
    neg = negotiate(space.consumer, space.provider, published["id"])
    job = _job(space.consumer, neg["agreementId"], JOIN_QUERY)
    assert job["state"] == "RELEASED", job
    direct = duckdb.connect().execute(
        f"SELECT p.ward, s.kind, COUNT(*), SUM(s.days) FROM '{patients}' p JOIN '{stays}' s"
        " ON p.patient_id = s.patient GROUP BY p.ward, s.kind"
        " HAVING COUNT(DISTINCT p.patient_id) >= 10").fetchall()  # fmt: skip
    assert sorted((w, k, n, float(d)) for w, k, n, d in job["result"]["rows"]) == sorted(
        (w, k, n, float(d)) for w, k, n, d in direct
    )
    kinds = {r[1] for r in job["result"]["rows"]}
    assert "rare" not in kinds and "icu" not in {r[0] for r in job["result"]["rows"]}
    refused = _job(space.consumer, neg["agreementId"],
                   "SELECT COUNT(*) FROM patients p LEFT JOIN stays s ON p.patient_id = s.patient")  # fmt: skip
    assert refused["state"] == "REFUSED" and "only inner joins" in refused["reason"]


def test_a_rule_must_name_the_tables_of_its_version(space: Space, tmp_path: Path) -> None:
    patients, stays = _two_tables(tmp_path)
    bad = {**JOIN_RULE, "joins": [{**JOIN_RULE["joins"][0], "table": "admissions"}]}  # type: ignore[dict-item]
    with space.provider.client() as p:
        before = p.call("GET", "/api/datasets")
        with pytest.raises(Exception, match="admissions is not a table of this version"):
            p.call("POST", "/api/datasets", {"paths": [str(patients), str(stays)],
                                             "title": "x", "computeRule": bad})  # fmt: skip
        with pytest.raises(Exception, match="compute runs on the product's files"):
            p.call("POST", "/api/datasets", {"title": "x", "computeRule": JOIN_RULE,
                                             "api": {"baseUrl": "http://127.0.0.1:9/v1"}})  # fmt: skip
        with pytest.raises(Exception, match="joins need a version of several files"):
            p.call("POST", "/api/datasets", {"path": str(patients), "title": "x",
                                             "computeRule": JOIN_RULE})  # fmt: skip
        assert p.call("GET", "/api/datasets") == before


def test_mock_and_try_cover_the_joined_tables(space: Space, tmp_path: Path) -> None:
    import json

    from tests.e2e.test_listing import cli as run_cli

    patients, stays = _two_tables(tmp_path)
    with space.provider.client() as p:
        published = p.call("POST", "/api/datasets", {
            "paths": [str(patients), str(stays)], "title": "stays", "computeRule": JOIN_RULE})  # fmt: skip
    neg = negotiate(space.consumer, space.provider, published["id"])

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(space.consumer, "compute", *args)

    mock = tmp_path / "mock.json"
    got = cli("mock", neg["agreementId"], "-o", str(mock))
    assert got.returncode == 0, got.stdout + got.stderr
    data = json.loads(mock.read_text())
    assert set(data["joined"]) == {"stays"} and data["joined"]["stays"]["rows"]
    tried = cli("try", str(mock), JOIN_QUERY)
    assert tried.returncode == 0 and "accepted on mock data" in tried.stdout, (
        tried.stdout + tried.stderr
    )
    assert "mock-entity" not in tried.stdout  # the entity is counted, never shown


DP_RULE = {**RULE, "aggregates": ["count", "sum"],
           "dp": {"epsilonPerQuery": 0.5, "budget": 5.0, "bounds": {"amount": [0, 1000]}}}  # fmt: skip


def _provider_jobs(space: Space) -> list[tuple[str, str]]:
    db = sqlite3.connect(space.provider.dir / "trustspace.db")
    try:
        return db.execute("SELECT id, state FROM compute_jobs WHERE role = 'provider'").fetchall()
    finally:
        db.close()


def test_a_submission_is_idempotent_and_lost_jobs_are_found(space: Space, tmp_path: Path) -> None:
    """A retry with the same key returns the job the first attempt created and spends nothing
    more; a job whose answer the consumer lost is found again from the provider."""
    agreement = _setup(space, tmp_path, DP_RULE)
    body = {"agreementId": agreement, "query": "SELECT COUNT(*) AS n FROM visits", "key": "k-1"}
    with space.consumer.client() as c:
        first = c.call("POST", "/api/compute/jobs", body)
        again = c.call("POST", "/api/compute/jobs", body)
        assert again["id"] == first["id"] and again["key"] == "k-1"
        with pytest.raises(Exception, match="key 'k-1' was used for another job"):
            c.call("POST", "/api/compute/jobs", {**body, "query": "SELECT SUM(amount) FROM visits"})
    assert [jid for jid, _ in _provider_jobs(space)] == [first["id"]]
    # The consumer loses its record (as if it had crashed before writing the answer down).
    db = sqlite3.connect(space.consumer.dir / "trustspace.db")
    db.execute("DELETE FROM compute_jobs WHERE role = 'consumer'")
    db.commit()
    db.close()
    with space.consumer.client() as c:
        assert c.call("GET", "/api/compute/jobs") == []
        found = c.call("GET", f"/api/compute/jobs?agreement={agreement}")
        assert [j["id"] for j in found] == [first["id"]]
        assert c.call("POST", "/api/compute/jobs", body)["id"] == first["id"]
    db = sqlite3.connect(space.provider.dir / "trustspace.db")
    spent = db.execute("SELECT spent FROM compute_spent").fetchone()[0]
    db.close()
    assert spent == 0.5 and len(_provider_jobs(space)) == 1


def test_a_provider_that_is_down_keeps_the_job_for_a_retry(space: Space, tmp_path: Path) -> None:
    agreement = _setup(space, tmp_path, RULE)
    body = {"agreementId": agreement, "query": "SELECT COUNT(*) AS n FROM visits", "key": "k-2"}
    space.provider.stop()
    with space.consumer.client() as c:
        with pytest.raises(Exception, match="submit again with the same key") as err:
            c.call("POST", "/api/compute/jobs", body)
        assert "HTTP 50" in str(err.value)
        kept = c.call("GET", "/api/compute/jobs")
        assert [(j["key"], j["state"]) for j in kept] == [("k-2", "SUBMITTING")]
    space.provider.start()
    space.provider.wait_ready()
    job = _job(space.consumer, agreement, body["query"], key="k-2")
    assert job["state"] == "RELEASED" and job["id"] == kept[0]["id"], job
    assert len(_provider_jobs(space)) == 1


def test_differencing_is_withheld_by_the_overlap_audit(space: Space, tmp_path: Path) -> None:
    """Threshold only: everyone, then everyone but the icu patient, would give that patient's
    amount; the second answer is withheld.  A fresh product (another audit) answers it."""
    agreement = _setup(space, tmp_path, RULE)
    everyone = _job(space.consumer, agreement, "SELECT SUM(amount) AS s FROM visits")
    assert everyone["state"] == "RELEASED" and len(everyone["result"]["rows"]) == 1
    without = _job(space.consumer, agreement,
                   "SELECT SUM(amount) AS s FROM visits WHERE ward <> 'icu'")  # fmt: skip
    assert without["state"] == "RELEASED" and without["result"]["rows"] == []
    wards = _job(space.consumer, agreement,
                 "SELECT ward, SUM(amount) FROM visits GROUP BY ward ORDER BY ward")  # fmt: skip
    assert len(wards["result"]["rows"]) == 4  # the fifth would complete the subtraction
    same_again = _job(space.consumer, agreement, "SELECT SUM(amount) AS s FROM visits")
    assert same_again["result"] == everyone["result"]  # asking the same thing is free


def test_personal_information_gets_differential_privacy_unless_declared(
    space: Space, tmp_path: Path
) -> None:
    _data(tmp_path / "visits.parquet")
    with space.provider.client() as p:
        personal = p.call("POST", "/api/datasets", {
            "path": str(tmp_path / "visits.parquet"), "title": "visits", "computeRule": RULE,
            "declaration": {"personalInformation": True}})  # fmt: skip
        declared = p.call("POST", "/api/datasets", {
            "path": str(tmp_path / "visits.parquet"), "title": "visits",
            "computeRule": {**RULE, "thresholdOnly": {"reason": "ward totals, reviewed by the DPO"}},
            "declaration": {"personalInformation": True}})  # fmt: skip
        with pytest.raises(Exception, match="has no column nurse"):
            p.call("POST", "/api/datasets", {
                "path": str(tmp_path / "visits.parquet"), "title": "visits",
                "computeRule": {**RULE, "columns": {**RULE["columns"], "nurse": ["group"]}}})  # fmt: skip
    with space.consumer.client() as c:
        offered = c.call("POST", "/api/catalog", {"address": space.provider.dsp})
    rules = {
        d["@id"]: d.get("https://w3id.org/trustspace/ns/analysisRule") for d in offered["dataset"]
    }
    assert rules[personal["id"]]["dp"]["epsilonPerQuery"] == 1.0
    assert rules[declared["id"]]["thresholdOnly"]["reason"] == "ward totals, reviewed by the DPO"
    db = sqlite3.connect(space.provider.dir / "trustspace.db")
    logged = dict(
        db.execute("SELECT subject, data FROM evidence WHERE kind = 'compute-privacy'").fetchall()
    )
    db.close()
    assert '"privacy":"differential"' in logged[personal["id"]]
    assert "reviewed by the DPO" in logged[declared["id"]]
    neg = negotiate(space.consumer, space.provider, personal["id"])
    job = _job(
        space.consumer, neg["agreementId"], "SELECT ward, COUNT(*) AS n FROM visits GROUP BY ward"
    )
    assert job["state"] == "RELEASED" and job["result"]["noise"] == "laplace"


def test_the_mock_of_someone_elses_agreement_is_plainly_missing(
    space: Space, tmp_path: Path
) -> None:
    agreement = _setup(space, tmp_path, RULE)
    with space.provider.client() as p, pytest.raises(Exception, match="HTTP 404") as err:
        p.call("GET", f"/api/compute/mock/{agreement}")
    assert "where this node is the consumer" in str(err.value)
