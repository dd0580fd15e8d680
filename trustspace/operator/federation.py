"""The federated catalog: the operator crawls its members' DSP catalogs and serves a search.

- Only datasets with a listed (reviewed and approved) version are indexed.
- The operator crawls as itself, with its own membership credential, so each member's access
  policies decide what the operator may index: a member shows a dataset for discovery by letting
  the operator see it.
- A crawl replaces everything indexed for that member; a member that no longer answers keeps
  its last entries until it answers again.
- Spaces can be linked: the operator also pulls the export of each linked operator
  (``linked_spaces``), and their entries carry that space's id.
- Every entry points back to the provider's connector (its DSP URL and dataset id), where
  negotiation happens.
- Crawling calls members and linked operators through :mod:`trustspace.services.peers`; one that
  fails is named in the crawl report and keeps its entries.
- Search is full text over titles, descriptions and keywords, with filters: sector, region,
  format, licence, classification, maximum price, provider and space.  It uses SQLite FTS5, or
  PostgreSQL full-text search on PostgreSQL.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

from trustspace.core import messages as m
from trustspace.operator import registry
from trustspace.services import peers
from trustspace.services.catalog import CLASSIFICATION_KEY, PRICE_KEY
from trustspace.services.errors import Refused
from trustspace.store.db import Database, Tx

log = logging.getLogger(__name__)

COLUMNS = ("space", "provider_id", "dataset_id", "title", "description", "keywords", "sector",
           "region", "formats", "license", "classification", "price", "currency", "dsp_url",
           "indexed_at")  # fmt: skip
FILTERS = ("q", "sector", "region", "format", "license", "classification", "maxPrice",
           "provider", "space", "limit")  # fmt: skip


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def entries_from_catalog(
    catalog: Mapping[str, Any], *, space: str, member: Mapping[str, Any], now: float
) -> list[dict[str, Any]]:
    """Index rows for the datasets in one member's DSP catalog."""
    rows = []
    for d in _as_list(catalog.get("dataset")):
        if not isinstance(d, Mapping) or not isinstance(d.get("@id"), str):
            continue
        raw_price = d.get(PRICE_KEY)
        price: Mapping[str, Any] = raw_price if isinstance(raw_price, Mapping) else {}
        amount: float | None
        try:
            amount = float(price["amount"]) if price and "amount" in price else None
        except (TypeError, ValueError):
            amount = None
        formats = [
            x.get("format") for x in _as_list(d.get("distribution")) if isinstance(x, Mapping)
        ]
        rows.append(
            {
                "space": space,
                "provider_id": member["participantId"],
                "dataset_id": d["@id"],
                "title": str(d.get("title") or ""),
                "description": str(d.get("description") or ""),
                "keywords": " ".join(str(k) for k in _as_list(d.get("keyword"))),
                "sector": member["sector"],
                "region": member["region"],
                "formats": json.dumps([f for f in formats if isinstance(f, str)]),
                "license": d.get("license") if isinstance(d.get("license"), str) else None,
                "classification": str(d.get(CLASSIFICATION_KEY) or "general"),
                "price": amount,
                "currency": price.get("currency") if amount is not None else None,
                "dsp_url": member["dspUrl"],
                "indexed_at": now,
            }
        )
    return rows


