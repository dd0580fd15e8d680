"""What a consumer's people read: a dataset's scan summary and registration certificates as a
provider shows them, and the agreements and transfers this node holds as consumer.

Pure reads, one transaction each.  Uses are counted as the provider counts them: one use of an
agreement per transfer that serves data (:func:`trustspace.services.transfers.consume`).  This
node cannot see the provider's count, so a transfer that has started counts as used here: the
uses left shown are never more than the provider grants.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from trustspace.core import negotiation as n
from trustspace.core.machine import Role
from trustspace.core.odrl import PolicyError, vocab
from trustspace.core.odrl.model import Constraint, LogicalConstraint, Term
from trustspace.core.odrl.parse import parse_policy
from trustspace.core.odrl.vocab import TRUSTSPACE
from trustspace.core.odrl.words import describe_offer
from trustspace.core.records import Negotiation, Transfer
from trustspace.services.context import NodeContext
from trustspace.services.errors import NotFound
from trustspace.services.operators import OperatorClient
from trustspace.store import buyer_views as rows
from trustspace.store import negotiations as negotiation_rows
from trustspace.store import transfers as transfer_rows
from trustspace.trust.credentials import read_certificate
from trustspace.trust.tokens import AuthError

PROFILE_KEY = TRUSTSPACE + "profile"
"""A dataset's scan summary in its catalog entry: rows, column types, null rates, distinct
counts, personal-information kinds (never sample values)."""
CERTIFICATES_KEY = TRUSTSPACE + "registrationCertificates"
"""The registration certificates the provider holds for the dataset (signed tokens)."""
READ_ACTIONS = ("use", "read")


def _file_summary(profile: Mapping[str, Any]) -> dict[str, Any]:
    columns = [c for c in profile.get("columns", []) if isinstance(c, Mapping)]
    return {
        "rows": profile.get("rows"),
        "format": profile.get("format"),
        "columns": [
            {
                "name": str(c.get("name")),
                "type": str(c.get("type") or "string"),
                "nullRate": c.get("null_rate"),
                "distinct": c.get("distinct"),
                "personal": sorted((c.get("pii") or {}).get("kinds") or {}),
            }
            for c in columns
        ],
        "piiKinds": [str(k) for k in profile.get("pii_kinds", [])],
        "sensitive": bool(profile.get("sensitive", False)),
    }


def profile_summary(
    profile: Mapping[str, Any] | None, declaration: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """What a consumer may see of a version's scan and declaration, or None without either."""
    declared = declaration or {}
    personal_declared = bool(declared.get("personalInformation") or declared.get("legalBasis"))
    if not profile and not personal_declared:
        return None
    files: dict[str, dict[str, Any]] = {}
    if profile and isinstance(profile.get("files"), Mapping):
        for name, part in profile["files"].items():
            if isinstance(part, Mapping):
                files[str(name)] = _file_summary(part)
    elif profile:
        files[""] = _file_summary(profile)
    kinds = sorted({k for f in files.values() for k in f["piiKinds"]})
    return {
        "files": files,
        "personalInformation": personal_declared or bool(kinds),
        "piiKinds": kinds,
        "sensitive": any(f["sensitive"] for f in files.values()),
        "legalBasis": declared.get("legalBasis") if isinstance(declared.get("legalBasis"), str)
        else None,
    }  # fmt: skip


def _claims(token: str) -> dict[str, Any]:
    try:
        found: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return found


def certificates_for(held: Iterable[Mapping[str, Any]], dataset_id: str) -> list[str]:
    """The registration certificates among ``held`` that name ``dataset_id``."""
    return [
        str(c["token"])
        for c in held
        if c.get("kind") == "registration"
        and (_claims(str(c["token"])).get("product") or {}).get("dataset") == dataset_id
    ]


@dataclass(frozen=True)
class Certificate:
    claims: dict[str, Any]
    verified: bool
    problem: str | None = None


def read_certificates(operators: OperatorClient | None, tokens: object) -> list[Certificate]:
    """Registration certificates as a provider listed them, checked against the keys of the
    operator that signed them (one this node trusts); an unverified one says why."""
    found: list[Certificate] = []
    for token in tokens if isinstance(tokens, list) else []:
        if not isinstance(token, str):
            continue
        claims = _claims(token)
        if not claims:
            continue
        issuer = str(claims.get("iss", ""))
        try:
            kid = str(jwt.get_unverified_header(token).get("kid", ""))
        except jwt.PyJWTError:
            kid = ""
        key = None
        if operators is not None and issuer in operators.trusted:
            key = operators.key(issuer, kid)
        if key is None:
            found.append(
                Certificate(claims, False, "signed by an operator this node does not trust")
            )
            continue
        try:
            found.append(Certificate(read_certificate(token, {kid: key}), True))
        except AuthError as exc:
            found.append(Certificate(claims, False, str(exc)))
    return found


