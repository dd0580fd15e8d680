"""Outbound DSP requests that expect an answer right away (catalog, dataset).

Process messages never go through here: they leave through the outbox.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from trustspace.core import messages as m
from trustspace.services.outbound import join


class RemoteError(Exception):
    def __init__(self, status: int | None, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class DspClient:
    def __init__(self, client: httpx.Client, authorization: Callable[[str], str]) -> None:
        self.client = client
        self.authorization = authorization

    def _call(self, method: str, url: str, peer_id: str, body: Any = None) -> Any:
        try:
            response = self.client.request(
                method, url, json=body, headers={"Authorization": self.authorization(peer_id)}
            )
        except httpx.HTTPError as exc:
            raise RemoteError(None, f"{url} is unreachable: {exc}") from exc
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code != 200:
            reason = data.get("reason") if isinstance(data, dict) else None
            text = "; ".join(map(str, reason)) if isinstance(reason, list) else response.text[:300]
            raise RemoteError(
                response.status_code, f"{url} answered {response.status_code}: {text}"
            )
        if not isinstance(data, dict):
            raise RemoteError(response.status_code, f"{url} did not answer with a JSON object")
        return data

    def catalog(self, address: str, peer_id: str) -> dict[str, Any]:
        body = {"@context": list(m.CONTEXT), "@type": "CatalogRequestMessage"}
        result: dict[str, Any] = self._call("POST", join(address, "catalog/request"), peer_id, body)
        return result

    def dataset(self, address: str, peer_id: str, dataset_id: str) -> dict[str, Any]:
        url = join(address, f"catalog/datasets/{quote(dataset_id, safe=':')}")
        result: dict[str, Any] = self._call("GET", url, peer_id)
        return result
