"""``trustspace demo``: a whole data space on loopback, told in business words.

What it starts is ``DESCRIPTION`` (README.md, docs/cli.md, docs/operator.md and ``demo --help``
say the same; a test keeps them in step).  Every node is a separate process with its own SQLite
file and key; the demo drives them only through their management APIs, like any user would.

Its rules: the folder it creates is removed when it ends, however it ends (success, failure,
Ctrl-C, SIGTERM), unless ``--keep``; a folder given with ``--dir`` is never removed.  The
default output speaks of offers, contracts and downloads; message types, process states, ids,
pids and ODRL operators appear only with ``--verbose``.
"""

from __future__ import annotations

import json
import secrets
import shutil
import signal
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from trustspace.cli.client import ApiError, ManagementClient
from trustspace.cli.localnode import DemoNode, demo_uscc, sample_csv
from trustspace.cli.progress import download_with_progress
from trustspace.core.odrl.words import describe_offer, purpose_words
from trustspace.services import accounts
from trustspace.services.context import NodeContext
from trustspace.store.db import Database

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


DESCRIPTION = (
    "four nodes on loopback, an operator that runs the space and a provider, a consumer and an"
    " assessor that it onboards as members"
)


class Say:
    """The demo's voice: ``say`` for everyone, ``detail`` only with ``--verbose``."""

    def __init__(self, console: Console, verbose: bool) -> None:
        self.console = console
        self.verbose = verbose

    def __call__(self, text: str) -> None:
        self.console.print(text, highlight=False, markup=False)

    def detail(self, text: str) -> None:
        if self.verbose:
            self(text)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_demo(
    console: Console,
    *,
    once: bool,
    workdir: Path | None,
    size_mib: int,
    keep: bool = False,
    verbose: bool = False,
) -> int:
    say = Say(console, verbose)
    root = workdir or Path(tempfile.mkdtemp(prefix="trustspace-demo-"))
    nodes: list[DemoNode] = []
    previous = signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM cleans up like Ctrl-C
    try:
        say(f"trustspace demo data space: {DESCRIPTION}.")
        operator = DemoNode(
            "operator",
            root,
            {"TRUSTSPACE_ROLE": "operator", "TRUSTSPACE_CRAWL_INTERVAL": "0",
             "TRUSTSPACE_OPERATOR_REFRESH": "1"},
        )  # fmt: skip
        members = {"TRUSTSPACE_OPERATORS": f"operator={operator.url}",
                   "TRUSTSPACE_OPERATOR_REFRESH": "1"}  # fmt: skip
        nodes = [operator, *(DemoNode(n, root, members) for n in ("provider", "consumer"))]
        nodes.append(DemoNode("assessor", root, members))
        _, provider, consumer, assessor = nodes
        for node in nodes:
            node.start([])
        for node in nodes:
            node.wait_ready()
        for node in nodes:
            say(f"{node.name} {node.url}")
            pid = node.proc.pid if node.proc is not None else None
            say.detail(f"   pid {pid}, DSP {node.dsp}, log {node.dir / 'node.log'}")
        _onboard(say, operator, provider, sector="manufacturing", region="CN-GD")
        _onboard(say, operator, consumer, sector="technology", region="CN-SH")
        _onboard(say, operator, assessor, sector="public", region="CN-BJ", roles=["assessor"])
        _flow(say, root, provider, consumer, size_mib)
        _list(say, operator, provider, assessor)
        _discover(say, operator, consumer)
        _compute(say, root, provider, consumer)
        _people(say, operator, provider, consumer, assessor)
        say("demo complete: the data arrived intact")
        if not once:
            say("The nodes keep running; press Ctrl-C to stop them.")
            keys = "  ".join(f"{n.name} {n.key}" for n in nodes)
            say(f"  management keys: {keys}")
            while True:
                time.sleep(3600)
        return 0
    except ApiError as exc:
        say(f"demo failed: {exc}")
        if workdir is None and not keep:
            say("(run it again with --keep to keep the nodes' logs)")
        return 1
    except KeyboardInterrupt:
        say("stopped")
        return 0
    finally:
        for node in nodes:
            node.stop()
        signal.signal(signal.SIGTERM, previous)
        if workdir is None and not keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            say(f"the demo's files are kept in {root}")


