"""One contract suite, run against SQLite and against the local PostgreSQL."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from trustspace.core.machine import Role
from trustspace.core.records import Agreement, DataFile, Dataset, Negotiation, Offer, Transfer
from trustspace.store import agreements, datasets, replay
from trustspace.store import negotiations as negotiation_rows
from trustspace.store import outbox as outbox_rows
from trustspace.store import transfers as transfer_rows
from trustspace.store.db import Database


def _neg(i: str = "n1", **kw: object) -> Negotiation:
    base = dict(
        id=i,
        role=Role.PROVIDER,
        state="REQUESTED",
        counterparty_id="consumer",
        counterparty_address="http://c/cb",
        dataset_id="d1",
        offer={"@id": "o1", "permission": [{"action": "use"}]},
        created_at=1.0,
        updated_at=1.0,
        provider_pid=i,
        consumer_pid=f"c-{i}",
    )
    base.update(kw)
    return Negotiation(**base)  # type: ignore[arg-type]


def test_migrate_is_idempotent(db: Database) -> None:
    assert db.migrate() == db.migrate() >= 1


def test_version_of_several_files_round_trips(db: Database) -> None:
    files = (DataFile("people.csv", "/b/1", 10, "aa", "text/csv"),
             DataFile("orders.csv", "/b/2", 20, "bb", "text/csv"))  # fmt: skip
    first = Dataset(id="v1", title="T", description="", formats=("HttpData-PULL",),
                    created_at=1.0, size=30, sha256="cc", files=files)  # fmt: skip
    second = replace(first, id="v2", created_at=2.0, files=files[:1], product_id="v1",
                     previous_version="v1")  # fmt: skip
    with db.tx() as tx:
        datasets.insert_dataset(tx, first)
        datasets.insert_dataset(tx, second)
    with db.tx() as tx:
        assert datasets.get_dataset(tx, "v1") == first  # the files keep their order
        assert datasets.list_datasets(tx) == [first, second]
        latest = datasets.latest_version(tx, "v1")
        assert latest is not None and latest.id == "v2"
        assert datasets.latest_version(tx, "nope") is None


def test_dataset_and_offers_round_trip(db: Database) -> None:
    d = Dataset(
        id="d1",
        title="T",
        description="",
        formats=("HttpData-PULL",),
        created_at=1.0,
        path="/x",
        size=10,
        sha256="ab",
    )
    with db.tx() as tx:
        datasets.insert_dataset(tx, d)
        datasets.insert_offer(tx, Offer("o1", "d1", {"permission": [{"action": "use"}]}, 1.0))
        datasets.insert_offer(tx, Offer("o2", "d1", {"permission": [{"action": "read"}]}, 2.0))
    with db.tx() as tx:
        assert datasets.get_dataset(tx, "d1") == d
        assert [o.id for o in datasets.offers_for(tx, ["d1"])["d1"]] == ["o1", "o2"]
        assert datasets.get_offer(tx, "o2") is not None and datasets.get_offer(tx, "nope") is None
        assert datasets.list_datasets(tx) == [d]


def test_negotiation_round_trip_and_update(db: Database) -> None:
    n = _neg()
    with db.tx() as tx:
        negotiation_rows.insert_negotiation(tx, n)
    with db.tx() as tx:
        assert negotiation_rows.get_negotiation(tx, "n1") == n
        assert negotiation_rows.find_provider_negotiation(tx, "consumer", "c-n1") == n
        assert negotiation_rows.find_provider_negotiation(tx, "other", "c-n1") is None
        negotiation_rows.update_negotiation(
            tx, n.evolve(state="AGREED", agreement_id="a1", updated_at=2.0)
        )
    with db.tx() as tx:
        got = negotiation_rows.get_negotiation(tx, "n1")
        assert got is not None and got.state == "AGREED" and got.agreement_id == "a1"


def test_duplicate_consumer_pid_per_counterparty_is_refused(db: Database) -> None:
    with db.tx() as tx:
        negotiation_rows.insert_negotiation(tx, _neg("n1"))
    with pytest.raises(Exception), db.tx() as tx:  # noqa: B017 - driver-specific IntegrityError
        negotiation_rows.insert_negotiation(tx, _neg("n2", consumer_pid="c-n1"))
    with db.tx() as tx:
        assert negotiation_rows.get_negotiation(tx, "n2") is None


def test_rollback_leaves_nothing(db: Database) -> None:
    with pytest.raises(RuntimeError), db.tx() as tx:
        negotiation_rows.insert_negotiation(tx, _neg("n9"))
        raise RuntimeError("boom")
    with db.tx() as tx:
        assert negotiation_rows.get_negotiation(tx, "n9") is None


def test_after_commit_runs_only_on_commit(db: Database) -> None:
    ran: list[str] = []
    with db.tx() as tx:
        tx.after_commit(lambda: ran.append("ok"))
    with pytest.raises(RuntimeError), db.tx() as tx:
        tx.after_commit(lambda: ran.append("rolled back"))
        raise RuntimeError
    assert ran == ["ok"]


def test_agreement_and_transfer(db: Database) -> None:
    a = Agreement(
        "a1",
        "n1",
        "d1",
        "provider",
        "consumer",
        {"@id": "a1", "permission": [{"action": "use"}]},
        1.0,
    )
    t = Transfer(
        id="t1",
        role=Role.CONSUMER,
        state="REQUESTED",
        counterparty_id="provider",
        counterparty_address="http://p",
        agreement_id="a1",
        dataset_id="d1",
        format="HttpData-PULL",
        created_at=1.0,
        updated_at=1.0,
        consumer_pid="t1",
    )
    with db.tx() as tx:
        agreements.insert_agreement(tx, a)
        transfer_rows.insert_transfer(tx, t)
    with db.tx() as tx:
        assert agreements.get_agreement(tx, "a1") == a
        assert transfer_rows.get_transfer(tx, "t1") == t
        transfer_rows.update_transfer(
            tx, t.evolve(state="STARTED", provider_pid="p1", data_address={"endpoint": "x"})
        )
    with db.tx() as tx:
        got = transfer_rows.get_transfer(tx, "t1")
        assert (
            got is not None
            and got.state == "STARTED"
            and got.data_address == {"endpoint": "x"}
            and got.provider_pid == "p1"
        )
        assert [x.id for x in transfer_rows.list_transfers(tx)] == ["t1"]


def _enqueue(db: Database, process: str, n: int, now: float = 0.0) -> None:
    with db.tx() as tx:
        for i in range(n):
            outbox_rows.enqueue(
                tx,
                process_kind="negotiation",
                process_id=process,
                peer_id="p",
                url=f"http://x/{i}",
                body={"i": i},
                not_before=now,
                created_at=now,
            )


def test_outbox_claims_one_head_per_process_in_order(db: Database) -> None:
    _enqueue(db, "A", 3)
    _enqueue(db, "B", 2)
    with db.tx() as tx:
        first = outbox_rows.claim_due(tx, now=10.0, lease=30.0, limit=10)
    assert sorted((i.process_id, i.body["i"]) for i in first) == [("A", 0), ("B", 0)]
    with db.tx() as tx:
        assert outbox_rows.claim_due(tx, now=10.0, lease=30.0, limit=10) == []  # heads are leased
        outbox_rows.mark_sent(tx, next(i.id for i in first if i.process_id == "A"))
    with db.tx() as tx:
        second = outbox_rows.claim_due(tx, now=11.0, lease=30.0, limit=10)
    assert [(i.process_id, i.body["i"]) for i in second] == [("A", 1)]


def test_outbox_retry_lease_expiry_and_dead(db: Database) -> None:
    _enqueue(db, "A", 1)
    with db.tx() as tx:
        (item,) = outbox_rows.claim_due(tx, now=1.0, lease=5.0, limit=5)
    with db.tx() as tx:
        assert outbox_rows.claim_due(tx, now=5.0, lease=5.0, limit=5) == []
        (again,) = outbox_rows.claim_due(
            tx, now=6.5, lease=5.0, limit=5
        )  # lease expired: a crashed worker's message goes out again
        assert again.id == item.id
        outbox_rows.mark_retry(tx, item.id, not_before=20.0, error="timeout")
    with db.tx() as tx:
        assert outbox_rows.claim_due(tx, now=19.0, lease=5.0, limit=5) == []
        assert outbox_rows.next_due(tx) == 20.0
        (retry,) = outbox_rows.claim_due(tx, now=20.0, lease=5.0, limit=5)
        assert retry.attempts == 1 and retry.last_error == "timeout"
        outbox_rows.mark_dead(tx, item.id, "gave up")
    with db.tx() as tx:
        assert outbox_rows.pending_count(tx) == 0
        assert outbox_rows.outbox_items(tx, "A")[0]["status"] == "dead"


def test_release_leases_and_drop_pending(db: Database) -> None:
    _enqueue(db, "A", 2)
    with db.tx() as tx:
        outbox_rows.claim_due(tx, now=1.0, lease=100.0, limit=5)
        outbox_rows.release_leases(tx)
    with db.tx() as tx:
        assert len(outbox_rows.claim_due(tx, now=1.0, lease=100.0, limit=5)) == 1
        outbox_rows.drop_pending(tx, "A", "terminated")
    with db.tx() as tx:
        assert outbox_rows.pending_count(tx) == 0


def test_concurrent_claims_never_hand_out_a_message_twice(db: Database) -> None:
    for p in range(20):
        _enqueue(db, f"P{p}", 1)
    claimed: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with db.tx() as tx:
                items = outbox_rows.claim_due(tx, now=1.0, lease=60.0, limit=3)
            if not items:
                return
            with lock:
                claimed.extend(i.id for i in items)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed) == 20 == len(set(claimed))


def test_message_ids_and_tokens_are_remembered_once(db: Database) -> None:
    with db.tx() as tx:
        assert replay.remember_message(tx, "A", "m1", 1.0)
        assert not replay.remember_message(tx, "A", "m1", 2.0)
        assert replay.remember_message(tx, "B", "m1", 2.0)
        assert replay.seen_message(tx, "A", "m1") and not replay.seen_message(tx, "A", "m2")
        assert replay.remember_token(tx, "j1", expires_at=100.0, now=1.0)
        assert not replay.remember_token(tx, "j1", expires_at=100.0, now=2.0)
        assert replay.remember_token(
            tx, "j1", expires_at=300.0, now=200.0
        )  # expired entries are purged
