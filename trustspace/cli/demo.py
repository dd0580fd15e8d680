"""``trustspace demo``: two real nodes on loopback and the whole DSP flow.

The provider and the consumer run as separate processes with their own SQLite
files and keys; they trust each other through generated trust lists.  The demo
drives them only through their management APIs, like any user would.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from trustspace.cli.client import ApiError, ManagementClient
from trustspace.cli.progress import download_with_progress
from trustspace.trust.keys import NodeKey


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sample_csv(path: Path, size_mib: int) -> str:
    """Write a deterministic CSV of about ``size_mib`` MiB; return its SHA-256."""
    digest = hashlib.sha256()
    target = size_mib << 20
    written = 0
    regions = ("CN-SH", "CN-BJ", "CN-GD", "DE-BY", "FR-IDF")
    with path.open("wb") as f:
        header = b"reading_id,region,sensor,timestamp,value\n"
        f.write(header)
        digest.update(header)
        written += len(header)
        i = 0
        while written < target:
            rows = []
            for j in range(i, i + 5000):
                rows.append(
                    f"{j},{regions[j % 5]},s{j % 97},2026-01-01T00:{j % 60:02d}:00Z,{(j * 7919) % 10007 / 100:.2f}\n"
                )
            chunk = "".join(rows).encode()
            f.write(chunk)
            digest.update(chunk)
            written += len(chunk)
            i += 5000
    return digest.hexdigest()


class DemoNode:
    """One node in its own process, driven through its management API."""

    def __init__(self, name: str, root: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.extra_env = dict(env or {})
        self.port = free_port()
        self.dir = root / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.key = secrets.token_urlsafe(24)
        self.url = f"http://127.0.0.1:{self.port}"
        self.dsp = f"{self.url}/dsp/2025-1"
        self.public_key = NodeKey.load_or_create(self.dir / "node.key").public_b64
        self.proc: subprocess.Popen[bytes] | None = None

    def entry(self) -> dict[str, str]:
        return {"id": self.name, "public_key": self.public_key, "address": self.dsp}

    def start(self, trusted: list[dict[str, str]] | None = None) -> None:
        trust_file = self.dir / "trust.json"
        if trusted is not None:
            trust_file.write_text(json.dumps({"participants": trusted}, indent=2))
        env = {
            **os.environ,
            "TRUSTSPACE_PARTICIPANT_ID": self.name,
            "TRUSTSPACE_PORT": str(self.port),
            "TRUSTSPACE_DATA_DIR": str(self.dir),
            "TRUSTSPACE_TRUST_LIST": str(trust_file),
            "TRUSTSPACE_MANAGEMENT_KEY": self.key,
            "TRUSTSPACE_LOG_LEVEL": "warning",
            **self.extra_env,
        }
        log = (self.dir / "node.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "trustspace", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        with ManagementClient(self.url, self.key, timeout=2) as c:
            while True:
                if self.proc is not None and self.proc.poll() is not None:
                    raise ApiError(f"{self.name} exited; see {self.dir / 'node.log'}")
                try:
                    c.call("GET", "/api/health")
                    return
                except ApiError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers run (crash tests)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def client(self) -> ManagementClient:
        return ManagementClient(self.url, self.key)

    def log_text(self) -> str:
        path = self.dir / "node.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


DEMO_TERMS = {
    "permission": [
        {
            "action": "use",
            "constraint": [
                {"leftOperand": "purpose", "operator": "eq", "rightOperand": "ai-training"},
                {"leftOperand": "spatial", "operator": "eq", "rightOperand": "CN"},
                {"leftOperand": "count", "operator": "lteq", "rightOperand": 3},
                {
                    "leftOperand": "elapsedTime",
                    "operator": "lteq",
                    "rightOperand": {"@value": "P30D", "@type": "xsd:duration"},
                },
            ],
        }
    ]
}


def run_demo(console: Console, *, once: bool, workdir: Path | None, size_mib: int) -> int:
    root = workdir or Path(tempfile.mkdtemp(prefix="trustspace-demo-"))
    operator = DemoNode(
        "operator",
        root,
        {"TRUSTSPACE_ROLE": "operator", "TRUSTSPACE_CRAWL_INTERVAL": "0",
         "TRUSTSPACE_OPERATOR_REFRESH": "1"},
    )  # fmt: skip
    members = {"TRUSTSPACE_OPERATORS": f"operator={operator.url}",
               "TRUSTSPACE_OPERATOR_REFRESH": "1"}  # fmt: skip
    provider, consumer = DemoNode("provider", root, members), DemoNode("consumer", root, members)
    assessor = DemoNode("assessor", root, members)
    nodes = (operator, provider, consumer, assessor)
    try:
        for node in nodes:
            node.start([])
        for node in nodes:
            node.wait_ready()
        for node in nodes:
            console.print(
                f"[bold]{node.name}[/bold] {node.url}  (DSP {node.dsp}, log {node.dir / 'node.log'})"
            )
        _onboard(console, operator, provider, sector="manufacturing", region="CN-GD")
        _onboard(console, operator, consumer, sector="technology", region="CN-SH")
        _onboard(console, operator, assessor, sector="public", region="CN-BJ", roles=["assessor"])
        _flow(console, root, provider, consumer, size_mib)
        _list(console, operator, provider, assessor)
        _discover(console, operator, consumer)
        _compute(console, root, provider, consumer)
        console.print("[green]demo complete: the data arrived intact[/green]")
        if not once:
            console.print("The nodes keep running; press Ctrl-C to stop them.")
            keys = "  ".join(f"{n.name} {n.key}" for n in nodes)
            console.print(f"  management keys: {keys}")
            while True:
                time.sleep(3600)
        return 0
    except ApiError as exc:
        console.print(f"[red]demo failed:[/red] {exc}")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for node in nodes:
            node.stop()


def demo_uscc(body: str = "91440300MA5G0000") -> str:
    """A well-formed unified social credit code (sample data)."""
    from trustspace.core.registry import uscc_check_char

    first17 = (body + "0" * 17)[:17]
    return first17 + uscc_check_char(first17)


def _onboard(
    console: Console,
    operator: DemoNode,
    member: DemoNode,
    *,
    sector: str,
    region: str,
    roles: list[str] | None = None,
) -> None:
    with (
        ManagementClient(member.url, member.key) as m,
        ManagementClient(operator.url, operator.key) as o,
    ):
        applied = m.call(
            "POST",
            "/api/membership/apply",
            {
                "operator": "operator",
                "legalName": f"{member.name.capitalize()} Co., Ltd.",
                "registrationNumber": demo_uscc(),
                "region": region,
                "sector": sector,
                "contact": f"data-office@{member.name}.example",
                "roles": roles or ["provider", "consumer"],
            },
        )
        o.call("POST", f"/api/operator/applications/{applied['id']}/approve", {})
        deadline = time.monotonic() + 15
        while not m.call("GET", "/api/membership")["credentials"]:
            if time.monotonic() > deadline:
                raise ApiError(f"{member.name} received no membership credential")
            time.sleep(0.2)
    console.print(
        f"0. operator onboarded [bold]{member.name}[/bold] ({region}, {sector}):"
        " membership credential issued"
    )


def _reports(listing: dict[str, Any]) -> dict[str, Any]:
    """An assessor's reports on ``listing``, in the format of docs/compliance.md."""
    at = datetime.now(UTC).isoformat(timespec="seconds")
    return {
        "complianceReport": {
            "assessor": "demo assessor", "assessedAt": at, "outcome": "pass",
            "scope": {"datasetId": listing["datasetId"], "versionHash": listing["versionHash"]},
            "findings": [
                {"requirement": "classification", "status": "met", "note": "general"},
                {"requirement": "personal-information", "status": "met", "note": "none found"},
            ],
        },
        "qualityReport": {"assessedAt": at, "method": "row count against the declaration",
                          "sampleSize": 1, "completeness": 1.0, "accuracy": 1.0},
    }  # fmt: skip


