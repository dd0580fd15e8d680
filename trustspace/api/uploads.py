"""``/api/uploads``: files sent to the node to be published, streamed to its blob folder.

``POST /api/uploads`` takes the file's bytes as the raw body (any media type), optionally
``?sha256=`` to have them checked, and answers 201 with ``{"upload", "sha256", "size"}``;
``POST /api/datasets`` then names the upload in ``files``.  The body is bounded by
``max_upload_bytes`` and ``upload_timeout`` (the edge's per-route limits), never by
``max_body_bytes``.  A caller without the management key is refused with 401 from the headers
alone: nothing of the body is read or stored.  The body is written to disk in a worker thread
chunk by chunk as it arrives (:mod:`trustspace.services.uploads`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from trustspace.api.endpoint import UNAUTHORIZED, authorized
from trustspace.services import uploads
from trustspace.services.context import NodeContext
from trustspace.services.runtime import Runtime

UPLOADS = "/api/uploads"
"""The path whose bodies have the upload limits (see :mod:`trustspace.edge`)."""


async def receive(ctx: NodeContext, request: Request) -> dict[str, Any]:
    """Stream the request's body into the blob folder in a worker thread, one chunk at a time
    (``?sha256=`` checks it); raises ``ClientDisconnect`` when the body stops before its end."""
    stream = request.stream()

    async def next_chunk() -> bytes | None:
        try:
            return await stream.__anext__()
        except StopAsyncIteration:
            return None

    def chunks() -> Iterator[bytes]:
        while (chunk := anyio.from_thread.run(next_chunk)) is not None:
            if chunk:
                yield chunk

    expected = request.query_params.get("sha256") or None
    answer: dict[str, Any] = await anyio.to_thread.run_sync(
        uploads.receive, ctx, chunks(), expected
    )
    return answer


def routes(rt: Runtime) -> list[BaseRoute]:
    ctx = rt.ctx

    async def upload(request: Request) -> Response:
        if not authorized(request, rt.management_key):
            return JSONResponse(UNAUTHORIZED, status_code=401)
        try:
            answer = await receive(ctx, request)
        except ClientDisconnect:
            return JSONResponse({"error": "the upload stopped before its end"}, status_code=400)
        return JSONResponse(answer, status_code=201)

    return [Route(UPLOADS, upload, methods=["POST"])]
