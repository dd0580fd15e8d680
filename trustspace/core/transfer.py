"""The transfer process state machine of DSP 2025-1.

Only the provider starts a REQUESTED transfer; once a transfer is SUSPENDED
either party may resume it with a ``TransferStartMessage``.  Completion and
suspension are only possible while STARTED.
"""

from __future__ import annotations

from typing import Final

from trustspace.core.machine import CONSUMER, EITHER, PROVIDER, Machine

REQUESTED: Final = "REQUESTED"
STARTED: Final = "STARTED"
SUSPENDED: Final = "SUSPENDED"
COMPLETED: Final = "COMPLETED"
TERMINATED: Final = "TERMINATED"

STATES: Final = (REQUESTED, STARTED, SUSPENDED, COMPLETED, TERMINATED)

REQUEST: Final = "TransferRequestMessage"
START: Final = "TransferStartMessage"
SUSPEND: Final = "TransferSuspensionMessage"
COMPLETE: Final = "TransferCompletionMessage"
TERMINATE: Final = "TransferTerminationMessage"

MESSAGES: Final = (REQUEST, START, SUSPEND, COMPLETE, TERMINATE)

TRANSFER = Machine(
    kind="transfer process",
    table={
        (None, REQUEST): (REQUESTED, CONSUMER),
        (REQUESTED, START): (STARTED, PROVIDER),
        (REQUESTED, TERMINATE): (TERMINATED, EITHER),
        (STARTED, SUSPEND): (SUSPENDED, EITHER),
        (STARTED, COMPLETE): (COMPLETED, EITHER),
        (STARTED, TERMINATE): (TERMINATED, EITHER),
        (SUSPENDED, START): (STARTED, EITHER),
        (SUSPENDED, TERMINATE): (TERMINATED, EITHER),
    },
    terminal=frozenset({COMPLETED, TERMINATED}),
)
