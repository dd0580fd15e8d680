"""Who may read what on the data plane: a transfer's token, checked against the transfer and
its agreement at the moment of each read.

A one-file version is served at the transfer's address; a version of several files answers
its manifest there, and each file at ``<address>/<name>``.  An HTTP API product is proxied to
its backend under the API's base URL, never beside it.  An unknown token is 401 and counted
as a refusal; the transfer's own token at a moment it may not read is 403 and written to the
evidence log.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from trustspace.dataplane.server import Denied, Grant
from trustspace.services import transfers
from trustspace.services.context import NodeContext
from trustspace.services.errors import NotFound, Refused
from trustspace.store import audit, evidence

Refusal = Callable[[str, str | None, str], None]
"""Count a refused request: (surface, claimed issuer, reason)."""


class DataAccess:
    def __init__(self, ctx: NodeContext, refused: Refusal) -> None:
        self.ctx = ctx
        self.refused = refused

    def authorize(self, transfer_id: str, token: str, name: str | None = None) -> Grant:
        try:
            tp, dataset = transfers.authorize(self.ctx, transfer_id, token)
        except NotFound as exc:  # no such transfer, or not its token: the caller is unknown
            self.refused("data", None, exc.reason)
            raise Denied(401, exc.reason) from exc
        except Refused as exc:  # the transfer's own token, at a moment it may not read
            self._refused_access(transfer_id, exc.reason)
            raise Denied(403, exc.reason) from exc
        if dataset.api is not None:
            return self._api_grant(tp.id, dataset.api, name or "")
        if name is None and dataset.fileset:
            return Grant(path=Path(), manifest={
                "versionHash": dataset.sha256,
                "files": [{"name": f.name, "size": f.size, "sha256": f.sha256,
                           "mediaType": f.media_type} for f in dataset.files],
            })  # fmt: skip
        if name is None:
            chosen = dataset.files[0]
        else:
            found = [f for f in dataset.files if f.name == name and dataset.fileset]
            if not found:
                raise Denied(404, f"no file {name} in this transfer")
            chosen = found[0]
        return Grant(path=Path(chosen.path), media_type=chosen.media_type, filename=chosen.name,
                     consume=lambda: self._consume(tp.id))  # fmt: skip

    def _api_grant(self, transfer_id: str, api: dict[str, Any], subpath: str) -> Grant:
        """A path with '..', '.' or empty segments is refused."""
        segments = subpath.split("/") if subpath else []
        if any(seg in ("", ".", "..") or "\\" in seg for seg in segments):
            raise Denied(400, f"path {subpath!r}: use plain segments under the API's base")
        headers = {}
        if api.get("authEnv"):
            secret = os.environ.get(api["authEnv"])
            if secret is None:
                raise Denied(403, "the provider has not configured the API's credential")
            headers[api["authHeader"]] = secret
        url = api["baseUrl"] + (
            "/" + "/".join(quote(s, safe="") for s in segments) if segments else ""
        )
        return Grant(path=Path(), upstream=url, upstream_headers=headers,
                     upstream_methods=tuple(api.get("methods", ["GET"])),
                     media_type=api["mediaType"], consume=lambda: self._consume(transfer_id))  # fmt: skip

    def _refused_access(self, transfer_id: str, reason: str) -> None:
        with self.ctx.db.tx() as tx:
            evidence.record(tx, at=time.time(), kind="data-access", subject=transfer_id,
                            data={"allowed": False, "reason": audit.clip(reason)})  # fmt: skip

    def _consume(self, transfer_id: str) -> None:
        try:
            transfers.consume(self.ctx, transfer_id)
        except NotFound as exc:
            raise Denied(401, exc.reason) from exc
        except Refused as exc:
            raise Denied(403, exc.reason) from exc
