"""Transfer processes, both sides, and the data-plane grant check.

Same pattern as negotiations: every change passes the transfer table.  The
provider starts a pull transfer by minting a random token bound to this one
transfer; only its SHA-256 is stored.  The token opens the data plane only while
the transfer is STARTED, so suspension, completion and termination close it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from typing import Any

from trustspace.core import messages as m
from trustspace.core import negotiation as n
from trustspace.core import odrl
from trustspace.core import transfer as t
from trustspace.core.machine import Role
from trustspace.core.odrl.model import Request
from trustspace.core.odrl.parse import term
from trustspace.core.odrl.vocab import PURPOSE_PARENT, TRUSTSPACE
from trustspace.core.paths import message_path, opening_path
from trustspace.core.records import Agreement, Dataset, Transfer
from trustspace.services import crossborder, process
from trustspace.services import policy as pep
from trustspace.services.context import NodeContext, actions_for
from trustspace.services.errors import NotFound, Refused
from trustspace.services.outbound import join, queue
from trustspace.store import agreements, datasets, history, replay, usage
from trustspace.store import negotiations as negotiation_rows
from trustspace.store import transfers as transfer_rows
from trustspace.store.db import Conflict, Tx

KIND = "transfer"

PULL_FORMAT = "HttpData-PULL"

_ACTION = {
    "start": t.START,
    "complete": t.COMPLETE,
    "terminate": t.TERMINATE,
    "suspend": t.SUSPEND,
    "resume": t.START,
}


# A TransferRequestMessage may declare the purpose of the transfer under this key (a full IRI, so
# JSON-LD processors that only know the DSP context keep it).  Usage policies check it.
PURPOSE_KEY = TRUSTSPACE + "purpose"


def declared_purpose(body: m.Json) -> str | None:
    raw = body.get(PURPOSE_KEY)
    if raw is None:
        return None
    name = term(raw)
    if name is None or name not in PURPOSE_PARENT:
        raise Refused(f"unknown purpose {raw!r}; the purposes are {', '.join(PURPOSE_PARENT)}")
    return name


def check_use(
    ctx: NodeContext,
    tx: Tx,
    tp: Transfer,
    *,
    point: str,
    agreement: Agreement | None = None,
    log: bool = True,
) -> odrl.Decision:
    """Re-evaluate the transfer's agreement for one more use by its consumer (raises
    PolicyDenied).  The transfer's own earlier use is not counted twice."""
    agreement = agreement or agreements.get_agreement(tx, tp.agreement_id)
    if agreement is None:
        raise Refused(f"agreement {tp.agreement_id} is unknown")
    standing = ctx.standing(tp.counterparty_id)
    if standing is not None:
        raise Refused(standing)
    dataset = datasets.get_dataset(tx, tp.dataset_id)
    principal = tp.counterparty_id
    return pep.decide(
        ctx,
        tx,
        point=point,
        principal=principal,
        policy=ctx.policies.get(f"agreement:{agreement.id}", agreement.policy),
        request=Request(
            action=pep.ACTION, assignee=principal, target=tp.dataset_id, purpose=tp.purpose
        ),
        world=pep.world(
            ctx,
            tx,
            principal=principal,
            now=ctx.clock(),
            agreement=agreement,
            dataset=dataset,
            exclude_transfer=tp.id,
        ),
        process_id=tp.id,
        agreement_id=agreement.id,
        dataset_id=tp.dataset_id,
        log=log,
    )


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def as_json(tp: Transfer) -> m.Json:
    return m.transfer_process(
        provider_pid=tp.provider_pid or "", consumer_pid=tp.consumer_pid or "", state=tp.state
    )


def view(tp: Transfer) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": tp.id,
        "role": tp.role.value,
        "state": tp.state,
        "providerPid": tp.provider_pid,
        "consumerPid": tp.consumer_pid,
        "counterpartyId": tp.counterparty_id,
        "agreementId": tp.agreement_id,
        "datasetId": tp.dataset_id,
        "format": tp.format,
        "purpose": tp.purpose,
        "error": tp.error,
        "createdAt": tp.created_at,
        "updatedAt": tp.updated_at,
    }
    if tp.role is Role.CONSUMER and tp.data_address is not None:
        out["endpoint"] = tp.data_address.get("endpoint")
        out["authorization"] = m.endpoint_property(tp.data_address, "authorization")
    return out


