"""Reading policies, requests and states of the world from files, for ``trustspace policy eval``.

A file is Turtle when its name ends in ``.ttl`` or its text starts like Turtle (``@prefix``,
``PREFIX``, ``<``); otherwise JSON: the DSP compact form for policies and requests, and the
object described in :func:`trustspace.core.odrl.parse.parse_world` for the state of the world.
Every problem is a ``PolicyError`` whose message names the file.

An offer (``@type`` Offer, or the bare rules ``publish --policy`` takes, without an ``@id``)
grants nothing by itself, so it is evaluated as the agreement it would become: the same rules
with a placeholder ``@id`` and the parties bound (``Parties``: the command's options, else the
offer's own, else the request's assignee and target, and ``provider`` as the assigner).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from trustspace.core import odrl
from trustspace.core.odrl import turtle
from trustspace.core.odrl.parse import identifier, parse_world, term

T = TypeVar("T")


def _is_turtle(path: Path, text: str) -> bool:
    head = text.lstrip()[:10].lower()
    return path.suffix == ".ttl" or head.startswith(("@prefix", "prefix", "<", "@base"))


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise odrl.PolicyError(f"{path}: {exc.strerror or exc}") from None


def _json(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise odrl.PolicyError(f"not JSON or Turtle: {exc}") from None


def _load(path: Path, from_turtle: Callable[[str], Any], read: Callable[[Any], T]) -> T:
    text = _read(path)
    try:
        return read(from_turtle(text) if _is_turtle(path, text) else _json(path, text))
    except (odrl.PolicyError, ValueError) as exc:
        raise odrl.PolicyError(f"{path}: {exc}") from None


AGREEMENT_ID = "urn:trustspace:agreement-to-be"
ASSIGNER = "provider"


@dataclass(frozen=True)
class Parties:
    """Who the agreement an offer would become binds; None: from the offer or the request."""

    assigner: str | None = None
    assignee: str | None = None
    target: str | None = None


def is_offer(node: object) -> bool:
    if not isinstance(node, Mapping):
        return False
    kind = term(node.get("@type"))
    return kind == "Offer" or (kind is None and identifier(node) is None)


def as_agreement(offer: Mapping[str, Any], parties: Parties, request: odrl.Request) -> Any:
    """The agreement ``offer`` would become for ``request``: its rules verbatim, parties bound."""
    body: dict[str, Any] = {"@id": AGREEMENT_ID, "@type": "Agreement"}
    for key, given, default in (
        ("assigner", parties.assigner, ASSIGNER),
        ("assignee", parties.assignee, request.assignee),
        ("target", parties.target, request.target),
    ):
        value = given or term(offer.get(key)) or default
        if value is not None:
            body[key] = value
    for key in ("profile", "conflict", "permission", "prohibition", "obligation"):
        if key in offer:
            body[key] = offer[key]
    return body


def load_policy(
    path: Path, request: odrl.Request | None = None, parties: Parties | None = None
) -> tuple[odrl.Policy, dict[str, Any] | None]:
    """The policy in ``path``; and, when it is an offer and a ``request`` is given, the
    agreement it was read as."""
    made: list[dict[str, Any]] = []

    def read(node: Any) -> odrl.Policy:
        if request is not None and is_offer(node):
            made.append(as_agreement(node, parties or Parties(), request))
            node = made[0]
        return odrl.parse_policy(node)

    policy = _load(path, turtle.load_policy, read)
    return policy, made[0] if made else None


def load_request(path: Path) -> odrl.Request:
    return _load(path, turtle.load_request, odrl.parse_request)


def load_world(path: Path | None) -> odrl.World:
    """No file: the world is just the current time."""
    now = datetime.now(UTC)
    if path is None:
        return odrl.World(now=now)
    text = _read(path)
    try:
        if _is_turtle(path, text):
            return turtle.load_world(text)
        return parse_world(_json(path, text), now=now)
    except (odrl.PolicyError, ValueError) as exc:
        raise odrl.PolicyError(f"{path}: {exc}") from None


def evaluate_files(
    policy: Path, request: Path, sotw: Path | None, parties: Parties | None = None
) -> tuple[dict[str, Any], str | None]:
    """The compliance report, and a note to show when the policy was an offer."""
    asked = load_request(request)
    rules, agreement = load_policy(policy, asked, parties)
    decision = odrl.evaluate(rules, asked, load_world(sotw))
    note = None
    if agreement is not None:
        bound = ", ".join(
            f"{key} {agreement[key]}"
            for key in ("assigner", "assignee", "target")
            if key in agreement
        )
        note = (
            f"{policy} is an offer: evaluated as the agreement it would become"
            f" ({agreement['@id']}; {bound})"
        )
    return odrl.to_json(decision), note