def replace_entries(
    tx: Tx, space: str, provider_id: str | None, rows: Iterable[Mapping[str, Any]]
) -> int:
    """Replace what is indexed for one provider of a space (``provider_id`` None: the whole
    space).  Returns the number of rows written."""
    where, params = "space = ?", [space]
    if provider_id is not None:
        where += " AND provider_id = ?"
        params.append(provider_id)
    if tx.dialect == "sqlite":
        tx.execute(
            f"DELETE FROM catalog_fts WHERE rowid IN (SELECT id FROM catalog_entries WHERE {where})",
            params,
        )
    tx.execute(f"DELETE FROM catalog_entries WHERE {where}", params)
    marks = ",".join("?" for _ in COLUMNS)
    n = 0
    for row in rows:
        values = tuple(row[c] for c in COLUMNS)
        if tx.dialect == "sqlite":
            tx.execute(
                f"INSERT INTO catalog_entries ({','.join(COLUMNS)}) VALUES ({marks})", values
            )
            new = tx.one("SELECT last_insert_rowid() AS id")
            assert new is not None
            tx.execute(
                "INSERT INTO catalog_fts (rowid, title, description, keywords) VALUES (?,?,?,?)",
                (new["id"], row["title"], row["description"], row["keywords"]),
            )
        else:
            tx.execute(
                f"INSERT INTO catalog_entries ({','.join(COLUMNS)}) VALUES ({marks})", values
            )
        n += 1
    return n


_WORD = re.compile(r"\w+", re.UNICODE)


def search(tx: Tx, params: Mapping[str, str]) -> list[dict[str, Any]]:
    unknown = sorted(set(params) - set(FILTERS))
    if unknown:
        raise Refused(f"unknown search parameters {unknown}; use {', '.join(FILTERS)}")
    try:
        limit = max(1, min(int(params.get("limit", "20")), 200))
        max_price = float(params["maxPrice"]) if params.get("maxPrice") else None
    except ValueError:
        raise Refused("limit and maxPrice must be numbers") from None
    where: list[str] = []
    args: list[Any] = []
    words = _WORD.findall(params.get("q", ""))
    order = "e.indexed_at DESC, e.id"
    source = "catalog_entries e"
    if words:
        if tx.dialect == "sqlite":
            source = "catalog_fts f JOIN catalog_entries e ON e.id = f.rowid"
            where.append("catalog_fts MATCH ?")
            args.append(" ".join(f'"{w}"*' if i == len(words) - 1 else f'"{w}"'
                                 for i, w in enumerate(words)))  # fmt: skip
            order = "bm25(catalog_fts), e.id"
        else:
            where.append("e.tsv @@ to_tsquery('simple', ?)")
            args.append(" & ".join([*words[:-1], words[-1] + ":*"]))
    for key, column in (("sector", "sector"), ("license", "license"),
                        ("classification", "classification"), ("provider", "provider_id"),
                        ("space", "space")):  # fmt: skip
        if params.get(key):
            where.append(f"e.{column} = ?")
            args.append(params[key])
    if params.get("region"):
        where.append("(e.region = ? OR e.region LIKE ?)")
        args += [params["region"], params["region"] + "-%"]
    if params.get("format"):
        where.append("e.formats LIKE ?")
        args.append(f'%"{params["format"]}"%')
    if max_price is not None:
        where.append("e.price IS NOT NULL AND e.price <= ?")
        args.append(max_price)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    if words and tx.dialect == "sqlite" and len(where) == 1:
        # Words alone: FTS5 ranks and limits inside the index (its ``rank`` is bm25), so only
        # the top rows are joined.  The order is the same as the general query's.
        rows = tx.all(
            "SELECT e.* FROM (SELECT rowid, rank FROM catalog_fts WHERE catalog_fts MATCH ?"
            " ORDER BY rank, rowid LIMIT ?) f JOIN catalog_entries e ON e.id = f.rowid"
            " ORDER BY f.rank, e.id",
            (*args, limit),
        )
    elif words and tx.dialect != "sqlite":
        # Rank narrow rows (id and score), then fetch the full rows of the first ones only:
        # sorting every match with all its columns costs more than the ranking itself.
        rows = tx.all(
            "SELECT e.* FROM (SELECT e.id, ts_rank(e.tsv, to_tsquery('simple', ?)) AS score"
            f" FROM catalog_entries e{clause} ORDER BY score DESC, e.id LIMIT ?) ranked"
            " JOIN catalog_entries e ON e.id = ranked.id ORDER BY ranked.score DESC, e.id",
            (args[0], *args, limit),  # args[0] is the text query, ranked and matched
        )
    else:
        rows = tx.all(f"SELECT e.* FROM {source}{clause} ORDER BY {order} LIMIT ?", (*args, limit))
    return [
        {
            "space": r["space"],
            "providerId": r["provider_id"],
            "datasetId": r["dataset_id"],
            "title": r["title"],
            "description": r["description"],
            "keywords": r["keywords"].split(),
            "sector": r["sector"],
            "region": r["region"],
            "formats": json.loads(r["formats"]),
            "license": r["license"],
            "classification": r["classification"],
            "price": None
            if r["price"] is None
            else {"amount": r["price"], "currency": r["currency"]},
            "dspUrl": r["dsp_url"],
        }
        for r in rows
    ]