def _owned(tx: Tx, principal: str, pid: str, *, lock: bool = True) -> Transfer:
    tp = transfer_rows.get_transfer(tx, pid, lock=lock)
    if tp is None or tp.counterparty_id != principal:
        raise NotFound(f"no transfer process {pid} for {principal}")
    return tp


def get_for(ctx: NodeContext, principal: str, pid: str) -> Transfer:
    with ctx.db.tx() as tx:
        return _owned(tx, principal, pid, lock=False)


# --- receiving --------------------------------------------------------------------------------


def receive_request(ctx: NodeContext, principal: str, body: m.Json) -> tuple[Transfer, bool]:
    """Open a process for a consumer's first message; a redelivery returns the existing one."""
    with pep.denials_logged(ctx):
        try:
            return _receive_request(ctx, principal, body)
        except Conflict:  # the same message raced itself: the other copy created the process
            return _receive_request(ctx, principal, body)


def _receive_request(ctx: NodeContext, principal: str, body: m.Json) -> tuple[Transfer, bool]:
    m.check(body, "TransferRequestMessage")
    with ctx.db.tx() as tx:
        existing = transfer_rows.find_provider_transfer(tx, principal, body["consumerPid"])
        if existing is not None:
            return existing, False
        agreement = agreements.get_agreement(tx, body["agreementId"])
        if (
            agreement is None
            or agreement.consumer_id != principal
            or agreement.provider_id != ctx.participant_id
        ):
            raise Refused(
                f"agreement {body['agreementId']} is not an agreement of {principal} with this provider"
            )
        neg = negotiation_rows.get_negotiation(tx, agreement.negotiation_id)
        if neg is None or neg.state != n.FINALIZED:
            raise Refused(f"agreement {agreement.id} is not finalized")
        dataset = datasets.get_dataset(tx, agreement.dataset_id)
        formats = dataset.formats if dataset else ()
        if body["format"] not in formats:
            raise Refused(
                f"format {body['format']} is not offered for dataset {agreement.dataset_id} (offered: {', '.join(formats) or 'none'})"
            )
        now = ctx.clock()
        state = t.TRANSFER.apply(None, t.REQUEST, Role.CONSUMER)
        tp_id = ctx.ids()
        tp = Transfer(
            id=tp_id,
            role=Role.PROVIDER,
            state=state,
            counterparty_id=principal,
            counterparty_address=body["callbackAddress"],
            agreement_id=agreement.id,
            dataset_id=agreement.dataset_id,
            format=body["format"],
            created_at=now,
            updated_at=now,
            provider_pid=tp_id,
            consumer_pid=body["consumerPid"],
            purpose=declared_purpose(body),
        )
        check_use(ctx, tx, tp, point="transfer", agreement=agreement)
        if dataset is not None:
            crossborder.check(ctx, tx, principal, dataset)
        transfer_rows.insert_transfer(tx, tp)
        history.record_event(tx, tp.id, at=now, direction="in", message=t.REQUEST, state=state)
        if isinstance(body.get("@id"), str):
            replay.remember_message(tx, tp.id, body["@id"], now)
        _run_script(ctx, tx, tp, state)
        return tp, True


def receive(ctx: NodeContext, principal: str, pid: str, message: str, body: m.Json) -> Transfer:
    m.check(body, message)
    return process.receive(ctx, KIND_OF, principal, pid, message, body)


def _effects(ctx: NodeContext, tx: Tx, tp: Transfer, message: str, body: m.Json) -> Transfer:
    """What a transfer message carries besides its transition: the data address of a start,
    the reason of a termination or suspension."""
    if (
        message == t.START
        and tp.role is Role.CONSUMER
        and isinstance(body.get("dataAddress"), dict)
    ):
        tp = tp.evolve(data_address=body["dataAddress"])
    if message in (t.TERMINATE, t.SUSPEND) and (body.get("code") or body.get("reason")):
        detail = "; ".join(m.reasons(body))
        tp = tp.evolve(
            error=f"{message} from the counterparty"
            + (f" ({body['code']})" if body.get("code") else "")
            + (f": {detail}" if detail else "")
        )
    return tp


# --- acting -----------------------------------------------------------------------------------


def _run_script(ctx: NodeContext, tx: Tx, tp: Transfer, trigger: str) -> Transfer:
    script = ctx.behaviour.transfer(tp.role, tp.agreement_id)
    return perform(ctx, tx, tp, actions_for(script, trigger, history.arrivals(tx, tp.id, trigger)))


