"""Contract negotiation, both sides.

Every state change goes through :data:`trustspace.core.negotiation.NEGOTIATION`:
``sender = the other role`` for what arrives, ``sender = our role`` for what we
send.  A received message is applied, persisted and acknowledged; what the node
does next (its script) is applied in the same transaction and leaves through
the outbox.

Ownership: a process belongs to one counterparty; another participant asking
about it gets exactly what it would get for an id that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from trustspace.core import messages as m
from trustspace.core import negotiation as n
from trustspace.core.machine import Role
from trustspace.core.odrl.narrowing import widening
from trustspace.core.paths import message_path, opening_path
from trustspace.core.records import Agreement, Negotiation, Offer
from trustspace.services import catalog, process
from trustspace.services import policy as pep
from trustspace.services.context import NodeContext, actions_for
from trustspace.services.errors import NotFound, Refused
from trustspace.services.outbound import join, queue
from trustspace.store import agreements, datasets, history, replay
from trustspace.store import negotiations as negotiation_rows
from trustspace.store.db import Conflict, Tx

KIND = "negotiation"
LATER = "{providerPid}"  # the provider's pid, filled in by the outbox once known


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rules(policy: dict[str, Any]) -> dict[str, Any]:
    """The parts of a policy that carry meaning, with empty constraint lists dropped."""

    def clean(rule: Any) -> Any:
        if isinstance(rule, dict):
            return {k: clean(v) for k, v in rule.items() if not (k == "constraint" and v == [])}
        if isinstance(rule, list):
            return [clean(x) for x in rule]
        return rule

    return {k: clean(policy[k]) for k in ("permission", "prohibition", "obligation") if k in policy}


def as_json(neg: Negotiation) -> m.Json:
    return m.negotiation(
        provider_pid=neg.provider_pid or "", consumer_pid=neg.consumer_pid or "", state=neg.state
    )


def view(neg: Negotiation) -> dict[str, Any]:
    """The management view of a negotiation (plain JSON)."""
    return {
        "id": neg.id,
        "role": neg.role.value,
        "state": neg.state,
        "providerPid": neg.provider_pid,
        "consumerPid": neg.consumer_pid,
        "counterpartyId": neg.counterparty_id,
        "counterpartyAddress": neg.counterparty_address,
        "datasetId": neg.dataset_id,
        "offerId": neg.offer.get("@id"),
        "agreementId": neg.agreement_id,
        "error": neg.error,
        "createdAt": neg.created_at,
        "updatedAt": neg.updated_at,
    }


# --- reading ----------------------------------------------------------------------------------


def get_for(ctx: NodeContext, principal: str, pid: str) -> Negotiation:
    with ctx.db.tx() as tx:
        return _owned(tx, principal, pid, lock=False)


def _owned(tx: Tx, principal: str, pid: str, *, lock: bool = True) -> Negotiation:
    neg = negotiation_rows.get_negotiation(tx, pid, lock=lock)
    if neg is None or neg.counterparty_id != principal:
        raise NotFound(f"no contract negotiation {pid} for {principal}")
    return neg


# --- receiving --------------------------------------------------------------------------------


def receive_initial_request(
    ctx: NodeContext, principal: str, body: m.Json
) -> tuple[Negotiation, bool]:
    """Open a process for a consumer's first message; a redelivery returns the existing one."""
    with pep.denials_logged(ctx):
        try:
            return _receive_initial_request(ctx, principal, body)
        except Conflict:  # the same message raced itself: the other copy created the process
            return _receive_initial_request(ctx, principal, body)


def _receive_initial_request(
    ctx: NodeContext, principal: str, body: m.Json
) -> tuple[Negotiation, bool]:
    """A consumer opens a negotiation.  Returns the process and whether it is new."""
    m.check(body, "ContractRequestMessage")
    if "callbackAddress" not in body:
        raise m.MessageError("an initial ContractRequestMessage needs a callbackAddress")
    offer = body["offer"]
    with ctx.db.tx() as tx:
        existing = negotiation_rows.find_provider_negotiation(tx, principal, body["consumerPid"])
        if existing is not None:
            return existing, False
        catalog_offer = _match_offer(ctx, tx, principal, offer)
        _check_terms(ctx, tx, principal, catalog_offer.dataset_id, offer, None)
        now = ctx.clock()
        state = n.NEGOTIATION.apply(None, n.REQUEST, Role.CONSUMER)
        neg = Negotiation(
            id=ctx.ids(),
            role=Role.PROVIDER,
            state=state,
            counterparty_id=principal,
            counterparty_address=body["callbackAddress"],
            dataset_id=catalog_offer.dataset_id,
            offer=m.offer_for_request(offer["@id"], catalog_offer.dataset_id, offer),
            created_at=now,
            updated_at=now,
            consumer_pid=body["consumerPid"],
        )
        neg = neg.evolve(provider_pid=neg.id)
        negotiation_rows.insert_negotiation(tx, neg)
        history.record_event(tx, neg.id, at=now, direction="in", message=n.REQUEST, state=state)
        if isinstance(body.get("@id"), str):
            replay.remember_message(tx, neg.id, body["@id"], now)
        _run_script(ctx, tx, neg, state)
        return neg, True


