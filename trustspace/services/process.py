"""One skeleton for DSP processes (contract negotiations and transfers): receive a message,
act, perform a script — driven by each kind's state machine.

Receiving a message to an existing process is, for both kinds, in one transaction: find the
caller's own process (another participant's looks exactly like a missing one), check that the
message names this process by our pid and the counterparty's pid once we know it, skip a
message id already applied (a redelivery), apply the transition table (which refuses what the
role may not receive, changing nothing), learn the counterparty's pid, let the kind apply
what the message carries (an offer, an agreement, a data address, a reason), save, record the
event and the message id, and then either run the node's script for the new state or, in a
terminal state, drop what is still queued for the process.  Acting runs through
:func:`perform`, the same loop for both kinds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, Self, TypeVar

from trustspace.core import messages as m
from trustspace.core.machine import Machine, Role
from trustspace.services.context import NodeContext
from trustspace.services.errors import Refused
from trustspace.store import history, replay
from trustspace.store import outbox as outbox_rows
from trustspace.store.db import Tx


class Process(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def role(self) -> Role: ...
    @property
    def state(self) -> str: ...
    @property
    def provider_pid(self) -> str | None: ...
    @property
    def consumer_pid(self) -> str | None: ...
    @property
    def error(self) -> str | None: ...
    def evolve(self, **changes: Any) -> Self: ...


P = TypeVar("P", bound=Process)
Effects = Callable[[NodeContext, Tx, P, str, m.Json], P]


@dataclass(frozen=True)
class Kind(Generic[P]):
    machine: Machine
    load: Callable[[Tx, str, str], P]
    """The caller's own process by our pid, locked, or NotFound."""
    save: Callable[[Tx, P], None]
    reload: Callable[[Tx, str], P | None]
    effects: Effects[P]
    """What a message does besides changing the state."""
    script: Callable[[NodeContext, Tx, P, str], P]
    """What this node does on its own on reaching a state."""
    detailed: frozenset[str]
    """Messages whose reason is recorded with the event (terminations, suspensions)."""


def pid_keys(role: Role) -> tuple[str, str]:
    """The body keys of (our pid, the counterparty's pid) for a process we hold in ``role``."""
    return (
        ("providerPid", "consumerPid") if role is Role.PROVIDER else ("consumerPid", "providerPid")
    )


def receive(
    ctx: NodeContext, kind: Kind[P], principal: str, pid: str, message: str, body: m.Json
) -> P:
    """Apply a message addressed to an existing process (``pid`` is our own pid)."""
    with ctx.db.tx() as tx:
        proc = kind.load(tx, principal, pid)
        own_key, theirs_key = pid_keys(proc.role)
        own = (proc.provider_pid if proc.role is Role.PROVIDER else proc.consumer_pid) or proc.id
        if body.get(own_key) != own:
            raise Refused(f"{own_key} {body.get(own_key)} does not match the process {pid}")
        theirs = proc.consumer_pid if proc.role is Role.PROVIDER else proc.provider_pid
        if theirs is not None and body.get(theirs_key) != theirs:
            raise Refused(f"{theirs_key} {body.get(theirs_key)} does not match the process {pid}")
        msg_id = body.get("@id")
        if isinstance(msg_id, str) and replay.seen_message(tx, proc.id, msg_id):
            return proc  # a redelivery: already applied
        state = kind.machine.apply(proc.state, message, proc.role.other)
        now = ctx.clock()
        proc = proc.evolve(state=state, updated_at=now)
        if theirs is None and isinstance(body.get(theirs_key), str):
            field = "consumer_pid" if proc.role is Role.PROVIDER else "provider_pid"
            proc = proc.evolve(**{field: body[theirs_key]})
        proc = kind.effects(ctx, tx, proc, message, body)
        kind.save(tx, proc)
        history.record_event(tx, proc.id, at=now, direction="in", message=message, state=state,
                             detail=proc.error if message in kind.detailed else None)  # fmt: skip
        if isinstance(msg_id, str):
            replay.remember_message(tx, proc.id, msg_id, now)
        if state in kind.machine.terminal:
            outbox_rows.drop_pending(tx, proc.id, f"process {state}")
        else:
            kind.script(ctx, tx, proc, state)
        return kind.reload(tx, proc.id) or proc


Act = Callable[[NodeContext, Tx, P, str, float, str | None], P]


def perform(
    ctx: NodeContext, tx: Tx, proc: P, actions: Iterable[str], act: Act[P],
    reason: str | None = None,
) -> P:  # fmt: skip
    """Run a script's actions in order; ``delay:N`` holds the actions after it back N seconds."""
    delay = 0.0
    for action in actions:
        if action.startswith("delay:"):
            delay += float(action.split(":", 1)[1])
            continue
        proc = act(ctx, tx, proc, action, delay, reason)
    return proc