def _list(console: Console, operator: DemoNode, provider: DemoNode, assessor: DemoNode) -> None:
    """Listing: submit, assessor review, approval with a registration certificate; and the
    trade certificate of the agreement just concluded."""
    with (
        ManagementClient(provider.url, provider.key) as p,
        ManagementClient(operator.url, operator.key) as o,
    ):
        dataset = p.call("GET", "/api/datasets")[0]
        listing = p.call("POST", f"/api/datasets/{dataset['id']}/listing", {})
        console.print(f"8. provider submitted the product for listing: {listing['status']}")
        assessed = _as_member(
            assessor,
            operator,
            "POST",
            f"/operator/listings/{listing['id']}/assessment",
            _reports(listing),
        )
        console.print(f"   assessor attached compliance and quality reports: {assessed['status']}")
        listed = o.call("POST", f"/api/operator/listings/{listing['id']}/approve", {})
        console.print(
            f"   operator approved: {listed['status']}, registration certificate"
            f" {len(listed['certificate'])} bytes (verify with: trustspace verify CERT --keys"
            f" {operator.url})"
        )
        p.call("POST", "/api/certificates/trades", {})  # the node may have reported already
        trades = [c for c in p.call("GET", "/api/certificates") if c["kind"] == "trade"]
        console.print(f"   trade certificate issued for {len(trades)} agreement(s)")


