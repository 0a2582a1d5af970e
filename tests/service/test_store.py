"""The inbox on SQLite and PostgreSQL: insert-if-absent, leases, expiry, pruning, pair locks."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from issuebot.store import DONE, FAILED, PROCESSING, QUEUED, NewDelivery, Store, database_url, shown_url

T0 = datetime(2027, 1, 11, 9, 0, tzinfo=timezone.utc)


def add(store: Store, delivery_id: str = "d-1", now: datetime = T0, project: str = "o/mentoring-bob-alice") -> int | None:
    return store.add_delivery(NewDelivery(provider="github", delivery_id=delivery_id, event="issue_comment",
                              headers={"X-GitHub-Event": "issue_comment"}, body=b'{"a": 1}', project=project),
                              now=now, lease_seconds=60)


def test_duplicate_delivery_stores_nothing_new(store: Store) -> None:
    first = add(store)
    assert first is not None
    assert add(store) is None and add(store, now=T0 + timedelta(hours=1)) is None
    assert store.counts()[QUEUED] == 1
    row = store.get(first)
    assert row.body == b'{"a": 1}' and row.headers == {"X-GitHub-Event": "issue_comment"}
    assert row.received_at == T0 and row.status == QUEUED and row.attempts == 0
    # The same id from another forge is another delivery.
    assert store.add_delivery(NewDelivery(provider="gitlab", delivery_id="d-1", event="Note Hook", headers={}, body=b"{}",
                              project="g/p"), now=T0, lease_seconds=60) is not None


def test_ten_simultaneous_copies_of_a_delivery_make_one_row(store: Store) -> None:
    ids: list[int | None] = []
    barrier = threading.Barrier(10)

    def deliver() -> None:
        barrier.wait()
        ids.append(add(store, "simultaneous"))

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == 10 and len([row_id for row_id in ids if row_id is not None]) == 1
    assert store.counts()[QUEUED] == 1


def test_claim_is_exclusive_until_the_lease_expires(store: Store) -> None:
    row_id = add(store)
    claimed = store.claim(row_id, T0, 60)
    assert claimed.status == PROCESSING and claimed.attempts == 1
    assert store.claim(row_id, T0 + timedelta(seconds=59), 60) is None
    again = store.claim(row_id, T0 + timedelta(seconds=61), 60)
    assert again is not None and again.attempts == 2
    store.finish(row_id, DONE, T0 + timedelta(seconds=62))
    assert store.claim(row_id, T0 + timedelta(days=1), 60) is None
    assert store.get(row_id).status == DONE and store.get(row_id).lease_until is None


def test_concurrent_claims_have_one_winner(store: Store) -> None:
    row_id = add(store)
    wins: list[Any] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        wins.append(store.claim(row_id, T0, 60))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(1 for won in wins if won is not None) == 1


def test_expired_leases_and_unclaimed_rows_are_taken_once(store: Store) -> None:
    stuck = add(store, "stuck")
    never_enqueued = add(store, "lost")
    fresh = add(store, "fresh", now=T0 + timedelta(seconds=50))
    store.claim(stuck, T0, 60)
    later = T0 + timedelta(seconds=61)
    assert store.take_expired(later, 60) == [stuck, never_enqueued]
    assert store.take_expired(later, 60) == []  # their lease was renewed
    assert store.get(stuck).status == QUEUED and store.claim(stuck, later, 60) is not None
    assert store.get(fresh).status == QUEUED


def test_release_puts_a_delivery_back_with_its_error(store: Store) -> None:
    row_id = add(store)
    store.claim(row_id, T0, 60)
    store.release(row_id, retry_at=T0 + timedelta(seconds=30), lease_seconds=60, error="RateLimited: slow down")
    row = store.get(row_id)
    assert row.status == QUEUED and row.attempts == 1 and row.error == "RateLimited: slow down"
    store.claim(row_id, T0, 60)
    store.release(row_id, retry_at=T0, lease_seconds=60, count_attempt=False)
    assert store.get(row_id).attempts == 1


def test_prune_removes_only_old_finished_rows(store: Store) -> None:
    old_done, old_failed, old_queued = add(store, "a"), add(store, "b"), add(store, "c")
    recent = add(store, "d")
    store.finish(old_done, DONE, T0)
    store.finish(old_failed, FAILED, T0, error="gave up")
    store.finish(recent, DONE, T0 + timedelta(days=20))
    store.audit(now=T0, delivery=old_done, pair="bob-alice", outcome=DONE, writes=2)
    assert store.prune(T0 + timedelta(days=14)) == 2
    assert store.get(old_done) is None and store.get(old_failed) is None
    assert store.get(old_queued) is not None and store.get(recent) is not None
    assert [row["delivery"] for row in store.audit_rows()] == [recent]  # finish writes the audit line


def test_pair_locks_serialise_and_survive_a_dead_owner(store: Store) -> None:
    assert store.lock_pair("o/p", "delivery-1", T0, 60)
    assert not store.lock_pair("o/p", "delivery-2", T0 + timedelta(seconds=30), 60)
    assert store.lock_pair("o/q", "delivery-2", T0, 60)  # another pair is free
    assert store.lock_pair("o/p", "delivery-1", T0 + timedelta(seconds=30), 60)  # the same delivery, retried
    assert store.lock_pair("o/p", "delivery-2", T0 + timedelta(seconds=91), 60)  # the owner died; lease over
    store.unlock_pair("o/p", "delivery-1")  # not the owner any more: no effect
    assert not store.lock_pair("o/p", "delivery-3", T0 + timedelta(seconds=92), 60)
    store.unlock_pair("o/p", "delivery-2")
    assert store.lock_pair("o/p", "delivery-3", T0 + timedelta(seconds=92), 60)
    assert store.drop_expired_locks(T0 + timedelta(days=1)) == 2


def test_database_urls_pick_psycopg_and_hide_passwords(tmp_path: Path) -> None:
    assert database_url(None, tmp_path / "s.db") == f"sqlite:///{tmp_path / 's.db'}"
    assert database_url("postgresql://u:pw@db/x", tmp_path) == "postgresql+psycopg://u:pw@db/x"
    assert database_url("postgres://u@db/x", tmp_path) == "postgresql+psycopg://u@db/x"
    assert "pw" not in shown_url("postgresql+psycopg://u:pw@db/x")
    assert "pw" not in Store("postgresql+psycopg://u:pw@db/x").shown_url


def test_deliveries_arriving_during_a_commit_share_the_next_one(store: Store, monkeypatch: Any) -> None:
    commits: list[int] = []  # transactions, each with how many deliveries
    commit_together = store._commit_together

    def counted(batch: list[Any]) -> None:
        commits.append(len(batch))
        commit_together(batch)

    monkeypatch.setattr(store, "_commit_together", counted)
    results: dict[str, int | None] = {}
    store._commit_lock.acquire()  # a commit is running: the arrivals below queue up behind it
    threads = [threading.Thread(target=lambda i=i: results.update({f"d-{i}": add(store, f"d-{i}")})) for i in range(6)]
    for thread in threads:
        thread.start()
    while True:  # every arrival is waiting for the commit (no sleep: the threads only append and block)
        with store._pending_guard:
            if len(store._pending) == 6:
                break
    store._commit_lock.release()
    for thread in threads:
        thread.join()
    assert commits == [6]
    assert sorted(results) == [f"d-{i}" for i in range(6)] and len(set(results.values())) == 6
    assert store.counts()[QUEUED] == 6 and None not in results.values()


def test_a_failed_group_commit_refuses_every_delivery_in_it(tmp_path: Path) -> None:
    import pytest

    from issuebot.store import StoreUnavailable

    store = Store(f"sqlite:///{tmp_path / 'inbox.db'}")  # no schema: the insert fails
    with pytest.raises(StoreUnavailable, match="inbox"):
        add(store)
    store.dispose()


def test_a_batch_is_stored_in_one_go_and_reads_back_as_given(store: Store) -> None:
    first = add(store, "old")
    batch = [NewDelivery(provider="github", delivery_id=name, event="issue_comment", headers={"X-GitHub-Event": "issue_comment"},
                         body=name.encode() * 1000, project="o/mentoring-bob-alice") for name in ("a", "old", "b", "a")]
    ids = store.add_deliveries(batch, now=T0 + timedelta(microseconds=250), lease_seconds=60)
    assert ids[1] is None and ids[3] is None  # already stored; the first copy in a batch takes the row
    assert ids[0] is not None and ids[2] is not None and len({first, ids[0], ids[2]}) == 3
    row = store.get(ids[2])
    assert row is not None and row.body == b"b" * 1000 and row.headers == {"X-GitHub-Event": "issue_comment"}
    assert row.received_at == T0 + timedelta(microseconds=250) and row.status == QUEUED and row.attempts == 0
    assert row.lease_until == T0 + timedelta(seconds=60, microseconds=250)
    assert store.counts()[QUEUED] == 3


def test_a_driver_error_while_storing_a_batch_is_store_unavailable(tmp_path: Path) -> None:
    import sqlite3

    import pytest

    from issuebot.store import StoreUnavailable

    store = Store(f"sqlite:///{tmp_path / 'inbox.db'}")
    store.create_schema()
    with sqlite3.connect(tmp_path / "inbox.db") as raw:
        raw.execute("DROP TABLE inbox")  # what a broken or replaced file looks like to the writer
    batch = [NewDelivery(provider="github", delivery_id=name, event="issue_comment", headers={}, body=b"{}",
                         project="o/p") for name in ("a", "b")]
    with pytest.raises(StoreUnavailable, match="no such table"):
        store.add_deliveries(batch, now=T0, lease_seconds=60)
    store.dispose()


def test_no_commit_copies_the_log_back_the_checkpointer_does(tmp_path: Path) -> None:
    """Past SQLite's own threshold (1000 pages) a commit would copy the log into the file and fsync it,
    holding every writer up; here the writes stay in the log until the store's checkpointer runs."""
    database = tmp_path / "inbox.db"
    store = Store(f"sqlite:///{database}")
    store.create_schema()
    assert store.checkpoints is not None
    store.checkpoints.AFTER_SECONDS = 3600.0  # only the bytes written or stop() bring a checkpoint
    store.checkpoints.EVERY_BYTES = 1 << 40
    body = b"x" * 12_000
    for burst in range(50):
        batch = [NewDelivery(provider="github", delivery_id=f"d-{burst}-{n}", event="issue_comment", headers={},
                             body=body, project="o/p") for n in range(10)]
        store.add_deliveries(batch, now=T0, lease_seconds=60)
    assert database.stat().st_size < 1_000_000 < Path(f"{database}-wal").stat().st_size
    store.checkpoints.stop()  # the store's connections are still open: only the checkpointer wrote the file
    assert database.stat().st_size > 500 * len(body)
    assert store.counts()[QUEUED] == 500
    store.dispose()


