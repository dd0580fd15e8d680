"""DSP 2025-1 messages: builders for what we send, a checker for what we receive.

Outgoing messages are compact JSON-LD with the DSP context, unprefixed terms and
a string ``@type``, shaped to validate against the official JSON Schemas (the
test suite checks every builder against them).  Incoming messages are checked
here against the same rules, in plain Python: required properties and their
types, nothing more, so extra properties (an ``@id`` on a message, empty
``constraint`` arrays, reason objects) are tolerated as the spec intends.

Rules:
- a message must carry ``@context`` and a string ``@type``; a prefixed or
  expanded type (``dspace:X``, ``https://w3id.org/dspace/2025/1/X``) is read as X;
- the checker never mutates its input and returns the normalised type name;
- errors are :class:`MessageError` with a reason a person can act on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

DSP_NS: Final = "https://w3id.org/dspace/2025/1/"
DSP_CONTEXT: Final = "https://w3id.org/dspace/2025/1/context.jsonld"
CONTEXT: Final = (DSP_CONTEXT,)
VERSION: Final = "2025-1"

Json = dict[str, Any]


class MessageError(ValueError):
    """An incoming body that is not a valid DSP message (HTTP 400)."""


def _ctx() -> list[str]:
    return list(CONTEXT)


def type_name(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise MessageError("@type must be a non-empty string")
    for prefix in (DSP_NS, "dspace:"):
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


# --- what each message type requires --------------------------------------------------------

_STR = "string"
_OBJ = "object"
_ARR = "array"

REQUIRED: Final[dict[str, dict[str, str]]] = {
    "CatalogRequestMessage": {},
    "DatasetRequestMessage": {"dataset": _STR},
    "ContractRequestMessage": {"consumerPid": _STR, "offer": _OBJ},
    "ContractOfferMessage": {"providerPid": _STR, "offer": _OBJ},
    "ContractAgreementMessage": {"providerPid": _STR, "consumerPid": _STR, "agreement": _OBJ},
    "ContractAgreementVerificationMessage": {"providerPid": _STR, "consumerPid": _STR},
    "ContractNegotiationEventMessage": {
        "providerPid": _STR,
        "consumerPid": _STR,
        "eventType": _STR,
    },
    "ContractNegotiationTerminationMessage": {"providerPid": _STR, "consumerPid": _STR},
    "TransferRequestMessage": {
        "consumerPid": _STR,
        "agreementId": _STR,
        "format": _STR,
        "callbackAddress": _STR,
    },
    "TransferStartMessage": {"providerPid": _STR, "consumerPid": _STR},
    "TransferSuspensionMessage": {"providerPid": _STR, "consumerPid": _STR},
    "TransferCompletionMessage": {"providerPid": _STR, "consumerPid": _STR},
    "TransferTerminationMessage": {"providerPid": _STR, "consumerPid": _STR},
}

_PYTYPES: Final = {_STR: str, _OBJ: dict, _ARR: list}


def check(body: object, expected: str | Sequence[str]) -> Json:
    """Check an incoming message; return it (unchanged) or raise MessageError."""
    if not isinstance(body, dict):
        raise MessageError("the message must be a JSON object")
    if "@context" not in body:
        raise MessageError("the message has no @context")
    name = type_name(body.get("@type"))
    wanted = (expected,) if isinstance(expected, str) else tuple(expected)
    if name not in wanted:
        raise MessageError(f"expected @type {' or '.join(wanted)}, got {name}")
    for prop, kind in REQUIRED[name].items():
        value = body.get(prop)
        if value is None:
            raise MessageError(f"{name} requires '{prop}'")
        if not isinstance(value, _PYTYPES[kind]) or (kind == _STR and not value):
            raise MessageError(f"{name}: '{prop}' must be a non-empty {kind}")
    for prop in ("callbackAddress", "providerPid", "consumerPid", "code"):
        if prop in body and not isinstance(body[prop], str):
            raise MessageError(f"{name}: '{prop}' must be a string")
    if name == "ContractRequestMessage":
        _one_of(body, name, "callbackAddress", "providerPid")
        check_policy(body["offer"], "Offer", where="offer", target_required=True)
    elif name == "ContractOfferMessage":
        _one_of(body, name, "callbackAddress", "consumerPid")
        check_policy(body["offer"], "Offer", where="offer", target_required=True)
    elif name == "ContractAgreementMessage":
        check_policy(body["agreement"], "Agreement", where="agreement", target_required=True)
        for prop in ("assigner", "assignee"):
            if not isinstance(body["agreement"].get(prop), str):
                raise MessageError(f"agreement requires '{prop}'")
    elif name == "ContractNegotiationEventMessage":
        if body["eventType"] not in (
            "ACCEPTED",
            "FINALIZED",
            DSP_NS + "ACCEPTED",
            DSP_NS + "FINALIZED",
        ):
            raise MessageError("eventType must be ACCEPTED or FINALIZED")
    elif name == "TransferStartMessage" and "dataAddress" in body:
        check_data_address(body["dataAddress"])
    if "reason" in body and not isinstance(body["reason"], list):
        raise MessageError(f"{name}: 'reason' must be an array")
    return body


def _one_of(body: Mapping[str, Any], name: str, a: str, b: str) -> None:
    if (a in body) == (b in body):
        raise MessageError(f"{name} must carry exactly one of '{a}' and '{b}'")


def check_policy(policy: object, kind: str, *, where: str, target_required: bool) -> None:
    if not isinstance(policy, dict):
        raise MessageError(f"{where} must be an object")
    if type_name(policy.get("@type")) != kind:
        raise MessageError(f"{where} must have @type {kind}")
    if not isinstance(policy.get("@id"), str) or not policy["@id"]:
        raise MessageError(f"{where} requires an '@id'")
    if target_required and not isinstance(policy.get("target"), str):
        raise MessageError(f"{where} requires a 'target' naming the dataset")
    if "permission" not in policy and "prohibition" not in policy:
        raise MessageError(f"{where} needs at least one permission or prohibition")
    for key in ("permission", "prohibition", "obligation"):
        rules = policy.get(key)
        if rules is None:
            continue
        if not isinstance(rules, list) or not rules:
            raise MessageError(f"{where}.{key} must be a non-empty array")
        for i, rule in enumerate(rules):
            if not isinstance(rule, dict) or not isinstance(rule.get("action"), str | dict):
                raise MessageError(f"{where}.{key}[{i}] requires an 'action'")


def check_data_address(address: object) -> None:
    if not isinstance(address, dict) or type_name(address.get("@type")) != "DataAddress":
        raise MessageError("dataAddress must be an object with @type DataAddress")
    if not isinstance(address.get("endpointType"), str):
        raise MessageError("dataAddress requires 'endpointType'")
    props = address.get("endpointProperties", [])
    if not isinstance(props, list) or not all(
        isinstance(p, dict) and isinstance(p.get("name"), str) for p in props
    ):
        raise MessageError("dataAddress.endpointProperties must be a list of {name, value}")


def reasons(body: Mapping[str, Any]) -> list[str]:
    """Reason entries as text, whether sent as strings or as objects."""
    out: list[str] = []
    for item in body.get("reason") or []:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            text = item.get("message") or item.get("@value") or item.get("description")
            out.append(str(text) if text is not None else str(item))
        else:
            out.append(str(item))
    return out


# --- builders ---------------------------------------------------------------------------------


def _message(kind: str, **props: Any) -> Json:
    body: Json = {"@context": _ctx(), "@type": kind}
    body.update({k: v for k, v in props.items() if v is not None})
    return body


def contract_request(
    *,
    consumer_pid: str,
    offer: Mapping[str, Any],
    callback_address: str | None = None,
    provider_pid: str | None = None,
) -> Json:
    return _message(
        "ContractRequestMessage",
        providerPid=provider_pid,
        consumerPid=consumer_pid,
        offer=dict(offer),
        callbackAddress=callback_address,
    )


def contract_offer(
    *,
    provider_pid: str,
    offer: Mapping[str, Any],
    consumer_pid: str | None = None,
    callback_address: str | None = None,
) -> Json:
    return _message(
        "ContractOfferMessage",
        providerPid=provider_pid,
        consumerPid=consumer_pid,
        offer=dict(offer),
        callbackAddress=callback_address,
    )


def contract_agreement(
    *, provider_pid: str, consumer_pid: str, agreement: Mapping[str, Any]
) -> Json:
    return _message(
        "ContractAgreementMessage",
        providerPid=provider_pid,
        consumerPid=consumer_pid,
        agreement=dict(agreement),
    )


def agreement_verification(*, provider_pid: str, consumer_pid: str) -> Json:
    return _message(
        "ContractAgreementVerificationMessage", providerPid=provider_pid, consumerPid=consumer_pid
    )


def negotiation_event(*, provider_pid: str, consumer_pid: str, event: str) -> Json:
    return _message(
        "ContractNegotiationEventMessage",
        providerPid=provider_pid,
        consumerPid=consumer_pid,
        eventType=event,
    )


def negotiation_termination(
    *, provider_pid: str, consumer_pid: str, code: str | None = None, reason: Sequence[str] = ()
) -> Json:
    return _message(
        "ContractNegotiationTerminationMessage",
        providerPid=provider_pid,
        consumerPid=consumer_pid,
        code=code,
        reason=list(reason) or None,
    )


def negotiation(*, provider_pid: str, consumer_pid: str, state: str) -> Json:
    return _message(
        "ContractNegotiation", providerPid=provider_pid, consumerPid=consumer_pid, state=state
    )


def transfer_request(
    *,
    consumer_pid: str,
    agreement_id: str,
    format: str,
    callback_address: str,
    data_address: Mapping[str, Any] | None = None,
) -> Json:
    return _message(
        "TransferRequestMessage",
        consumerPid=consumer_pid,
        agreementId=agreement_id,
        format=format,
        callbackAddress=callback_address,
        dataAddress=dict(data_address) if data_address else None,
    )


def transfer_start(
    *, provider_pid: str, consumer_pid: str, data_address: Mapping[str, Any] | None = None
) -> Json:
    return _message(
        "TransferStartMessage",
        providerPid=provider_pid,
        consumerPid=consumer_pid,
        dataAddress=dict(data_address) if data_address else None,
    )


def transfer_signal(
    kind: str,
    *,
    provider_pid: str,
    consumer_pid: str,
    code: str | None = None,
    reason: Sequence[str] = (),
) -> Json:
    """Suspension, completion or termination (they share one shape)."""
    if kind == "TransferCompletionMessage":
        return _message(kind, providerPid=provider_pid, consumerPid=consumer_pid)
    return _message(
        kind,
        providerPid=provider_pid,
        consumerPid=consumer_pid,
        code=code,
        reason=list(reason) or None,
    )


def transfer_process(*, provider_pid: str, consumer_pid: str, state: str) -> Json:
    return _message(
        "TransferProcess", providerPid=provider_pid, consumerPid=consumer_pid, state=state
    )


def data_address(endpoint: str, token: str) -> Json:
    return {
        "@type": "DataAddress",
        "endpointType": "https://w3id.org/idsa/v4.1/HTTP",
        "endpoint": endpoint,
        "endpointProperties": [
            {"@type": "EndpointProperty", "name": "authorization", "value": token},
            {"@type": "EndpointProperty", "name": "authType", "value": "bearer"},
        ],
    }


def endpoint_property(address: Mapping[str, Any], name: str) -> str | None:
    for prop in address.get("endpointProperties") or []:
        if isinstance(prop, dict) and prop.get("name") == name:
            value = prop.get("value")
            return value if isinstance(value, str) else None
    return None


def error(
    kind: str,
    *,
    code: str,
    reason: Sequence[str],
    provider_pid: str | None = None,
    consumer_pid: str | None = None,
) -> Json:
    """A CatalogError, ContractNegotiationError or TransferError body.

    The negotiation and transfer error schemas require both pids; when the
    caller did not give one we echo what we know, or ``"unknown"``.
    """
    body: Json = {"@context": _ctx(), "@type": kind}
    if kind != "CatalogError":
        body["providerPid"] = provider_pid or "unknown"
        body["consumerPid"] = consumer_pid or "unknown"
    body["code"] = code
    body["reason"] = list(reason)
    return body


def version_metadata(path: str) -> Json:
    return {"protocolVersions": [{"version": VERSION, "path": path, "binding": "HTTPS"}]}


# --- catalog ----------------------------------------------------------------------------------


def offer_for_catalog(offer_id: str, policy: Mapping[str, Any]) -> Json:
    """An Offer as listed in a Dataset: no ``target`` (the dataset is the target)."""
    body: Json = {"@id": offer_id, "@type": "Offer"}
    for key in ("profile", "permission", "prohibition", "obligation"):
        if key in policy:
            body[key] = policy[key]
    return body


def offer_for_request(offer_id: str, target: str, policy: Mapping[str, Any]) -> Json:
    body = offer_for_catalog(offer_id, policy)
    body["target"] = target
    return body


def agreement(
    *,
    agreement_id: str,
    offer: Mapping[str, Any],
    target: str,
    assigner: str,
    assignee: str,
    timestamp: str,
) -> Json:
    """The agreement is the offer's rules verbatim with the parties bound."""
    body: Json = {
        "@id": agreement_id,
        "@type": "Agreement",
        "target": target,
        "timestamp": timestamp,
        "assigner": assigner,
        "assignee": assignee,
    }
    for key in ("profile", "permission", "prohibition", "obligation"):
        if key in offer:
            body[key] = offer[key]
    return body


def dataset(
    *,
    dataset_id: str,
    offers: Sequence[Mapping[str, Any]],
    formats: Sequence[str],
    service_id: str,
    title: str | None = None,
    description: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Json:
    body: Json = {"@id": dataset_id, "@type": "Dataset"}
    if title:
        body["title"] = title
    if description:
        body["description"] = [{"@value": description, "@language": "en"}]
    if extra:
        body.update(extra)
    body["hasPolicy"] = [dict(o) for o in offers]
    body["distribution"] = [
        {"@type": "Distribution", "format": f, "accessService": service_id} for f in formats
    ]
    return body


def catalog(
    *,
    catalog_id: str,
    participant_id: str,
    service_id: str,
    endpoint_url: str,
    datasets: Sequence[Json],
) -> Json:
    return {
        "@context": _ctx(),
        "@id": catalog_id,
        "@type": "Catalog",
        "participantId": participant_id,
        "service": [{"@id": service_id, "@type": "DataService", "endpointURL": endpoint_url}],
        "dataset": list(datasets),
    }


def with_context(body: Mapping[str, Any]) -> Json:
    out: Json = {"@context": _ctx()}
    out.update(body)
    return out
