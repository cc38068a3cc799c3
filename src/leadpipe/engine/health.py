"""Is work moving? Per stage: what waits, what runs, what finished, who serves it, and what is wrong.

This is the check the replaced system lacked: eligible work with no live worker serving it, leases
that expired and were never taken back, a stage that stopped completing, items marked done whose
downstream records never appeared, and workers of this machine whose process is gone are each named.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, case, func, select

from leadpipe.config import Settings
from leadpipe.db.connect import Database, database_now, utc
from leadpipe.db.models import STATUSES, WORK_TABLES, workers
from leadpipe.db.models import stage_pauses as pauses
from leadpipe.engine.stage import Pipeline, Stage
from leadpipe.engine.worker import local_dead_workers

Level = Literal["error", "warning", "notice"]
RECENT = timedelta(minutes=5)


@dataclass
class Problem:
    level: Level
    stage: str | None
    message: str
    # What is wrong, for alerts and metrics: stalled, no_consumer, expired_leases, missing_outputs,
    # dead_items, paused, awaiting, dead_worker, orphaned.
    kind: str = ""


@dataclass
class StageHealth:
    name: str
    description: str
    counts: dict[str, int]
    pending_now: int
    pending_later: int
    oldest_eligible_seconds: float | None
    expired_leases: int
    oldest_expiry_seconds: float | None
    completed_recently: int
    live_workers: int
    paused: str | None = None
    missing_outputs: int = 0
    missing_examples: list[str] = field(default_factory=list)
    last_error: str | None = None


@dataclass
class LiveWorker:
    id: str
    stages: list[str]
    last_seen_seconds: float


@dataclass
class DeadWorker:
    """A worker of this machine whose process is gone, and the items it left running, per stage."""

    id: str
    host: str
    pid: int
    stages: list[str]
    last_seen_seconds: float
    running: dict[str, int]


@dataclass
class Report:
    stages: list[StageHealth]
    workers: list[LiveWorker]
    dead_workers: list[DeadWorker]
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not any(problem.level == "error" for problem in self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, **asdict(self)}


def check(db: Database, pipeline: Pipeline, settings: Settings, *, downstream: bool = True) -> Report:
    """Read the state of every stage and name what is wrong, in one read of the database.

    ``downstream=False`` leaves out the search for done items whose downstream records never
    appeared, which scans whole tables: a progress display asks every few seconds, and need not.
    """
    with db.read() as connection:
        moment = database_now(connection)
        dead = _dead_workers(connection, pipeline, moment)
        live = _live_workers(connection, settings, moment, {worker.id for worker in dead})
        paused = {row.stage: row for row in connection.execute(select(pauses))}
        stages = [_stage_health(connection, stage, moment, live, downstream) for stage in pipeline]
        for health in stages:
            pause = paused.get(health.name)
            if pause is not None:
                health.paused = (
                    f"{pause.reason} (by {pause.paused_by}, {utc(pause.paused_at):%Y-%m-%d %H:%M} UTC)"
                )
        orphans = _orphaned_queues(connection, pipeline)
    problems = [problem for health in stages for problem in _problems(health, live, settings)]
    return Report(stages, live, dead, [*map(_dead_worker_problem, dead), *orphans, *problems])


def _orphaned_queues(connection: Connection, pipeline: Pipeline) -> list[Problem]:
    """Records waiting in a table that no stage of the pipeline consumes: the post-mortem's dead end."""
    found = []
    for name, table in WORK_TABLES.items():
        if name in pipeline.by_table:
            continue
        waiting = connection.execute(
            select(func.count()).where(table.c.status.in_(("awaiting", "pending", "running")))
        ).scalar_one()
        if waiting:
            found.append(
                Problem(
                    "error",
                    None,
                    f"{waiting} {name} records wait but no stage of this pipeline consumes {name}",
                    "orphaned",
                )
            )
    return found


def _live_workers(
    connection: Connection, settings: Settings, moment: datetime, dead: set[str]
) -> list[LiveWorker]:
    since = moment - timedelta(seconds=settings.worker_ttl_seconds)
    rows = connection.execute(select(workers).where(workers.c.last_seen_at >= since)).all()
    return [
        LiveWorker(row.id, list(row.stages), (moment - utc(row.last_seen_at)).total_seconds())
        for row in rows
        if row.id not in dead
    ]