def _as_member(member: DemoNode, operator: DemoNode, method: str, path: str, body: Any) -> Any:
    """Call the operator as a member: the member's own node signs the request."""
    with ManagementClient(member.url, member.key) as m:
        return m.call("POST", "/api/operator-call", {"method": method, "path": path, "body": body})


def _discover(console: Console, operator: DemoNode, consumer: DemoNode) -> None:
    with (
        ManagementClient(operator.url, operator.key) as o,
        ManagementClient(consumer.url, consumer.key) as c,
    ):
        crawled = o.call("POST", "/api/operator/crawl", {})
        found = c.call("POST", "/api/search", {"q": "sensor readings", "region": "CN"})
    console.print(
        f"9. operator crawled {crawled['members']} member catalog(s);"
        f" federated search 'sensor readings' finds {found['count']} dataset(s):"
    )
    for r in found["results"]:
        console.print(f"   {r['title']} from {r['providerId']} ({r['sector']}, {r['region']})")


COMPUTE_RULE: dict[str, Any] = {
    "table": "readings",
    "entity": "machine_id",
    "columns": {"plant": ["group"], "temperature": ["aggregate"]},
    "aggregates": ["count", "avg"],
    "minGroupSize": 10,
    "entityPerRow": True,
}


def _compute(console: Console, root: Path, provider: DemoNode, consumer: DemoNode) -> None:
    """Usable but invisible: a compute-only product; the consumer's SQL runs at the provider and
    only guarded aggregates come back."""
    data = root / "machine-temperatures.csv"
    with data.open("w") as f:
        f.write("machine_id,plant,temperature\n")
        for i in range(3000):
            plant = "plant-x" if i == 7 else f"plant-{i % 4}"  # one machine alone in plant-x
            f.write(f"m{i},{plant},{60 + (i * 37) % 25 + (i % 4) * 2.5:.1f}\n")
    with (
        ManagementClient(provider.url, provider.key) as p,
        ManagementClient(consumer.url, consumer.key) as c,
    ):
        published = p.call("POST", "/api/datasets", {
            "path": str(data), "title": "Machine temperatures (compute only)",
            "formats": ["Compute-SQL"], "computeRule": COMPUTE_RULE})  # fmt: skip
        neg = c.call("POST", "/api/negotiations",
                     {"address": provider.dsp, "datasetId": published["id"]})  # fmt: skip
        neg = c.wait(f"/api/negotiations/{neg['id']}", ["FINALIZED"])
        if neg["state"] != "FINALIZED":
            raise ApiError(f"negotiation ended {neg['state']}: {neg.get('error')}")
        console.print("10. compute-to-data on a compute-only product (raw rows never leave):")
        notes = {
            0: "(plant-x, one machine, is below the group minimum: suppressed)",
            1: "(the total minus the plants above would be the one machine of plant-x: withheld)",
        }
        for i, query in enumerate((
            "SELECT plant, COUNT(*) AS machines, ROUND(AVG(temperature), 1) AS mean"
            " FROM readings GROUP BY plant ORDER BY plant",
            "SELECT COUNT(*) AS machines, ROUND(AVG(temperature), 1) AS mean FROM readings",
            "SELECT machine_id, temperature FROM readings",
        )):  # fmt: skip
            job = _job(c, neg["agreementId"], query)
            console.print(f"   {query}\n   -> {job['state']}", highlight=False)
            if job["state"] == "RELEASED":
                for row in job["result"]["rows"]:
                    console.print(f"      {row}", highlight=False)
                console.print(f"      {notes[i]}", highlight=False)
            else:
                console.print(f"      {job['reason']}", highlight=False)


def _job(c: ManagementClient, agreement_id: str, query: str) -> dict[str, Any]:
    job: dict[str, Any] = c.call(
        "POST", "/api/compute/jobs", {"agreementId": agreement_id, "query": query}
    )
    deadline = time.monotonic() + 60
    while job["state"] not in ("RELEASED", "REFUSED", "REJECTED", "FAILED"):
        if time.monotonic() > deadline:
            raise ApiError(f"compute job {job['id']} is still {job['state']}")
        time.sleep(0.1)
        job = c.call("GET", f"/api/compute/jobs/{job['id']}")
    return job