def terms_in_words(policy: Mapping[str, Any]) -> list[str]:
    try:
        return describe_offer(policy)
    except PolicyError as exc:
        return [f"the terms cannot be read: {exc}"]


def _count_limit(term: Term) -> int | None:
    if isinstance(term, LogicalConstraint) or not isinstance(term, Constraint):
        return None
    operand = vocab.LEFT_OPERANDS.get(term.left)
    if operand is None or operand.kind != "count" or not isinstance(term.right, int):
        return None
    return {"lteq": term.right, "lt": term.right - 1, "eq": term.right}.get(term.operator)


def use_limit(policy: Mapping[str, Any]) -> int | None:
    """How many uses (downloads) the agreement allows in all, None for no limit."""
    try:
        parsed = parse_policy({"@id": "urn:trustspace:agreement", **policy}, strict=False)
    except PolicyError:
        return None
    best: int | None = 0
    for rule in parsed.permissions:
        name = rule.action.name if rule.action is not None else "use"
        if name not in READ_ACTIONS:
            continue
        terms = [*(rule.action.refinement if rule.action else ()), *rule.constraints]
        limits = [x for x in (_count_limit(t) for t in terms) if x is not None]
        if not limits:
            return None
        if best is not None:
            best = max(best, min(limits))
    return best


def agreements(ctx: NodeContext, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """The agreements this node holds as consumer, with their terms in words and uses left."""
    with ctx.db.tx() as tx:
        found = rows.consumer_agreements(tx, ctx.participant_id, limit, offset)
        started = rows.started_transfers(tx, [a["id"] for a in found])
    return [_agreement(a, started.get(a["id"], 0)) for a in found]


def agreement(ctx: NodeContext, agreement_id: str) -> dict[str, Any]:
    with ctx.db.tx() as tx:
        found = rows.consumer_agreements(tx, ctx.participant_id, 1, 0, agreement_id)
        started = rows.started_transfers(tx, [agreement_id])
        transfer_ids = rows.consumer_transfers_of(tx, agreement_id) if found else []
    if not found:
        raise NotFound(f"no agreement {agreement_id} where this node is the consumer")
    return {**_agreement(found[0], started.get(agreement_id, 0)), "transfers": transfer_ids}


def _agreement(row: Mapping[str, Any], used: int) -> dict[str, Any]:
    policy = json.loads(row["policy"]) if isinstance(row["policy"], str) else row["policy"]
    allowed = use_limit(policy)
    return {
        "id": row["id"],
        "negotiationId": row["negotiation_id"],
        "datasetId": row["dataset_id"],
        "providerId": row["provider_id"],
        "providerAddress": row["counterparty_address"],
        "createdAt": row["created_at"],
        "finalized": row["state"] == n.FINALIZED,
        "terms": terms_in_words(policy),
        "usesAllowed": allowed,
        "usesTaken": used,
        "usesLeft": None if allowed is None else max(0, allowed - used),
    }


def negotiation(ctx: NodeContext, negotiation_id: str) -> Negotiation:
    """A negotiation this node runs as consumer (another id is not found)."""
    with ctx.db.tx() as tx:
        neg = negotiation_rows.get_negotiation(tx, negotiation_id)
    if neg is None or neg.role is not Role.CONSUMER:
        raise NotFound(f"no contract negotiation {negotiation_id}")
    return neg


def transfer(ctx: NodeContext, transfer_id: str) -> Transfer:
    """A transfer this node runs as consumer (another id is not found)."""
    with ctx.db.tx() as tx:
        tp = transfer_rows.get_transfer(tx, transfer_id)
    if tp is None or tp.role is not Role.CONSUMER:
        raise NotFound(f"no transfer process {transfer_id}")
    return tp


def transfers(ctx: NodeContext, limit: int = 50, offset: int = 0) -> list[Transfer]:
    with ctx.db.tx() as tx:
        ids = rows.consumer_transfer_ids(tx, limit, offset)
        found = [transfer_rows.get_transfer(tx, i) for i in ids]
    return [t for t in found if t is not None]
