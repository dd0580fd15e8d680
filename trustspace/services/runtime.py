"""What a running node hands its HTTP surfaces: the service context and the long-lived
collaborators the use cases need.

Surfaces (``trustspace.api``, ``trustspace.dsp``, ``trustspace.operator``, ``trustspace.tck``)
receive one :class:`Runtime` and never import the node that built it: the node wires, the
surfaces call services with what they were given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trustspace.services.context import NodeContext
from trustspace.services.membership import Membership
from trustspace.services.operators import OperatorClient
from trustspace.services.peers import Peers, RemoteError
from trustspace.trust.trustlist import TrustList, TrustListFile


@dataclass(frozen=True)
class Runtime:
    ctx: NodeContext
    peers: Peers
    """The one outbound seam, signed as this node."""
    membership: Membership
    """This node's memberships: applications, held credentials, key rotation."""
    operators: OperatorClient | None
    """The operators this node trusts (keys, status lists, directories), if any."""
    trust: TrustList | TrustListFile | None
    """The static trust list, reloaded when its file changes (None: the node has none)."""
    management_key: str
    regulator_key: str
    authenticate: Callable[[str | None, str], str]
    """Who signed a request (``authorization`` header, surface for the refusal log); raises
    ``AuthError`` after counting the refusal."""
    checkpoint: Callable[[], list[dict[str, Any]]]
    """Have the evidence log's head countersigned now."""
    roles_of: Callable[[str], tuple[str, ...]]
    """The roles in a participant's last verified membership credential."""
    explain: Callable[[RemoteError], RemoteError] = lambda exc: exc
    """Reword a peer's refusal with what this node knows (no credential held yet …)."""
