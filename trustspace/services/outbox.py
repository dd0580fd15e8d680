"""The outbox worker: delivers queued DSP messages with retries and backoff.

Rules:
- a message is leased before it is sent, so two workers (threads or replicas
  on PostgreSQL, which claims with SKIP LOCKED) never send it at once; a lease
  left by a killed process expires and the message goes out again, and the
  receiver drops the duplicate by its ``@id``;
- the messages of one process leave in the order they were queued;
- 2xx: done.  4xx (other than 408/429): the peer refused, which no retry will
  change, so the process is terminated with the peer's reason.  Anything else
  is retried with exponential backoff until the budget is spent, then the
  process is terminated with the last error;
- the worker sleeps until woken by a commit that queued work, or until the next
  retry is due; it never polls faster than it must;
- messages leave through :mod:`trustspace.services.peers`: an unreachable or
  timed-out peer counts as no answer (retried).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from trustspace.core.records import OutboxItem
from trustspace.services import delivery, peers
from trustspace.services.context import NodeContext
from trustspace.services.outbound import fill
from trustspace.store import outbox as outbox_rows

log = logging.getLogger("trustspace.outbox")

_RETRYABLE_4XX = {408, 425, 429}


class OutboxWorker:
    def __init__(
        self,
        ctx: NodeContext,
        client: httpx.Client,
        authorization: Callable[[str], str],
        *,
        max_attempts: int = 7,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        concurrency: int = 8,
        lease: float = 30.0,
        idle_poll: float = 5.0,
    ) -> None:
        self.ctx = ctx
        self.client = client
        self.authorization = authorization
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.concurrency = concurrency
        self.lease = lease
        self.idle_poll = idle_poll
        self._event = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="outbox")
        self._slots_lock = threading.Lock()
        self._free = concurrency

    def wake(self) -> None:
        self._event.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="outbox-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._event.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self) -> None:
        """Keep up to ``concurrency`` deliveries in flight; claim more as soon as one ends."""
        while not self._stop.is_set():
            self._event.clear()
            with self._slots_lock:
                free = self._free
            items: list[OutboxItem] = []
            if free > 0:
                try:
                    with self.ctx.db.tx(durable=False) as tx:
                        items = outbox_rows.claim_due(
                            tx, now=self.ctx.clock(), lease=self.lease, limit=free
                        )
                except Exception:  # keep the worker alive; the next round retries
                    log.exception("outbox claim failed")
            for item in items:
                with self._slots_lock:
                    self._free -= 1
                self._pool.submit(self._deliver_and_release, item)
            if items:
                continue
            self._event.wait(self._sleep_time() if free > 0 else self.idle_poll)

    def _deliver_and_release(self, item: OutboxItem) -> None:
        try:
            self._deliver(item)
        except Exception:  # the lease expires and the message goes out again
            log.exception("delivery of outbox message %s failed", item.id)
        finally:
            with self._slots_lock:
                self._free += 1
            self._event.set()

    def _sleep_time(self) -> float:
        with self.ctx.db.tx(durable=False) as tx:
            due = outbox_rows.next_due(tx)
        if due is None:
            return self.idle_poll
        return max(0.0, min(self.idle_poll, due - self.ctx.clock()))

    def run_once(self) -> bool:
        """Claim due messages and deliver them, synchronously (tests and tools)."""
        self._event.clear()
        with self.ctx.db.tx(durable=False) as tx:
            items = outbox_rows.claim_due(
                tx, now=self.ctx.clock(), lease=self.lease, limit=self.concurrency * 4
            )
        if not items:
            return False
        list(self._pool.map(self._deliver, items))
        return True

    def _deliver(self, item: OutboxItem) -> None:
        kind = item.process_kind
        with self.ctx.db.tx(durable=False) as tx:
            record = delivery.KINDS[kind].load(tx, item.process_id)
        if record is None:
            with self.ctx.db.tx(durable=False) as tx:
                outbox_rows.mark_dead(tx, item.id, "the process no longer exists")
            return
        url, body = fill(item.url, item.body, record.provider_pid, record.consumer_pid)
        status, answer, error = self._post(item.peer_id, url, body)
        with self.ctx.db.tx(durable=False) as tx:
            # Lock order everywhere: the process row first, then its outbox rows (a handler
            # that changes the process may drop its pending messages).
            delivery.lock(tx, kind, item.process_id)
            if status is not None and 200 <= status < 300:
                outbox_rows.mark_sent(tx, item.id)
                delivery.delivered(self.ctx, tx, kind, item.process_id, answer)
                return
            permanent = status is not None and 400 <= status < 500 and status not in _RETRYABLE_4XX
            attempts = item.attempts + 1
            if permanent or attempts >= self.max_attempts:
                reason = (
                    f"{body.get('@type')} refused by {item.peer_id} (HTTP {status}): {error}"
                    if permanent
                    else f"{body.get('@type')} could not be delivered to {item.peer_id} after {attempts} attempts: {error}"
                )
                log.warning("%s", reason)
                outbox_rows.mark_dead(tx, item.id, reason)
                delivery.failed(
                    self.ctx, tx, kind, item.process_id, reason, notify=permanent and not item.final
                )
                return
            delay = min(self.max_backoff, self.backoff * (2 ** (attempts - 1)))
            outbox_rows.mark_retry(tx, item.id, not_before=self.ctx.clock() + delay, error=error)
            tx.after_commit(self.wake)

    def _post(self, peer_id: str, url: str, body: dict[str, Any]) -> tuple[int | None, Any, str]:
        """Status (None: no answer), the answer (when JSON) and the peer's error text."""
        try:
            answer = peers.call(self.client, "POST", url, peer_id=peer_id,
                                authorization=self.authorization, body=body,
                                expect_object=False)  # fmt: skip
        except peers.RemoteError as exc:
            return exc.status, None, exc.detail or exc.reason
        return 200, answer, ""
