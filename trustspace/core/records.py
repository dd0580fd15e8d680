"""The records the node keeps about datasets and processes.

A process has two ids: the provider's pid and the consumer's pid.  The node's
own pid is the record's ``id``; the counterparty's pid may be unknown until its
first answer arrives.  ``counterparty_address`` is where messages to the other
party go: the consumer's ``callbackAddress`` on the provider side, the
provider's DSP base on the consumer side.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from trustspace.core.machine import Role

Json = dict[str, Any]


@dataclass(frozen=True)
class DataFile:
    """One file of a product version, stored under its SHA-256."""

    name: str
    path: str
    size: int
    sha256: str
    media_type: str = "application/octet-stream"


@dataclass(frozen=True)
class Dataset:
    id: str
    title: str
    description: str
    formats: tuple[str, ...]
    created_at: float
    path: str | None = None
    filename: str | None = None
    media_type: str = "application/octet-stream"
    size: int | None = None
    sha256: str | None = None
    access_policy: Json | None = None  # who may see it in the catalog; None: every participant
    classification: str = "general"
    keywords: tuple[str, ...] = ()
    license: str | None = None
    price: str | None = None  # a decimal amount, in ``currency``
    currency: str | None = None
    version: str | None = None
    declaration: Json | None = None  # source, acquisition basis, legal basis, rights, ...
    profile: Json | None = None  # schema, rows, personal information found (the ingest scan)
    compute_rule: Json | None = None  # the analysis rule when the product may be computed on
    update_frequency: str | None = None  # DCAT accrualPeriodicity: daily, weekly, monthly, ...
    files: tuple[DataFile, ...] = ()  # the version's files; ``sha256`` is the version hash
    product_id: str | None = None  # the product this is a version of (None: its own id)
    previous_version: str | None = None  # the dataset id of the version this one follows
    api: Json | None = None  # an HTTP API product: its backend and how to call it (never shown)

    @property
    def fileset(self) -> bool:
        """Several files: served and computed on file by file (one table each)."""
        return len(self.files) > 1


@dataclass(frozen=True)
class Offer:
    id: str
    dataset_id: str
    policy: Json
    created_at: float


@dataclass(frozen=True)
class Negotiation:
    id: str
    role: Role
    state: str
    counterparty_id: str
    counterparty_address: str
    dataset_id: str
    offer: Json
    created_at: float
    updated_at: float
    provider_pid: str | None = None
    consumer_pid: str | None = None
    agreement_id: str | None = None
    error: str | None = None

    def evolve(self, **changes: Any) -> Negotiation:
        return replace(self, **changes)


@dataclass(frozen=True)
class Agreement:
    id: str
    negotiation_id: str
    dataset_id: str
    provider_id: str
    consumer_id: str
    policy: Json
    created_at: float


@dataclass(frozen=True)
class Transfer:
    id: str
    role: Role
    state: str
    counterparty_id: str
    counterparty_address: str
    agreement_id: str
    dataset_id: str
    format: str
    created_at: float
    updated_at: float
    provider_pid: str | None = None
    consumer_pid: str | None = None
    data_address: Json | None = None
    token_hash: str | None = None
    error: str | None = None
    purpose: str | None = None  # the purpose the consumer declared for this transfer

    def evolve(self, **changes: Any) -> Transfer:
        return replace(self, **changes)


@dataclass(frozen=True)
class OutboxItem:
    id: int
    process_kind: str
    process_id: str
    peer_id: str
    url: str
    body: Json
    final: bool
    attempts: int
    not_before: float
    last_error: str | None = None
    extra: Json = field(default_factory=dict)
