"""The worker's database thread on SQLite and PostgreSQL: where a transaction runs, and a lost
connection ridden out, seen through its public surface alone."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest
from sqlalchemy import Connection, insert, select, text
from sqlalchemy.exc import DBAPIError

from leadpipe.db.connect import Database
from leadpipe.db.models import domains
from leadpipe.engine.dbthread import DatabaseThread


def _end_own_session(connection: Connection) -> None:
    """What a server restart does to a connection: it is gone under the transaction."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
    else:
        connection.connection.driver_connection.close()  # type: ignore[union-attr]
        connection.execute(text("SELECT 1"))


def test_a_lost_connection_is_replaced_and_the_transaction_tried_again(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    tries: list[object] = []

    def write(connection: Connection) -> int:
        tries.append(connection.connection.driver_connection)
        if len(tries) == 1:
            _end_own_session(connection)
        connection.execute(insert(domains).values(name="kept.test"))
        return len(tries)

    async def scenario() -> int:
        database = DatabaseThread(db)
        try:
            return await database.run(write)
        finally:
            await database.close()

    assert asyncio.run(scenario()) == 2
    first, second = tries
    assert first is not second  # a new connection, not the dead one again
    with db.engine.connect() as connection:
        assert connection.execute(select(domains.c.name)).scalars().all() == ["kept.test"]
    assert any("database unavailable" in record.getMessage() for record in caplog.records)


def test_an_error_that_is_not_a_lost_database_or_a_try_not_to_retry_is_raised_at_once(
    db: Database,
) -> None:
    tries: list[str] = []

    def duplicate(connection: Connection) -> None:
        tries.append("duplicate")
        connection.execute(insert(domains), [{"name": "twice.test"}, {"name": "twice.test"}])

    def lost(connection: Connection) -> None:
        tries.append("lost")
        _end_own_session(connection)

    async def scenario() -> None:
        database = DatabaseThread(db)
        try:
            for work in (duplicate, lost):
                with pytest.raises(DBAPIError):
                    await database.run(work, retry=False)
            assert await database.run(lambda connection: 1) == 1  # and it serves on
        finally:
            await database.close()

    asyncio.run(scenario())
    assert tries == ["duplicate", "lost"]


def test_a_quick_sqlite_transaction_runs_on_the_callers_thread_unless_it_would_wait(
    db: Database,
) -> None:
    threads: list[str] = []

    def where(connection: Connection) -> None:
        threads.append(threading.current_thread().name)

    async def scenario() -> None:
        database = DatabaseThread(db)
        try:
            await database.run(where, quick=True)  # not connected yet: it connects on its own thread
            await database.run(where, quick=True)
            if not db.is_postgres:  # another process holds SQLite's write lock: wait for it off the loop
                held = sqlite3.connect(db.engine.url.database or "", isolation_level=None)
                held.execute("BEGIN IMMEDIATE")
                waiting = asyncio.create_task(database.run(where, quick=True))
                await asyncio.sleep(0.1)
                held.execute("COMMIT")
                held.close()
                await waiting
            await database.run(where)
        finally:
            await database.close()

    asyncio.run(scenario())
    thread, loop = "leadpipe-db_0", threading.current_thread().name
    if db.is_postgres:  # each statement is a round trip to the server: never on the loop's thread
        assert threads == [thread, thread, thread]
    else:
        assert threads == [thread, loop, thread, thread]