def perform(
    ctx: NodeContext, tx: Tx, tp: Transfer, actions: Iterable[str], reason: str | None = None
) -> Transfer:
    return process.perform(ctx, tx, tp, actions, _act, reason)


def _act(
    ctx: NodeContext, tx: Tx, tp: Transfer, action: str, delay: float, reason: str | None
) -> Transfer:
    message = _ACTION.get(action)
    if message is None:
        raise ValueError(f"unknown transfer action {action!r}")
    state = t.TRANSFER.apply(tp.state, message, tp.role)
    now = ctx.clock()
    ppid, cpid = tp.provider_pid, tp.consumer_pid
    if tp.role is Role.PROVIDER:
        url = join(tp.counterparty_address, message_path(KIND, message, str(cpid)))
    else:
        url = join(tp.counterparty_address, message_path(KIND, message, "{providerPid}"))
    if message == t.START:
        address = None
        if tp.role is Role.PROVIDER and tp.format == PULL_FORMAT:
            token = secrets.token_urlsafe(32)
            tp = tp.evolve(token_hash=token_hash(token))
            address = m.data_address(join(ctx.data_base, tp.id), token)
        body = m.transfer_start(
            provider_pid=ppid or "", consumer_pid=cpid or "", data_address=address
        )
    else:
        text = reason or (f"{action} by {ctx.participant_id}" if message != t.COMPLETE else None)
        body = m.transfer_signal(
            message,
            provider_pid=ppid or "",
            consumer_pid=cpid or "",
            code=action if message != t.COMPLETE else None,
            reason=[text] if text else (),
        )
        if message == t.TERMINATE:
            tp = tp.evolve(error=text)
    if tp.role is Role.CONSUMER and ppid is None:
        body["providerPid"] = None
    tp = tp.evolve(state=state, updated_at=now)
    transfer_rows.update_transfer(tx, tp)
    history.record_event(
        tx, tp.id, at=now, direction="out", message=message, state=state, detail=reason
    )
    queue(
        ctx,
        tx,
        kind=KIND,
        process_id=tp.id,
        peer_id=tp.counterparty_id,
        url=url,
        body=body,
        delay=delay,
        final=message == t.TERMINATE,
    )
    return tp


# --- management -------------------------------------------------------------------------------


def request(
    ctx: NodeContext,
    *,
    agreement_id: str,
    format: str = PULL_FORMAT,
    provider_address: str | None = None,
    purpose: str | None = None,
) -> Transfer:
    """Ask the provider of one of our agreements for a transfer, declaring its purpose."""
    if purpose is not None and purpose not in PURPOSE_PARENT:
        raise Refused(f"unknown purpose {purpose!r}; the purposes are {', '.join(PURPOSE_PARENT)}")
    with ctx.db.tx() as tx:
        agreement = agreements.get_agreement(tx, agreement_id)
        if agreement is None or agreement.consumer_id != ctx.participant_id:
            raise NotFound(f"no agreement {agreement_id} where this node is the consumer")
        neg = negotiation_rows.get_negotiation(tx, agreement.negotiation_id)
        if neg is None or neg.state != n.FINALIZED:
            raise Refused(f"agreement {agreement_id} is not finalized")
        address = provider_address or neg.counterparty_address
        now = ctx.clock()
        state = t.TRANSFER.apply(None, t.REQUEST, Role.CONSUMER)
        tp_id = ctx.ids()
        tp = Transfer(
            id=tp_id,
            role=Role.CONSUMER,
            state=state,
            counterparty_id=agreement.provider_id,
            counterparty_address=address,
            agreement_id=agreement_id,
            dataset_id=agreement.dataset_id,
            format=format,
            created_at=now,
            updated_at=now,
            consumer_pid=tp_id,
            purpose=purpose,
        )
        transfer_rows.insert_transfer(tx, tp)
        history.record_event(tx, tp.id, at=now, direction="out", message=t.REQUEST, state=state)
        body = m.transfer_request(
            consumer_pid=tp_id,
            agreement_id=agreement_id,
            format=format,
            callback_address=ctx.dsp_base,
        )
        if purpose is not None:
            body[PURPOSE_KEY] = purpose
        queue(
            ctx,
            tx,
            kind=KIND,
            process_id=tp_id,
            peer_id=agreement.provider_id,
            url=join(address, opening_path(KIND, t.REQUEST)),
            body=body,
        )
        return _run_script(ctx, tx, tp, "INITIAL")


