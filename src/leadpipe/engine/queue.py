"""Every statement the engine runs on a stage's table: claim, complete, fail, release, renew, reap.

All of the queue's SQL lives here, for both dialects. On PostgreSQL the clock is the database's
``now()`` (one clock for many machines); on SQLite it is this process's (one machine).
Every transition out of ``running`` is fenced: it names the lease token and ``status = 'running'``,
so a worker whose lease was taken over changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    UniqueConstraint,
    and_,
    any_,
    case,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from leadpipe.config import Settings
from leadpipe.db.connect import Database, now
from leadpipe.db.models import Timestamp
from leadpipe.engine.stage import Insert, Pipeline, Result, Stage, Update


@dataclass(frozen=True)
class Claimed:
    """A claimed batch: the lease token it shares and its records."""

    token: str
    items: list[dict[str, Any]]


@dataclass(frozen=True)
class Done:
    """An item finished with a result, to commit."""

    id: int
    token: str
    result: Result


@dataclass(frozen=True)
class Failed:
    """An item whose handler failed, to retry later or to send to ``dead``."""

    id: int
    token: str
    attempts: int
    error: str
    retryable: bool
    delay: float


@dataclass(frozen=True)
class Outcome:
    """What a commit did: how many items held their lease, retried, died, or had been taken over."""

    done: int = 0
    retried: int = 0
    dead: int = 0
    lease_lost: int = 0


def _clock(db: Database, seconds: float = 0.0) -> ColumnElement[Any]:
    if db.is_postgres:
        moment = func.now()
        return moment + literal(timedelta(seconds=seconds)) if seconds else moment
    return literal(now() + timedelta(seconds=seconds), Timestamp)


def _skip_conditions(stage: Stage, settings: Settings) -> list[ColumnElement[bool]]:
    return [rule(settings) for rule in stage.skip_when.values()]


def claim(
    db: Database, connection: Connection, stage: Stage, settings: Settings, owner: str, limit: int
) -> Claimed | None:
    """Lease up to ``limit`` pending items, best first; the attempt is counted here, at claim."""
    table = stage.table
    token = str(uuid.uuid4())
    due = [table.c.status == "pending", table.c.run_after <= _clock(db)]
    due += [not_(condition) for condition in _skip_conditions(stage, settings)]
    candidates = (
        select(table.c.id).where(*due).order_by(table.c.priority, table.c.run_after, table.c.id).limit(limit)
    )
    lease = {
        "status": "running",
        "attempts": table.c.attempts + 1,
        "lease_owner": owner,
        "lease_token": token,
        "lease_expires_at": _clock(db, stage.lease_seconds),
        "started_at": _clock(db),
        "updated_at": _clock(db),
    }
    if db.is_postgres:
        # A MATERIALIZED CTE is an optimisation fence: an IN (subquery) may be re-run per row by a
        # nested loop and, with SKIP LOCKED, lease more than ``limit`` rows.
        chosen = candidates.with_for_update(skip_locked=True).cte("chosen").prefix_with("MATERIALIZED")
        statement = update(table).where(table.c.id == chosen.c.id).values(lease)
    else:
        statement = update(table).where(table.c.id.in_(candidates.scalar_subquery())).values(lease)
    result = connection.execute(statement.returning(*table.c))
    names = list(result.keys())
    rows = [dict(zip(names, row, strict=True)) for row in result.all()]
    if not rows:
        return None
    return Claimed(token, rows)


def commit(
    db: Database,
    connection: Connection,
    pipeline: Pipeline,
    settings: Settings,
    stage: Stage,
    done: Sequence[Done],
    failed: Sequence[Failed],
) -> Outcome:
    """Commit finished and failed items of one stage, each only if its lease still holds.

    The caller's transaction holds the outputs and the status changes together: a fenced item's
    outputs are never written.
    """
    table = stage.table
    kept = _finish(db, connection, stage, done)
    for item in done:
        if item.id not in kept:
            continue
        values: dict[str, Any] = dict(item.result.values)
        if item.result.outcome is not None:
            values.pop("outcome", None)  # _finish set it, with the status
        if values:
            connection.execute(update(table).where(table.c.id == item.id).values(values))
        for output in item.result.outputs:
            linked = write(db, connection, pipeline, settings, output)
            if isinstance(output, Insert) and output.link:
                connection.execute(update(table).where(table.c.id == item.id).values({output.link: linked}))
    retried = dead = lost = 0
    for failure in failed:
        give_up = not failure.retryable or failure.attempts >= stage.max_attempts
        changes: dict[str, Any] = {
            "status": "dead" if give_up else "pending",
            "last_error": failure.error,
            "last_error_at": _clock(db),
            "updated_at": _clock(db),
            "lease_owner": None,
            "lease_token": None,
            "lease_expires_at": None,
        }
        if give_up:
            changes["finished_at"] = _clock(db)
        else:
            changes["run_after"] = _clock(db, failure.delay)
        count = connection.execute(_fenced(db, table, [failure.id], failure.token).values(changes)).rowcount
        if not count:
            lost += 1
        elif give_up:
            dead += 1
        else:
            retried += 1
    return Outcome(len(kept), retried, dead, lost + len(done) - len(kept))


def _fenced(db: Database, table: Table, ids: Iterable[int], token: str) -> Any:
    if db.is_postgres:
        # One array parameter, not an IN list of one parameter per id to render on every commit.
        chosen = table.c.id == any_(literal(list(ids), postgresql.ARRAY(table.c.id.type)))
    else:
        chosen = table.c.id.in_(list(ids))
    return update(table).where(chosen, table.c.lease_token == token, table.c.status == "running")


def _finish(db: Database, connection: Connection, stage: Stage, done: Sequence[Done]) -> set[int]:
    """Mark items done, with their outcome, in one statement per lease token and outcome (not one
    per item); returns the ids whose lease held."""
    table = stage.table
    groups: dict[tuple[str, str | None], list[int]] = {}
    for item in done:
        groups.setdefault((item.token, item.result.outcome), []).append(item.id)
    kept: set[int] = set()
    for (token, outcome), ids in groups.items():
        changes: dict[str, Any] = {
            "status": "done",
            "finished_at": _clock(db),
            "updated_at": _clock(db),
            "lease_owner": None,
            "lease_token": None,
            "lease_expires_at": None,
            "last_error": None,
        }
        if outcome is not None:
            changes["outcome"] = outcome
        statement = _fenced(db, table, ids, token).values(changes)
        kept.update(connection.execute(statement.returning(table.c.id)).scalars())
    return kept


def write(
    db: Database, connection: Connection, pipeline: Pipeline, settings: Settings, output: Insert | Update
) -> int | None:
    """Write one output of a handler: new records (idempotent on their natural key) or an update.

    Returns the id of a linked row (:attr:`Insert.link`).
    """
    if isinstance(output, Update):
        connection.execute(
            update(output.table).where(output.table.c.id == output.id).values(dict(output.values))
        )
        return None
    if not output.rows:
        return None
    consumer = pipeline.by_table.get(output.table.name)
    rows = [_initial_state(row, consumer, settings) for row in output.rows]
    dialect = postgresql if db.is_postgres else sqlite
    statement = dialect.insert(output.table).on_conflict_do_nothing()
    # Rows with different keys must go in separate executemany batches.
    by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        by_keys.setdefault(tuple(sorted(row)), []).append(row)
    for batch in by_keys.values():
        connection.execute(statement, batch)
    if output.link is None:
        return None
    (linked,) = output.rows
    key = natural_key(output.table)
    found = select(output.table.c.id).where(*(output.table.c[name] == linked[name] for name in key))
    return int(connection.execute(found).scalar_one())


def natural_key(table: Table) -> list[str]:
    """The columns of a table's natural key: its first unique constraint."""
    for constraint in sorted(table.constraints, key=lambda c: str(c.name)):
        if isinstance(constraint, UniqueConstraint):
            return [column.name for column in constraint.columns]
    raise ValueError(f"{table.name} has no natural key to link by")


