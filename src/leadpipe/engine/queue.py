"""The queue's operations on a stage's table: claim, commit, release, renew, reap, skip, requeue.

Every status an item takes is set here (a new record's first one by :mod:`leadpipe.engine.bulk`), for
both dialects; the claim and the finish, which run once per batch, are written out as SQL text in
:mod:`leadpipe.engine.sql`. On PostgreSQL the clock is the database's ``now()`` (one clock for many
machines); on SQLite it is this process's (one machine). Every transition out of ``running`` is
fenced: it names the lease token and ``status = 'running'``, so a worker whose lease was taken over
changes nothing.
"""

from __future__ import annotations

import functools
import json
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    Table,
    any_,
    bindparam,
    case,
    func,
    literal,
    literal_column,
    not_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql

from leadpipe.config import Settings
from leadpipe.db.connect import Database, now
from leadpipe.db.models import NATURAL_KEYS, Timestamp
from leadpipe.engine import sql
from leadpipe.engine.bulk import insert
from leadpipe.engine.stage import Insert, Pipeline, Result, Stage, Update
from leadpipe.logs import redact


@dataclass
class Claimed:
    """A claimed batch: the lease token it shares and its records.

    The records are made from the rows when first asked for: after the claim's transaction, unless the
    stage's context reads them in it. On SQLite that transaction holds the database's one write lock,
    which the workers of other processes wait for."""

    token: str
    columns: list[str]
    rows: list[Sequence[Any]]

    @functools.cached_property
    def items(self) -> list[dict[str, Any]]:
        columns = self.columns
        return [dict(zip(columns, row, strict=True)) for row in self.rows]

    @property
    def ids(self) -> list[int]:
        return [item["id"] for item in self.items]


@dataclass(slots=True)  # not frozen: one is made per item, and a frozen dataclass is slower to make
class Done:
    """An item finished with a result, to commit."""

    id: int
    token: str
    result: Result


@dataclass(slots=True)  # not frozen: one is made per item, and a frozen dataclass is slower to make
class Failed:
    """An item whose handler failed, to retry later or to send to ``dead``."""

    id: int
    token: str
    attempts: int
    error: str
    retryable: bool
    delay: float


@dataclass(frozen=True)
class Committed:
    """What a commit did: how many items held their lease, retried, died, or had been taken over."""

    done: int = 0
    retried: int = 0
    dead: int = 0
    lease_lost: int = 0


def clock(db: Database, seconds: float = 0.0) -> ColumnElement[Any]:
    """The engine's clock in a statement, ``seconds`` from now: PostgreSQL's ``now()``, or this
    process's on SQLite. Every engine timestamp comes from here."""
    if db.is_postgres:
        moment = func.now()
        return moment + literal(timedelta(seconds=seconds)) if seconds else moment
    return literal(now() + timedelta(seconds=seconds), Timestamp)


def _clock_values(db: Database, stage: Stage) -> dict[str, Any]:
    if db.is_postgres:
        return {}
    moment = now()
    return {"now": moment, "lease_expires": moment + timedelta(seconds=stage.lease_seconds)}


def _is(column: ColumnElement[Any], *statuses: str) -> ColumnElement[bool]:
    # The statuses inline, not as bound parameters, as in the hot statements (see engine/sql.py): the
    # claim and lease indexes are partial.
    written: list[ColumnElement[Any]] = [literal_column(f"'{status}'") for status in statuses]
    return column == written[0] if len(written) == 1 else column.in_(written)


def claim(
    db: Database, connection: Connection, stage: Stage, settings: Settings, owner: str, limit: int
) -> Claimed | None:
    """Lease up to ``limit`` pending items, best first; the attempt is counted here, at claim."""
    token = str(uuid.uuid4())
    parameters = {"limit": limit, "owner": owner, "token": token, **_clock_values(db, stage)}
    if stage.one_at_a_time:
        parameters["scan"] = limit * 8
    statement = sql.statements(connection, stage, settings).claim
    rows = statement.rows(connection, parameters)
    if not rows:
        return None
    claimed = Claimed(token, statement.columns, rows)
    if stage.context is not None:
        stage.context(connection, claimed.items)
    return claimed