def _match_offer(ctx: NodeContext, tx: Tx, principal: str, offer: m.Json) -> Offer:
    """The catalog offer a request answers; the request may narrow its terms, never widen them,
    and only a participant who may see the dataset may negotiate for it."""
    catalog_offer = datasets.get_offer(tx, offer["@id"])
    if catalog_offer is None or not catalog.visible_to(
        ctx, tx, principal, catalog_offer.dataset_id
    ):
        raise Refused(f"offer {offer['@id']} is not in this catalog")
    if offer.get("target") != catalog_offer.dataset_id:
        raise Refused(
            f"offer {offer['@id']} is for dataset {catalog_offer.dataset_id}, not {offer.get('target')}"
        )
    wider = widening(catalog_offer.policy, offer)
    if wider:
        raise Refused(
            f"the requested terms are wider than offer {offer['@id']}: " + "; ".join(wider)
        )
    return catalog_offer


def _check_terms(
    ctx: NodeContext, tx: Tx, principal: str, dataset_id: str, terms: m.Json, pid: str | None
) -> None:
    dataset = datasets.get_dataset(tx, dataset_id)
    if dataset is None:
        raise Refused(f"dataset {dataset_id} is not in this catalog")
    pep.check_proposal(ctx, tx, principal=principal, dataset=dataset, terms=terms, process_id=pid)


def receive_initial_offer(
    ctx: NodeContext, principal: str, body: m.Json
) -> tuple[Negotiation, bool]:
    """A provider opens a negotiation with an offer (consumer side)."""
    m.check(body, "ContractOfferMessage")
    if "callbackAddress" not in body:
        raise m.MessageError("an initial ContractOfferMessage needs a callbackAddress")
    with ctx.db.tx() as tx:
        now = ctx.clock()
        state = n.NEGOTIATION.apply(None, n.OFFER, Role.PROVIDER)
        neg_id = ctx.ids()
        neg = Negotiation(
            id=neg_id,
            role=Role.CONSUMER,
            state=state,
            counterparty_id=principal,
            counterparty_address=body["callbackAddress"],
            dataset_id=body["offer"]["target"],
            offer=body["offer"],
            created_at=now,
            updated_at=now,
            provider_pid=body["providerPid"],
            consumer_pid=neg_id,
        )
        negotiation_rows.insert_negotiation(tx, neg)
        history.record_event(tx, neg.id, at=now, direction="in", message=n.OFFER, state=state)
        _run_script(ctx, tx, neg, state)
        return neg, True


def receive(ctx: NodeContext, principal: str, pid: str, message: str, body: m.Json) -> Negotiation:
    """Any message addressed to an existing process (``pid`` is our own pid)."""
    with pep.denials_logged(ctx):
        return _receive(ctx, principal, pid, message, body)


def _receive(ctx: NodeContext, principal: str, pid: str, message: str, body: m.Json) -> Negotiation:
    expected = message.split(":")[0]
    m.check(body, expected)
    if expected == "ContractNegotiationEventMessage":
        event = m.type_name(body["eventType"])
        message = f"{expected}:{event}"
    return process.receive(ctx, KIND_OF, principal, pid, message, body)


def _effects(ctx: NodeContext, tx: Tx, neg: Negotiation, message: str, body: m.Json) -> Negotiation:
    """What a negotiation message carries besides its transition."""
    if message == n.REQUEST:  # a counter-request: narrower terms only, checked like the first
        _match_offer(ctx, tx, neg.counterparty_id, {"target": neg.dataset_id, **body["offer"]})
        _check_terms(ctx, tx, neg.counterparty_id, neg.dataset_id, body["offer"], neg.id)
        return neg.evolve(offer={**body["offer"], "target": neg.dataset_id})
    if message == n.OFFER:
        return neg.evolve(offer=body["offer"])
    if message == n.AGREE:
        return _accept_agreement(ctx, tx, neg, body["agreement"])
    if message == n.TERMINATE:
        return neg.evolve(error=_termination_text(body))
    return neg