def _dead_workers(connection: Connection, pipeline: Pipeline, moment: datetime) -> list[DeadWorker]:
    found = {
        row.id: DeadWorker(
            row.id, row.host, row.pid, list(row.stages), (moment - utc(row.last_seen_at)).total_seconds(), {}
        )
        for row in local_dead_workers(connection)
    }
    if not found:
        return []
    for stage in pipeline:
        table = stage.table
        left = connection.execute(
            select(table.c.lease_owner, func.count())
            .where(table.c.status == "running", table.c.lease_owner.in_(found))
            .group_by(table.c.lease_owner)
        )
        for owner, count in left:
            found[owner].running[stage.name] = count
    return list(found.values())


def _dead_worker_problem(worker: DeadWorker) -> Problem:
    left = (
        f"it left {sum(worker.running.values())} items running "
        f"({', '.join(f'{stage} {count}' for stage, count in worker.running.items())}): "
        "the next `leadpipe worker` on this machine takes them back at once"
        if worker.running
        else "it left no items running; the next `leadpipe worker` on this machine forgets it"
    )
    return Problem(
        "error",
        None,
        f"worker {worker.id} (host {worker.host}, pid {worker.pid}) is dead: its process is gone, "
        f"last heard of {duration(worker.last_seen_seconds)} ago; {left}",
        "dead_worker",
    )


def _stage_health(
    connection: Connection, stage: Stage, moment: datetime, live: list[LiveWorker], downstream: bool
) -> StageHealth:
    table = stage.table
    counts = dict.fromkeys(STATUSES, 0)
    for status, count in connection.execute(select(table.c.status, func.count()).group_by(table.c.status)):
        counts[status] = count
    pending = table.c.status == "pending"
    due = pending & (table.c.run_after <= moment)
    running_expired = (table.c.status == "running") & (table.c.lease_expires_at < moment)
    row = connection.execute(
        select(
            func.sum(case((due, 1), else_=0)),
            func.min(case((due, table.c.run_after))),
            func.sum(case((running_expired, 1), else_=0)),
            func.min(case((running_expired, table.c.lease_expires_at))),
            func.sum(
                case(((table.c.status == "done") & (table.c.finished_at >= moment - RECENT), 1), else_=0)
            ),
        ).where(table.c.status.in_(("pending", "running", "done")))
    ).one()
    pending_now, oldest_due, expired, oldest_expiry, recent = row
    pending_now = int(pending_now or 0)
    health = StageHealth(
        name=stage.name,
        description=stage.description,
        counts=counts,
        pending_now=pending_now,
        pending_later=counts["pending"] - pending_now,
        oldest_eligible_seconds=_age(moment, oldest_due),
        expired_leases=int(expired or 0),
        oldest_expiry_seconds=_age(moment, oldest_expiry),
        completed_recently=int(recent or 0),
        live_workers=sum(stage.name in worker.stages for worker in live),
    )
    if counts["dead"]:
        health.last_error = connection.execute(
            select(table.c.last_error)
            .where(table.c.status == "dead")
            .order_by(table.c.finished_at.desc())
            .limit(1)
        ).scalar()
    if downstream and stage.missing_outputs is not None:
        lacking = (table.c.status == "done") & stage.missing_outputs()
        health.missing_outputs = connection.execute(select(func.count()).where(lacking)).scalar_one()
        label = table.c.name if "name" in table.c else table.c.url if "url" in table.c else table.c.id
        health.missing_examples = [
            str(value) for value in connection.execute(select(label).where(lacking).limit(5)).scalars()
        ]
    return health


def _age(moment: datetime, then: datetime | None) -> float | None:
    return None if then is None else max(0.0, (moment - utc(then)).total_seconds())


