"""The stage engine in one process, on SQLite and PostgreSQL: claim, commit, fence, retry, reap."""

from __future__ import annotations

import asyncio
import itertools
import math
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Text, cast, exists, insert, select, update
from sqlalchemy.exc import DBAPIError

from leadpipe.config import Settings
from leadpipe.db.connect import Database, now, utc
from leadpipe.db.models import businesses, contacts, domains, pages, stage_pauses
from leadpipe.engine import bulk, dbthread, queue, sql
from leadpipe.engine.pause import pause_stage
from leadpipe.engine.stage import Context, Insert, Item, Permanent, Pipeline, Result, RetryLater, Stage
from leadpipe.engine.worker import Worker, WorkerFailed
from tests import pipelines
from tests.helpers import add_domains, domain, pages_per_domain, run_until_idle, statuses

STAGE = pipelines.touch_stage()
PIPELINE = Pipeline([STAGE])
SETTINGS = Settings()


def test_claim_takes_at_most_the_batch_lowest_priority_number_first(db: Database) -> None:
    add_domains(db, [f"d{i}.test" for i in range(40)])
    add_domains(db, ["urgent.test"], priority=1)
    with db.begin() as connection:
        first = queue.claim(db, connection, STAGE, SETTINGS, "w1", 10)
    with db.begin() as connection:
        second = queue.claim(db, connection, STAGE, SETTINGS, "w2", 10)
    assert first is not None and second is not None
    assert len(first.items) == 10 and len(second.items) == 10
    assert "urgent.test" in {item["name"] for item in first.items}
    assert not {i["id"] for i in first.items} & {i["id"] for i in second.items}
    assert all(item["attempts"] == 1 and item["status"] == "running" for item in first.items)
    assert statuses(db) == {"running": 20, "pending": 21}


def test_a_claim_returns_the_fields_a_stage_reads_with_the_id_and_attempt(db: Database) -> None:
    add_domains(db, ["reader.test"], country="DE")
    reader = pipelines.touch_stage(reads=("name", "country"))
    everything = pipelines.touch_stage()
    with db.begin() as connection:
        claimed = queue.claim(db, connection, reader, SETTINGS, "w", 10)
        assert claimed is not None
        assert claimed.items == [
            {"id": claimed.ids[0], "attempts": 1, "name": "reader.test", "country": "DE"}
        ]
        connection.execute(update(domains).values(status="pending"))
        claimed = queue.claim(db, connection, everything, SETTINGS, "w", 10)
    assert claimed is not None
    assert {"name", "country", "site_url", "status", "curation"} <= claimed.items[0].keys()
    assert "lease_token" not in claimed.items[0]  # the engine's bookkeeping is never returned
    with pytest.raises(ValueError, match=r"reads \['nmae'\], which domains does not have"):
        pipelines.touch_stage(reads=("nmae",))


def test_a_claim_on_sqlite_scans_its_own_index_without_statistics(db: Database) -> None:
    """leadpipe never runs ANALYZE: a claim must not sort every pending item to find the first."""
    if db.is_postgres:
        pytest.skip("PostgreSQL plans with the statistics autovacuum keeps")
    add_domains(db, [f"d{i}.test" for i in range(200)])
    from leadpipe.stages import PIPELINE as REAL

    with db.begin() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        for stage in (STAGE, REAL["scrape"]):  # a plain claim, and one item of a domain at a time
            claim = sql.statements(connection, stage, SETTINGS).claim
            parameters = dict(limit=10, scan=80, owner="w", token="t")
            parameters.update(now="2100-01-01 00:00:00", lease_expires="2100-01-01 00:00:00")
            explain = "EXPLAIN QUERY PLAN " + claim.sql
            plan = [row[-1] for row in raw.execute(explain, parameters)]
            name = stage.table.name
            # Its candidates in their order, from its partial index; not every pending item, sorted.
            assert f"SCAN {name} USING INDEX ix_{name}_claim" in plan, plan
            assert f"SEARCH {name} USING INDEX ix_{name}_status_finished (status=?)" not in plan, plan


def test_items_not_yet_due_are_not_claimed(db: Database) -> None:
    add_domains(db, ["later.test"])
    with db.begin() as connection:
        connection.execute(update(domains).values(run_after=now() + timedelta(hours=1)))
        assert queue.claim(db, connection, STAGE, SETTINGS, "w", 10) is None


