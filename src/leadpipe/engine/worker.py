"""The worker: claims items of its stages, runs their handlers concurrently, commits their results.

One process, one event loop, one database thread. Handlers run as asyncio tasks, at most
``concurrency`` per stage. No transaction is ever open while a handler runs: the claim commits before
the handler starts, and the result is committed, fenced by the lease token, after it ends.
Every worker also keeps its heartbeat row, renews the leases of its long items, reaps expired leases
of every stage and marks items its stages' rules exclude as skipped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import socket
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import DBAPIError

from leadpipe import __version__
from leadpipe.config import Settings
from leadpipe.db.connect import Database, now
from leadpipe.db.models import stage_pauses as pauses
from leadpipe.db.models import workers
from leadpipe.engine import queue
from leadpipe.engine.stage import Context, PauseStage, Pipeline, RetryLater, Stage

log = logging.getLogger("leadpipe.worker")
T = TypeVar("T")


@dataclass
class InFlight:
    token: str
    task: asyncio.Task[None]


@dataclass
class StageRun:
    """A stage as this worker serves it: its slots and what is in them."""

    stage: Stage
    limit: int
    items: dict[int, InFlight] = field(default_factory=dict)
    freed: asyncio.Event = field(default_factory=asyncio.Event)
    paused: str | None = None


def worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Worker:
    """Runs the given stages of a pipeline until stopped (or, with ``until_idle``, until no work is due)."""

    def __init__(
        self,
        db: Database,
        pipeline: Pipeline,
        settings: Settings,
        *,
        stages: list[str] | None = None,
        concurrency: int | None = None,
        resources: dict[str, Any] | None = None,
    ) -> None:
        self.db = db
        self.pipeline = pipeline
        self.settings = settings
        self.id = worker_name()
        self.runs = {
            stage.name: StageRun(stage, concurrency or stage.concurrency) for stage in pipeline.select(stages)
        }
        self.resources = resources if resources is not None else pipeline.resources(settings)
        self.counts: Counter[str] = Counter()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leadpipe-db")
        self._completions: asyncio.Queue[tuple[StageRun, queue.Done | queue.Failed]] = asyncio.Queue()
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._settled = asyncio.Event()

    # -- database access ---------------------------------------------------------------------------

    def _transaction(self, work: Callable[[Connection], T]) -> T:
        with self.db.begin() as connection:
            return work(connection)

    async def _db(self, work: Callable[[Connection], T], *, retry: bool = True) -> T:
        """Run ``work`` in one transaction on the database thread; wait out a lost database."""
        loop = asyncio.get_running_loop()
        delay = 0.2
        while True:
            try:
                return await loop.run_in_executor(self._executor, self._transaction, work)
            except DBAPIError as error:
                if not retry or not _is_transient(error):
                    raise
                reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
                log.warning("database unavailable (%s); retrying in %.1fs", reason, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    # -- the main loop -----------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop claiming; let in-flight items finish within the grace period."""
        if not self._stopping.is_set():
            log.info("worker %s stopping: no new claims, finishing what is in flight", self.id)
        self._stopping.set()
        self._wake.set()

    async def run(self, *, until_idle: bool = False, max_wait: float = 0.0) -> Counter[str]:
        """Work until :meth:`stop` (or a signal); with ``until_idle``, until nothing is due within
        ``max_wait`` seconds and nothing is in flight. Returns counts of what happened."""
        loop = asyncio.get_running_loop()
        handled = []
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(signum, self._on_signal)
                handled.append(signum)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread: the caller stops us
        await self._db(self._register)
        log.info("worker %s serving %s", self.id, ", ".join(self.runs) or "no stage")
        helpers = [
            asyncio.create_task(self._commit_loop(), name="commit"),
            asyncio.create_task(self._maintenance_loop(), name="maintenance"),
        ]
        feeders = [
            asyncio.create_task(self._feed(run), name=f"feed-{name}") for name, run in self.runs.items()
        ]
        try:
            if until_idle:
                await self._until_idle(max_wait)
            await self._stopping.wait()
            await asyncio.gather(*feeders)
            await self._drain()
        finally:
            for task in feeders + helpers:
                task.cancel()
            await asyncio.gather(*feeders, *helpers, return_exceptions=True)
            await self._flush_completions()
            try:
                await self._db(self._unregister, retry=False)
            except DBAPIError as error:
                log.warning("could not remove worker row: %s", error)
            for signum in handled:
                loop.remove_signal_handler(signum)
            for resource in self.resources.values():
                if hasattr(resource, "aclose"):
                    await resource.aclose()
            self._executor.shutdown(wait=True)
        return self.counts

    def _on_signal(self) -> None:
        if self._stopping.is_set():
            log.warning("second signal: releasing in-flight items now")
            for run in self.runs.values():
                for flight in run.items.values():
                    flight.task.cancel()
        self.stop()

    async def _until_idle(self, max_wait: float) -> None:
        while not self._stopping.is_set():
            await asyncio.sleep(min(0.2, self.settings.poll_seconds))
            if self._in_flight() or not self._completions.empty():
                continue
            active = [run.stage for run in self.runs.values() if run.paused is None]

            def due(connection: Connection, active: list[Stage] = active) -> bool:
                # Settle items the stages' rules exclude first, so none is left pending at exit.
                for stage in active:
                    queue.skip_ineligible(self.db, connection, stage, self.settings)
                return any(
                    queue.has_due_work(self.db, connection, s, self.settings, max_wait) for s in active
                )

            if not await self._db(due):
                self.stop()

    async def _drain(self) -> None:
        """After a stop: give in-flight items the grace period, then cancel (and release) the rest."""
        tasks = [flight.task for run in self.runs.values() for flight in run.items.values()]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=self.settings.shutdown_grace_seconds)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._in_flight():
            self._settled.clear()
            await self._settled.wait()

    def _in_flight(self) -> bool:
        return any(run.items for run in self.runs.values())

    def _vacate(self, run: StageRun, item_id: int) -> None:
        run.items.pop(item_id, None)
        run.freed.set()
        if not self._in_flight():
            self._settled.set()

    # -- claiming and running ----------------------------------------------------------------------

    async def _feed(self, run: StageRun) -> None:
        stage = run.stage
        while not self._stopping.is_set():
            free = run.limit - len(run.items)
            if run.paused is not None or free <= 0:
                run.freed.clear()
                await _wait_any(run.freed, self._wake, seconds=self.settings.poll_seconds)
                continue
            limit = min(free, stage.batch_size)
            claimed = await self._db(
                lambda connection: queue.claim(self.db, connection, stage, self.settings, self.id, limit)  # noqa: B023
            )
            if claimed is None:
                self._wake.clear()
                jitter = self.settings.poll_seconds * random.uniform(0.5, 1.0)
                await _wait_any(self._wake, seconds=jitter)
                continue
            self.counts[f"{stage.name}.claimed"] += len(claimed.items)
            for item in claimed.items:
                task = asyncio.create_task(self._process(run, claimed.token, item))
                run.items[item["id"]] = InFlight(claimed.token, task)

    async def _process(self, run: StageRun, token: str, item: dict[str, Any]) -> None:
        stage = run.stage
        context = Context(stage, self.settings, self.id, self.resources)
        outcome: queue.Done | queue.Failed
        try:
            async with asyncio.timeout(stage.max_runtime_seconds):
                result = await stage.handler(item, context)
            outcome = queue.Done(item["id"], token, result)
        except asyncio.CancelledError:
            await self._release(run, item["id"], token)
            raise
        except PauseStage as pause:
            await self._pause(run, str(pause))
            await self._release(run, item["id"], token)
            return
        except RetryLater as later:
            outcome = queue.Failed(item["id"], token, item["attempts"], str(later), True, later.seconds)
        except TimeoutError:
            message = f"ran longer than the stage's cap of {stage.max_runtime_seconds:g}s"
            delay = stage.backoff.delay(item["attempts"])
            outcome = queue.Failed(item["id"], token, item["attempts"], message, True, delay)
        except Exception as error:
            message = f"{type(error).__name__}: {error}"
            delay = stage.backoff.delay(item["attempts"])
            retryable = stage.retryable(error)
            outcome = queue.Failed(item["id"], token, item["attempts"], message, retryable, delay)
            log.warning(
                "%s item %s failed (attempt %s): %s", stage.name, item["id"], item["attempts"], message
            )
        await self._completions.put((run, outcome))

    async def _release(self, run: StageRun, item_id: int, token: str) -> None:
        try:
            await self._db(
                lambda connection: queue.release(self.db, connection, run.stage, [item_id], token),
                retry=False,
            )
        except DBAPIError as error:
            log.warning(
                "could not release %s item %s (its lease will expire): %s", run.stage.name, item_id, error
            )
        finally:
            self._vacate(run, item_id)

    async def _pause(self, run: StageRun, reason: str) -> None:
        if run.paused is None:
            log.error("stage %s paused itself: %s", run.stage.name, reason)
        run.paused = reason
        await self._db(lambda connection: pause_stage(connection, run.stage.name, reason, by=self.id))

    # -- committing --------------------------------------------------------------------------------

    async def _commit_loop(self) -> None:
        while True:
            batch = [await self._completions.get()]
            while not self._completions.empty() and len(batch) < 1000:
                batch.append(self._completions.get_nowait())
            await self._commit(batch)

    async def _flush_completions(self) -> None:
        batch = []
        while not self._completions.empty():
            batch.append(self._completions.get_nowait())
        if batch:
            await self._commit(batch)

    async def _commit(self, batch: list[tuple[StageRun, queue.Done | queue.Failed]]) -> None:
        by_stage: dict[str, tuple[StageRun, list[queue.Done], list[queue.Failed]]] = {}
        for run, finished in batch:
            _, done, failed = by_stage.setdefault(run.stage.name, (run, [], []))
            if isinstance(finished, queue.Done):
                done.append(finished)
            else:
                failed.append(finished)

        def write(connection: Connection) -> list[tuple[str, queue.Outcome]]:
            return [
                (
                    name,
                    queue.commit(self.db, connection, self.pipeline, self.settings, run.stage, done, failed),
                )
                for name, (run, done, failed) in by_stage.items()
            ]

        for name, outcome in await self._db(write):
            self.counts[f"{name}.done"] += outcome.done
            self.counts[f"{name}.retried"] += outcome.retried
            self.counts[f"{name}.dead"] += outcome.dead
            self.counts[f"{name}.lease_lost"] += outcome.lease_lost
            if outcome.lease_lost:
                log.warning("%s: %d results discarded, their lease was taken over", name, outcome.lease_lost)
        for run, finished in batch:
            self._vacate(run, finished.id)

    # -- upkeep ------------------------------------------------------------------------------------

    def _tick(self) -> float:
        leases = [run.stage.lease_seconds / 3 for run in self.runs.values()]
        return min([self.settings.heartbeat_seconds, *leases])

    async def _maintenance_loop(self) -> None:
        while True:
            await asyncio.sleep(self._tick())
            try:
                await self._db(self._upkeep, retry=False)
            except DBAPIError as error:
                log.warning("upkeep skipped, database unavailable: %s", error.orig or error)

    def _upkeep(self, connection: Connection) -> None:
        self._heartbeat(connection)
        for run in self.runs.values():
            tokens = sorted({flight.token for flight in run.items.values()})
            queue.renew(self.db, connection, run.stage, tokens)
            skipped = queue.skip_ineligible(self.db, connection, run.stage, self.settings)
            self.counts[f"{run.stage.name}.skipped"] += skipped
        for stage in self.pipeline:
            reaped = queue.reap(self.db, connection, stage)
            if reaped:
                self.counts[f"{stage.name}.reaped"] += reaped
                log.warning("%s: took back %d items whose lease expired", stage.name, reaped)
        paused = {row.stage: row.reason for row in connection.execute(select(pauses))}
        for name, run in self.runs.items():
            run.paused = paused.get(name)
        stale = now() - timedelta(seconds=self.settings.worker_ttl_seconds * 20)
        connection.execute(delete(workers).where(workers.c.last_seen_at < stale))

    def _register(self, connection: Connection) -> None:
        moment = now()
        connection.execute(
            insert(workers).values(
                id=self.id,
                host=socket.gethostname(),
                pid=os.getpid(),
                stages=list(self.runs),
                concurrency=max((run.limit for run in self.runs.values()), default=0),
                version=__version__,
                started_at=moment,
                last_seen_at=moment,
            )
        )
        paused = {row.stage: row.reason for row in connection.execute(select(pauses))}
        for name, run in self.runs.items():
            run.paused = paused.get(name)

    def _heartbeat(self, connection: Connection) -> None:
        touched = connection.execute(
            update(workers).where(workers.c.id == self.id).values(last_seen_at=now())
        ).rowcount
        if not touched:  # pruned while the database was away: say we are here again
            self._register(connection)

    def _unregister(self, connection: Connection) -> None:
        connection.execute(delete(workers).where(workers.c.id == self.id))


def pause_stage(connection: Connection, stage: str, reason: str, *, by: str) -> None:
    """Pause ``stage`` with ``reason`` (idempotent: the first reason stays)."""
    exists = connection.execute(select(pauses.c.stage).where(pauses.c.stage == stage)).first()
    if exists is None:
        connection.execute(insert(pauses).values(stage=stage, reason=reason, paused_by=by, paused_at=now()))


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
    )
    return any(marker in text for marker in markers)


async def _wait_any(*events: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
