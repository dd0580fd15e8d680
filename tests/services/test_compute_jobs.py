"""Compute jobs in the provider's store, on SQLite and PostgreSQL: admission, budget, running,
release, requeue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.store.conftest import db  # noqa: F401  (the SQLite + PostgreSQL fixture)
from trustspace.core.machine import Role
from trustspace.core.records import Agreement, Negotiation
from trustspace.services import catalog, compute
from trustspace.services.catalog import FileSource, VersionSpec
from trustspace.services.context import NodeContext
from trustspace.store.db import Database

RULE = {"table": "visits", "entity": "pid", "columns": {"ward": ["group"], "amount": ["aggregate"]},
        "aggregates": ["count", "sum"], "minGroupSize": 2,
        "dp": {"epsilonPerQuery": 1.0, "budget": 2.0, "bounds": {"amount": [0, 100]}}}  # fmt: skip


@pytest.fixture
def provider(db: Database, tmp_path: Path) -> NodeContext:  # noqa: F811
    ctx = NodeContext(db=db, participant_id="provider", dsp_base="http://p/dsp", data_base="http://p/data",
                      blob_dir=tmp_path / "blobs")  # fmt: skip
    src = tmp_path / "visits.parquet"
    duckdb.connect().execute(f"COPY (SELECT range AS pid, 'w' || (range % 3) AS ward, range % 50 AS amount"
                             f" FROM range(300)) TO '{src}' (FORMAT parquet)")  # fmt: skip
    dataset, _ = catalog.publish(
        ctx, VersionSpec("visits", (FileSource.at(src),), compute_rule=RULE)
    )
    now = ctx.clock()
    with db.tx() as tx:
        from trustspace.store import agreements
        from trustspace.store import negotiations as negotiation_rows

        negotiation_rows.insert_negotiation(tx, Negotiation(id="urn:n:1", role=Role.PROVIDER, state="FINALIZED",
                                                counterparty_id="lab", counterparty_address="http://c",
                                                dataset_id=dataset.id, offer={}, created_at=now,
                                                updated_at=now, agreement_id="urn:a:1"))  # fmt: skip
        agreements.insert_agreement(tx, Agreement(id="urn:a:1", negotiation_id="urn:n:1", dataset_id=dataset.id,
                                            provider_id="provider", consumer_id="lab",
                                            policy={"@id": "urn:a:1", "@type": "Agreement",
                                                    "permission": [{"action": "use"}]},
                                            created_at=now))  # fmt: skip
    return ctx


def _submit(ctx: NodeContext, query: str) -> dict[str, Any]:
    return compute.submit(ctx, "lab", {"agreementId": "urn:a:1", "query": query})


def test_jobs_run_once_and_the_budget_is_spent_at_admission(provider: NodeContext) -> None:
    first = _submit(provider, "SELECT ward, COUNT(*) AS n FROM visits GROUP BY ward")
    assert first["state"] == "QUEUED" and first["epsilon"] == 1.0
    job = compute.claim(provider)
    assert job is not None and compute.claim(provider) is None  # one runner gets it
    compute.execute(provider, job)
    released = compute.get(provider, "lab", first["id"])
    assert released["state"] == "RELEASED" and len(released["result"]["rows"]) == 3
    second = _submit(provider, "SELECT SUM(amount) AS s FROM visits")
    assert second["state"] == "QUEUED"
    assert compute.requeue_interrupted(provider) == 0
    running = compute.claim(provider)
    assert running is not None
    assert compute.requeue_interrupted(provider) == 1  # as at start-up after a crash
    again = compute.claim(provider)
    assert again is not None and again["id"] == second["id"] and again["attempts"] == 2
    compute.execute(provider, again)
    third = _submit(provider, "SELECT COUNT(*) AS n FROM visits")
    assert third["state"] == "REFUSED" and "exhausted: 2 of 2 spent" in third["reason"]
    with provider.db.tx() as tx:
        spent = tx.one("SELECT SUM(spent) AS spent FROM compute_spent")
    assert spent is not None and float(spent["spent"]) == 2.0
    with pytest.raises(Exception, match="no compute job"):
        compute.get(provider, "someone-else", first["id"])  # another participant sees nothing


def test_laplace_noise_has_the_scale_it_promises() -> None:
    draws = [compute.laplace(1000.0, 50.0, integer=False) - 1000.0 for _ in range(4000)]
    spread = sum(abs(d) for d in draws) / len(draws)  # E|X| = scale for Laplace
    assert 42 < spread < 58, spread
    assert abs(sum(draws) / len(draws)) < 5  # centred
    counts = [compute.laplace(100, 2.0, integer=True) for _ in range(500)]
    assert all(float(c).is_integer() for c in counts) and len(set(counts)) > 5
