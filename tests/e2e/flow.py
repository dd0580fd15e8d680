"""The consumer's whole journey, shared by the e2e tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trustspace.cli.localnode import DemoNode
from trustspace.dataplane.client import download


def publish(provider: DemoNode, path: Path, **extra: Any) -> dict[str, Any]:
    with provider.client() as p:
        result: dict[str, Any] = p.call(
            "POST", "/api/datasets", {"path": str(path), "title": path.name, **extra}
        )
    return result


def negotiate(
    consumer: DemoNode, provider: DemoNode, dataset_id: str, timeout: float = 30.0
) -> dict[str, Any]:
    with consumer.client() as c:
        neg = c.call(
            "POST", "/api/negotiations", {"address": provider.dsp, "datasetId": dataset_id}
        )
        done: dict[str, Any] = c.wait(
            f"/api/negotiations/{neg['id']}", ["FINALIZED"], timeout=timeout
        )
    return done


def start_transfer(consumer: DemoNode, agreement_id: str) -> dict[str, Any]:
    with consumer.client() as c:
        tp = c.call("POST", "/api/transfers", {"agreementId": agreement_id})
        started: dict[str, Any] = c.wait(f"/api/transfers/{tp['id']}", ["STARTED"])
    return started


def fetch(transfer: dict[str, Any], out: Path) -> str:
    return download(transfer["endpoint"], transfer["authorization"], out).sha256