def commit(
    db: Database,
    connection: Connection,
    pipeline: Pipeline,
    settings: Settings,
    stage: Stage,
    done: Sequence[Done],
    failed: Sequence[Failed],
) -> Committed:
    """Commit finished and failed items of one stage, each only if its lease still holds.

    The caller's transaction holds the outputs and the status changes together: a fenced item's
    outputs are never written.
    """
    table = stage.table
    held, kept = _finish(db, connection, stage, settings, done)
    # What the batch's items write, gathered so that each table gets one statement per shape of row,
    # not one per item: every item's outputs still land in this transaction, with its status.
    fields: dict[Table, dict[int, dict[str, Any]]] = {}  # table → id → fields to set
    new_rows: dict[Table, list[Mapping[str, Any]]] = {}
    for item in done:
        if item.id not in kept:
            continue
        values = dict(_redacted(item.result.values))
        if item.result.outcome is not None:
            values.pop("outcome", None)  # _finish set it, with the status
        if values:
            fields.setdefault(table, {}).setdefault(item.id, {}).update(values)
        for output in item.result.outputs:  # after the item's own fields, which they may overrule
            if isinstance(output, Update):
                fields.setdefault(output.table, {}).setdefault(output.id, {}).update(_redacted(output.values))
            elif output.link:
                linked = write(
                    db, connection, pipeline, settings, replace(output, rows=[*map(_redacted, output.rows)])
                )
                fields.setdefault(table, {}).setdefault(item.id, {})[output.link] = linked
            elif output.refresh:  # alone: one statement may not refresh a record twice (two items' places)
                write(
                    db, connection, pipeline, settings, replace(output, rows=[*map(_redacted, output.rows)])
                )
            else:
                new_rows.setdefault(output.table, []).extend(map(_redacted, output.rows))
    for target, rows in new_rows.items():
        write(db, connection, pipeline, settings, Insert(target, rows))
    for target, by_id in fields.items():
        _update_many(connection, target, by_id)
    retried = dead = lost = 0
    for failure in failed:
        give_up = not failure.retryable or failure.attempts >= stage.max_attempts
        changes: dict[str, Any] = {
            "status": "dead" if give_up else "pending",
            "last_error": redact(failure.error),
            "last_error_at": clock(db),
            "updated_at": clock(db),
            "lease_owner": None,
            "lease_token": None,
            "lease_expires_at": None,
        }
        if give_up:
            changes["finished_at"] = clock(db)
        else:
            changes["run_after"] = clock(db, _retry_delay(failure.delay, settings))
        fence = {"ids": _ids(db, [failure.id]), "token": failure.token}
        count = connection.execute(_fenced(db, table).values(changes), fence).rowcount
        if not count:
            lost += 1
        elif give_up:
            dead += 1
        else:
            retried += 1
    return Committed(held, retried, dead, lost + len(done) - held)


def _retry_delay(seconds: float, settings: Settings) -> float:
    """A retry's wait, within bounds. A handler's delay may be a server's Retry-After: an absurd one
    would overflow the clock (stopping the worker) or park the item for good. NaN waits the longest."""
    if math.isnan(seconds):
        return settings.max_retry_after_seconds
    return min(max(seconds, 0.0), settings.max_retry_after_seconds)


def _update_many(connection: Connection, table: Table, by_id: Mapping[int, Mapping[str, Any]]) -> None:
    """Set fields on records by id: one ``executemany`` for all records that set the same fields."""
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for record_id, values in by_id.items():
        # Parameters are prefixed: SQLAlchemy keeps a column's own name for its SET clause.
        parameters = {f"new_{name}": value for name, value in values.items()}
        shapes.setdefault(tuple(values), []).append({"record_id": record_id, **parameters})
    for names, rows in shapes.items():
        statement = (
            update(table)
            .where(table.c.id == bindparam("record_id"))
            .values({name: bindparam(f"new_{name}", type_=table.c[name].type) for name in names})
        )
        connection.execute(statement, rows)