def _initial_state(row: Mapping[str, Any], consumer: Stage | None, settings: Settings) -> dict[str, Any]:
    values = dict(row)
    if consumer is not None and "status" not in values:
        manual = consumer.policy(values.get("category"), settings) == "manual"
        values["status"] = "awaiting" if manual else "pending"
    return values


def release(db: Database, connection: Connection, stage: Stage, ids: Sequence[int], token: str) -> int:
    """Hand items back untouched (shutdown, pause): pending again, the attempt not counted."""
    if not ids:
        return 0
    table = stage.table
    statement = _fenced(db, table, ids, token).values(
        status="pending",
        attempts=table.c.attempts - 1,
        lease_owner=None,
        lease_token=None,
        lease_expires_at=None,
        updated_at=_clock(db),
    )
    return int(connection.execute(statement).rowcount)


def renew(db: Database, connection: Connection, stage: Stage, tokens: Sequence[str]) -> int:
    """Extend the leases of items still in flight, unless they have outrun the stage's runtime cap."""
    if not tokens:
        return 0
    table = stage.table
    statement = (
        update(table)
        .where(
            table.c.lease_token.in_(list(tokens)),
            table.c.status == "running",
            table.c.started_at > _clock(db, -stage.max_runtime_seconds),
        )
        .values(lease_expires_at=_clock(db, stage.lease_seconds))
    )
    return int(connection.execute(statement).rowcount)