def _catalog(c: ManagementClient, address: str) -> dict[str, Any]:
    """The provider's catalog, once the operator's directory has told the consumer who it is."""
    deadline = time.monotonic() + 15
    while True:
        try:
            result: dict[str, Any] = c.call("POST", "/api/catalog", {"address": address})
            return result
        except ApiError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _step(console: Console, kind: str, event: dict[str, Any]) -> None:
    arrow = {"in": "<-", "out": "->"}.get(event["direction"], "  ")
    detail = f"  ({event['detail']})" if event.get("detail") else ""
    console.print(f"   {kind} {arrow} {event['message']:<42} [bold]{event['state']}[/bold]{detail}")


def _flow(
    console: Console, root: Path, provider: DemoNode, consumer: DemoNode, size_mib: int
) -> None:
    sample = root / "sensor-readings.csv"
    expected = sample_csv(sample, size_mib)
    with (
        ManagementClient(provider.url, provider.key) as p,
        ManagementClient(consumer.url, consumer.key) as c,
    ):
        published: dict[str, Any] = p.call(
            "POST",
            "/api/datasets",
            {
                "path": str(sample),
                "title": "Sensor readings 2026",
                "description": "Hourly readings from five regions (sample data).",
                "policy": DEMO_TERMS,
                "keywords": ["sensors", "iot", "time series"],
                "license": "https://creativecommons.org/licenses/by/4.0/",
                "declaration": {
                    "source": "self-collected",
                    "collectionLog": "sensor-network/collection-2026.log",
                    "rights": {"holding": True, "processing": True, "operation": True},
                },
            },
        )
        console.print(
            f"1. provider published dataset {published['id']} ({published['size']} bytes, sha256 {published['sha256'][:16]}...)"
        )
        console.print(
            "   terms: AI training only, consumers verified in CN, 3 downloads within 30 days"
        )
        cat = _catalog(c, provider.dsp)
        datasets = cat.get("dataset", [])
        console.print(f"2. consumer read the provider's catalog: {len(datasets)} dataset(s)")
        entry = next((d for d in datasets if d["@id"] == published["id"]), None)
        if entry is None:
            raise ApiError("the published dataset is not in the catalog")
        offer = entry["hasPolicy"][0]
        console.print(f"3. negotiating offer {offer['@id']}")
        neg = c.call(
            "POST",
            "/api/negotiations",
            {"address": provider.dsp, "datasetId": entry["@id"], "offerId": offer["@id"]},
        )
        neg = c.wait(
            f"/api/negotiations/{neg['id']}",
            ["FINALIZED"],
            on_event=lambda e: _step(console, "negotiation", e),
        )
        if neg["state"] != "FINALIZED":
            raise ApiError(f"negotiation ended {neg['state']}: {neg.get('error')}")
        console.print(f"   agreement {neg['agreementId']}")
        tp = c.call(
            "POST",
            "/api/transfers",
            {
                "agreementId": neg["agreementId"],
                "format": "HttpData-PULL",
                "purpose": "ai-training",
            },
        )
        console.print("4. requesting a transfer for the purpose ai-training")
        tp = c.wait(
            f"/api/transfers/{tp['id']}",
            ["STARTED"],
            on_event=lambda e: _step(console, "transfer", e),
        )
        if tp["state"] != "STARTED":
            raise ApiError(f"transfer ended {tp['state']}: {tp.get('error')}")
        out = root / "downloads" / sample.name
        out.parent.mkdir(exist_ok=True)
        console.print(f"5. downloading from {tp['endpoint']}")
        try:
            result = download_with_progress(console, tp["endpoint"], tp["authorization"], out)
        except Exception as exc:
            raise ApiError(f"download failed: {exc}") from exc
        advertised = (entry.get("checksum") or {}).get("checksumValue")
        if result.sha256 != expected or advertised != expected:
            raise ApiError(f"checksum mismatch: got {result.sha256}, expected {expected}")
        console.print(f"6. sha256 verified: {result.sha256}")
        log = p.call("GET", f"/api/decisions?agreement={neg['agreementId']}")
        for d in reversed(log):
            console.print(
                f"   policy decision at {d['point']:<10} {d['decision']}: {d['reasons'][0]}"
            )
        tp = c.call("POST", f"/api/transfers/{tp['id']}/complete", {})
        console.print(f"7. transfer {tp['state']}")