class Federation:
    def __init__(
        self,
        db: Database,
        space: str,
        own_id: str,
        http: httpx.Client,
        authorization: Callable[[str], str],
        *,
        linked: Iterable[str] = (),
        clock: Callable[[], float],
        listed: Callable[[], set[tuple[str, str]]] | None = None,
    ) -> None:
        self.db = db
        self.space = space
        self.own_id = own_id
        self.http = http
        self.authorization = authorization
        self.linked = [u.rstrip("/") for u in linked]
        self.clock = clock
        self.listed = listed
        self._lock = threading.Lock()

    def crawl(self) -> dict[str, Any]:
        """Crawl every active member now; one crawl at a time."""
        with self._lock:
            return self._crawl()

    def _crawl(self) -> dict[str, Any]:
        with self.db.tx() as tx:
            members = [
                mm for mm in registry.list_members(tx)
                if mm["status"] == "active" and mm["participantId"] != self.own_id
            ]  # fmt: skip
            gone = [mm["participantId"] for mm in registry.list_members(tx)
                    if mm["status"] != "active"]  # fmt: skip
        report: dict[str, Any] = {"members": len(members), "datasets": 0, "errors": {}}
        with self.db.tx() as tx:
            for participant in gone:
                replace_entries(tx, self.space, participant, [])
        for member in members:
            try:
                catalog = peers.call(
                    self.http, "POST", member["dspUrl"].rstrip("/") + "/catalog/request",
                    peer_id=member["participantId"], authorization=self.authorization,
                    body={"@context": list(m.CONTEXT), "@type": "CatalogRequestMessage"},
                )  # fmt: skip
                rows = entries_from_catalog(
                    catalog, space=self.space, member=member, now=self.clock()
                )
                if self.listed is not None:  # only versions that passed review
                    allowed = self.listed()
                    rows = [r for r in rows if (r["provider_id"], r["dataset_id"]) in allowed]
            except (peers.RemoteError, ValueError) as exc:
                report["errors"][member["participantId"]] = str(exc)
                continue
            with self.db.tx() as tx:
                report["datasets"] += replace_entries(tx, self.space, member["participantId"], rows)
        for url in self.linked:
            try:
                exported = peers.call(self.http, "GET", url + "/operator/catalog/export")
                space = str(exported["space"])
                rows = [
                    {**{c: r[c] for c in COLUMNS}, "space": space, "indexed_at": self.clock()}
                    for r in exported["entries"]
                ]
            except (peers.RemoteError, ValueError, KeyError, TypeError) as exc:
                report["errors"][url] = str(exc)
                continue
            if space == self.space:
                report["errors"][url] = "a linked space cannot have this space's id"
                continue
            with self.db.tx() as tx:
                report["datasets"] += replace_entries(tx, space, None, rows)
        return report

    def export(self) -> dict[str, Any]:
        """This space's own entries, for operators that link to it."""
        with self.db.tx() as tx:
            rows = tx.all(
                f"SELECT {','.join(COLUMNS)} FROM catalog_entries WHERE space = ? ORDER BY id",
                (self.space,),
            )
        return {"space": self.space, "entries": [dict(r) for r in rows]}

    def search(self, params: Mapping[str, str]) -> dict[str, Any]:
        with self.db.tx() as tx:
            results = search(tx, params)
        return {"results": results, "count": len(results)}