def _fenced(db: Database, table: Table) -> Any:
    """An update of the items ``:ids`` that still run under the lease ``:token``."""
    # One parameter (see _ids), not an IN list of one parameter per id, which would change the
    # statement with every number of items.
    if db.is_postgres:
        chosen = table.c.id == any_(bindparam("ids", type_=postgresql.ARRAY(table.c.id.type)))
    else:
        chosen = table.c.id.in_(
            select(literal_column("value")).select_from(func.json_each(bindparam("ids", type_=String)))
        )
    return update(table).where(
        chosen, table.c.lease_token == bindparam("token", type_=String), _is(table.c.status, "running")
    )


def _ids(db: Database, ids: Sequence[int]) -> Any:
    """Item ids as :func:`_fenced` takes them: an array on PostgreSQL, a JSON array on SQLite."""
    return list(ids) if db.is_postgres else json.dumps(list(ids))


def _redacted(values: Mapping[str, Any]) -> Mapping[str, Any]:
    """``values`` with its ``problem`` redacted: a reason may quote a URL with its password (a proxy's)."""
    problem = values.get("problem")
    return {**values, "problem": redact(problem)} if isinstance(problem, str) else values


def _finish(
    db: Database, connection: Connection, stage: Stage, settings: Settings, done: Sequence[Done]
) -> tuple[int, set[int]]:
    """Mark items done, with their outcome, in one statement per lease token and outcome (not one
    per item). Returns how many held their lease and, of those with fields or outputs still to
    write, which.

    Items with nothing more to write are only counted: RETURNING their ids would cost more than the
    update itself saves."""
    groups: dict[tuple[str, str | None, bool], list[int]] = {}
    for item in done:
        more = bool(item.result.values or item.result.outputs)
        groups.setdefault((item.token, item.result.outcome, more), []).append(item.id)
    hot = sql.statements(connection, stage, settings)
    clock = _clock_values(db, stage)
    held = 0
    kept: set[int] = set()
    for (token, outcome, more), ids in groups.items():
        parameters = {"ids": _ids(db, ids), "token": token, "new_outcome": outcome, **clock}
        if more:
            found = [row[0] for row in hot.finish_returning.rows(connection, parameters)]
            kept.update(found)
            held += len(found)
        else:
            held += hot.finish.count(connection, parameters)
    return held, kept


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
    insert(db, connection, pipeline, settings, output.table, output.rows, refresh=output.refresh)
    if output.link is None:
        return None
    (linked,) = output.rows
    key = NATURAL_KEYS[output.table.name]
    found = select(output.table.c.id).where(*(output.table.c[name] == linked[name] for name in key))
    return int(connection.execute(found).scalar_one())


def release(db: Database, connection: Connection, stage: Stage, ids: Sequence[int], token: str) -> int:
    """Hand items back untouched (shutdown, pause): pending again, the attempt not counted."""
    if not ids:
        return 0
    table = stage.table
    statement = _fenced(db, table).values(
        status="pending",
        attempts=table.c.attempts - 1,
        lease_owner=None,
        lease_token=None,
        lease_expires_at=None,
        updated_at=clock(db),
    )
    return int(connection.execute(statement, {"ids": _ids(db, ids), "token": token}).rowcount)


def renew(db: Database, connection: Connection, stage: Stage, tokens: Sequence[str]) -> int:
    """Extend the leases of items still in flight, unless they have outrun the stage's runtime cap."""
    if not tokens:
        return 0
    table = stage.table
    statement = (
        update(table)
        .where(
            table.c.lease_token.in_(list(tokens)),
            _is(table.c.status, "running"),
            table.c.started_at > clock(db, -stage.max_runtime_seconds),
        )
        .values(lease_expires_at=clock(db, stage.lease_seconds))
    )
    return int(connection.execute(statement).rowcount)