def _termination_text(body: m.Json) -> str:
    parts = [
        f"terminated by the counterparty (code {body['code']})"
        if body.get("code")
        else "terminated by the counterparty"
    ]
    parts.extend(m.reasons(body))
    return ": ".join(parts[:1]) + ("; " + "; ".join(parts[1:]) if len(parts) > 1 else "")


def _accept_agreement(ctx: NodeContext, tx: Tx, neg: Negotiation, agreement: m.Json) -> Negotiation:
    if agreement.get("target") != neg.dataset_id:
        raise Refused(
            f"the agreement targets {agreement.get('target')}, the negotiation is for {neg.dataset_id}"
        )
    if agreement.get("assignee") != ctx.participant_id:
        raise Refused(
            f"the agreement is assigned to {agreement.get('assignee')}, not {ctx.participant_id}"
        )
    if agreement.get("assigner") != neg.counterparty_id:
        raise Refused(
            f"the agreement's assigner {agreement.get('assigner')} is not the provider {neg.counterparty_id}"
        )
    if rules(agreement) != rules(neg.offer):
        raise Refused(
            f"the agreement's terms differ from the offer {neg.offer.get('@id')} it answers"
        )
    if agreements.get_agreement(tx, agreement["@id"]) is None:
        agreements.insert_agreement(
            tx,
            Agreement(
                id=agreement["@id"],
                negotiation_id=neg.id,
                dataset_id=neg.dataset_id,
                provider_id=neg.counterparty_id,
                consumer_id=ctx.participant_id,
                policy=agreement,
                created_at=ctx.clock(),
            ),
        )
    return neg.evolve(agreement_id=agreement["@id"])


# --- acting -----------------------------------------------------------------------------------


def _run_script(ctx: NodeContext, tx: Tx, neg: Negotiation, trigger: str) -> Negotiation:
    script = ctx.behaviour.negotiation(neg.role, neg.dataset_id)
    actions = actions_for(script, trigger, history.arrivals(tx, neg.id, trigger))
    return perform(ctx, tx, neg, actions)


def perform(
    ctx: NodeContext, tx: Tx, neg: Negotiation, actions: Iterable[str], reason: str | None = None
) -> Negotiation:
    return process.perform(ctx, tx, neg, actions, _act, reason)


def _act(
    ctx: NodeContext, tx: Tx, neg: Negotiation, action: str, delay: float, reason: str | None
) -> Negotiation:
    now = ctx.clock()
    ppid, cpid = neg.provider_pid, neg.consumer_pid
    to_consumer = neg.counterparty_address
    to_provider = neg.counterparty_address
    if action == "offer":
        message, url = n.OFFER, join(to_consumer, message_path(KIND, n.OFFER, str(cpid)))
        body = m.contract_offer(provider_pid=neg.id, consumer_pid=cpid, offer=neg.offer)
    elif action == "agree":
        message, url = n.AGREE, join(to_consumer, message_path(KIND, n.AGREE, str(cpid)))
        agreement = m.agreement(
            agreement_id=ctx.ids(),
            offer=neg.offer,
            target=neg.dataset_id,
            assigner=ctx.participant_id,
            assignee=neg.counterparty_id,
            timestamp=_iso(now),
        )
        body = m.contract_agreement(
            provider_pid=neg.id, consumer_pid=cpid or "", agreement=agreement
        )
    elif action == "finalize":
        message, url = n.FINALIZE, join(to_consumer, message_path(KIND, n.FINALIZE, str(cpid)))
        body = m.negotiation_event(provider_pid=neg.id, consumer_pid=cpid or "", event="FINALIZED")
    elif action == "accept":
        message, url = n.ACCEPT, join(to_provider, message_path(KIND, n.ACCEPT, LATER))
        body = m.negotiation_event(provider_pid=ppid or "", consumer_pid=neg.id, event="ACCEPTED")
    elif action == "verify":
        message, url = (
            n.VERIFY,
            join(to_provider, message_path(KIND, n.VERIFY, LATER)),
        )
        body = m.agreement_verification(provider_pid=ppid or "", consumer_pid=neg.id)
    elif action == "counter":
        message, url = n.REQUEST, join(to_provider, message_path(KIND, n.REQUEST, LATER))
        body = m.contract_request(consumer_pid=neg.id, provider_pid=ppid or "", offer=neg.offer)
    elif action == "terminate":
        message = n.TERMINATE
        if neg.role is Role.PROVIDER:
            url = join(to_consumer, message_path(KIND, n.TERMINATE, str(cpid)))
        else:
            url = join(to_provider, message_path(KIND, n.TERMINATE, LATER))
        body = m.negotiation_termination(
            provider_pid=ppid or "",
            consumer_pid=cpid or "",
            code="terminated",
            reason=[reason or f"terminated by {ctx.participant_id}"],
        )
    else:
        raise ValueError(f"unknown negotiation action {action!r}")
    state = n.NEGOTIATION.apply(neg.state, message, neg.role)
    if neg.role is Role.CONSUMER and ppid is None:
        body["providerPid"] = None  # filled in at send time
    if action == "agree":
        agreements.insert_agreement(
            tx,
            Agreement(
                id=body["agreement"]["@id"],
                negotiation_id=neg.id,
                dataset_id=neg.dataset_id,
                provider_id=ctx.participant_id,
                consumer_id=neg.counterparty_id,
                policy=body["agreement"],
                created_at=now,
            ),
        )
        neg = neg.evolve(agreement_id=body["agreement"]["@id"])
    neg = neg.evolve(state=state, updated_at=now)
    if action == "terminate":
        neg = neg.evolve(error=reason or f"terminated by {ctx.participant_id}")
    negotiation_rows.update_negotiation(tx, neg)
    history.record_event(
        tx,
        neg.id,
        at=now,
        direction="out",
        message=message,
        state=state,
        detail=neg.error if action == "terminate" else None,
    )
    queue(
        ctx,
        tx,
        kind=KIND,
        process_id=neg.id,
        peer_id=neg.counterparty_id,
        url=url,
        body=body,
        delay=delay,
        final=action == "terminate",
    )
    return neg


