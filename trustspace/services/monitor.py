"""The usage monitor: a background thread that ends transfers whose agreement stopped holding.

Every ``interval`` seconds it re-evaluates the agreement of each STARTED or SUSPENDED transfer
this node provides (:func:`trustspace.services.transfers.sweep`) and terminates those it no
longer permits (a time window that closed, an elapsed period), telling the consumer why.  The
data plane checks every access anyway; the monitor makes the process state say so too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from trustspace.services import transfers
from trustspace.services.context import NodeContext

log = logging.getLogger(__name__)


class Periodic:
    """Run ``job`` every ``interval`` seconds in a thread (0: never), or at once when woken."""

    def __init__(self, name: str, interval: float, job: Callable[[], object]) -> None:
        self.name, self.interval, self.job = name, interval, job
        self._stop = threading.Event()
        self._poke = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Run the job now instead of at the end of the current interval."""
        self._poke.set()

    def start(self) -> None:
        if self.interval > 0:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._poke.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            self._poke.wait(self.interval)
            self._poke.clear()
            if self._stop.is_set():
                return
            try:
                self.job()
            except Exception:
                log.exception("%s failed", self.name)


class UsageMonitor(Periodic):
    def __init__(self, ctx: NodeContext, interval: float) -> None:
        super().__init__("usage-monitor", interval, self._sweep)
        self.ctx = ctx

    def _sweep(self) -> None:
        for transfer_id in transfers.sweep(self.ctx):
            log.info("transfer %s terminated: its agreement no longer permits use", transfer_id)
