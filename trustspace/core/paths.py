"""Where DSP 2025-1 messages go: the HTTPS binding's paths, as one table.

Every protocol route is generated from :data:`ENDPOINTS` (:mod:`trustspace.dsp.routes`), and
every process message this node sends is addressed with :func:`message_path`, so what we
send and what we receive cannot drift apart.  Paths are below the receiver's DSP base (its
``/dsp/2025-1`` address); ``{pid}`` is the receiver's own process id, which a sender may not
know yet (then it sends ``{providerPid}`` and the outbox fills it in).

Kinds of endpoint: ``catalog`` (the catalog request), ``dataset`` (one dataset), ``open`` (the
message that creates a process, answered 201), ``get`` (a process's state) and ``message`` (a
message to an existing process, answered 200).  The two kinds of
``ContractNegotiationEventMessage`` share one path; the receiver tells them apart by their
``eventType``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from trustspace.core import negotiation as n
from trustspace.core import transfer as t

BASE_PATH: Final = "/dsp/2025-1"
EVENT: Final = "ContractNegotiationEventMessage"


@dataclass(frozen=True)
class Endpoint:
    area: str
    """``catalog``, ``negotiation`` or ``transfer``: which DSP error object it answers with."""
    method: str
    path: str
    kind: str
    message: str | None = None
    """The ``@type`` a POST carries (for ``message``: the state machine's message name)."""


ENDPOINTS: Final = (
    Endpoint("catalog", "POST", "catalog/request", "catalog", "CatalogRequestMessage"),
    Endpoint("catalog", "GET", "catalog/datasets/{id:path}", "dataset"),
    Endpoint("negotiation", "POST", "negotiations/request", "open", n.REQUEST),
    Endpoint("negotiation", "POST", "negotiations/offers", "open", n.OFFER),
    Endpoint("negotiation", "GET", "negotiations/{pid}", "get"),
    Endpoint("negotiation", "POST", "negotiations/{pid}/request", "message", n.REQUEST),
    Endpoint("negotiation", "POST", "negotiations/{pid}/events", "message", EVENT),
    Endpoint(
        "negotiation", "POST", "negotiations/{pid}/agreement/verification", "message", n.VERIFY
    ),
    Endpoint("negotiation", "POST", "negotiations/{pid}/termination", "message", n.TERMINATE),
    Endpoint("negotiation", "POST", "negotiations/{pid}/offers", "message", n.OFFER),
    Endpoint("negotiation", "POST", "negotiations/{pid}/agreement", "message", n.AGREE),
    Endpoint("transfer", "POST", "transfers/request", "open", t.REQUEST),
    Endpoint("transfer", "GET", "transfers/{pid}", "get"),
    Endpoint("transfer", "POST", "transfers/{pid}/start", "message", t.START),
    Endpoint("transfer", "POST", "transfers/{pid}/completion", "message", t.COMPLETE),
    Endpoint("transfer", "POST", "transfers/{pid}/termination", "message", t.TERMINATE),
    Endpoint("transfer", "POST", "transfers/{pid}/suspension", "message", t.SUSPEND),
)

AREAS: Final = {"catalog": "catalog", "negotiations": "negotiation", "transfers": "transfer"}
"""The first path segment below the base, and the area it belongs to."""


def opening_path(area: str, message: str) -> str:
    """Where the message that opens a process goes (``negotiations/request`` …)."""
    for e in ENDPOINTS:
        if e.area == area and e.kind == "open" and e.message == message:
            return e.path
    raise KeyError(f"no {area} path opens with {message}")


def message_path(area: str, message: str, pid: str) -> str:
    """Where a message to an existing process goes, ``pid`` being the receiver's process id."""
    wire = message.split(":")[0]
    for e in ENDPOINTS:
        if e.area == area and e.kind == "message" and e.message == wire:
            return e.path.replace("{pid}", pid)
    raise KeyError(f"no {area} path carries {message}")
