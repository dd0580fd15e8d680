"""DSP state machines as data.

Each process (a contract negotiation or a transfer process) is one state machine
shared by both parties.  A transition is keyed by ``(state, message)`` and names
who may send that message.  ``apply`` is the only way a state changes: the node
passes both the messages it receives and the messages it sends through it, so a
node can never send what it would refuse to receive.

Invariants:
- a rejected transition raises :class:`TransitionError` and returns nothing, so
  the caller keeps the old state;
- terminal states accept no message at all;
- ``None`` stands for "no process yet": only the opening messages leave it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    PROVIDER = "provider"
    CONSUMER = "consumer"

    @property
    def other(self) -> Role:
        return Role.CONSUMER if self is Role.PROVIDER else Role.PROVIDER


PROVIDER = frozenset({Role.PROVIDER})
CONSUMER = frozenset({Role.CONSUMER})
EITHER = frozenset({Role.PROVIDER, Role.CONSUMER})


class TransitionError(Exception):
    """A message that the current state does not accept (HTTP 400/409)."""

    def __init__(self, kind: str, state: str | None, message: str, sender: Role) -> None:
        self.state = state
        self.message = message
        self.sender = sender
        where = state or "no process"
        super().__init__(f"{kind}: {message} from the {sender} is not allowed in state {where}")


@dataclass(frozen=True)
class Machine:
    """A transition table: ``(state, message) -> (next state, allowed senders)``."""

    kind: str
    table: dict[tuple[str | None, str], tuple[str, frozenset[Role]]]
    terminal: frozenset[str]

    def apply(self, state: str | None, message: str, sender: Role) -> str:
        entry = self.table.get((state, message))
        if entry is None or sender not in entry[1]:
            raise TransitionError(self.kind, state, message, sender)
        return entry[0]

    def allowed(self, state: str | None, sender: Role) -> frozenset[str]:
        return frozenset(
            m for (s, m), (_, who) in self.table.items() if s == state and sender in who
        )

    @property
    def states(self) -> frozenset[str]:
        return frozenset(s for (s, _) in self.table if s is not None) | self.terminal

    @property
    def messages(self) -> frozenset[str]:
        return frozenset(m for (_, m) in self.table)
