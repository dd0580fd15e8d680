"""What this node knows for certain about other participants: their region, sector, roles and
standing, as policy facts.

The sources, in order: the membership credential a participant last presented (verified on
its request), the operator's own register when this node is the operator, the directories of
the operators this node trusts, and the static trust list.  Nothing a participant merely
claims is used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from trustspace.services.context import Identity
from trustspace.services.operators import OperatorClient
from trustspace.trust.credentials import MemberClaims
from trustspace.trust.tokens import Principal
from trustspace.trust.trustlist import TrustList, TrustListFile

LocalMember = Callable[[str], tuple[Mapping[str, Any], str] | None]
"""The operator's register, on the operator's node: an active member's entry and the space."""
Standing = Callable[[str], str | None]


def as_identity(region: str, sector: str, roles: Iterable[str], space: str) -> Identity:
    """Verified membership as policy facts: the region, and party collections for the space,
    the sector (``sector:health``) and each role (``role:provider``)."""
    groups = {space, f"sector:{sector}", *(f"role:{r}" for r in roles)}
    return Identity(region=region, member_of=frozenset(groups))


class Identities:
    def __init__(
        self,
        trust: TrustList | TrustListFile,
        operators: OperatorClient | None,
        local_member: LocalMember | None = None,
        local_standing: Standing | None = None,
    ) -> None:
        self.trust, self.operators = trust, operators
        self.local_member, self.local_standing = local_member, local_standing
        self._verified: dict[str, MemberClaims] = {}

    def seen(self, principal: Principal) -> None:
        """Keep the membership credential a request was verified with."""
        member = principal.claims.get("membership")
        if isinstance(member, MemberClaims):
            self._verified[principal.participant_id] = member

    def identity(self, participant_id: str) -> Identity:
        member = self._verified.get(participant_id)
        if member is not None:
            return as_identity(member.region, member.sector, member.roles, member.space)
        if self.local_member is not None:
            found = self.local_member(participant_id)
            if found is not None:
                entry, space = found
                return as_identity(entry["region"], entry["sector"], entry["roles"], space)
        if self.operators is not None:
            listed = self.operators.member(participant_id)
            if listed is not None:
                return as_identity(listed["region"], listed["sector"], listed["roles"],
                                   listed["space"])  # fmt: skip
        p = self.trust.get(participant_id)
        if p is None:
            return Identity()
        return Identity(region=p.region, member_of=frozenset(p.member_of))

    def roles_of(self, participant_id: str) -> tuple[str, ...]:
        """The roles in a participant's verified membership credential."""
        member = self._verified.get(participant_id)
        return member.roles if member is not None else ()

    def standing(self, participant_id: str) -> str | None:
        """Why this participant may not be dealt with any more (suspended, revoked)."""
        if self.local_standing is not None:
            problem = self.local_standing(participant_id)
            if problem is not None:
                return problem
        if self.operators is not None:
            return self.operators.standing(participant_id)
        return None
