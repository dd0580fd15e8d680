"""Files uploaded to the node to be published: streamed into the blob folder, named by hash.

Rules:
- An upload is written to the blob folder as it arrives (:class:`trustspace.store.blobs.Incoming`):
  under a temporary name of its own, hashed while written, synced, then renamed to its SHA-256
  and read back.  Nothing of it is held in memory beyond one chunk.
- Its SHA-256 is the upload's id: ``POST /api/datasets`` names it, and the blob is read back
  against it again when the version is published.
- With an announced SHA-256 the copy is kept only if it is that one (400 otherwise).
- An upload that stops before its end (refused past ``max_upload_bytes`` by the edge, a client
  that went away, a failed disk) leaves nothing: the temporary copy is removed.
- A blob uploaded but never published stays in the folder, under its hash; publishing the same
  bytes again finds it there.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from trustspace.services.context import NodeContext
from trustspace.services.errors import BadRequest, Refused
from trustspace.store import blobs


def receive(
    ctx: NodeContext, chunks: Iterable[bytes], expected: str | None = None
) -> dict[str, Any]:
    """Store the bytes of ``chunks`` as a blob; the answer names the upload."""
    if expected is not None and not blobs.SHA256.fullmatch(expected):
        raise BadRequest("sha256 is the file's SHA-256: 64 lowercase hex digits")
    try:
        with blobs.Incoming(ctx.blob_dir, "the upload") as incoming:
            for chunk in chunks:
                incoming.write(chunk)
            _, size, sha = incoming.finish(expected)
    except blobs.BlobMismatch as exc:
        raise Refused(f"{exc}; nothing was stored, upload it again") from None
    return {"upload": sha, "sha256": sha, "size": size}
