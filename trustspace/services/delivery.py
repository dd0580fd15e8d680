"""What the outbox worker reports back about a process, for both kinds of process.

A delivered opening message teaches us the counterparty's pid (from its answer).
A message that can never be delivered terminates its process with the reason;
the peer is told when it knows the process and the failure was its refusal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from trustspace.core import negotiation as n
from trustspace.core import transfer as t
from trustspace.core.machine import Machine, Role
from trustspace.core.records import Negotiation, Transfer
from trustspace.services import negotiations, transfers
from trustspace.services.context import NodeContext
from trustspace.store import history
from trustspace.store import negotiations as negotiation_rows
from trustspace.store import outbox as outbox_rows
from trustspace.store import transfers as transfer_rows
from trustspace.store.db import Tx


@dataclass(frozen=True)
class Kind:
    machine: Machine
    terminate: str
    load: Callable[..., Any]
    save: Callable[[Tx, Any], None]
    perform: Callable[[NodeContext, Tx, Any, Iterable[str], str | None], Any]


KINDS = {
    "negotiation": Kind(
        n.NEGOTIATION,
        n.TERMINATE,
        negotiation_rows.get_negotiation,
        negotiation_rows.update_negotiation,
        negotiations.perform,
    ),
    "transfer": Kind(
        t.TRANSFER,
        t.TERMINATE,
        transfer_rows.get_transfer,
        transfer_rows.update_transfer,
        transfers.perform,
    ),
}


def lock(tx: Tx, kind: str, process_id: str) -> Negotiation | Transfer | None:
    result: Negotiation | Transfer | None = KINDS[kind].load(tx, process_id, lock=True)
    return result


def delivered(ctx: NodeContext, tx: Tx, kind: str, process_id: str, answer: Any) -> None:
    """Record the counterparty's pid from the answer to an opening message."""
    k = KINDS[kind]
    process = lock(tx, kind, process_id)
    if process is None or not isinstance(answer, dict):
        return
    field, key = (
        ("provider_pid", "providerPid")
        if process.role is Role.CONSUMER
        else ("consumer_pid", "consumerPid")
    )
    if getattr(process, field) is None and isinstance(answer.get(key), str):
        k.save(tx, process.evolve(**{field: answer[key]}, updated_at=ctx.clock()))


def failed(ctx: NodeContext, tx: Tx, kind: str, process_id: str, reason: str, notify: bool) -> None:
    """Delivery failed for good: terminate the process with the reason."""
    k = KINDS[kind]
    process = lock(tx, kind, process_id)
    if process is None:
        return
    outbox_rows.drop_pending(tx, process.id, reason)
    if process.state in k.machine.terminal:
        if process.error is None:
            k.save(tx, process.evolve(error=reason, updated_at=ctx.clock()))
        return
    if notify and process.provider_pid and process.consumer_pid:  # the peer knows the process
        k.perform(ctx, tx, process, ("terminate",), reason)
        return
    state = k.machine.apply(process.state, k.terminate, process.role)
    now = ctx.clock()
    k.save(tx, process.evolve(state=state, error=reason, updated_at=now))
    history.record_event(
        tx, process.id, at=now, direction="local", message=k.terminate, state=state, detail=reason
    )
