"""Outbound DSP requests that expect an answer right away (catalog, dataset).

Process messages never go through here: they leave through the outbox.  Both go through the
one outbound seam, :mod:`trustspace.services.peers`, and fail with its ``RemoteError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from trustspace.core import messages as m
from trustspace.services import peers
from trustspace.services.outbound import join
from trustspace.services.peers import RemoteError

__all__ = ["DspClient", "RemoteError"]


class DspClient:
    """``explain`` may reword a failure before it is raised (the node uses it to say that it
    holds no membership credential yet when a peer refuses it for that)."""

    def __init__(
        self,
        client: httpx.Client,
        authorization: Callable[[str], str],
        explain: Callable[[RemoteError], RemoteError] | None = None,
    ) -> None:
        self.client = client
        self.authorization = authorization
        self.explain = explain

    def _call(self, method: str, url: str, peer_id: str, body: Any = None) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = peers.call(
                self.client, method, url, peer_id=peer_id, authorization=self.authorization,
                body=body,
            )  # fmt: skip
        except RemoteError as exc:
            if self.explain is None:
                raise
            raise self.explain(exc) from exc
        return answer

    def catalog(self, address: str, peer_id: str) -> dict[str, Any]:
        body = {"@context": list(m.CONTEXT), "@type": "CatalogRequestMessage"}
        return self._call("POST", join(address, "catalog/request"), peer_id, body)

    def dataset(self, address: str, peer_id: str, dataset_id: str) -> dict[str, Any]:
        url = join(address, f"catalog/datasets/{quote(dataset_id, safe=':')}")
        return self._call("GET", url, peer_id)