def expire_leases(db: Database, connection: Connection, stage: Stage, owners: Sequence[str]) -> int:
    """End now the leases held by ``owners`` (processes known to be gone), for :func:`reap` to take back."""
    table = stage.table
    statement = (
        update(table)
        .where(table.c.status == "running", table.c.lease_owner.in_(list(owners)))
        .values(lease_expires_at=clock(db, -1))
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
        .where(_is(table.c.status, "running"), table.c.lease_expires_at < clock(db))
        .values(
            status=case((exhausted, "dead"), else_="pending"),
            finished_at=case((exhausted, clock(db)), else_=None),
            last_error="lease expired (owner " + func.coalesce(table.c.lease_owner, "?") + ")",
            last_error_at=clock(db),
            run_after=clock(db),
            lease_owner=None,
            lease_token=None,
            lease_expires_at=None,
            updated_at=clock(db),
        )
    )
    return int(connection.execute(statement).rowcount)


def skip_ineligible(db: Database, connection: Connection, stage: Stage, settings: Settings) -> int:
    """Record pending items that the stage's rules exclude as ``skipped``, with the rule's reason."""
    return sum(
        skip(db, connection, stage.table, rule(settings), reason) for reason, rule in stage.skip_when.items()
    )


def skip(
    db: Database,
    connection: Connection,
    table: Table,
    chosen: ColumnElement[bool],
    reason: str,
    *,
    statuses: Sequence[str] = ("pending",),
    values: Mapping[str, Any] | None = None,
) -> int:
    """Take the chosen items that are in one of ``statuses`` out of the queue: ``skipped``, final, with
    ``reason`` as their outcome (a stage's rule, a person's rejection). ``values`` are set too (a
    rejection's ``curation``)."""
    statement = (
        update(table)
        .where(chosen, _is(table.c.status, *statuses))
        .values(
            status="skipped", outcome=reason, finished_at=clock(db), updated_at=clock(db), **(values or {})
        )
    )
    return int(connection.execute(statement).rowcount)


def hold(
    db: Database,
    connection: Connection,
    table: Table,
    chosen: ColumnElement[bool],
    *,
    values: Mapping[str, Any] | None = None,
) -> int:
    """Send the chosen items that are ``pending`` (not yet started) back to ``awaiting`` a person.
    ``values`` are set too (an undone selection's ``curation``)."""
    statement = (
        update(table)
        .where(chosen, table.c.status == "pending")
        .values(status="awaiting", updated_at=clock(db), **(values or {}))
    )
    return int(connection.execute(statement).rowcount)


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
    conditions = [_is(table.c.status, "pending"), table.c.run_after <= clock(db, within)]
    conditions += [not_(rule(settings)) for rule in stage.skip_when.values()]
    expired = [_is(table.c.status, "running"), table.c.lease_expires_at < clock(db)]
    # Two queries rather than one OR, so each is answered by its partial index (claim, lease).
    return any(
        connection.execute(select(table.c.id).where(*where).limit(1)).first() is not None
        for where in (conditions, expired)
    )


FINAL = ("done", "dead", "skipped")


def requeue(
    db: Database,
    connection: Connection,
    table: Table,
    chosen: ColumnElement[bool],
    *,
    statuses: Sequence[str] = FINAL,
    values: Mapping[str, Any] | None = None,
) -> int:
    """Send the chosen items that are in one of ``statuses`` back to ``pending``, due now, with a fresh
    count of attempts: the only way back to the queue (``requeue``, ``select``, an input's refresh).
    ``values`` are set too (a selection's ``curation``)."""
    statement = (
        update(table)
        .where(chosen, table.c.status.in_(list(statuses)))
        .values(
            status="pending",
            attempts=0,
            run_after=clock(db),
            finished_at=None,
            outcome=None,
            updated_at=clock(db),
            last_error=case(
                (table.c.last_error.is_(None), None),
                else_="requeued; last error: " + table.c.last_error,
            ),
            **(values or {}),
        )
    )
    return int(connection.execute(statement).rowcount)
