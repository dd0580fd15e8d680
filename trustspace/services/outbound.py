"""Queueing messages for the outbox.

A queued message may not know the counterparty's pid yet (the consumer learns
the provider's pid from the answer to its first message).  Placeholders
``{providerPid}``/``{consumerPid}`` in the URL and ``None`` pids in the body are
filled in at send time from the process record, which is safe because the
messages of one process leave strictly in order.
"""

from __future__ import annotations

from typing import Any

from trustspace.services.context import NodeContext
from trustspace.store import outbox as outbox_rows
from trustspace.store.db import Tx


def join(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path.lstrip("/")


def queue(
    ctx: NodeContext,
    tx: Tx,
    *,
    kind: str,
    process_id: str,
    peer_id: str,
    url: str,
    body: dict[str, Any],
    delay: float = 0.0,
    final: bool = False,
) -> None:
    body = {**body, "@id": ctx.ids()}
    now = ctx.clock()
    outbox_rows.enqueue(
        tx,
        process_kind=kind,
        process_id=process_id,
        peer_id=peer_id,
        url=url,
        body=body,
        not_before=now + delay,
        created_at=now,
        final=final,
    )
    tx.after_commit(ctx.wake)


def fill(
    url: str, body: dict[str, Any], provider_pid: str | None, consumer_pid: str | None
) -> tuple[str, dict[str, Any]]:
    out = dict(body)
    if "providerPid" in out and out["providerPid"] is None and provider_pid:
        out["providerPid"] = provider_pid
    if "consumerPid" in out and out["consumerPid"] is None and consumer_pid:
        out["consumerPid"] = consumer_pid
    url = url.replace("{providerPid}", provider_pid or "").replace(
        "{consumerPid}", consumer_pid or ""
    )
    return url, out
