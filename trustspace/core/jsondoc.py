"""Reading a JSON document that someone else wrote: a request body or a peer's answer.

Rules:

* :func:`loads` is the only way a body from the network becomes Python values. It raises
  :class:`JsonError` (a ``ValueError``) for text that is not JSON, that is not UTF-8/16/32, or
  that nests arrays and objects more than ``MAX_DEPTH`` (64) levels deep.
* The depth is checked before the document is parsed, so a deep document never reaches the
  parser, nor code after it that recurses over the values (message checks, the ODRL parser,
  JSON Schema, rdflib). Counting the ``[`` and ``{`` characters is enough for almost every
  document (it cannot be deeper than that count); only when the count is over the limit is the
  text walked, without recursion, skipping over strings.
* ``RecursionError`` from the parser is a :class:`JsonError` too, should a document get past
  the walk.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MAX_DEPTH", "JsonError", "depth_over", "loads"]

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects accepted (DSP messages and policies use about 10)."""


class JsonError(ValueError):
    pass


# A JSON string (with its escapes) or one bracket: strings are skipped whole, so brackets in
# them do not count.  An unterminated string matches nothing and the walk goes on after its
# quote; the text is not JSON then, and the parser refuses it.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


def depth_over(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether ``text`` nests arrays and objects deeper than ``limit``."""
    if text.count("[") + text.count("{") <= limit:
        return False
    level = 0
    for match in _TOKEN.finditer(text):
        first = match.group()[0]
        if first in "[{":
            level += 1
            if level > limit:
                return True
        elif first in "]}":
            level -= 1
    return False


def loads(raw: bytes | str, limit: int = MAX_DEPTH) -> Any:
    """The JSON value in ``raw``; :class:`JsonError` when it is not JSON or nests too deep."""
    if isinstance(raw, bytes | bytearray):
        try:
            text = bytes(raw).decode(json.detect_encoding(raw))
        except (UnicodeDecodeError, LookupError) as exc:
            raise JsonError("the body is not valid JSON (not UTF-8)") from exc
    else:
        text = raw
    if depth_over(text, limit):
        raise JsonError(f"the JSON nests deeper than {limit} levels")
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise JsonError(f"the JSON nests deeper than {limit} levels") from exc
    except ValueError as exc:
        raise JsonError(f"the body is not valid JSON: {exc}") from exc
