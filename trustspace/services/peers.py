"""The one outbound seam: a call to another node (a peer connector or an operator).

Every request this node makes to another node goes through :func:`call`; nothing else calls an
HTTP client for that.  Rules:

* Signed: with ``peer_id`` the request carries ``Authorization: authorization(peer_id)``, the
  node's signed token for that peer; without it (an operator's public keys, status list,
  directory, applications) the call is unsigned.
* One error type, :class:`RemoteError`, for everything that can go wrong:

  - the peer cannot be reached (refused connection, DNS, TLS, reset): ``status`` None,
    answered as **502**;
  - the peer accepted but did not answer in time (``peer_timeout``): ``timeout`` set,
    answered as **504**;
  - the peer answered outside 2xx: ``status`` is its status and ``detail`` its error text
    (a DSP error's reasons, an ``{"error": ...}`` body, or the raw text), answered as 502;
  - the answer is not JSON, nests too deep, exceeds ``MAX_ANSWER`` bytes, or is not an object
    where one is expected: 502.

  :attr:`RemoteError.http_status` is that mapping; every route that catches the error uses it.
  Callers for which a peer's 4xx is a meaningful refusal (an operator refusing an application,
  a provider refusing a compute job) turn :attr:`RemoteError.refused` errors into their own
  refusal with :func:`as_refusal`: "the provider refused: <its reason>", not a 502.
* The peer's text is cut to ``MAX_TEXT`` characters, so a peer cannot make our answers or logs
  large; its answer is read in pieces and abandoned past ``MAX_ANSWER`` bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from trustspace.core import jsondoc
from trustspace.services.errors import NotFound, Refused

__all__ = ["MAX_ANSWER", "MAX_TEXT", "Peers", "RemoteError", "as_refusal", "call", "error_text"]

MAX_TEXT = 300
"""Characters of a peer's error text kept in a RemoteError."""

MAX_ANSWER = 32 << 20
"""Bytes of a peer's answer read at most (a member's whole catalog fits)."""


class RemoteError(Exception):
    """A call to a peer failed; ``reason`` says where and how, ``detail`` is the peer's own
    text (or the transport error)."""

    def __init__(
        self, status: int | None, reason: str, *, detail: str = "", timeout: bool = False
    ) -> None:
        super().__init__(reason)
        self.status, self.reason, self.detail, self.timeout = status, reason, detail, timeout

    @property
    def http_status(self) -> int:
        """What a route answers when this call failed: 504 for a timeout, else 502."""
        return 504 if self.timeout else 502

    @property
    def refused(self) -> bool:
        """The peer answered, and refused the request itself (4xx)."""
        return self.status is not None and 400 <= self.status < 500


def as_refusal(exc: RemoteError, who: str) -> Exception:
    """A peer's 4xx in its own words, as this node's refusal (400; a 404 stays not found):
    ``the provider refused: <reason>``.  Any other failure is returned unchanged."""
    if not exc.refused:
        return exc
    reason = exc.detail or f"it answered {exc.status}"
    if exc.status == 404:
        return NotFound(f"the {who} answered: {reason}")
    return Refused(f"the {who} refused: {reason}")


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "..."


def error_text(data: Any, text: str) -> str:
    """A peer's error, from a DSP error object (its reasons), ``{"error": ...}``, or the raw
    text."""
    if isinstance(data, dict):
        reason = data.get("reason")
        if isinstance(reason, list) and reason:
            return _clip("; ".join(map(str, reason)))
        if isinstance(reason, str) and reason:
            return _clip(reason)
        if isinstance(data.get("error"), str):
            return _clip(data["error"])
    return _clip(text.strip())


def _read(response: httpx.Response, url: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER:
            raise RemoteError(response.status_code, f"{url} answered more than {MAX_ANSWER} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def call(
    http: httpx.Client,
    method: str,
    url: str,
    *,
    peer_id: str | None = None,
    authorization: Callable[[str], str] | None = None,
    body: Any = None,
    params: Mapping[str, str] | None = None,
    expect_object: bool = True,
) -> Any:
    """Send one request to a peer and return its JSON answer.

    With ``expect_object`` the answer must be a JSON object; without it any JSON value is
    returned, and an empty or non-JSON 2xx answer is None.  Raises :class:`RemoteError`.
    """
    headers = {}
    if peer_id is not None:
        if authorization is None:
            raise ValueError("a signed call needs the authorization function")
        headers["Authorization"] = authorization(peer_id)
    try:
        with http.stream(
            method,
            url,
            json=body,
            params=dict(params) if params is not None else None,
            headers=headers,
        ) as response:
            raw = _read(response, url)
    except httpx.TimeoutException as exc:
        detail = f"{type(exc).__name__}: {exc}"
        raise RemoteError(
            None, f"{url} did not answer in time ({detail})", detail=detail, timeout=True
        ) from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        detail = f"{type(exc).__name__}: {exc}"
        raise RemoteError(None, f"{url} is unreachable ({detail})", detail=detail) from exc
    status = response.status_code
    try:
        data = jsondoc.loads(raw) if raw.strip() else None
        parsed = True
    except jsondoc.JsonError:
        data, parsed = None, False
    if not 200 <= status < 300:
        detail = error_text(data, raw.decode("utf-8", "replace"))
        raise RemoteError(status, f"{url} answered {status}: {detail}", detail=detail)
    if expect_object and not isinstance(data, dict):
        what = f"a JSON {type(data).__name__}" if parsed and data is not None else "no JSON"
        raise RemoteError(status, f"{url} answered {what}, not a JSON object")
    return data


class Peers:
    """The seam bound to this node: its HTTP client and its signing function.  Surfaces and
    use cases receive one of these instead of the client and the key."""

    def __init__(self, http: httpx.Client, authorization: Callable[[str], str]) -> None:
        self.http = http
        self.authorization = authorization

    def call(
        self,
        method: str,
        url: str,
        *,
        peer_id: str | None = None,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        expect_object: bool = True,
    ) -> Any:
        """:func:`call` through this node's client, signed for ``peer_id`` when given."""
        return call(self.http, method, url, peer_id=peer_id, authorization=self.authorization,
                    body=body, params=params, expect_object=expect_object)  # fmt: skip