def reap(db: Database, connection: Connection, stage: Stage) -> int:
    """Take back items whose lease expired (their worker died or hung); dead once out of attempts.

    Safe to run in every worker at once: the ``status``/expiry condition is re-checked on the locked
    row, so an item is reaped once.
    """
    table = stage.table
    exhausted = table.c.attempts >= stage.max_attempts
    statement = (
        update(table)
        .where(table.c.status == "running", table.c.lease_expires_at < _clock(db))
        .values(
            status=case((exhausted, "dead"), else_="pending"),
            finished_at=case((exhausted, _clock(db)), else_=None),
            last_error="lease expired (owner " + func.coalesce(table.c.lease_owner, "?") + ")",
            last_error_at=_clock(db),
            run_after=_clock(db),
            lease_owner=None,
            lease_token=None,
            lease_expires_at=None,
            updated_at=_clock(db),
        )
    )
    return int(connection.execute(statement).rowcount)


def skip_ineligible(db: Database, connection: Connection, stage: Stage, settings: Settings) -> int:
    """Record pending items that the stage's rules exclude as ``skipped``, with the rule's reason."""
    table = stage.table
    count = 0
    for reason, rule in stage.skip_when.items():
        statement = (
            update(table)
            .where(table.c.status == "pending", rule(settings))
            .values(status="skipped", outcome=reason, finished_at=_clock(db), updated_at=_clock(db))
        )
        count += int(connection.execute(statement).rowcount)
    return count


def has_due_work(
    db: Database, connection: Connection, stage: Stage, settings: Settings, within: float = 0.0
) -> bool:
    """Whether any item of the stage is pending and due now (or within ``within`` seconds), or is
    left running under an expired lease.

    An expired lease is due work too: its worker died, and the reaper is about to take it back. Without
    it a ``--until-idle`` worker started after a crash would exit before reaping, leaving the crashed
    items ``running`` for ever.
    """
    table = stage.table
    conditions = [table.c.status == "pending", table.c.run_after <= _clock(db, within)]
    conditions += [not_(condition) for condition in _skip_conditions(stage, settings)]
    expired = [table.c.status == "running", table.c.lease_expires_at < _clock(db)]
    # Two queries rather than one OR, so each is answered by its partial index (claim, lease).
    return any(
        connection.execute(select(table.c.id).where(*where).limit(1)).first() is not None
        for where in (conditions, expired)
    )


def requeue(
    db: Database,
    connection: Connection,
    stage: Stage,
    *,
    ids: Sequence[int] = (),
    dead: bool = False,
) -> int:
    """Send final items back to ``pending`` with a fresh count of attempts: the only way back."""
    table = stage.table
    chosen: list[ColumnElement[bool]] = []
    if dead:
        chosen.append(table.c.status == "dead")
    if ids:
        chosen.append(and_(table.c.id.in_(list(ids)), table.c.status.in_(("dead", "done", "skipped"))))
    if not chosen:
        return 0
    statement = (
        update(table)
        .where(or_(false(), *chosen))
        .values(
            status="pending",
            attempts=0,
            run_after=_clock(db),
            finished_at=None,
            outcome=None,
            updated_at=_clock(db),
            last_error=case(
                (table.c.last_error.is_(None), None),
                else_="requeued; last error: " + table.c.last_error,
            ),
        )
    )
    return int(connection.execute(statement).rowcount)
