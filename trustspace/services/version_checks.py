"""What a product version must satisfy before it is published: offer terms, the API
descriptor, the analysis rule against the version's files and profile, the description's
vocabularies, and whether the version holds personal information.

Every check raises :class:`~trustspace.services.errors.Refused` with a reason for the provider;
none writes anything.
"""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from trustspace.core import fileset
from trustspace.core.compute import Rule
from trustspace.core.odrl.vocab import CLASSIFICATIONS
from trustspace.core.records import DataFile
from trustspace.services import policy as pep
from trustspace.services.errors import Refused

FREQUENCIES = (
    "continuous",
    "hourly",
    "daily",
    "weekly",
    "monthly",
    "quarterly",
    "annual",
    "irregular",
    "never",
)


def check_description(classification: str, update_frequency: str | None, price: str | None,
                      currency: str | None) -> None:  # fmt: skip
    """The catalog vocabularies: a listable classification, a known update frequency, and a
    price that is a non-negative amount with its currency."""
    if classification not in CLASSIFICATIONS:
        raise Refused(f"classification {classification!r}: use one of {', '.join(CLASSIFICATIONS)}")
    if classification == "core":
        raise Refused("core data is never listed")
    if update_frequency is not None and update_frequency not in FREQUENCIES:
        raise Refused(f"update frequency {update_frequency!r}: use one of {', '.join(FREQUENCIES)}")
    if price is not None:
        try:
            amount = Decimal(price)
        except ArithmeticError:
            raise Refused(f"price {price!r} is not a number") from None
        if not amount.is_finite() or amount < 0 or not currency:
            raise Refused("a price is a non-negative amount with a currency (e.g. 100 CNY)")


def check_offer_terms(terms: dict[str, Any]) -> None:
    """Contract terms travel in DSP messages, whose schema wants each action as a plain term:
    refinements belong in the rule's constraints.  Every term must be in the vocabulary."""
    for key in ("permission", "prohibition", "obligation"):
        rules = terms.get(key, [])
        for i, rule in enumerate(rules if isinstance(rules, list) else [rules]):
            if isinstance(rule, dict) and not isinstance(rule.get("action"), str):
                raise Refused(
                    f"offer {key}[{i}]: the action must be a term such as 'use' "
                    "(DSP carries actions as plain terms; put conditions in 'constraint')"
                )
    pep.validate({"@id": "urn:offer", "@type": "Offer", **terms}, what="offer")


_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


def check_api(api: dict[str, Any]) -> dict[str, Any]:
    """The descriptor of an HTTP API product: where the backend is, and how the node calls it.

    ``baseUrl`` (http or https) is the backend's address, never shown to consumers.  The
    credential the node sends (``authHeader``, default ``Authorization``) is read at call time
    from the environment variable ``authEnv``: no secret is stored.  ``mediaType`` describes
    the answers for the catalog.  ``methods`` are the HTTP methods consumers may call: ``GET``
    (the default) and ``POST`` (for query APIs that take a body)."""
    unknown = sorted(set(api) - {"baseUrl", "authHeader", "authEnv", "mediaType", "methods"})
    if unknown:
        raise Refused(f"api: unknown fields {', '.join(unknown)}")
    url = api.get("baseUrl")
    if not isinstance(url, str):
        raise Refused("api: baseUrl must be an http(s) URL of the backend")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("api: baseUrl must be an http(s) URL of the backend")
    if parts.query or parts.fragment:
        raise Refused("api: baseUrl takes no query or fragment; consumers add their own query")
    env = api.get("authEnv")
    if env is not None and not (isinstance(env, str) and _ENV_NAME.fullmatch(env)):
        raise Refused("api: authEnv names an environment variable (A-Z, 0-9, _)")
    header = api.get("authHeader", "Authorization")
    if not isinstance(header, str) or not re.fullmatch(r"[A-Za-z0-9-]+", header):
        raise Refused("api: authHeader is a header name")
    media = api.get("mediaType", "application/json")
    if not isinstance(media, str) or "/" not in media:
        raise Refused("api: mediaType is a media type such as application/json")
    methods = api.get("methods", ["GET"])
    if (not isinstance(methods, list) or not methods
            or not set(methods) <= {"GET", "POST"}):  # fmt: skip
        raise Refused("api: methods is a list of GET and POST")
    return {"baseUrl": url.rstrip("/"), "authHeader": header, "authEnv": env, "mediaType": media,
            "methods": sorted(set(methods))}  # fmt: skip