def _problems(health: StageHealth, live: list[LiveWorker], settings: Settings) -> list[Problem]:
    name = health.name
    found: list[Problem] = []

    def say(level: Level, message: str, kind: str) -> None:
        found.append(Problem(level, name, message, kind))

    if health.paused:
        say(
            "notice",
            f"paused: {health.paused}; its items wait. Resume with `leadpipe resume {name}`",
            "paused",
        )
    if health.counts["awaiting"]:
        say(
            "notice",
            f"{health.counts['awaiting']} items await a person's selection: "
            f"`leadpipe select {name} --where …` or `--all`",
            "awaiting",
        )
    if health.pending_now and not health.paused:
        waited = duration(health.oldest_eligible_seconds or 0)
        if not live:
            say(
                "notice",
                f"{health.pending_now} items are ready (oldest for {waited}) and no worker is running: "
                "resume with `leadpipe worker`",
                "no_consumer",
            )
        elif not health.live_workers:
            serving = sorted({stage for worker in live for stage in worker.stages})
            say(
                "error",
                f"{health.pending_now} items are ready (oldest for {waited}) but none of the "
                f"{len(live)} live workers serves this stage (they serve: {', '.join(serving) or 'nothing'}): "
                f"start `leadpipe worker --stage {name}`",
                "no_consumer",
            )
        elif not health.completed_recently and (health.oldest_eligible_seconds or 0) > settings.stall_seconds:
            say(
                "error",
                f"stalled: {health.pending_now} items ready for {waited} and none completed in the last "
                f"{int(RECENT.total_seconds() // 60)} minutes although {health.live_workers} workers serve it",
                "stalled",
            )
    if health.expired_leases:
        overdue = (health.oldest_expiry_seconds or 0) > 3 * settings.heartbeat_seconds
        if overdue and live:
            say(
                "error",
                f"{health.expired_leases} items hold leases that expired "
                f"{duration(health.oldest_expiry_seconds or 0)} ago and were not taken back",
                "expired_leases",
            )
        elif not live:
            say(
                "notice",
                f"{health.expired_leases} items were left running by a worker that stopped; "
                "the next `leadpipe worker` takes them back",
                "expired_leases",
            )
    if health.counts["dead"]:
        say(
            "warning",
            f"{health.counts['dead']} items are dead (latest error: {health.last_error}); "
            f"retry them with `leadpipe requeue {name} --dead`",
            "dead_items",
        )
    if health.missing_outputs:
        say(
            "error",
            f"{health.missing_outputs} items are done but their downstream records never appeared "
            f"(e.g. {', '.join(health.missing_examples)})",
            "missing_outputs",
        )
    return found


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def unready(report: Report) -> list[Problem]:
    """What keeps the system from being ready (``/readyz``, the notifier): every error the report
    names, and each stage with ready work that no live worker serves, even when no worker runs at all
    (which the command line only notes, as `leadpipe run` works the stages itself)."""
    found = [problem for problem in report.problems if problem.level == "error"]
    for stage in report.stages:
        named = any(problem.stage == stage.name for problem in found)
        # Running items with no live worker of the stage are held by a dead one: waiting work too.
        waiting = stage.pending_now + stage.counts["running"]
        if waiting and not stage.paused and not stage.live_workers and not named:
            found.append(
                Problem(
                    "error",
                    stage.name,
                    f"no consumer: {stage.pending_now} items ready and {stage.counts['running']} left running,"
                    " and no live worker serves this stage: start `leadpipe worker --stage"
                    f" {stage.name}` or `leadpipe serve`",
                    "no_consumer",
                )
            )
    return found


ERROR_WINDOW = timedelta(minutes=15)
ERROR_BASELINE = timedelta(hours=2)


def doctor(db: Database, pipeline: Pipeline, settings: Settings) -> list[Problem]:
    """Everything `leadpipe status` names, what keeps the system from being ready, and each stage
    whose error rate jumped: the share of its items that failed in the last 15 minutes against the
    two hours before (at least five failures, and twice the share)."""
    report = check(db, pipeline, settings)
    found = list(report.problems)
    found += [problem for problem in unready(report) if problem not in found]
    with db.read() as connection:
        moment = database_now(connection)
        for stage in pipeline:
            jump = _error_jump(connection, stage, moment)
            if jump is not None:
                found.append(Problem("error", stage.name, jump, "error_rate"))
    return found


def _error_jump(connection: Connection, stage: Stage, moment: datetime) -> str | None:
    table = stage.table

    def share(start: datetime, end: datetime) -> tuple[int, int]:
        failed = connection.execute(
            select(func.count()).where(table.c.last_error_at >= start, table.c.last_error_at < end)
        ).scalar_one()
        finished = connection.execute(
            select(func.count()).where(
                table.c.status == "done", table.c.finished_at >= start, table.c.finished_at < end
            )
        ).scalar_one()
        return int(failed), int(finished)

    failed, finished = share(moment - ERROR_WINDOW, moment + timedelta(seconds=1))
    before_failed, before_finished = share(moment - ERROR_WINDOW - ERROR_BASELINE, moment - ERROR_WINDOW)
    now_share = failed / max(1, failed + finished)
    before_share = before_failed / max(1, before_failed + before_finished)
    if failed < 5 or now_share < 2 * before_share or now_share < 0.1:
        return None
    return (
        f"error rate jumped: {failed} of {failed + finished} items failed in the last 15 minutes "
        f"({now_share:.0%}, against {before_share:.0%} in the two hours before); see their reasons with "
        f"`leadpipe status` and the item's last_error, and check the sites or services it calls"
    )