DEMO_PEOPLE = {
    "operator": (("reviewer", ("reviewer", "admin")), ("inspector", ("regulator",))),
    "provider": (("steward", ("provider", "admin")),),
    "consumer": (("buyer", ("buyer", "admin")),),
    "assessor": (("auditor", ("assessor", "admin")),),
}
"""Who can sign in to each demo node's portal (user name, roles)."""


def _people(say: Say, *nodes: DemoNode) -> None:
    """Accounts for the portal of each node, with one password for the demo, printed."""
    password = secrets.token_urlsafe(9)
    say("the portal, in Chinese or English; every account's password is " + password)
    for node in nodes:
        db = Database(f"sqlite:///{node.dir / 'trustspace.db'}", pool_size=1)
        ctx = NodeContext(db=db, participant_id=node.name, dsp_base=node.dsp, data_base="",
                          blob_dir=node.dir / "blobs")  # fmt: skip
        try:
            names = []
            for username, roles in DEMO_PEOPLE[node.name]:
                accounts.add_user(ctx, username, password, roles)
                names.append(f"{username} ({', '.join(roles)})")
        finally:
            db.close()
        say(f"  {node.name:<9} {node.url}/portal  {'; '.join(names)}")


def _onboard(
    say: Say,
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
    say(f"0. operator onboarded {member.name} ({region}, {sector}): membership credential issued")


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


def _list(say: Say, operator: DemoNode, provider: DemoNode, assessor: DemoNode) -> None:
    """Listing: submit, assessor review, approval with a registration certificate; and the
    trade certificate of the agreement just concluded."""
    with (
        ManagementClient(provider.url, provider.key) as p,
        ManagementClient(operator.url, operator.key) as o,
    ):
        dataset = p.call("GET", "/api/datasets")[0]
        listing = p.call("POST", f"/api/datasets/{dataset['id']}/listing", {})
        say("8. the provider submitted the product to the operator for listing")
        say.detail(f"   listing {listing['id']}: {listing['status']}")
        assessed = _as_member(
            assessor,
            operator,
            "POST",
            f"/operator/listings/{listing['id']}/assessment",
            _reports(listing),
        )
        say("   the assessor attached compliance and quality reports")
        say.detail(f"   listing: {assessed['status']}")
        listed = o.call("POST", f"/api/operator/listings/{listing['id']}/approve", {})
        say(
            "   the operator approved the listing and issued a registration certificate"
            f" (anyone can check it: trustspace verify CERT --keys {operator.url})"
        )
        say.detail(
            f"   listing: {listed['status']}, certificate {len(listed['certificate'])} bytes"
        )
        p.call("POST", "/api/certificates/trades", {})  # the node may have reported already
        trades = [c for c in p.call("GET", "/api/certificates") if c["kind"] == "trade"]
        say(f"   the operator certified the trade: {len(trades)} trade certificate(s)")


def _as_member(member: DemoNode, operator: DemoNode, method: str, path: str, body: Any) -> Any:
    """Call the operator as a member: the member's own node signs the request."""
    with ManagementClient(member.url, member.key) as m:
        return m.call("POST", "/api/operator-call", {"method": method, "path": path, "body": body})


def _discover(say: Say, operator: DemoNode, consumer: DemoNode) -> None:
    with (
        ManagementClient(operator.url, operator.key) as o,
        ManagementClient(consumer.url, consumer.key) as c,
    ):
        crawled = o.call("POST", "/api/operator/crawl", {})
        found = c.call("POST", "/api/search", {"q": "sensor readings", "region": "CN"})
    say(
        f"9. operator crawled {crawled['members']} member catalog(s);"
        f" federated search 'sensor readings' finds {found['count']} dataset(s):"
    )
    for r in found["results"]:
        say(f"   {r['title']} from {r['providerId']} ({r['sector']}, {r['region']})")


COMPUTE_RULE: dict[str, Any] = {
    "table": "readings",
    "entity": "machine_id",
    "columns": {"plant": ["group"], "temperature": ["aggregate"]},
    "aggregates": ["count", "avg"],
    "minGroupSize": 10,
    "entityPerRow": True,
}


def _compute(say: Say, root: Path, provider: DemoNode, consumer: DemoNode) -> None:
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
            raise ApiError(f"the consumer's request for a contract was refused: {neg.get('error')}")
        say("10. compute-to-data on a compute-only product (raw rows never leave):")
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
            released = job["state"] == "RELEASED"
            say(f"   {query}\n   -> {'result released' if released else 'refused'}")
            say.detail(f"      job {job['id']}: {job['state']}")
            if released:
                for row in job["result"]["rows"]:
                    say(f"      {row}")
                say(f"      {notes[i]}")
            else:
                say(f"      {job['reason']}")


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


def _step(say: Say, kind: str, event: dict[str, Any]) -> None:
    arrow = {"in": "<-", "out": "->"}.get(event["direction"], "  ")
    detail = f"  ({event['detail']})" if event.get("detail") else ""
    say.detail(f"   {kind} {arrow} {event['message']:<42} {event['state']}{detail}")


# Where the provider checked the terms, in words (the decision log's ``point``).
WHEN = {
    "negotiation": "before agreeing to the contract",
    "transfer": "before starting the transfer",
    "dataplane": "at the download",
    "monitor": "while the transfer ran",
    "compute": "before running a query",
    "compute-release": "before releasing a result",
}


def _flow(say: Say, root: Path, provider: DemoNode, consumer: DemoNode, size_mib: int) -> None:
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
        say(
            f"1. the provider published 'Sensor readings 2026'"
            f" ({published['size'] / (1 << 20):.1f} MiB) with these terms:"
        )
        for line in describe_offer(DEMO_TERMS):
            say(f"     {line}")
        say.detail(f"   dataset {published['id']}, sha256 {published['sha256']}")
        say.detail(f"   ODRL: {json.dumps(DEMO_TERMS)}")
        cat = _catalog(c, provider.dsp)
        datasets = cat.get("dataset", [])
        say(f"2. the consumer read the provider's catalog: {len(datasets)} dataset(s)")
        entry = next((d for d in datasets if d["@id"] == published["id"]), None)
        if entry is None:
            raise ApiError("the published dataset is not in the catalog")
        offer = entry["hasPolicy"][0]
        say("3. the consumer asked for a contract on these terms")
        say.detail(f"   offer {offer['@id']}")
        neg = c.call(
            "POST",
            "/api/negotiations",
            {"address": provider.dsp, "datasetId": entry["@id"], "offerId": offer["@id"]},
        )
        neg = c.wait(
            f"/api/negotiations/{neg['id']}",
            ["FINALIZED"],
            on_event=lambda e: _step(say, "negotiation", e),
        )
        if neg["state"] != "FINALIZED":
            raise ApiError(f"the consumer's request for a contract was refused: {neg.get('error')}")
        say("   the provider agreed: the contract is concluded")
        say.detail(f"   agreement {neg['agreementId']}")
        purpose = "ai-training"
        tp = c.call(
            "POST",
            "/api/transfers",
            {"agreementId": neg["agreementId"], "format": "HttpData-PULL", "purpose": purpose},
        )
        say(f"4. the consumer asked for the data, for {purpose_words(purpose)}")
        tp = c.wait(
            f"/api/transfers/{tp['id']}",
            ["STARTED"],
            on_event=lambda e: _step(say, "transfer", e),
        )
        if tp["state"] != "STARTED":
            raise ApiError(f"the consumer's request for the data was refused: {tp.get('error')}")
        out = root / "downloads" / sample.name
        out.parent.mkdir(exist_ok=True)
        say("5. the provider let the consumer download it")
        say.detail(f"   from {tp['endpoint']}")
        try:
            result = download_with_progress(say.console, tp["endpoint"], tp["authorization"], out)
        except Exception as exc:
            raise ApiError(f"the download failed: {exc}") from exc
        advertised = (entry.get("checksum") or {}).get("checksumValue")
        if result.sha256 != expected or advertised != expected:
            raise ApiError(f"checksum mismatch: got {result.sha256}, expected {expected}")
        say("6. the data arrived intact: its checksum matches the one in the catalog")
        say.detail(f"   sha256 verified: {result.sha256}")
        log = p.call("GET", f"/api/decisions?agreement={neg['agreementId']}")
        for d in reversed(log):
            verdict = "allowed" if d["decision"] == "permit" else "refused: " + d["reasons"][0]
            say(f"   the provider checked the terms {WHEN.get(d['point'], d['point'])}: {verdict}")
            say.detail(f"   policy decision at {d['point']:<10} {d['decision']}: {d['reasons'][0]}")
        tp = c.call("POST", f"/api/transfers/{tp['id']}/complete", {})
        say("7. the consumer confirmed receipt: the transfer is complete")
        say.detail(f"   transfer {tp['state']}")