# --- management (this node acts) --------------------------------------------------------------


def request(
    ctx: NodeContext, *, provider_id: str, provider_address: str, dataset_id: str, offer: m.Json
) -> Negotiation:
    """Open a negotiation as consumer with the given catalog offer (``@id`` plus rules)."""
    if not isinstance(offer.get("@id"), str):
        raise Refused("the offer needs an @id")
    with ctx.db.tx() as tx:
        now = ctx.clock()
        state = n.NEGOTIATION.apply(None, n.REQUEST, Role.CONSUMER)
        neg_id = ctx.ids()
        full_offer = m.offer_for_request(offer["@id"], dataset_id, offer)
        neg = Negotiation(
            id=neg_id,
            role=Role.CONSUMER,
            state=state,
            counterparty_id=provider_id,
            counterparty_address=provider_address,
            dataset_id=dataset_id,
            offer=full_offer,
            created_at=now,
            updated_at=now,
            consumer_pid=neg_id,
        )
        negotiation_rows.insert_negotiation(tx, neg)
        history.record_event(tx, neg.id, at=now, direction="out", message=n.REQUEST, state=state)
        body = m.contract_request(
            consumer_pid=neg_id, offer=full_offer, callback_address=ctx.dsp_base
        )
        queue(
            ctx,
            tx,
            kind=KIND,
            process_id=neg_id,
            peer_id=provider_id,
            url=join(provider_address, opening_path(KIND, n.REQUEST)),
            body=body,
        )
        return _run_script(ctx, tx, neg, "INITIAL")


def act(
    ctx: NodeContext, negotiation_id: str, action: str, reason: str | None = None
) -> Negotiation:
    """A manual step (terminate, accept, verify, agree, offer, finalize) on our own process."""
    with ctx.db.tx() as tx:
        neg = negotiation_rows.get_negotiation(tx, negotiation_id, lock=True)
        if neg is None:
            raise NotFound(f"no contract negotiation {negotiation_id}")
        return perform(ctx, tx, neg, (action,), reason)


def get(ctx: NodeContext, negotiation_id: str) -> Negotiation:
    with ctx.db.tx() as tx:
        neg = negotiation_rows.get_negotiation(tx, negotiation_id)
    if neg is None:
        raise NotFound(f"no contract negotiation {negotiation_id}")
    return neg


def list_all(ctx: NodeContext, limit: int = 100, offset: int = 0) -> list[Negotiation]:
    with ctx.db.tx() as tx:
        return negotiation_rows.list_negotiations(tx, limit, offset)


def receive_initial(
    ctx: NodeContext, principal: str, message: str, body: m.Json
) -> tuple[Negotiation, bool]:
    """The message that opens a negotiation: a consumer's request, or a provider's offer."""
    if message == n.OFFER:
        return receive_initial_offer(ctx, principal, body)
    return receive_initial_request(ctx, principal, body)


KIND_OF: process.Kind[Negotiation] = process.Kind(
    machine=n.NEGOTIATION,
    load=_owned,
    save=negotiation_rows.update_negotiation,
    reload=negotiation_rows.get_negotiation,
    effects=_effects,
    script=_run_script,
    detailed=frozenset({n.TERMINATE}),
)
