"""What every service needs: the store, the node's identity, its clock and its behaviour.

Scripts say what the node does on its own after a process reaches a state:
``trigger -> actions``.  A trigger is the state reached by a received message,
or ``INITIAL`` right after the node opened a process itself.  The defaults make
a node that agrees to its own offers and verifies agreements; the TCK profile
replaces them per dataset or agreement id.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trustspace.core import odrl
from trustspace.core.compute import DEFAULT_LIMITS, Limits
from trustspace.core.machine import Role
from trustspace.store.db import Database

Script = Mapping[str, tuple[str, ...]]

DEFAULT_NEGOTIATION: dict[Role, Script] = {
    Role.PROVIDER: {"REQUESTED": ("agree",), "ACCEPTED": ("agree",), "VERIFIED": ("finalize",)},
    Role.CONSUMER: {"OFFERED": ("accept",), "AGREED": ("verify",)},
}
DEFAULT_TRANSFER: dict[Role, Script] = {
    Role.PROVIDER: {"REQUESTED": ("start",)},
    Role.CONSUMER: {},
}


@dataclass
class Behaviour:
    negotiation_overrides: dict[Role, dict[str, Script]] = field(default_factory=dict)
    transfer_overrides: dict[Role, dict[str, Script]] = field(default_factory=dict)

    def negotiation(self, role: Role, dataset_id: str) -> Script:
        return self.negotiation_overrides.get(role, {}).get(dataset_id, DEFAULT_NEGOTIATION[role])

    def transfer(self, role: Role, agreement_id: str) -> Script:
        return self.transfer_overrides.get(role, {}).get(agreement_id, DEFAULT_TRANSFER[role])


def actions_for(script: Script, trigger: str, arrivals: int) -> tuple[str, ...]:
    """``STATE#n`` (the n-th arrival in that state) wins over the bare ``STATE``."""
    return script.get(f"{trigger}#{arrivals}", script.get(trigger, ()))


@dataclass(frozen=True)
class Identity:
    """What the node has verified about a participant: its region and memberships."""

    region: str | None = None
    member_of: frozenset[str] = frozenset()


class PolicyCache:
    """Compiled policies by key: agreement, offer and dataset ids never change their terms."""

    def __init__(self, size: int = 4096) -> None:
        self._items: OrderedDict[str, odrl.Policy] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: str, document: Mapping[str, Any]) -> odrl.Policy:
        with self._lock:
            policy = self._items.get(key)
            if policy is not None:
                self._items.move_to_end(key)
                return policy
        policy = odrl.parse_policy(document)
        with self._lock:
            self._items[key] = policy
            if len(self._items) > self._size:
                self._items.popitem(last=False)
        return policy


def no_identity(_participant: str) -> Identity:
    return Identity()


def new_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


@dataclass
class NodeContext:
    db: Database
    participant_id: str
    dsp_base: str
    data_base: str
    blob_dir: Path
    behaviour: Behaviour = field(default_factory=Behaviour)
    clock: Callable[[], float] = time.time
    ids: Callable[[], str] = new_id
    wake: Callable[[], None] = lambda: None
    identity: Callable[[str], Identity] = no_identity
    standing: Callable[[str], str | None] = lambda _participant: None
    own_region: Callable[[], str | None] = lambda: None
    policies: PolicyCache = field(default_factory=lambda: PolicyCache())
    compute_limits: Limits = DEFAULT_LIMITS
