"""Reading policies, requests and states of the world from files, for ``trustspace policy eval``.

A file is Turtle when its name ends in ``.ttl`` or its text starts like Turtle (``@prefix``,
``PREFIX``, ``<``); otherwise JSON: the DSP compact form for policies and requests, and the
object described in :func:`trustspace.core.odrl.parse.parse_world` for the state of the world.
Every problem is a ``PolicyError`` whose message names the file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from trustspace.core import odrl
from trustspace.core.odrl import turtle
from trustspace.core.odrl.parse import parse_world

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


def load_policy(path: Path) -> odrl.Policy:
    return _load(path, turtle.load_policy, odrl.parse_policy)


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


def evaluate_files(policy: Path, request: Path, sotw: Path | None) -> dict[str, Any]:
    decision = odrl.evaluate(load_policy(policy), load_request(request), load_world(sotw))
    return odrl.to_json(decision)
