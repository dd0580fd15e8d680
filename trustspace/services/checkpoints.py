"""Having the evidence log's head countersigned: by each operator this node trusts, or by
itself when this node is the operator.  A failed operator is logged and tried again at the
next interval; what was countersigned is stored in one transaction."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from trustspace.services.operators import OperatorClient
from trustspace.services.peers import Peers, RemoteError
from trustspace.store import evidence
from trustspace.store.db import Database

log = logging.getLogger("trustspace.checkpoints")

Countersign = Callable[[int, str], tuple[str, str]]
"""The operator's own countersignature on its node: (seq, hash) -> (operator id, token)."""


def checkpoint(
    db: Database,
    peers: Peers,
    operators: OperatorClient | None,
    own: tuple[str, Countersign] | None = None,
) -> list[dict[str, Any]]:
    with db.tx() as tx:
        seq, digest = evidence.head(tx)
        done = {(c["operator"], c["seq"]) for c in evidence.checkpoints(tx)}
    if seq == 0:
        return []
    signed: list[dict[str, Any]] = []
    if own is not None and (own[0], seq) not in done:
        operator_id, token = own[1](seq, digest)
        signed.append({"operator": operator_id, "seq": seq, "token": token})
    for op_id in operators.trusted if operators else []:
        url = operators.url(op_id) if operators else None
        if url is None or (op_id, seq) in done:
            continue
        try:
            answer = peers.call("POST", url + "/operator/checkpoints", peer_id=op_id,
                                body={"seq": seq, "hash": digest})  # fmt: skip
            token = str(answer["checkpoint"])
        except (RemoteError, KeyError) as exc:
            log.warning("checkpoint at %s failed: %s", op_id, exc)
            continue
        signed.append({"operator": op_id, "seq": seq, "token": token})
    with db.tx() as tx:
        for item in signed:
            evidence.store_checkpoint(tx, seq, digest, item["operator"], item["token"], time.time())
    return signed
