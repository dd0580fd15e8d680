"""Driving compute jobs through real nodes for the attack corpus.

A :class:`Lab` holds one space (provider and consumer processes) for a whole test module and
publishes products on it lazily: one product per (dataset variant, rule, file format, label),
so that attacks whose outcome depends on what was already released to the consumer (the overlap
audit is per consumer per product) can each get a product of their own.

``Asker.ask(sql)`` submits a job through the consumer's management API (which forwards it to the
provider over DSP), follows it to a final state and returns what the consumer observes, as an
:class:`Observation`.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.compute_data import Variant, write
from tests.e2e.conftest import Space
from tests.e2e.flow import negotiate
from trustspace.cli.client import ApiError

FINAL = ("RELEASED", "REFUSED", "REJECTED", "FAILED")


@dataclass(frozen=True)
class Observation:
    """Everything the consumer learns from one submission."""

    state: str  # a job state, or "HTTP <status>" when the submission itself was answered so
    reason: str | None
    columns: tuple[str, ...] | None = None
    rows: tuple[tuple[Any, ...], ...] | None = None

    @property
    def released(self) -> bool:
        return self.state == "RELEASED"

    @property
    def crashed(self) -> bool:
        """The node answered with a server error instead of a job."""
        match = re.match(r"HTTP (\d+)", self.state)
        return match is not None and int(match.group(1)) >= 500

    def value(self, row: int = 0, column: int = -1) -> Any:
        """One released number, or None when there is no such row."""
        if not self.released or not self.rows or len(self.rows) <= row:
            return None
        return self.rows[row][column]

    def shape(self) -> tuple[Any, ...]:
        """The observation with every released number replaced by a placeholder: what must be
        the same across neighbours even where large-group aggregates legitimately differ."""
        rows = None
        if self.rows is not None:
            rows = tuple(
                tuple(v if isinstance(v, str) or v is None else "#" for v in r) for r in self.rows
            )
        return (self.state, self.reason, self.columns, rows)


def _observation(job: dict[str, Any]) -> Observation:
    result = job.get("result") or None
    if result is None:
        return Observation(job["state"], job.get("reason"))
    return Observation(
        job["state"],
        job.get("reason"),
        tuple(result.get("columns") or ()),
        tuple(tuple(r) for r in result.get("rows") or ()),
    )


@dataclass
class Asker:
    """Jobs under one agreement of the consumer."""

    lab: Lab
    agreement_id: str
    dataset_id: str
    jobs: list[str] = field(default_factory=list)

    def submit(self, sql: str, **extra: Any) -> dict[str, Any]:
        body = {"agreementId": self.agreement_id, "query": sql, **extra}
        with self.lab.space.consumer.client() as c:
            job: dict[str, Any] = c.call("POST", "/api/compute/jobs", body)
        self.jobs.append(job["id"])
        return job

    def follow(self, job: dict[str, Any], timeout: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        delay = 0.02
        with self.lab.space.consumer.client() as c:
            while job["state"] not in FINAL:
                assert time.monotonic() < deadline, f"job stayed {job['state']}: {job}"
                time.sleep(delay)
                delay = min(delay * 1.5, 0.25)
                job = c.call("GET", f"/api/compute/jobs/{job['id']}")
        return job

    def ask(self, sql: str, **extra: Any) -> Observation:
        try:
            job = self.submit(sql, **extra)
        except ApiError as exc:
            status = re.search(r"HTTP (\d+)", str(exc))
            return Observation(f"HTTP {status.group(1) if status else '?'}", str(exc))
        return _observation(self.follow(job))

    def __call__(self, sql: str) -> Observation:
        return self.ask(sql)


class Lab:
    """One space for a module, with products published on demand."""

    def __init__(self, space: Space, root: Path) -> None:
        self.space = space
        self.root = root
        self.products: dict[tuple[Any, ...], str] = {}
        self.askers: dict[tuple[Any, ...], Asker] = {}
        self._serial = itertools.count()

    def product(
        self, variant: Variant, rule: dict[str, Any], *, fmt: str = "parquet", label: str = ""
    ) -> str:
        """The id of a product holding ``variant`` under ``rule`` (published once per label)."""
        key = (variant, repr(sorted(rule.items())), fmt, label)
        if key not in self.products:
            n = next(self._serial)
            # The file is named after the table: the rule's table is the product's one file.
            path = write(variant, self.root / f"p{n}-{variant.name}" / f"visits.{fmt}")
            with self.space.provider.client() as p:
                published = p.call(
                    "POST",
                    "/api/datasets",
                    {"path": str(path), "title": f"visits {variant.name} {label} {n}",
                     "computeRule": rule},
                )  # fmt: skip
            self.products[key] = published["id"]
        return self.products[key]

    def two_tables(self, rule: dict[str, Any], *, target_stays: bool, label: str) -> Asker:
        """An agreement on a new product of two files (patients and stays)."""
        from tests.compute_data import write_two_tables

        n = next(self._serial)
        paths = write_two_tables(self.root / f"p{n}-two-{target_stays}", target_stays=target_stays)
        with self.space.provider.client() as p:
            published = p.call(
                "POST",
                "/api/datasets",
                {"paths": [str(x) for x in paths], "title": f"stays {label} {n}",
                 "computeRule": rule},
            )  # fmt: skip
        return self.agreement(published["id"])

    def agreement(self, dataset_id: str) -> Asker:
        """A new agreement of the consumer on ``dataset_id``."""
        neg = negotiate(self.space.consumer, self.space.provider, dataset_id)
        assert neg["state"] == "FINALIZED", neg
        return Asker(self, str(neg["agreementId"]), dataset_id)

    def asker(
        self, variant: Variant, rule: dict[str, Any], *, fmt: str = "parquet", label: str = ""
    ) -> Asker:
        """The (one, shared) agreement on the product for these arguments."""
        key = (variant, repr(sorted(rule.items())), fmt, label)
        if key not in self.askers:
            self.askers[key] = self.agreement(self.product(variant, rule, fmt=fmt, label=label))
        return self.askers[key]

    def provider_jobs(self, agreement_id: str) -> int:
        """How many jobs the provider holds for an agreement (from its database)."""
        import sqlite3

        db = sqlite3.connect(self.space.provider.dir / "trustspace.db")
        try:
            row = db.execute(
                "SELECT COUNT(*) FROM compute_jobs WHERE role = 'provider' AND agreement_id = ?",
                (agreement_id,),
            ).fetchone()
        finally:
            db.close()
        return int(row[0])
