"""The worker: claims items of its stages, runs their handlers concurrently, commits their results.

One process, one event loop, and one database thread (:mod:`leadpipe.engine.dbthread`: the connection,
SQLite's write lock and a lost database are its business). Handlers run as asyncio tasks, at most
``concurrency`` per stage. No transaction is ever open while a handler runs: the claim commits before
the handler starts, and the result is committed, fenced by the lease token, after it ends.
Every worker also keeps its heartbeat row, renews the leases of its long items, reaps expired leases
of every stage and marks items its stages' rules exclude as skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import random
import signal
import socket
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update
from sqlalchemy.exc import DBAPIError

from leadpipe import __version__
from leadpipe.config import Settings
from leadpipe.db.connect import Database
from leadpipe.db.models import stage_pauses as pauses
from leadpipe.db.models import workers
from leadpipe.engine import bulk, queue
from leadpipe.engine.dbthread import DatabaseThread
from leadpipe.engine.pause import pause_stage
from leadpipe.engine.stage import Context, Insert, PauseStage, Pipeline, RetryLater, Stage

log = logging.getLogger("leadpipe.worker")


@dataclass(eq=False, slots=True)
class Batch:
    """Items claimed together. They share a lease token and start together, so one timer holds them
    all to the stage's runtime cap: a timer per item would cost more than a quick item itself."""

    token: str
    left: int  # items not yet vacated; the timer goes with the last
    timer: asyncio.TimerHandle | None = None


@dataclass(eq=False, slots=True)
class InFlight:
    batch: Batch
    task: asyncio.Task[None] = field(init=False)
    running: bool = True  # its handler has not returned yet
    overran: bool = False  # its batch's timer cancelled it


@dataclass
class StageRun:
    """A stage as this worker serves it: its slots and what is in them."""

    stage: Stage
    limit: int
    context: Context  # the same for every item of the stage
    items: dict[int, InFlight] = field(default_factory=dict)  # its slots: running or waiting to commit
    finished: list[queue.Done | queue.Failed] = field(default_factory=list)  # for the commit loop
    # Wakes its feeder: a slot was freed, work may have become due (this worker wrote the stage's
    # input, or finished an item of a group run one at a time), or the worker is stopping.
    freed: asyncio.Event = field(default_factory=asyncio.Event)
    paused: str | None = None
    idle: bool = False  # its last claim found nothing due
    claiming: int = 0  # slots promised to claims on their way

    @property
    def free(self) -> int:
        return self.limit - len(self.items) - self.claiming