def test_a_worker_whose_lease_was_taken_over_cannot_commit(db: Database) -> None:
    add_domains(db, ["zombie.test"])
    short = pipelines.touch_stage(lease_seconds=0.05)
    with db.begin() as connection:
        stale = queue.claim(db, connection, short, SETTINGS, "zombie", 1)
    time.sleep(0.2)
    with db.begin() as connection:
        assert queue.reap(db, connection, short) == 1
    with db.begin() as connection:
        fresh = queue.claim(db, connection, short, SETTINGS, "successor", 1)
    assert stale is not None and fresh is not None and stale.token != fresh.token
    item = stale.items[0]
    page = {"domain_id": item["id"], "url": "https://zombie.test/late"}
    late = queue.Done(item["id"], stale.token, Result("touched", outputs=[Insert(pages, [page])]))
    settings = Settings(database_url=db.url)
    with db.begin() as connection:
        outcome = queue.commit(db, connection, PIPELINE, settings, short, [late], [])
    assert outcome.lease_lost == 1 and outcome.done == 0
    assert pages_per_domain(db) == {}
    assert domain(db, "zombie.test")["status"] == "running"
    on_time = queue.Done(item["id"], fresh.token, Result("touched", outputs=[Insert(pages, [page])]))
    with db.begin() as connection:
        outcome = queue.commit(db, connection, PIPELINE, settings, short, [on_time], [])
    assert outcome.done == 1
    assert domain(db, "zombie.test")["status"] == "done"
    assert pages_per_domain(db) == {item["id"]: 1}


def test_every_item_is_done_once_with_its_outputs(db: Database, settings: Settings) -> None:
    add_domains(db, [f"site{i}.test" for i in range(300)])
    counts = run_until_idle(db, settings, PIPELINE)
    assert counts["touch.done"] == 300
    assert statuses(db) == {"done": 300}
    assert set(pages_per_domain(db).values()) == {1}
    assert domain(db, "site7.test")["title"] == "touched site7.test"
    assert domain(db, "site7.test")["outcome"] == "touched"


def test_a_poison_item_is_retried_with_growing_delays_then_dead(db: Database, settings: Settings) -> None:
    add_domains(db, ["poison.test", "fine.test"])
    pipelines.ATTEMPTS.clear()
    run_until_idle(db, settings, PIPELINE, max_wait=5)
    poisoned = domain(db, "poison.test")
    assert poisoned["status"] == "dead"
    assert poisoned["attempts"] == 3
    assert poisoned["last_error"] == "ValueError: poison.test is poisoned"
    times = pipelines.ATTEMPTS["poison.test"]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(gaps) == 2 and gaps[0] >= 0.2 and gaps[1] >= 0.4 and gaps[1] > gaps[0]
    assert domain(db, "fine.test")["status"] == "done"
    with db.begin() as connection:
        assert queue.requeue(db, connection, STAGE.table, STAGE.table.c.status == "dead") == 1
    requeued = domain(db, "poison.test")
    assert requeued["status"] == "pending" and requeued["attempts"] == 0
    assert "poisoned" in requeued["last_error"]


def test_a_permanent_error_is_dead_at_once(db: Database, settings: Settings) -> None:
    add_domains(db, ["permanent.test"])
    run_until_idle(db, settings, PIPELINE)
    item = domain(db, "permanent.test")
    assert item["status"] == "dead" and item["attempts"] == 1
    assert item["last_error"] == "Permanent: permanent.test is malformed"


def test_retry_later_waits_without_holding_a_slot(db: Database, settings: Settings) -> None:
    add_domains(db, ["later.test"])
    run_until_idle(db, settings, PIPELINE)
    item = domain(db, "later.test")
    assert item["status"] == "pending" and item["lease_token"] is None
    assert "Retry-After" in item["last_error"]
    with db.engine.connect() as connection:
        due_soon = queue.has_due_work(db, connection, STAGE, SETTINGS, within=25)
        due_later = queue.has_due_work(db, connection, STAGE, SETTINGS, within=35)
    assert not due_soon and due_later


@pytest.mark.parametrize("seconds", [1e14, math.inf, math.nan])
def test_an_absurd_retry_later_delay_is_bounded_and_the_worker_carries_on(
    db: Database, settings: Settings, seconds: float
) -> None:
    """A handler passing on a server's ``Retry-After: 99999999999999`` used to overflow the clock and
    stop the worker, at every rerun: now the item waits at most the cap, and the rest is done."""

    async def told_to_wait(item: Item, context: Context) -> Result:
        if item["name"] == "absurd.test":
            raise RetryLater("429 Too Many Requests, Retry-After: absurd", seconds)
        return await pipelines.touch(item, context)

    stage = pipelines.touch_stage(handler=told_to_wait)
    add_domains(db, ["absurd.test", "fine.test"])
    run_until_idle(db, settings, Pipeline([stage]))
    assert domain(db, "fine.test")["status"] == "done"
    item = domain(db, "absurd.test")
    assert (item["status"], item["attempts"], item["lease_token"]) == ("pending", 1, None)
    assert "Retry-After: absurd" in item["last_error"]
    cap = settings.max_retry_after_seconds
    with db.engine.connect() as connection:
        due_before_the_cap = queue.has_due_work(db, connection, stage, settings, within=cap - 60)
        due_within_the_cap = queue.has_due_work(db, connection, stage, settings, within=cap + 60)
    assert not due_before_the_cap and due_within_the_cap