def api_version_hash(api: dict[str, Any], version: str | None) -> str:
    """An API has no bytes to hash: its version hash covers the descriptor and the label."""
    doc = {"kind": "http-api", "baseUrl": api["baseUrl"], "version": version}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def check_rule_tables(rule: Rule, names: list[str]) -> None:
    """A multi-file version's rule reads its files' tables; joins need such a version."""
    if len(names) > 1:
        tables = sorted(fileset.table_name(n) for n in names)
        missing = [t for t in rule.tables if t not in tables]
        if missing:
            raise Refused(f"analysis rule: {', '.join(missing)} is not a table of this version"
                          f" (its tables: {', '.join(tables)})")  # fmt: skip
    elif rule.joins:
        raise Refused("analysis rule: joins need a version of several files, one per table")


def check_profile(profile: dict[str, Any] | None, files: tuple[DataFile, ...]) -> None:
    """A profile has to describe the very files published (it is what the listing shows)."""
    if profile is None or not files:
        return
    if len(files) == 1:
        described = {files[0].name: profile}
    else:
        per_file = profile.get("files")
        if not isinstance(per_file, dict) or set(per_file) != {f.name for f in files}:
            raise Refused("the profile has to hold one profile per file, keyed by file name")
        described = per_file
    for f in files:
        theirs = described[f.name]
        if not isinstance(theirs, dict) or theirs.get("sha256") not in (None, f.sha256):
            raise Refused(f"the profile describes another file than {f.name}: its SHA-256 differs")


def check_rule_columns(rule: Rule, profile: dict[str, Any] | None, names: list[str]) -> None:
    """Every column the rule names is a column of its table's file (a missing one would fail
    every job)."""
    per_file = (profile or {}).get("files") if len(names) > 1 else {names[0]: profile}
    if not isinstance(per_file, dict):
        return
    for name, described in per_file.items():
        columns = {
            c.get("name") for c in (described or {}).get("columns", []) if isinstance(c, dict)
        }
        table = fileset.table_name(name) if len(names) > 1 else rule.table
        if not columns or table not in rule.tables:
            continue
        wanted = set(rule.roles(table))
        if table == rule.table:
            wanted |= {rule.entity, *(j.left for j in rule.joins)}
        wanted |= {j.right for j in rule.joins if j.table == table}
        missing = sorted(wanted - columns)
        if missing:
            raise Refused(f"analysis rule: {name} has no column {', '.join(missing)}"
                          f" (its columns: {', '.join(sorted(str(c) for c in columns))})")  # fmt: skip


def holds_personal_information(
    profile: dict[str, Any] | None, declaration: dict[str, Any] | None
) -> bool:
    """By the provider's declaration (personal information, or a legal basis for it) or by
    the personal-information scan of any of the version's files."""
    declared = declaration or {}
    if declared.get("personalInformation") or declared.get("legalBasis"):
        return True
    profiles = [profile or {}]
    if isinstance((profile or {}).get("files"), dict):
        profiles = [p for p in profile["files"].values() if isinstance(p, dict)]  # type: ignore[index]
    return any(p.get("pii_kinds") for p in profiles)


def scan(files: tuple[DataFile, ...]) -> dict[str, Any] | None:
    from trustspace.products.profile import profile_file

    scanned = {}
    for f in files:
        try:
            scanned[f.name] = profile_file(Path(f.path), fmt=_format(f.name))
        except (ValueError, OSError) as exc:
            raise Refused(
                f"{f.name} could not be scanned for personal information: {exc}"
            ) from None
    if len(files) == 1:
        return scanned[files[0].name]
    return {"files": scanned}


def _format(name: str) -> str | None:
    return {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}.get(
        Path(name).suffix.lower()
    )