def act(ctx: NodeContext, transfer_id: str, action: str, reason: str | None = None) -> Transfer:
    with ctx.db.tx() as tx:
        tp = transfer_rows.get_transfer(tx, transfer_id, lock=True)
        if tp is None:
            raise NotFound(f"no transfer process {transfer_id}")
        return perform(ctx, tx, tp, (action,), reason)


def get(ctx: NodeContext, transfer_id: str) -> Transfer:
    with ctx.db.tx() as tx:
        tp = transfer_rows.get_transfer(tx, transfer_id)
    if tp is None:
        raise NotFound(f"no transfer process {transfer_id}")
    return tp


def list_all(ctx: NodeContext, limit: int = 100, offset: int = 0) -> list[Transfer]:
    with ctx.db.tx() as tx:
        return transfer_rows.list_transfers(tx, limit, offset)


def authorize(ctx: NodeContext, transfer_id: str, token: str) -> tuple[Transfer, Dataset]:
    """Check a data-plane token and the agreement; return the transfer and its dataset (whose
    files it opens).

    Raises NotFound (401: unknown transfer or wrong token) or Refused (403: the transfer is not
    STARTED, or the agreement no longer permits a use: PolicyDenied).  Read-only: a refused
    access changes nothing.  The use is recorded by :func:`consume` once data is served.
    """
    with pep.denials_logged(ctx), ctx.db.tx() as tx:
        tp = transfer_rows.get_transfer(tx, transfer_id)
        if tp is None or tp.role is not Role.PROVIDER or tp.token_hash is None:
            raise NotFound("unknown transfer or token")
        if not hmac.compare_digest(tp.token_hash, token_hash(token)):
            raise NotFound("unknown transfer or token")
        if tp.state != t.STARTED:
            raise Refused(
                f"transfer {transfer_id} is {tp.state}; data is only served while STARTED"
            )
        check_use(ctx, tx, tp, point="dataplane", log=False)
        dataset = datasets.get_dataset(tx, tp.dataset_id)
    if dataset is None or (not dataset.files and dataset.api is None):
        raise Refused(f"dataset {tp.dataset_id} has no content")
    return tp, dataset


def consume(ctx: NodeContext, transfer_id: str) -> None:
    """Record one use of the transfer's agreement, atomically with the check that allows it:
    the agreement row is locked, so concurrent accesses cannot both take the last use."""
    with pep.denials_logged(ctx), ctx.db.tx() as tx:
        tp = transfer_rows.get_transfer(tx, transfer_id)
        if tp is None:
            raise NotFound("unknown transfer or token")
        agreement = agreements.get_agreement(tx, tp.agreement_id, lock=True)
        if tp.state != t.STARTED:
            raise Refused(
                f"transfer {transfer_id} is {tp.state}; data is only served while STARTED"
            )
        check_use(ctx, tx, tp, point="dataplane", agreement=agreement)
        if agreement is not None and not usage.used_by(tx, agreement.id, pep.ACTION, tp.id):
            usage.record_usage(tx, agreement.id, pep.ACTION, tp.id, ctx.clock())


def sweep(ctx: NodeContext) -> list[str]:
    """Terminate our provider transfers whose agreement no longer permits use (expired, ...).
    Returns the ids terminated."""
    with ctx.db.tx() as tx:
        active = transfer_rows.provider_transfers_in(tx, (t.STARTED, t.SUSPENDED))
    ended: list[str] = []
    for tp in active:
        try:
            with ctx.db.tx() as tx:
                check_use(ctx, tx, tp, point="monitor", log=False)
        except pep.PolicyDenied as denied:
            pep.log_denial(ctx, denied)
            try:
                act(
                    ctx, tp.id, "terminate", "the agreement no longer permits use: " + denied.reason
                )
            except Exception:  # the transfer moved on meanwhile; the next sweep sees it
                continue
            ended.append(tp.id)
    return ended


def receive_initial(
    ctx: NodeContext, principal: str, message: str, body: m.Json
) -> tuple[Transfer, bool]:
    """The message that opens a transfer: the consumer's request."""
    return receive_request(ctx, principal, body)


KIND_OF: process.Kind[Transfer] = process.Kind(
    machine=t.TRANSFER,
    load=_owned,
    save=transfer_rows.update_transfer,
    reload=transfer_rows.get_transfer,
    effects=_effects,
    script=_run_script,
    detailed=frozenset({t.TERMINATE, t.SUSPEND}),
)