def test_a_stage_that_pauses_itself_keeps_its_items_unburnt(db: Database, settings: Settings) -> None:
    add_domains(db, ["pause.test"])
    run_until_idle(db, settings, PIPELINE)
    item = domain(db, "pause.test")
    assert item["status"] == "pending" and item["attempts"] == 0
    with db.engine.connect() as connection:
        pause = connection.execute(select(stage_pauses)).one()
    assert pause.stage == "touch" and "no credits" in pause.reason


def test_a_paused_stage_claims_nothing(db: Database, settings: Settings) -> None:
    add_domains(db, ["a.test"])
    with db.begin() as connection:
        connection.execute(
            insert(stage_pauses).values(stage="touch", reason="by hand", paused_by="me", paused_at=now())
        )
    run_until_idle(db, settings, PIPELINE)
    assert statuses(db) == {"pending": 1}


def test_an_item_running_past_the_cap_is_failed(db: Database, settings: Settings) -> None:
    add_domains(db, ["slow.test"])
    capped = Pipeline([pipelines.touch_stage(max_runtime_seconds=0.2, max_attempts=1)])
    run_until_idle(db, settings, capped)
    item = domain(db, "slow.test")
    assert item["status"] == "dead"
    assert item["last_error"] == "ran longer than the stage's cap of 0.2s"


