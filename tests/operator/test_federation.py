"""The federated catalog index on SQLite (FTS5) and PostgreSQL (full-text search)."""

from __future__ import annotations

import pytest

from tests.store.conftest import db  # noqa: F401  (the SQLite + PostgreSQL fixture)
from trustspace.operator.federation import entries_from_catalog, replace_entries, search
from trustspace.services.catalog import CLASSIFICATION_KEY, PRICE_KEY
from trustspace.services.errors import Refused
from trustspace.store.db import Database

MEMBER = {"participantId": "hospital", "sector": "health", "region": "CN-BJ",
          "dspUrl": "http://hospital/dsp/2025-1"}  # fmt: skip
CATALOG = {
    "dataset": [
        {"@id": "urn:ds:ct", "title": "Chest CT scans", "description": "Anonymised lung imaging",
         "keyword": ["radiology", "lung"], "license": "cc-by",
         "distribution": [{"format": "HttpData-PULL"}], CLASSIFICATION_KEY: "important",
         PRICE_KEY: {"amount": "100", "currency": "CNY"}},
        {"@id": "urn:ds:ecg", "title": "ECG recordings", "description": "Heart rhythm traces",
         "keyword": ["cardiology"], "distribution": [{"format": "Parquet"}]},
    ]
}  # fmt: skip


def _index(database: Database) -> None:
    rows = entries_from_catalog(CATALOG, space="space-a", member=MEMBER, now=1.0)
    other = {**MEMBER, "participantId": "lab", "sector": "research", "region": "DE"}
    rows += entries_from_catalog(
        {"dataset": [{"@id": "urn:ds:lung", "title": "Lung cancer cohort", "description": ""}]},
        space="space-a", member=other, now=1.0,
    )  # fmt: skip
    with database.tx() as tx:
        replace_entries(tx, "space-a", None, rows)


@pytest.mark.parametrize(
    ("params", "found"),
    [
        ({"q": "lung"}, {"urn:ds:ct", "urn:ds:lung"}),
        ({"q": "lung", "sector": "health"}, {"urn:ds:ct"}),
        ({"q": "card"}, {"urn:ds:ecg"}),  # the last word is a prefix
        ({"q": "heart traces"}, {"urn:ds:ecg"}),
        ({"q": "heart lung"}, set()),  # every word must match
        ({"region": "CN"}, {"urn:ds:ct", "urn:ds:ecg"}),  # CN-BJ is in CN
        ({"region": "DE"}, {"urn:ds:lung"}),
        ({"format": "Parquet"}, {"urn:ds:ecg"}),
        ({"maxPrice": "150"}, {"urn:ds:ct"}),
        ({"maxPrice": "50"}, set()),
        ({"classification": "important"}, {"urn:ds:ct"}),
        ({"license": "cc-by"}, {"urn:ds:ct"}),
        ({"provider": "lab"}, {"urn:ds:lung"}),
        ({"q": '"; DROP TABLE catalog_entries; --'}, set()),
    ],
)
def test_search(db: Database, params: dict[str, str], found: set[str]) -> None:  # noqa: F811
    _index(db)
    with db.tx() as tx:
        results = search(tx, params)
    assert {r["datasetId"] for r in results} == found
    for r in results:
        assert r["dspUrl"].endswith("/dsp/2025-1")


def test_a_crawl_replaces_what_a_member_had(db: Database) -> None:  # noqa: F811
    _index(db)
    with db.tx() as tx:
        replace_entries(tx, "space-a", "hospital", [])
        remaining = search(tx, {})
        count = tx.one("SELECT COUNT(*) AS n FROM catalog_entries")
    assert [r["datasetId"] for r in remaining] == ["urn:ds:lung"]
    assert count is not None and int(count["n"]) == 1
    if db.dialect == "sqlite":
        with db.tx() as tx:
            fts = tx.one("SELECT COUNT(*) AS n FROM catalog_fts")
        assert fts is not None and int(fts["n"]) == 1


def test_bad_parameters_are_refused(db: Database) -> None:  # noqa: F811
    with db.tx() as tx, pytest.raises(Refused, match="unknown search parameters"):
        search(tx, {"colour": "blue"})
    with db.tx() as tx, pytest.raises(Refused, match="must be numbers"):
        search(tx, {"maxPrice": "cheap"})


def test_words_alone_rank_like_the_general_query(db: Database) -> None:  # noqa: F811
    """A words-only search ranks and limits inside the full-text index; its results and their
    order are those of the general query (every match ranked, then the first rows)."""
    words = ["lung", "scan", "heart", "trace", "cohort", "imaging", "chest", "rhythm"]
    datasets = [{"@id": f"urn:ds:{i}", "title": " ".join(words[(i * k) % 8] for k in (1, 3, 5)),
                 "description": " ".join(words[: 1 + i % 8]), "keyword": [words[i % 8]]}
                for i in range(300)]  # fmt: skip
    rows = entries_from_catalog({"dataset": datasets}, space="space-a", member=MEMBER, now=1.0)
    with db.tx() as tx:
        replace_entries(tx, "space-a", None, rows)
        for q in ("lung", "heart tra", "chest imaging scan"):
            fast = [r["datasetId"] for r in search(tx, {"q": q, "limit": "25"})]
            # The same words with a filter every entry passes take the general path.
            general = [
                r["datasetId"] for r in search(tx, {"q": q, "limit": "25", "space": "space-a"})
            ]
            assert fast == general and len(fast) == 25, q
