"""What a regulator reads at the operator, summed up for supervision.

Pure: the caller passes the operator's own records, read the way ``/api/regulator/...`` reads
them (listings, members, certificates, countersigned checkpoints), and nothing here writes.

- Listings are counted by state, by data classification and by the provider's sector.
- Trades are the operator's trade certificates, counted per calendar month (UTC).
- Cross-border: a certified trade whose provider and consumer are registered in different
  countries.  Per provider and calendar year, the distinct persons of each product with personal
  information count once (as the provider's own counter does for deliveries), held against the
  thresholds of :mod:`trustspace.core.compliance`.  This is what the operator can see: agreed
  trades, whether or not the provider then delivered.
- A certificate is checked offline against the operator's published keys.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt

from trustspace.core.compliance import (
    PI_ASSESSMENT,
    PI_STANDARD,
    SENSITIVE_ASSESSMENT,
    CrossBorder,
    country,
    required_basis,
)
from trustspace.trust.credentials import jwk_key, read_certificate
from trustspace.trust.tokens import AuthError

UNKNOWN = "unknown"
THRESHOLDS = {
    "persons_standard": PI_STANDARD,
    "persons_assessment": PI_ASSESSMENT,
    "sensitive_assessment": SENSITIVE_ASSESSMENT,
}


def count_by(values: Iterable[str | None]) -> list[tuple[str, int]]:
    """How often each value occurs, most frequent first (then by name)."""
    counts = Counter(v or UNKNOWN for v in values)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def listing_counts(
    listings: list[dict[str, Any]], members: list[dict[str, Any]]
) -> dict[str, list[tuple[str, int]]]:
    sector = {m["participantId"]: m.get("sector") for m in members}
    return {
        "status": count_by(x["status"] for x in listings),
        "classification": count_by(x["submission"].get("classification") for x in listings),
        "sector": count_by(sector.get(x["providerId"]) for x in listings),
    }


def _claims(token: str) -> dict[str, Any]:
    """The claims of a certificate from the operator's own store (not a check: see
    :func:`check_certificate`)."""
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims


def month(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m")


def trades(certificates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trade certificates, newest first, with what they certify."""
    found = []
    for c in certificates:
        if c["kind"] != "trade":
            continue
        claims = _claims(str(c["token"]))
        found_product = claims.get("product")
        product: dict[str, Any] = found_product if isinstance(found_product, dict) else {}
        found.append({
            "id": c["id"], "agreement": c["subject"], "issuedAt": float(c["issued_at"]),
            "month": month(float(c["issued_at"])), "provider": claims.get("provider"),
            "consumer": claims.get("consumer"), "dataset": product.get("dataset"),
            "versionHash": product.get("versionHash"), "listing": product.get("listing"),
            "price": claims.get("price") if isinstance(claims.get("price"), dict) else None,
        })  # fmt: skip
    return sorted(found, key=lambda t: -t["issuedAt"])


def per_month(items: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """Trades per month, oldest first, months without trades included."""
    counts = Counter(t["month"] for t in items)
    if not counts:
        return []
    year, mon = map(int, min(counts).split("-"))
    last = max(counts)
    months = []
    while True:
        key = f"{year:04d}-{mon:02d}"
        months.append((key, counts.get(key, 0)))
        if key >= last:
            return months
        year, mon = (year + 1, 1) if mon == 12 else (year, mon + 1)


@dataclass
class ProviderCounter:
    provider: str
    region: str | None
    trades: int = 0
    products: set[str] = field(default_factory=set)
    persons: int = 0
    sensitive: int = 0

    @property
    def required(self) -> tuple[str, ...] | None:
        """The cross-border bases of which one is needed for what went abroad this year."""
        return required_basis(CrossBorder(persons_so_far=self.persons,
                                          sensitive_so_far=self.sensitive, persons=0,
                                          sensitive=False, already_counted=True))  # fmt: skip

    @property
    def level(self) -> str:
        """``below`` the thresholds, past the ``standard`` one, or past an ``assessment`` one."""
        needed = self.required
        if needed is None:
            return "below"
        return "assessment" if needed == ("security-assessment",) else "standard"

    def share(self, threshold: int, value: int) -> float:
        return value / threshold if threshold else 0.0


def cross_border(
    items: list[dict[str, Any]], listings: list[dict[str, Any]], members: list[dict[str, Any]],
    year: int,
) -> list[ProviderCounter]:  # fmt: skip
    """Per provider: this year's certified cross-border trades and the persons they carry."""
    region = {m["participantId"]: m.get("region") for m in members}
    by_id = {x["id"]: x for x in listings}
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for x in sorted(listings, key=lambda x: x["updatedAt"]):
        if x["status"] in ("listed", "delisted"):
            latest[(x["providerId"], x["datasetId"])] = x
    counters = {
        m["participantId"]: ProviderCounter(m["participantId"], m.get("region"))
        for m in members
        if "provider" in (m.get("roles") or [])
    }
    for t in items:
        provider, consumer = t.get("provider"), t.get("consumer")
        if not isinstance(provider, str) or not isinstance(consumer, str):
            continue
        if datetime.fromtimestamp(t["issuedAt"], UTC).year != year:
            continue
        home, away = country(region.get(provider)), country(region.get(consumer))
        if home is None or away is None or home == away:
            continue
        counter = counters.setdefault(provider, ProviderCounter(provider, region.get(provider)))
        counter.trades += 1
        listing = by_id.get(t.get("listing") or "") or latest.get((provider, str(t.get("dataset"))))
        sub = listing["submission"] if listing is not None else {}
        key = str(t.get("dataset"))
        if not sub.get("piiKinds") or key in counter.products:
            continue
        counter.products.add(key)
        persons = int(sub.get("persons") or 0)
        counter.persons += persons
        counter.sensitive += persons if sub.get("sensitive") else 0
    return sorted(counters.values(), key=lambda c: (-c.persons, -c.trades, c.provider))


def latest_checkpoints(rows: list[dict[str, Any]], by: str) -> list[dict[str, Any]]:
    """The newest checkpoint per ``by`` (operator, or member), with how many there are."""
    newest: dict[str, dict[str, Any]] = {}
    count: Counter[str] = Counter()
    for r in rows:
        key = str(r[by])
        count[key] += 1
        if key not in newest or int(r["seq"]) > int(newest[key]["seq"]):
            newest[key] = r
    return [{**newest[k], by: k, "count": count[k]} for k in sorted(newest)]


@dataclass(frozen=True)
class CertificateCheck:
    valid: bool
    reason: str  # why not (English, as the trust functions say it); empty when valid
    claims: dict[str, Any]


def check_certificate(token: str, jwks: Mapping[str, Any], operator_id: str) -> CertificateCheck:
    """A registration or trade certificate verified offline against the operator's published
    keys (``jwks``: its ``/operator/keys`` document), as ``trustspace verify`` does."""
    token = "".join(token.split())
    if not token:
        return CertificateCheck(False, "no certificate was given", {})
    keys = {str(k["kid"]): jwk_key(k) for k in jwks.get("keys", [])}
    try:
        claims = read_certificate(token, keys)
    except AuthError as exc:
        return CertificateCheck(False, exc.reason, {})
    if claims.get("iss") != operator_id:
        return CertificateCheck(False, f"the certificate names {claims.get('iss')} as its issuer,"
                                f" not {operator_id}", claims)  # fmt: skip
    return CertificateCheck(True, "", claims)


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
