"""Finding other participants: who is at an address, which operator to ask, what a provider
offers.  Lookups use the trusted operators' directories first, then the static trust list."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from trustspace.core import messages as m
from trustspace.services.errors import BadRequest
from trustspace.services.outbound import join
from trustspace.services.runtime import Runtime


def find_peer(rt: Runtime, address: str, peer_id: str | None = None) -> tuple[str, str]:
    """The participant id and DSP address of the peer at ``address`` (``peer_id`` when the
    caller names it)."""
    if peer_id is None and rt.operators is not None:
        member = rt.operators.by_address(address)
        peer_id = None if member is None else member["participantId"]
    if peer_id is None:
        entry = rt.trust.by_address(address)
        if entry is None:
            raise BadRequest(
                f"no participant in the trust list has address {address}; pass providerId"
            )
        peer_id = entry.id
    return peer_id, address


def operator_of(rt: Runtime, operator_id: str | None = None) -> tuple[str, str]:
    """The id and base URL of an operator this node trusts (the first one by default)."""
    client = rt.operators
    if client is None or not client.trusted:
        raise BadRequest("this node trusts no operator (setting 'operators')")
    operator_id = operator_id or client.trusted[0]
    url = client.url(operator_id)
    if url is None:
        raise BadRequest(f"operator {operator_id!r} is not configured")
    return operator_id, url


def remote_catalog(rt: Runtime, address: str, peer_id: str) -> dict[str, Any]:
    """A provider's catalog, as it shows it to this node (a DSP catalog request)."""
    body = {"@context": list(m.CONTEXT), "@type": "CatalogRequestMessage"}
    answer: dict[str, Any] = rt.peers.call(
        "POST", join(address, "catalog/request"), peer_id=peer_id, body=body
    )
    return answer


def remote_dataset(rt: Runtime, address: str, peer_id: str, dataset_id: str) -> dict[str, Any]:
    """One dataset of a provider's catalog, with its offers."""
    url = join(address, f"catalog/datasets/{quote(dataset_id, safe=':')}")
    answer: dict[str, Any] = rt.peers.call("GET", url, peer_id=peer_id)
    return answer


def search(rt: Runtime, operator_id: str | None, query: dict[str, str]) -> Any:
    """Search the federated catalog of an operator's space."""
    op_id, url = operator_of(rt, operator_id)
    return rt.peers.call("GET", url + "/operator/catalog/search", params=query, peer_id=op_id)


def operator_call(
    rt: Runtime, operator_id: str | None, method: str, path: str, body: Any = None
) -> Any:
    """Call a member-only operator endpoint as this node (signed like DSP): assessors attach
    reports, members read their listings."""
    if method not in ("GET", "POST") or not path.startswith("/operator/"):
        raise BadRequest("only GET or POST to /operator/... paths")
    op_id, url = operator_of(rt, operator_id)
    return rt.peers.call(method, url + path, peer_id=op_id, expect_object=False,
                         body=body if method == "POST" else None)  # fmt: skip