class WorkerFailed(Exception):
    """One of the worker's own tasks (a feeder, the commit loop, the upkeep) failed: it stopped."""


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
        self.resources = resources if resources is not None else pipeline.resources(settings)
        self.runs = {
            stage.name: StageRun(
                stage,
                concurrency or stage.concurrency,
                Context(stage, settings, self.id, self.resources),
            )
            for stage in pipeline.select(stages)
        }
        self.counts: Counter[str] = Counter()
        self._db_thread = DatabaseThread(db)
        # Set when an item lands in a StageRun.finished: a list and an event cost less per item than an
        # asyncio.Queue, and the commit loop takes all of them at once anyway.
        self._has_finished = asyncio.Event()
        self._stopping = asyncio.Event()
        self._settled = asyncio.Event()
        self._failure: BaseException | None = None  # what stopped the worker, if not a stop

    # -- the main loop -----------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop claiming; let in-flight items finish within the grace period."""
        if not self._stopping.is_set():
            log.info("worker %s stopping: no new claims, finishing what is in flight", self.id)
        self._stopping.set()
        for run in self.runs.values():
            run.freed.set()  # wake its feeder

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
        await self._db_thread.run(self._register)
        log.info("worker %s serving %s", self.id, ", ".join(self.runs) or "no stage")
        # What is loaded by now (modules, tables, the pipeline) lives as long as the worker. Out of the
        # garbage collector's sight, it is not walked again by each full collection of a busy worker,
        # which would stall every item in flight while it walks.
        gc.freeze()
        committing = asyncio.create_task(self._commit_loop(), name="commit")
        helpers = [committing, asyncio.create_task(self._maintenance_loop(), name="maintenance")]
        feeders = [
            asyncio.create_task(self._feed(run), name=f"feed-{name}") for name, run in self.runs.items()
        ]
        if until_idle:
            helpers.append(asyncio.create_task(self._until_idle(max_wait), name="until-idle"))
        for task in helpers + feeders:
            task.add_done_callback(self._supervise)
        try:
            await self._stopping.wait()
            await asyncio.gather(*feeders, return_exceptions=True)
            await self._drain(committing)
        finally:
            gc.unfreeze()
            for task in feeders + helpers:
                task.cancel()
            await asyncio.gather(*feeders, *helpers, return_exceptions=True)
            await self._flush_completions()
            try:
                await self._db_thread.run(self._unregister, retry=False)
            except DBAPIError as error:
                log.warning("could not remove worker row: %s", error)
            for signum in handled:
                loop.remove_signal_handler(signum)
            for resource in self.resources.values():
                if hasattr(resource, "aclose"):
                    await resource.aclose()
            await self._db_thread.close()
        if self._failure is not None:
            failure = self._failure
            raise WorkerFailed(f"worker {self.id} failed: {type(failure).__name__}: {failure}") from failure
        return self.counts

    def _supervise(self, task: asyncio.Task[None]) -> None:
        """Only a stop may end a feeder or a loop: any other end stops the worker, loudly, rather than
        leave it alive with nothing claiming or committing (its items would wait, renewed, for ever)."""
        if task.cancelled() or task.exception() is None:
            return
        error = task.exception()
        if self._failure is None:
            self._failure = error
            log.error("worker %s stopping: its %s task failed", self.id, task.get_name(), exc_info=error)
        self.stop()

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
            if not self._idle():
                continue
            active = [run.stage for run in self.runs.values() if run.paused is None]

            def due(connection: Connection, active: list[Stage] = active) -> bool:
                # Settle items the stages' rules exclude first, so none is left pending at exit.
                for stage in active:
                    queue.skip_ineligible(self.db, connection, stage, self.settings)
                return any(
                    queue.has_due_work(self.db, connection, s, self.settings, max_wait) for s in active
                )

            # Asked again after the answer: a claim that was on its way back when the question was
            # asked has started its items by now, and they are running, so not "due" in the database.
            if not await self._db_thread.run(due) and self._idle():
                self.stop()

    def _idle(self) -> bool:
        """Nothing in flight, and every feeder's last claim found nothing."""
        return not self._in_flight() and all(
            run.idle and not run.claiming for run in self.runs.values() if run.paused is None
        )

    async def _drain(self, committing: asyncio.Task[None]) -> None:
        """After a stop: give in-flight items the grace period, then cancel (and release) the rest.
        Finished items are committed, unless the commit loop has failed: then they are released."""
        tasks = [flight.task for run in self.runs.values() for flight in run.items.values()]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=self.settings.shutdown_grace_seconds)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        while self._in_flight():
            if committing.done():  # it failed, now or before: what is left will not be committed
                for run in self.runs.values():
                    run.finished.clear()
                    for item_id, flight in list(run.items.items()):
                        await self._release_in_flight(run, item_id, flight.batch.token)
                return
            self._settled.clear()
            settled = asyncio.create_task(self._settled.wait())
            await asyncio.wait([settled, committing], return_when=asyncio.FIRST_COMPLETED)
            settled.cancel()

    def _in_flight(self) -> bool:
        return any(run.items for run in self.runs.values())

    def _handlers_running(self) -> bool:
        return any(flight.running for run in self.runs.values() for flight in run.items.values())

    def _vacate(self, run: StageRun, item_ids: list[int]) -> None:
        """Forget items committed or released; a batch's timer goes with its last item."""
        for item_id in item_ids:
            flight = run.items.pop(item_id)
            flight.batch.left -= 1
            if not flight.batch.left and flight.batch.timer is not None:
                flight.batch.timer.cancel()
        run.freed.set()
        if not self._in_flight():
            self._settled.set()

    # -- claiming and running ----------------------------------------------------------------------

    async def _feed(self, run: StageRun) -> None:
        stage = run.stage
        while not self._stopping.is_set():
            if run.paused is not None or run.free <= 0:
                run.freed.clear()
                await _wait(run.freed, self.settings.poll_seconds)
                continue
            limit = min(run.free, stage.batch_size)
            run.claiming += limit
            run.freed.clear()  # from here on, a wake-up is news this claim may not have seen
            try:
                claimed = await self._db_thread.run(
                    lambda connection: queue.claim(self.db, connection, stage, self.settings, self.id, limit),  # noqa: B023
                    quick=True,
                )
            finally:
                run.claiming -= limit
            if claimed is not None and self._holding_back(run):
                await self._release(run, claimed.ids, claimed.token)
                continue
            self._start(run, claimed)
            if claimed is None:
                # Other workers' writes are seen at the next poll; this worker's own wake it at once.
                jitter = self.settings.poll_seconds * random.uniform(0.5, 1.0)
                await _wait(run.freed, jitter)

    def _start(self, run: StageRun, claimed: queue.Claimed | None) -> None:
        """A task per item of a claimed batch, and the timer that holds them to the stage's runtime cap."""
        run.idle = claimed is None
        if claimed is None:
            return
        self.counts[f"{run.stage.name}.claimed"] += len(claimed.items)
        batch = Batch(claimed.token, len(claimed.items))
        for item in claimed.items:
            flight = InFlight(batch)
            flight.task = asyncio.create_task(self._process(run, flight, item))
            run.items[item["id"]] = flight
        loop = asyncio.get_running_loop()
        batch.timer = loop.call_later(run.stage.max_runtime_seconds, self._overrun, run, batch)

    def _overrun(self, run: StageRun, batch: Batch) -> None:
        """The batch's items have run for the stage's cap: cancel the handlers still running."""
        for flight in run.items.values():
            if flight.batch is batch and flight.running:
                flight.overran = True
                flight.task.cancel()

    async def _process(self, run: StageRun, flight: InFlight, item: dict[str, Any]) -> None:
        stage = run.stage
        token = flight.batch.token
        finished: queue.Done | queue.Failed
        try:
            try:
                result = await stage.handler(item, run.context)
            finally:
                flight.running = False
            finished = queue.Done(item["id"], token, result)
        except asyncio.CancelledError:
            if not flight.overran:  # stopping: release the item untouched
                await self._release_in_flight(run, item["id"], token)
                raise
            # The cancellation was the batch's timer (_overrun): the item failed, the task goes on.
            flight.task.uncancel()
            message = f"ran longer than the stage's cap of {stage.max_runtime_seconds:g}s"
            delay = stage.backoff.delay(item["attempts"])
            finished = queue.Failed(item["id"], token, item["attempts"], message, True, delay)
        except PauseStage as pause:
            await self._pause(run, str(pause))
            await self._release_in_flight(run, item["id"], token)
            return
        except RetryLater as later:
            finished = queue.Failed(item["id"], token, item["attempts"], str(later), True, later.seconds)
        except Exception as error:
            message = f"{type(error).__name__}: {error}"
            delay = stage.backoff.delay(item["attempts"])
            retryable = stage.retryable(error)
            finished = queue.Failed(item["id"], token, item["attempts"], message, retryable, delay)
            log.warning(
                "%s item %s failed (attempt %s): %s", stage.name, item["id"], item["attempts"], message
            )
        run.finished.append(finished)
        self._has_finished.set()

    async def _release_in_flight(self, run: StageRun, item_id: int, token: str) -> None:
        """Release an item in flight and free its slot."""
        try:
            await self._release(run, [item_id], token)
        finally:
            self._vacate(run, [item_id])

    async def _pause(self, run: StageRun, reason: str) -> None:
        if run.paused is None:
            log.error("stage %s paused itself: %s", run.stage.name, reason)
        run.paused = reason
        await self._db_thread.run(
            lambda connection: pause_stage(connection, run.stage.name, reason, by=self.id)
        )

    # -- committing --------------------------------------------------------------------------------

    async def _commit_loop(self) -> None:
        while True:
            await self._has_finished.wait()
            self._has_finished.clear()
            await self._commit(self._take_finished())

    async def _flush_completions(self) -> None:
        while taken := self._take_finished():
            await self._commit(taken)

    def _take_finished(self) -> list[tuple[StageRun, list[queue.Done | queue.Failed]]]:
        """What has finished so far, to commit in one transaction: up to 1000 items of each stage
        (the rest goes in the next)."""
        taken = []
        for run in self.runs.values():
            if run.finished:
                taken.append((run, run.finished[:1000]))
                del run.finished[:1000]
                if run.finished:
                    self._has_finished.set()
        return taken

    async def _commit(self, taken: list[tuple[StageRun, list[queue.Done | queue.Failed]]]) -> None:
        """Commit finished items and, in the same transaction, claim as many for the slots they free.

        Claiming there spares the feeder a transaction per batch."""
        split = [
            (
                run,
                [item for item in finished if isinstance(item, queue.Done)],
                [item for item in finished if isinstance(item, queue.Failed)],
            )
            for run, finished in taken
        ]
        refills: dict[str, int] = {}  # stage → items to claim
        if not self._stopping.is_set():
            for run, finished in taken:
                if run.paused is None and not run.idle:
                    refills[run.stage.name] = min(run.free + len(finished), run.stage.batch_size)
                    run.claiming += refills[run.stage.name]

        def commit_and_claim(
            connection: Connection,
        ) -> tuple[list[queue.Committed], dict[str, queue.Claimed | None]]:
            committed = [
                queue.commit(self.db, connection, self.pipeline, self.settings, run.stage, done, failed)
                for run, done, failed in split
            ]
            claims = {
                name: queue.claim(self.db, connection, self.runs[name].stage, self.settings, self.id, limit)
                for name, limit in refills.items()
            }
            return committed, claims

        claims: dict[str, queue.Claimed | None] = {}
        failure: Exception | None = None
        try:
            # On the loop's thread a commit would hold up every handler waiting for an answer: it
            # goes there only when none is (items that need no I/O, where the hand-off costs most).
            quick = _is_quick(split) and not self._handlers_running()
            committed, claims = await self._db_thread.run(commit_and_claim, quick=quick)
        except Exception as error:
            failure = error
        finally:
            for name, limit in refills.items():
                self.runs[name].claiming -= limit
        if failure is not None:
            # One item's result may be what the database refuses: commit the items one by one, so that
            # only that item fails, with the reason, and the rest are kept.
            count = sum(len(finished) for _, finished in taken)
            log.warning("a commit of %d items failed (%s): committing them one by one", count, failure)
            taken = [(run, [item]) for run, finished in taken for item in finished]
            committed = [await self._commit_alone(run, item) for run, (item,) in taken]
        for name, claimed in list(claims.items()):
            if claimed is not None and self._holding_back(self.runs[name]):
                # Released while the committed items still hold their slots: a draining worker
                # waits for those.
                await self._release(self.runs[name], claimed.ids, claimed.token)
                del claims[name]
        for (run, finished), counts in zip(taken, committed, strict=True):
            name = run.stage.name
            self.counts[f"{name}.done"] += counts.done
            self.counts[f"{name}.retried"] += counts.retried
            self.counts[f"{name}.dead"] += counts.dead
            self.counts[f"{name}.lease_lost"] += counts.lease_lost
            if counts.lease_lost:
                log.warning("%s: %d results discarded, their lease was taken over", name, counts.lease_lost)
            self._vacate(run, [item.id for item in finished])
        for name, claimed in claims.items():
            self._start(self.runs[name], claimed)
        written = {
            output.table
            for _, done, _ in split
            for item in done
            for output in item.result.outputs
            if isinstance(output, Insert)
        }
        for run in self.runs.values():
            if run.stage.table in written:
                run.freed.set()

    def _holding_back(self, run: StageRun) -> bool:
        """Whether items a claim brings back are not to start: the worker stopped, or the stage paused,
        while the claim was on its way."""
        return self._stopping.is_set() or run.paused is not None

    async def _release(self, run: StageRun, ids: list[int], token: str) -> None:
        """Release items untouched: pending again, the attempt not counted."""
        try:
            await self._db_thread.run(
                lambda connection: queue.release(self.db, connection, run.stage, ids, token),
                retry=False,
                quick=True,
            )
        except DBAPIError as error:
            log.warning(
                "could not release %s items %s (their lease will expire): %s", run.stage.name, ids, error
            )

    async def _commit_alone(self, run: StageRun, item: queue.Done | queue.Failed) -> queue.Committed:
        """Commit one item; if its result cannot be written, fail it for good with the reason."""
        stage = run.stage

        def commit_one(connection: Connection, item: queue.Done | queue.Failed = item) -> queue.Committed:
            done, failed = ([item], []) if isinstance(item, queue.Done) else ([], [item])
            return queue.commit(self.db, connection, self.pipeline, self.settings, stage, done, failed)

        try:
            return await self._db_thread.run(commit_one)
        except Exception as error:
            if isinstance(item, queue.Failed):
                raise
            cause = error.orig if isinstance(error, DBAPIError) and error.orig else error  # without the SQL
            reason = f"its result could not be written: {type(cause).__name__}: {str(cause).strip()}"
            log.error("%s item %s: %s", stage.name, item.id, reason)
            failure = queue.Failed(item.id, item.token, stage.max_attempts, reason, False, 0.0)
            return await self._db_thread.run(lambda connection: commit_one(connection, failure))

    # -- upkeep ------------------------------------------------------------------------------------

    def _tick(self) -> float:
        leases = [run.stage.lease_seconds / 3 for run in self.runs.values()]
        return min([self.settings.heartbeat_seconds, *leases])

    async def _maintenance_loop(self) -> None:
        while True:
            await asyncio.sleep(self._tick())
            try:
                await self._db_thread.run(self._upkeep, retry=False)
            except DBAPIError as error:
                log.warning("upkeep skipped, database unavailable: %s", error.orig or error)

    def _upkeep(self, connection: Connection) -> None:
        self._heartbeat(connection)
        for run in self.runs.values():
            tokens = sorted({flight.batch.token for flight in run.items.values()})
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
        stale = queue.clock(self.db, -self.settings.worker_ttl_seconds * 20)
        connection.execute(delete(workers).where(workers.c.last_seen_at < stale))

    def _register(self, connection: Connection) -> None:
        self._bury_local_dead(connection)
        moment = queue.clock(self.db)
        connection.execute(
            insert(workers).values(
                id=self.id,
                host=socket.gethostname(),
                pid=os.getpid(),
                process_start=process_start(os.getpid()),
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

    def _bury_local_dead(self, connection: Connection) -> None:
        """Workers of this machine whose process is gone (killed, crashed): their leases end now and
        their items are taken back at once, instead of after the lease (a laptop run started again)."""
        gone = [row.id for row in local_dead_workers(connection) if row.id != self.id]
        if not gone:
            return
        for stage in self.pipeline:
            queue.expire_leases(self.db, connection, stage, gone)
            taken = queue.reap(self.db, connection, stage)
            if taken:
                log.warning("%s: took back %d items left running by a stopped process", stage.name, taken)
        connection.execute(delete(workers).where(workers.c.id.in_(gone)))

    def _heartbeat(self, connection: Connection) -> None:
        touched = connection.execute(
            update(workers).where(workers.c.id == self.id).values(last_seen_at=queue.clock(self.db))
        ).rowcount
        if not touched:  # pruned while the database was away: say we are here again
            self._register(connection)

    def _unregister(self, connection: Connection) -> None:
        connection.execute(delete(workers).where(workers.c.id == self.id))


# A failed item is a statement of its own: a commit with many would block the event loop's thread, so
# it goes to the database thread.
QUICK_FAILURES = 20


def _is_quick(split: list[tuple[StageRun, list[queue.Done], list[queue.Failed]]]) -> bool:
    """Whether a commit is small enough for the event loop's thread (see :meth:`DatabaseThread.run`):
    fewer than ``BULK_ROWS`` records changed or written, and a few failed items."""
    failures = sum(len(failed) for _, _, failed in split)
    changed = sum(
        1 + sum(len(output.rows) if isinstance(output, Insert) else 1 for output in item.result.outputs)
        for _, done, _ in split
        for item in done
    )
    return failures <= QUICK_FAILURES and changed + failures < bulk.BULK_ROWS


def local_dead_workers(connection: Connection) -> list[Row[Any]]:
    """The registered workers of this machine whose process is gone: dead at once, whatever their
    heartbeat says. Another machine's processes cannot be seen from here: its workers are judged by
    their heartbeat."""
    here = connection.execute(select(workers).where(workers.c.host == socket.gethostname()))
    return [row for row in here if _gone(row.pid, row.process_start)]


def process_start(pid: int) -> str | None:
    """When and where process ``pid`` started: this boot's id, the pid namespace it is seen from
    and its start time in clock ticks since boot. This tells it from a later process given the same
    pid, and from a process of another container under the same host name. None where /proc does
    not say."""
    fields, boot, space = _proc_stat(pid), _boot_id(), _pid_namespace()
    if fields is None or boot is None or space is None:
        return None
    return f"{boot}/{space}/{fields[19]}"


def _gone(pid: int, started: str | None) -> bool:
    """Whether process ``pid`` of this machine, started at ``started`` (``process_start``), ended."""
    if started is not None:
        boot, space, _ = started.split("/", 2)
        if boot != _boot_id():
            return True  # it ran before this machine last booted
        if space != _pid_namespace():
            return False  # another container's process: its pid means nothing here
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # someone else's process: it exists
    fields = _proc_stat(pid)
    if fields is None:  # no /proc, or it hides other users' processes: the pid is all there is
        return False
    if fields[0] in ("Z", "X"):  # ended, not yet waited for by its parent
        return True
    return started is not None and process_start(pid) not in (None, started)


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _pid_namespace() -> str | None:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` from the third on (the state first, the start time at 19)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()  # the command's name, before, may hold spaces and ")"


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Until ``event`` is set, for at most ``seconds`` (without a task per wait)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
