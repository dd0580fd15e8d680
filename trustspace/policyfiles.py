"""Reading policies, requests and states of the world from files, for ``trustspace policy eval``.

A file is Turtle when its name ends in ``.ttl`` or its text starts like Turtle (``@prefix``,
``PREFIX``, ``<``); otherwise JSON: the DSP compact form for policies and requests, and the
object described in :func:`trustspace.core.odrl.parse.parse_world` for the state of the world.
Every problem is a ``PolicyError`` whose message names the file.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trustspace import turtle
from trustspace.core import odrl
from trustspace.core.odrl.parse import parse_world


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
        raise odrl.PolicyError(f"{path}: not JSON or Turtle: {exc}") from None


def load_policy(path: Path) -> odrl.Policy:
    text = _read(path)
    try:
        if _is_turtle(path, text):
            return odrl.parse_policy(turtle.load_policy(text))
        return odrl.parse_policy(_json(path, text))
    except (odrl.PolicyError, ValueError) as exc:
        raise odrl.PolicyError(f"{path}: {exc}") from None


def load_request(path: Path) -> odrl.Request:
    text = _read(path)
    try:
        if _is_turtle(path, text):
            return odrl.parse_request(turtle.load_request(text))
        return odrl.parse_request(_json(path, text))
    except (odrl.PolicyError, ValueError) as exc:
        raise odrl.PolicyError(f"{path}: {exc}") from None


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