def test_a_long_item_keeps_its_lease_while_its_worker_lives(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 2 s item with a 0.6 s lease is renewed, so reapers running meanwhile leave it alone."""
    monkeypatch.setenv("TEST_SLOW_SECONDS", "2")
    add_domains(db, ["slow.test"])
    stage = pipelines.touch_stage(lease_seconds=0.6)
    stop = threading.Event()
    reaped = []

    def reaper() -> None:
        while not stop.is_set():
            with db.begin() as connection:
                reaped.append(queue.reap(db, connection, stage))
            time.sleep(0.05)

    thread = threading.Thread(target=reaper)
    thread.start()
    try:
        run_until_idle(db, settings, Pipeline([stage]))
    finally:
        stop.set()
        thread.join()
    assert sum(reaped) == 0
    item = domain(db, "slow.test")
    assert item["status"] == "done" and item["attempts"] == 1


def test_outputs_of_concurrent_fan_out_are_idempotent(db: Database) -> None:
    """Fifty writers inserting the same domain leave one row."""
    settings = Settings(database_url=db.url)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with db.begin() as connection:
                queue.write(db, connection, PIPELINE, settings, Insert(domains, [{"name": "same.test"}]))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert statuses(db) == {"pending": 1}


def test_stop_lets_in_flight_items_finish(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SLOW_SECONDS", "0.5")
    add_domains(db, [f"slow{i}.test" for i in range(5)])

    async def scenario() -> None:
        worker = Worker(db, PIPELINE, settings)
        running = asyncio.create_task(worker.run())
        await asyncio.sleep(0.3)
        worker.stop()
        await asyncio.wait_for(running, 10)

    asyncio.run(scenario())
    assert statuses(db) == {"done": 5}


def test_an_output_links_to_a_record_by_its_tables_declared_natural_key(db: Database) -> None:
    """A business is named by its source key, whether or not it has a place id."""
    settings = Settings(database_url=db.url)
    row = {"source_key": "csv:1", "name": "Bakery"}
    with db.begin() as connection:
        first = queue.write(db, connection, PIPELINE, settings, Insert(businesses, [row], link="business_id"))
        again = queue.write(db, connection, PIPELINE, settings, Insert(businesses, [row], link="business_id"))
        (only,) = connection.execute(select(businesses.c.id)).scalars().all()
    assert first == again == only


def test_a_stage_rule_beyond_status_skips_items_with_a_reason(db: Database, settings: Settings) -> None:
    """Pages of a domain that has its contacts are never claimed; they are recorded as skipped, not left waiting."""
    has_contacts = exists().where(contacts.c.domain_id == pages.c.domain_id)
    reader = Stage(
        name="read",
        table=pages,
        handler=_count_reads,
        skip_when={"domain has its contacts": lambda settings: has_contacts},
    )
    add_domains(db, ["found.test", "open.test"], status="done")
    found, open_ = domain(db, "found.test")["id"], domain(db, "open.test")["id"]
    with db.begin() as connection:
        connection.execute(insert(contacts).values(domain_id=found, kind="email", value="info@found.test"))
        connection.execute(
            insert(pages),
            [{"domain_id": d, "url": f"https://x/{d}/{i}"} for d in (found, open_) for i in range(3)],
        )
    READS.clear()
    run_until_idle(db, settings, Pipeline([reader]))
    with db.engine.connect() as connection:
        rows = connection.execute(select(pages.c.domain_id, pages.c.status, pages.c.outcome)).all()
    assert sorted(READS) == sorted(f"https://x/{open_}/{i}" for i in range(3))
    assert {(r.domain_id, r.status, r.outcome) for r in rows} == {
        (found, "skipped", "domain has its contacts"),
        (open_, "done", "read"),
    }


READS: list[str] = []


async def _count_reads(item: Item, context: Context) -> Result:
    READS.append(item["url"])
    return Result(outcome="read")


@pytest.mark.parametrize("shared", [False, True], ids=["rows-differ", "all-but-the-url-shared"])
def test_a_large_fan_out_is_written_in_bulk_as_the_row_by_row_path_writes_it(
    db: Database, monkeypatch: pytest.MonkeyPatch, shared: bool
) -> None:
    """Thousands of pages from one sitemap: the same records, statuses and details either way,
    whether their fields differ from row to row or are the same in every row (sent once)."""
    monkeypatch.setattr(bulk, "BULK_SLICE", 1000)  # several slices, a URL repeated across them
    from leadpipe.stages import PIPELINE as REAL

    settings = Settings(database_url=db.url)
    add_domains(db, ["bulk.test", "rows.test"])
    ids = {name: domain(db, name)["id"] for name in ("bulk.test", "rows.test")}

    def rows(domain_id: int, start: int, stop: int) -> list[dict[str, object]]:
        def kind(i: int) -> int:
            return 0 if shared else i

        return [
            {
                "domain_id": domain_id,
                "url": f"http://site/{'kontakt' if kind(i) % 3 == 0 else 'blog'}/{i}",
                "category": "contact" if kind(i) % 3 == 0 else "blog",
                "priority": 10 if kind(i) % 3 == 0 else 60,
                "lastmod": "2024-05-01" if i % 2 or shared else None,
                "sitemap_priority": None if shared else i / 10,
                "details": {"images": [{"loc": f"http://site/{kind(i)}.jpg", "caption": "Café „Zur Post“"}]}
                if kind(i) % 5 == 0
                else None,
            }
            for i in range(start, stop)
        ]

    batches = {
        "bulk.test": [rows(ids["bulk.test"], 0, 3000) * 2, rows(ids["bulk.test"], 2000, 4000)],
        "rows.test": [rows(ids["rows.test"], start, start + 500) for start in range(0, 4000, 500)],
    }
    assert all(len(batch) >= bulk.BULK_ROWS for batch in batches["bulk.test"])
    assert all(len(batch) < bulk.BULK_ROWS for batch in batches["rows.test"])
    for batch in [*batches["bulk.test"], *batches["rows.test"]]:
        with db.begin() as connection:
            queue.write(db, connection, REAL, settings, Insert(pages, batch))

    columns = [
        pages.c.url,
        pages.c.category,
        pages.c.priority,
        pages.c.lastmod,
        pages.c.sitemap_priority,
        pages.c.details,
        cast(pages.c.details, Text).label("details_as_stored"),  # JSON null, not SQL NULL, for None
        pages.c.status,
    ]
    with db.engine.connect() as connection:
        written = {
            name: connection.execute(
                select(*columns).where(pages.c.domain_id == ids[name]).order_by(pages.c.url)
            ).all()
            for name in ids
        }
    assert len(written["bulk.test"]) == 4000
    assert written["bulk.test"] == written["rows.test"]
    by_url = {row.url: row for row in written["bulk.test"]}
    assert by_url["http://site/kontakt/0"].status == "pending"  # contact pages go forward on their own
    assert by_url["http://site/kontakt/0"].details["images"][0]["caption"] == "Café „Zur Post“"
    if not shared:
        assert by_url["http://site/blog/1"].status == "awaiting"  # the rest wait for a person
        assert by_url["http://site/blog/1"].sitemap_priority == 0.1
    # Stamped as the row-by-row path's defaults stamp them: due now, created and updated now.
    stamped = [pages.c.run_after, pages.c.created_at, pages.c.updated_at]
    with db.engine.connect() as connection:
        moments = connection.execute(select(*stamped).where(pages.c.domain_id == ids["bulk.test"])).all()
    assert all(now() - timedelta(minutes=1) < utc(moment) <= now() for row in moments for moment in row)


def test_values_equal_in_python_but_not_in_json_are_each_written_as_given(db: Database) -> None:
    from leadpipe.stages import PIPELINE as REAL

    add_domains(db, ["flags.test"])
    domain_id = domain(db, "flags.test")["id"]
    rows = [
        {"domain_id": domain_id, "url": f"http://site/{i}", "details": {"flag": 1 if i == 0 else True}}
        for i in range(bulk.BULK_ROWS)
    ]
    with db.begin() as connection:
        queue.write(db, connection, REAL, Settings(database_url=db.url), Insert(pages, rows))
    with db.engine.connect() as connection:
        stored: dict[str, str] = dict(
            connection.execute(select(pages.c.url, cast(pages.c.details, Text))).all()
        )
    # As text: in Python, {"flag": 1} == {"flag": True}.
    assert stored["http://site/0"].replace(" ", "") == '{"flag":1}'
    assert stored["http://site/1"].replace(" ", "") == '{"flag":true}'


def test_a_value_too_long_for_its_column_fares_in_bulk_as_it_does_row_by_row(db: Database) -> None:
    """PostgreSQL refuses it either way (an explicit cast would have cut it short); SQLite keeps it."""
    from leadpipe.stages import PIPELINE as REAL

    too_long = "x" * (pages.c.lastmod.type.length + 10)  # type: ignore[attr-defined]
    fates: dict[int, object] = {}
    for count in (10, bulk.BULK_ROWS):
        add_domains(db, [f"{count}.test"])
        domain_id = domain(db, f"{count}.test")["id"]
        rows = [
            {"domain_id": domain_id, "url": f"http://site/{i}", "lastmod": too_long} for i in range(count)
        ]
        try:
            with db.begin() as connection:
                queue.write(db, connection, REAL, Settings(database_url=db.url), Insert(pages, rows))
        except DBAPIError:
            fates[count] = "refused"
        else:
            with db.engine.connect() as connection:
                stored = connection.execute(select(pages.c.lastmod).where(pages.c.domain_id == domain_id))
                fates[count] = {len(value) for value in stored.scalars()}
    assert fates[10] == fates[bulk.BULK_ROWS] == ("refused" if db.is_postgres else {len(too_long)})


def test_an_item_whose_result_the_database_refuses_is_dead_with_the_reason_and_its_batch_commits(
    db: Database, settings: Settings
) -> None:
    add_domains(db, ["unwritable.test", "fine-1.test", "fine-2.test"])
    counts = run_until_idle(db, settings, PIPELINE)
    refused = domain(db, "unwritable.test")
    assert (refused["status"], refused["attempts"]) == ("dead", 1)
    assert refused["last_error"].startswith("its result could not be written: ")
    assert "url" in refused["last_error"]  # the database's own words: the column it refused
    assert statuses(db) == {"done": 2, "dead": 1}
    assert sorted(pages_per_domain(db).values()) == [1, 1]  # the batch-mates' pages, once each
    assert counts["touch.done"] == 2 and counts["touch.dead"] == 1


def test_a_worker_that_cannot_commit_stops_with_the_error_and_hands_its_items_back(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The replaced system's worker stayed up doing nothing; this one says why it stopped."""
    add_domains(db, ["a.test", "b.test"])

    def broken(*args: object, **kwargs: object) -> queue.Committed:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(queue, "commit", broken)
    with pytest.raises(WorkerFailed, match="the disk is on fire"):
        run_until_idle(db, settings, PIPELINE)
    for name in ("a.test", "b.test"):
        item = domain(db, name)
        assert (item["status"], item["attempts"], item["lease_token"]) == ("pending", 0, None)


def test_a_stop_while_the_last_commit_fails_for_good_still_ends_the_worker(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_domains(db, ["a.test"])
    committing, fail_now = threading.Event(), threading.Event()

    def stuck(*args: object, **kwargs: object) -> queue.Committed:
        committing.set()
        fail_now.wait(10)
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(queue, "commit", stuck)

    async def stop_during_the_commit() -> None:
        worker = Worker(db, PIPELINE, settings)
        running = asyncio.create_task(worker.run())
        await asyncio.to_thread(committing.wait, 10)
        worker.stop()
        fail_now.set()
        with pytest.raises(WorkerFailed, match="the disk is on fire"):
            await asyncio.wait_for(running, 20)

    asyncio.run(stop_during_the_commit())
    item = domain(db, "a.test")
    assert (item["status"], item["attempts"], item["lease_token"]) == ("pending", 0, None)


def test_a_worker_never_runs_more_items_than_its_slots(db: Database, settings: Settings) -> None:
    """Both the feeder and the commits (which claim for the slots they free) respect the limit."""
    running: list[int] = []
    most = 0

    async def busy(item: Item, context: Context) -> Result:
        nonlocal most
        running.append(item["id"])
        most = max(most, len(running))
        await asyncio.sleep(0.001 * (item["id"] % 7))
        running.remove(item["id"])
        return Result(outcome="ok")

    add_domains(db, [f"site{i}.test" for i in range(400)])
    stage = pipelines.touch_stage(handler=busy, concurrency=7, batch_size=3)
    counts = run_until_idle(db, settings, Pipeline([stage]))
    assert counts["touch.done"] == 400 and statuses(db) == {"done": 400}
    assert 3 < most <= 7  # more than one batch at a time, never more than the slots


def on_the_loop(loop: asyncio.AbstractEventLoop, call: Callable[[Worker], None], worker: Worker) -> None:
    """Make ``call`` on the worker's event loop from inside a transaction, and wait for it: at once
    when the transaction runs on the loop's own thread (a quick one on SQLite), else from the
    database thread."""
    try:
        here = asyncio.get_running_loop()
    except RuntimeError:
        here = None
    if here is loop:
        call(worker)
        return

    async def make() -> None:
        call(worker)

    asyncio.run_coroutine_threadsafe(make(), loop).result(5)


@pytest.mark.parametrize("meanwhile", ["stop", "pause"])
def test_what_a_commit_claims_while_the_worker_stops_or_the_stage_pauses_is_handed_back_unburnt(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch, meanwhile: str
) -> None:
    add_domains(db, [f"site{i}.test" for i in range(10)])
    real_commit = queue.commit
    first_commit: list[tuple[Worker, asyncio.AbstractEventLoop]] = []
    reason = "the paid service says: no credits left"

    def commit_then(db: Database, connection: Connection, *args: object) -> queue.Committed:
        outcome = real_commit(db, connection, *args)  # type: ignore[arg-type]
        if first_commit:  # the stop or pause lands before this transaction's claim comes back
            worker, loop = first_commit.pop()
            if meanwhile == "pause":
                pause_stage(connection, "touch", reason, by="test")
            on_the_loop(loop, happen, worker)
        return outcome

    def happen(worker: Worker) -> None:
        if meanwhile == "stop":
            worker.stop()
        else:
            worker.runs["touch"].paused = reason

    async def scenario() -> None:
        worker = Worker(db, Pipeline([pipelines.touch_stage(batch_size=4, concurrency=4)]), settings)
        first_commit.append((worker, asyncio.get_running_loop()))
        running = asyncio.create_task(worker.run())
        if meanwhile == "pause":
            await asyncio.sleep(1)  # paused: nothing more is claimed
            worker.stop()
        await asyncio.wait_for(running, 20)

    monkeypatch.setattr(queue, "commit", commit_then)
    asyncio.run(scenario())
    assert statuses(db) == {"done": 4, "pending": 6}
    with db.begin() as connection:
        waiting = connection.execute(select(domains.c.attempts).where(domains.c.status == "pending")).all()
    assert {attempts for (attempts,) in waiting} == {0}


def test_a_bulk_insert_keeps_the_timestamps_its_rows_bring(db: Database) -> None:
    from leadpipe.stages import PIPELINE as REAL

    add_domains(db, ["stamped.test"])
    domain_id = domain(db, "stamped.test")["id"]
    moment = now() - timedelta(days=3)
    stamps = {"run_after": moment, "created_at": moment, "updated_at": moment}
    rows = [{"domain_id": domain_id, "url": f"http://site/{i}", **stamps} for i in range(bulk.BULK_ROWS)]
    with db.begin() as connection:
        queue.write(db, connection, REAL, Settings(database_url=db.url), Insert(pages, rows))
    with db.engine.connect() as connection:
        written = connection.execute(select(pages.c.run_after, pages.c.created_at, pages.c.updated_at)).all()
    assert len(written) == bulk.BULK_ROWS
    assert {utc(value) for row in written for value in row} == {moment}


def test_items_a_feeder_claims_while_the_worker_stops_are_handed_back_unburnt(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_domains(db, [f"site{i}.test" for i in range(10)])
    real_claim = queue.claim
    running: list[tuple[Worker, asyncio.AbstractEventLoop]] = []

    def claim_then_stop(*args: object, **kwargs: object) -> queue.Claimed | None:
        claimed = real_claim(*args, **kwargs)  # type: ignore[arg-type]
        worker, loop = running[0]  # the stop lands before the claim comes back
        on_the_loop(loop, Worker.stop, worker)
        return claimed

    async def scenario() -> None:
        worker = Worker(db, Pipeline([pipelines.touch_stage(batch_size=4, concurrency=4)]), settings)
        running.append((worker, asyncio.get_running_loop()))
        await asyncio.wait_for(worker.run(), 20)

    monkeypatch.setattr(queue, "claim", claim_then_stop)
    asyncio.run(scenario())
    assert statuses(db) == {"pending": 10}
    with db.begin() as connection:
        attempts = connection.execute(select(domains.c.attempts)).scalars().all()
    assert set(attempts) == {0}


@pytest.mark.parametrize("rows", [1, bulk.BULK_ROWS])
def test_only_a_quick_sqlite_transaction_runs_on_the_event_loops_thread(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch, rows: int
) -> None:
    async def write_pages(item: Item, context: Context) -> Result:
        urls = [f"https://{item['name']}/{number}" for number in range(rows)]
        return Result(outputs=[Insert(pages, [{"domain_id": item["id"], "url": url} for url in urls])])

    real_commit = queue.commit
    threads: list[str] = []

    def commit(*args: object) -> queue.Committed:
        threads.append(threading.current_thread().name)
        return real_commit(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(queue, "commit", commit)
    add_domains(db, ["pages.test"])
    stage = pipelines.touch_stage(handler=write_pages, reads=("name",))
    assert run_until_idle(db, settings, Pipeline([stage]))["touch.done"] == 1
    assert pages_per_domain(db) == {domain(db, "pages.test")["id"]: rows}
    # A commit that writes rows by the thousand stays on the database thread, as everything does on
    # PostgreSQL, where each statement is a round trip to the server.
    on_the_loop = rows < bulk.BULK_ROWS and not db.is_postgres
    assert threads == ["MainThread" if on_the_loop else "leadpipe-db_0"]


def test_a_commit_leaves_the_event_loop_free_while_other_handlers_wait_for_answers(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit on the loop's thread would hold up every handler waiting for an answer: while one
    is, even a small commit goes to the database thread."""

    async def quick_or_waiting(item: Item, context: Context) -> Result:
        if item["name"] == "waits.test":
            await asyncio.sleep(1.0)  # as a handler waiting for a slow site
        return Result(outcome="ok")

    real_commit = queue.commit
    threads: dict[str, str] = {}

    def commit(*args: Any) -> queue.Committed:
        for done in args[5]:
            threads[names[done.id]] = threading.current_thread().name
        return real_commit(*args)

    monkeypatch.setattr(queue, "commit", commit)
    add_domains(db, ["quick.test", "waits.test"])
    names = {domain(db, name)["id"]: name for name in ("quick.test", "waits.test")}
    run_until_idle(db, settings, Pipeline([pipelines.touch_stage(handler=quick_or_waiting, reads=("name",))]))
    loop_thread = "leadpipe-db_0" if db.is_postgres else "MainThread"
    assert threads == {"quick.test": "leadpipe-db_0", "waits.test": loop_thread}


def test_a_worker_waiting_for_sqlites_write_lock_keeps_its_event_loop_running(
    db: Database, settings: Settings
) -> None:
    if db.is_postgres:
        pytest.skip("SQLite's one write lock")
    # No upkeep while the lock is held: its transaction, waiting on the database thread, would send
    # the claims there too.
    settings = settings.model_copy(update={"heartbeat_seconds": 60})
    stage = pipelines.touch_stage(lease_seconds=300)
    locked, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:  # another writer, in a thread of its own, as another process would
        held = sqlite3.connect(db.engine.url.database or "", isolation_level=None)
        held.execute("BEGIN IMMEDIATE")
        held.executemany("INSERT INTO domains (name) VALUES (?)", [(f"site{i}.test",) for i in range(5)])
        locked.set()
        release.wait(10)
        held.execute("COMMIT")
        held.close()

    async def scenario() -> float:
        worker = Worker(db, Pipeline([stage]), settings)
        running = asyncio.create_task(worker.run())
        await asyncio.sleep(0.3)  # registered, and claiming on the loop's thread (nothing is due)
        holder = threading.Thread(target=hold_the_lock)
        holder.start()
        locked.wait(5)
        longest = 0.0
        start = last = time.monotonic()
        while last - start < 1.0:  # the worker's claims wait for the lock all along
            await asyncio.sleep(0.01)
            moment = time.monotonic()
            longest, last = max(longest, moment - last), moment
        release.set()
        holder.join(5)
        for _ in range(400):  # up to 20 s
            if statuses(db) == {"done": 5}:
                break
            await asyncio.sleep(0.05)
        worker.stop()
        await asyncio.wait_for(running, 20)
        return longest

    longest = asyncio.run(scenario())
    assert statuses(db) == {"done": 5}
    assert longest < 0.25  # one claim blocking the loop would have stopped it for the lock's second


def test_a_worker_takes_its_turn_to_write_and_says_when_it_waits_long(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    turn = db.writer_queue()
    if turn is None:
        pytest.skip("SQLite's writers take turns")
    monkeypatch.setattr(dbthread, "SLOW_TRANSACTION_SECONDS", 0.3)
    settings = settings.model_copy(update={"heartbeat_seconds": 60})
    add_domains(db, [f"site{i}.test" for i in range(5)])

    async def scenario() -> Counter[str]:
        assert turn.take(wait=True)
        worker = Worker(db, Pipeline([pipelines.touch_stage(lease_seconds=300)]), settings)
        running = asyncio.create_task(worker.run(until_idle=True))
        await asyncio.sleep(1)
        waiting = statuses(db)  # no claim while another worker has the turn
        turn.give_back()
        await asyncio.wait_for(running, 20)
        return waiting

    assert asyncio.run(scenario()) == {"pending": 5}
    assert statuses(db) == {"done": 5}
    waits = [record.getMessage() for record in caplog.records if "has waited" in record.getMessage()]
    assert waits[:2] == [
        "a database transaction has waited 0.3s: the database, or its write lock, is held elsewhere",
        "a database transaction has waited 0.6s: the database, or its write lock, is held elsewhere",
    ]


def test_a_transaction_left_on_the_database_thread_by_a_cancelled_caller_is_not_overlapped(
    db: Database, settings: Settings
) -> None:
    spans: list[tuple[str, float, float]] = []

    def slow(connection: Connection) -> None:
        start = time.monotonic()
        time.sleep(0.3)
        spans.append(("slow", start, time.monotonic()))

    def quick(connection: Connection) -> None:
        spans.append(("quick", time.monotonic(), time.monotonic()))

    async def scenario() -> None:
        worker = Worker(db, Pipeline([]), settings)
        worker._db_thread._writers = None  # no turn to hide behind, as where the OS has no flock
        await worker._db_thread.run(lambda connection: None)  # the connection is open
        left = asyncio.create_task(worker._db_thread.run(slow))
        await asyncio.sleep(0.05)
        left.cancel()  # its transaction goes on, on the database thread
        await worker._db_thread.run(quick, quick=True)
        await worker._db_thread.close()

    asyncio.run(scenario())
    (first, _, slow_end), (second, quick_start, _) = spans
    assert (first, second) == ("slow", "quick") and quick_start >= slow_end


def test_a_worker_waiting_for_its_turn_to_write_is_woken_when_the_turn_is_given_back(
    db: Database, settings: Settings
) -> None:
    writers, other = db.writer_queue(), db.writer_queue()
    if writers is None or other is None:
        pytest.skip("SQLite's writers take turns")
    assert writers.take(wait=True)
    assert not other.take(wait=False)  # a quick transaction goes to the database thread instead
    woken: list[float] = []
    waiting = threading.Thread(target=lambda: woken.append(other.take(wait=True) and time.monotonic()))
    waiting.start()
    time.sleep(0.3)
    assert not woken
    given_back = time.monotonic()
    writers.give_back()
    waiting.join(5)
    assert woken and woken[0] - given_back < 0.1  # SQLite's busy handler sleeps up to 100 ms a try
    other.give_back()
    assert writers.take(wait=False)
    writers.give_back()


def test_a_credential_in_an_error_or_a_problem_is_never_stored(db: Database, settings: Settings) -> None:
    """A reason may quote a URL, and a URL may carry a password: items keep the reason without it."""

    async def leaky(item: Item, context: Context) -> Result:
        if item["name"] == "fails.test":
            raise Permanent("cannot reach postgresql://leadpipe:hunter2@db.internal/leads")
        page = {
            "domain_id": item["id"],
            "url": "http://notes.test/",
            "problem": "via http://p:pw42@10.0.0.2/",
        }
        return Result(
            outcome="ok",
            values={"problem": "via http://proxy:s3cret@10.0.0.1:3128/?token=abc123"},
            outputs=[Insert(pages, [page])],  # an output's problem is a reason too
        )

    add_domains(db, ["fails.test", "notes.test"])
    run_until_idle(db, settings, Pipeline([pipelines.touch_stage(handler=leaky)]))
    with db.engine.connect() as connection:
        page_problem = connection.execute(select(pages.c.problem)).scalar_one()
    stored = f"{domain(db, 'fails.test')['last_error']} {domain(db, 'notes.test')['problem']} {page_problem}"
    assert "leadpipe:" in stored and "db.internal" in stored and "10.0.0.1:3128" in stored
    assert "10.0.0.2" in stored
    assert not any(secret in stored for secret in ("hunter2", "s3cret", "abc123", "pw42")), stored


def test_work_this_worker_writes_or_unblocks_is_claimed_at_once_not_at_the_next_poll(
    db: Database, settings: Settings
) -> None:
    """A stage whose input another stage of the worker just wrote, or whose next item of a group run
    one at a time was just unblocked, claims it without waiting out the idle poll."""

    async def three_pages(item: Item, context: Context) -> Result:
        rows = [{"domain_id": item["id"], "url": f"https://{item['name']}/{n}"} for n in range(3)]
        return Result(outcome="touched", outputs=[Insert(pages, rows)])

    async def read(item: Item, context: Context) -> Result:
        return Result(outcome="read")

    reader = replace(
        pipelines.touch_stage(handler=read, max_attempts=1),
        name="read",
        table=pages,
        missing_outputs=None,
        one_at_a_time="domain_id",
    )
    add_domains(db, ["a.test", "b.test"])
    slow_poll = Settings(**{**settings.model_dump(), "poll_seconds": 20.0})
    started = time.monotonic()
    run_until_idle(db, slow_poll, Pipeline([pipelines.touch_stage(handler=three_pages), reader]))
    assert time.monotonic() - started < 8  # a poll alone would have waited at least 10 s, several times
    with db.engine.connect() as connection:
        assert Counter(connection.execute(select(pages.c.outcome)).scalars()) == {"read": 6}


def test_a_credential_in_a_linked_outputs_problem_is_never_stored(db: Database, settings: Settings) -> None:
    async def resolve_with_a_note(item: Item, context: Context) -> Result:
        row = {"name": "linked.test", "problem": "via http://proxy:pw77@10.0.0.3:3128/"}
        return Result(outcome="resolved", outputs=[Insert(domains, [row], link="domain_id")])

    with db.begin() as connection:
        connection.execute(insert(businesses), [{"source_key": "csv:1", "name": "Bakery"}])
    stage = replace(
        pipelines.touch_stage(handler=resolve_with_a_note), table=businesses, missing_outputs=None
    )
    run_until_idle(db, settings, Pipeline([stage]))
    problem = domain(db, "linked.test")["problem"]
    assert "10.0.0.3:3128" in problem and "pw77" not in problem
