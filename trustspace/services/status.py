"""Read-only views of this node's records for its operator: health, refused logins, the
evidence log's head, held certificates, policy decisions, process histories."""

from __future__ import annotations

from typing import Any

from trustspace.services.context import NodeContext
from trustspace.services.errors import NotFound
from trustspace.store import agreements, audit, certs, evidence, usage
from trustspace.store import history as history_rows
from trustspace.store import outbox as outbox_rows


def health(ctx: NodeContext) -> dict[str, Any]:
    with ctx.db.tx() as tx:
        pending = outbox_rows.pending_count(tx)
    return {"status": "ok", "participantId": ctx.participant_id, "dsp": ctx.dsp_base,
            "outboxPending": pending}  # fmt: skip


def auth_failures(ctx: NodeContext, limit: int = 200) -> list[dict[str, Any]]:
    with ctx.db.tx() as tx:
        return audit.auth_failures(tx, limit)


def evidence_head(ctx: NodeContext) -> dict[str, Any]:
    with ctx.db.tx() as tx:
        seq, digest = evidence.head(tx)
        checkpoints = evidence.checkpoints(tx)
    return {"seq": seq, "hash": digest, "checkpoints": checkpoints}


def certificates(ctx: NodeContext) -> list[dict[str, Any]]:
    with ctx.db.tx() as tx:
        return certs.held(tx)


def decisions(
    ctx: NodeContext, *, agreement_id: str | None, process_id: str | None, limit: int
) -> list[dict[str, Any]]:
    with ctx.db.tx() as tx:
        return usage.decisions(tx, agreement_id=agreement_id, process_id=process_id, limit=limit)


def history(ctx: NodeContext, process_id: str) -> list[dict[str, Any]]:
    """The messages and state changes of one negotiation or transfer, oldest first."""
    with ctx.db.tx() as tx:
        return history_rows.events(tx, process_id)


def agreement_policy(ctx: NodeContext, agreement_id: str) -> dict[str, Any]:
    with ctx.db.tx() as tx:
        agreement = agreements.get_agreement(tx, agreement_id)
    if agreement is None:
        raise NotFound(f"no agreement {agreement_id}")
    return agreement.policy