def test_stores_starting_together_make_one_schema(store: Store, tmp_path: Path) -> None:
    # A serve and its workers started at once on a new database: each makes the tables it misses.
    prefix = store.prefix + "fresh_"
    url = store.url if store.dialect != "sqlite" else f"sqlite:///{tmp_path / 'fresh.db'}"
    stores = [Store(url, prefix=prefix) for _ in range(6)]
    barrier = threading.Barrier(len(stores))
    errors: list[Exception] = []

    def start(made: Store) -> None:
        barrier.wait()
        try:
            made.create_schema()
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(made,)) for made in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert add(stores[0]) is not None and stores[-1].counts()[QUEUED] == 1
    finally:
        if store.dialect != "sqlite":
            stores[0].drop_schema()
        for made in stores:
            made.dispose()


def test_a_connection_the_server_closed_while_idle_is_replaced_before_use(postgres_url: str) -> None:
    import psycopg  # the postgres extra: only this test talks to the server beside the store

    store = Store(postgres_url, prefix=f"t{uuid.uuid4().hex[:10]}_", pool_size=1)
    store.create_schema()

    def backend_closed() -> None:  # as a server restart does to a pooled connection
        with store.engine.connect() as conn:
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        with psycopg.connect(postgres_url.replace("+psycopg", ""), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    try:
        store.idle_ping_seconds = 0.0  # every checkout counts as after an idle spell
        backend_closed()
        assert add(store) is not None and store.counts()[QUEUED] == 1
        store.idle_ping_seconds = 3600.0  # in steady use: not checked, and the closed connection fails
        backend_closed()
        with pytest.raises(sa.exc.OperationalError):
            store.counts()
    finally:
        store.drop_schema()
        store.dispose()


def test_bodies_are_compressed_with_lz4_on_postgresql(postgres_url: str) -> None:
    store = Store(postgres_url, prefix=f"t{uuid.uuid4().hex[:10]}_")
    try:
        store.create_schema()
        store.create_schema()  # again, as every process start does: nothing left to change
        body = json.dumps({"comment": {"body": "see you next week " * 700}}).encode()
        row = store.add_delivery(NewDelivery(provider="github", delivery_id="big", event="issue_comment", headers={},
                                             body=body, project="o/p"), now=T0, lease_seconds=60)
        with store.engine.connect() as conn:
            method = conn.execute(sa.text(f"SELECT pg_column_compression(body) FROM {store.inbox.name}")).scalar()
            try:
                conn.execute(sa.text("SET default_toast_compression = lz4"))
            except sa.exc.DBAPIError:
                pytest.skip("this PostgreSQL server was built without lz4 (its bodies stay pglz)")
        assert method == "lz4" and store.get(row).body == body
    finally:
        store.drop_schema()
        store.dispose()


def test_a_connection_back_from_a_single_statement_still_writes_whole_transactions(postgres_url: str) -> None:
    # Single statements run in autocommit on PostgreSQL; the pool's one connection must come back to
    # transactions for the writes made of several statements, or a failure would leave half of one.
    store = Store(postgres_url, prefix=f"t{uuid.uuid4().hex[:10]}_", pool_size=1)
    try:
        store.create_schema()
        row = add(store)
        assert store.claim(row, T0, 60) is not None and store.lock_pair("o/p", "w", T0, 60)
        with pytest.raises(RuntimeError), store._writing() as conn:
            conn.execute(sa.update(store.inbox).where(store.inbox.c.id == row).values(status=DONE))
            raise RuntimeError("the second statement of the transaction fails")
        assert store.get(row).status == PROCESSING
    finally:
        store.drop_schema()
        store.dispose()
