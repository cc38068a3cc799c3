"""Where a worker's transactions run: one connection, one database thread, and SQLite's write lock.

The worker hands :meth:`DatabaseThread.run` a function of a SQLAlchemy ``Connection`` and awaits what
it returns; it never sees the driver, who holds the connection, SQLite's write lock or the writers'
turn at it. This module keeps all of that:

- **One connection, one thread.** Transactions run one at a time on a single-thread executor, on a
  connection kept open from one to the next. After a database error the connection is dropped, so a
  connection lost with the server (a PostgreSQL restart) is replaced at the next try.
- **The quick path.** On SQLite, a transaction its caller calls ``quick`` (a claim, a release, a small
  commit while no handler waits for an answer) runs on the event loop's own thread when the
  connection is open and free and SQLite's write lock is too; otherwise
  (:class:`~leadpipe.db.connect.WriteLockBusy`) it goes to the database thread to wait there. Connecting and every PostgreSQL statement stay on the database thread.
- **The writers' turn.** On SQLite each transaction takes its turn at the write lock
  (:class:`~leadpipe.db.connect.WriterQueue`), so a waiting worker wakes the moment the turn is given
  back.
- **A lost database is waited out.** A transient error (a lost connection, a locked database) is
  tried again, with a growing delay, rather than failing the worker.
- **A slow transaction is not silent.** One that waits a minute on the database thread, for the turn or
  for the database, is logged, and again each minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from leadpipe.db.connect import Database, WriteLockBusy, wait_for_write_lock

__all__ = ["SLOW_TRANSACTION_SECONDS", "DatabaseThread"]

# What this module says, it says for the worker: under the worker's name, as people and filters know it.
log = logging.getLogger("leadpipe.worker")
T = TypeVar("T")

SLOW_TRANSACTION_SECONDS = 60.0  # a transaction waiting this long is logged, again at each multiple


class DatabaseThread:
    """A worker's transactions on ``db``: run one at a time, on one connection, with a lost database
    waited out. :meth:`close` it when done."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leadpipe-db")
        self._connection: Connection | None = None  # see _transaction
        self._using = threading.Lock()  # held by the thread running a transaction on the connection
        self._writers = db.writer_queue()  # SQLite's: a turn is taken around each transaction

    async def run(self, work: Callable[[Connection], T], *, retry: bool = True, quick: bool = False) -> T:
        """Run ``work`` in one transaction, on the database thread but for a quick one on SQLite; wait
        out a lost database (unless not to ``retry``).

        A ``quick`` transaction (a claim, a release, a small commit) on SQLite runs on the event loop's
        own thread when the connection is open and free, and SQLite's write lock too: it blocks the
        loop briefly, and spares the two hand-offs between threads and the GIL passed to and fro,
        which cost more than such a transaction itself. Waiting for the lock, connecting, and every
        long transaction stay on the database thread.
        """
        loop = asyncio.get_running_loop()
        inline = quick and not self.db.is_postgres
        delay = 0.2
        while True:
            try:
                if inline and self._connection is not None:
                    return self._transaction(work, wait=False)
                return await _said_when_slow(loop.run_in_executor(self._executor, self._transaction, work))
            except WriteLockBusy:
                inline = False  # wait for the lock on the database thread
            except DBAPIError as error:
                if not retry or not _is_transient(error):
                    raise
                inline = False
                reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
                log.warning("database unavailable (%s); retrying in %.1fs", reason, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def close(self) -> None:
        """Close the connection, once no transaction uses it, and end the database thread."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._disconnect)
        self._executor.shutdown(wait=True)

    def _transaction(self, work: Callable[[Connection], T], *, wait: bool = True) -> T:
        """Run ``work`` in one transaction on the connection: on the database thread, or, when it is
        not to wait (see :meth:`run`), on the event loop's, or not at all (:class:`WriteLockBusy`).

        The connection is kept open from one transaction to the next: a pool checkout with its
        liveness ping would cost a round trip per transaction. After any database error it is
        dropped, so a connection lost with the server (a PostgreSQL restart) is replaced by a new one
        when :meth:`run` tries again.
        """
        # One thread at a time: a transaction left running on the database thread by a cancelled
        # caller may still hold the connection.
        if not self._using.acquire(blocking=wait):
            raise WriteLockBusy("the database thread is using the connection")
        writers = self._writers
        turn = False
        try:
            turn = writers is not None and writers.take(wait=wait)
            if writers is not None and not turn:
                raise WriteLockBusy("another worker is writing")
            if self._connection is None:
                self._connection = self.db.engine.connect()
            connection = self._connection
            if not wait:
                wait_for_write_lock(connection, False)
            try:
                with connection.begin():
                    return work(connection)
            finally:
                if not wait:
                    wait_for_write_lock(connection, True)
        except DBAPIError:
            self._drop_connection()
            raise
        finally:
            if writers is not None and turn:
                writers.give_back()
            self._using.release()

    def _disconnect(self) -> None:
        """Close the connection, once no transaction uses it (database thread)."""
        with self._using:
            self._drop_connection()

    def _drop_connection(self) -> None:
        """Close the connection, discarding it rather than pooling it."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # a lost connection may fail to close: it is gone
                connection.invalidate()
                connection.close()


def _is_transient(error: DBAPIError) -> bool:
    """A lost connection or a locked database: worth waiting out rather than failing the worker."""
    if error.connection_invalidated:
        return True
    text = str(error.orig or error).lower()
    markers = (
        "could not connect",
        "connection",
        "server closed",
        "terminating",
        "database is locked",
        "shutting down",
        "starting up",
        "timeout",
        "deadlock detected",
        "could not serialize",
    )
    return any(marker in text for marker in markers)


async def _said_when_slow(transaction: asyncio.Future[T]) -> T:
    """The result of a transaction on the database thread, with a warning each minute it waits: a
    database or a write lock held for ever (a worker stopped while it holds its turn) is not silent."""
    waited = 0.0
    while True:
        try:
            done, _ = await asyncio.wait([transaction], timeout=SLOW_TRANSACTION_SECONDS)
        except asyncio.CancelledError:
            transaction.cancel()  # not yet begun on the database thread: it never will
            raise
        if done:
            return transaction.result()
        waited += SLOW_TRANSACTION_SECONDS
        log.warning(
            "a database transaction has waited %gs: the database, or its write lock, is held elsewhere",
            waited,
        )
