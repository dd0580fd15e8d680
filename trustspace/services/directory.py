"""Finding who a participant is from its DSP address, for calls the management API starts.

The operators' member directories are asked first (a miss fetches them again, rate-limited by
:class:`~trustspace.trust.operators.OperatorClient`), then the static trust list.  A miss is a
:class:`~trustspace.services.errors.Refused` (400) whose message names where this node looked:
the operator's directory in a space with operators, the trust list when the node has one.
"""

from __future__ import annotations

from trustspace.services.errors import Refused
from trustspace.trust.operators import OperatorClient
from trustspace.trust.trustlist import TrustList, TrustListFile

__all__ = ["provider_id"]


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
