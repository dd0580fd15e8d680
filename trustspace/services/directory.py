"""Finding other participants: who is at an address, which operator to ask, what a provider
offers.

Lookups use the trusted operators' member directories first (a miss fetches them again,
rate-limited by :class:`~trustspace.services.operators.OperatorClient`), then the static trust
list.  A miss is a :class:`~trustspace.services.errors.Refused` (400) whose message names where
this node looked: the operator's directory in a space with operators, the trust list when the
node has one.  A peer's refusal of a call made here is reworded with what this node knows
(``Runtime.explain``: it holds no membership credential yet, its application is pending …).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from trustspace.core import messages as m
from trustspace.services.errors import BadRequest, Refused
from trustspace.services.operators import OperatorClient
from trustspace.services.outbound import join
from trustspace.services.peers import RemoteError, as_refusal
from trustspace.services.runtime import Runtime
from trustspace.trust.trustlist import TrustList, TrustListFile


def find_peer(rt: Runtime, address: str, peer_id: str | None = None) -> tuple[str, str]:
    """The participant id and DSP address of the peer at ``address`` (``peer_id`` when the
    caller names it)."""
    if peer_id is None:
        peer_id = provider_id(address, operators=rt.operators, trust=rt.trust)
    return peer_id, address


def provider_id(
    address: str,
    *,
    operators: OperatorClient | None,
    trust: TrustList | TrustListFile | None,
) -> str:
    """The participant id of the node at ``address``; raises Refused naming where it looked."""
    if operators is not None:
        member = operators.by_address(address)
        if member is not None:
            return str(member["participantId"])
    if trust is not None:
        entry = trust.by_address(address)
        if entry is not None:
            return entry.id
    places = []
    if operators is not None:
        places.append(f"no member of {operators.directories()}")
    if trust is not None and (len(trust) or operators is None):  # an empty file is no list
        places.append("no participant in the trust list")
    if not places:
        raise Refused(
            f"this node trusts no operator and has no trust list, so it cannot tell who is at"
            f" {address}; pass the provider's participant id (--provider-id)"
        )
    raise Refused(
        f"{' and '.join(places)} has address {address}; pass the provider's participant id"
        " (--provider-id), or check the address"
    )


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
    try:
        answer: dict[str, Any] = rt.peers.call(
            "POST", join(address, "catalog/request"), peer_id=peer_id, body=body
        )
    except RemoteError as exc:
        raise _provider_failed(rt, exc) from exc
    return answer


def remote_dataset(rt: Runtime, address: str, peer_id: str, dataset_id: str) -> dict[str, Any]:
    """One dataset of a provider's catalog, with its offers."""
    url = join(address, f"catalog/datasets/{quote(dataset_id, safe=':')}")
    try:
        answer: dict[str, Any] = rt.peers.call("GET", url, peer_id=peer_id)
    except RemoteError as exc:
        raise _provider_failed(rt, exc) from exc
    return answer


def _provider_failed(rt: Runtime, exc: RemoteError) -> Exception:
    """A provider that refused (4xx) is this node's refusal in the provider's words, with what
    this node knows about why (no credential held yet …); a provider that failed stays a
    failed peer (502/504)."""
    explained = rt.explain(exc)
    if explained is not exc and explained.refused:
        return Refused(explained.reason)
    return as_refusal(exc, "provider")


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
    try:
        return rt.peers.call(method, url + path, peer_id=op_id, expect_object=False,
                             body=body if method == "POST" else None)  # fmt: skip
    except RemoteError as exc:  # the operator's refusal, in its words
        raise as_refusal(exc, "operator") from None
