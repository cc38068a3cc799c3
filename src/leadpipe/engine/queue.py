"""Every statement the engine runs on a stage's table: claim, complete, fail, release, renew, reap.

All of the queue's SQL lives here, for both dialects. On PostgreSQL the clock is the database's
``now()`` (one clock for many machines); on SQLite it is this process's (one machine).
Every transition out of ``running`` is fenced: it names the lease token and ``status = 'running'``,
so a worker whose lease was taken over changes nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    BindParameter,
    Column,
    ColumnElement,
    Connection,
    DateTime,
    Integer,
    String,
    Table,
    UniqueConstraint,
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
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from leadpipe.config import Settings
from leadpipe.db.connect import Database, driver, now
from leadpipe.db.models import Timestamp
from leadpipe.engine.stage import Insert, Pipeline, Result, Stage, Update

T = TypeVar("T")


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


@dataclass(slots=True)  # not frozen: a frozen dataclass is three times slower to make, per item
class Done:
    """An item finished with a result, to commit."""

    id: int
    token: str
    result: Result


@dataclass(slots=True)  # not frozen: a frozen dataclass is three times slower to make, per item
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


def _given(name: str, type_: Any) -> BindParameter[Any]:
    """A parameter given at each run. Its placeholder value lets :class:`_Compiled` render the rest of
    the statement (the IN lists of a stage's rules) once, at compile time."""
    return bindparam(name, None, type_=type_)


def clock(db: Database, seconds: float = 0.0) -> ColumnElement[Any]:
    """The engine's clock in a statement, ``seconds`` from now: PostgreSQL's ``now()``, or this
    process's on SQLite. Every engine timestamp comes from here."""
    if db.is_postgres:
        moment = func.now()
        return moment + literal(timedelta(seconds=seconds)) if seconds else moment
    return literal(now() + timedelta(seconds=seconds), Timestamp)


def _clock_parameter(db: Database, name: str, seconds: float = 0.0) -> ColumnElement[Any]:
    """The clock in a statement built once and run many times: PostgreSQL's ``now()``, or on SQLite a
    parameter that :func:`_clock_values` sets from this process's clock at each run."""
    if db.is_postgres:
        return clock(db, seconds)
    return _given(name, Timestamp)


def _clock_values(db: Database, stage: Stage) -> dict[str, Any]:
    if db.is_postgres:
        return {}
    moment = now()
    return {"now": moment, "lease_expires": moment + timedelta(seconds=stage.lease_seconds)}


def _is(column: ColumnElement[Any], status: str) -> ColumnElement[bool]:
    # The status inline, not as a bound parameter: the claim and lease indexes are partial
    # (WHERE status = 'pending'), and with a parameter SQLite re-plans the statement on every run,
    # and a generic plan of a statement PostgreSQL has prepared cannot use them.
    return column == literal_column(f"'{status}'")


def _skip_conditions(stage: Stage, settings: Settings) -> list[ColumnElement[bool]]:
    return [rule(settings) for rule in stage.skip_when.values()]


@dataclass
class _Compiled:
    """A statement compiled once and run on the driver's own cursor.

    The claim and the finish run once per batch: SQLAlchemy's execution of a statement, even a
    compiled and cached one, costs as much Python as SQLite takes to run it on a batch of 100.
    """

    sql: str
    order: tuple[str, ...] | None  # the parameters' order, for a positional driver (sqlite3)
    constants: dict[str, Any]  # every parameter's value: the statement's own, or a placeholder
    converters: dict[str, Callable[[Any], Any]]  # for parameters the driver cannot take as they are
    returning: list[Column[Any]]
    dialect: Dialect
    readers: list[Callable[[Any], Any] | None] | None = None  # per returned column; from the first rows

    @classmethod
    def of(cls, statement: Any, connection: Connection, returning: Sequence[Column[Any]] = ()) -> _Compiled:
        """Compile ``statement``, whose every parameter given at run time is :func:`_given`."""
        dialect = connection.dialect
        compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        converters: dict[str, Callable[[Any], Any]] = {}
        for name, bind in compiled.binds.items():
            convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if convert is not None:
                converters[name] = convert
        constants = {
            name: value if value is None or name not in converters else converters[name](value)
            for name, value in compiled.construct_params().items()
        }
        order = tuple(compiled.positiontup) if compiled.positional else None
        return cls(compiled.string, order, constants, converters, list(returning), dialect)

    def rows(self, connection: Connection, parameters: Mapping[str, Any]) -> list[Sequence[Any]]:
        """Execute with ``parameters``; the rows it returns (values in :attr:`columns` order)."""
        return self._execute(connection, parameters, self._fetch)

    @property
    def columns(self) -> list[str]:
        return [column.name for column in self.returning]

    def count(self, connection: Connection, parameters: Mapping[str, Any]) -> int:
        """Execute with ``parameters``; how many records it changed."""
        return int(self._execute(connection, parameters, lambda cursor: cursor.rowcount))

    def _fetch(self, cursor: Any) -> list[Sequence[Any]]:
        found = cursor.fetchall()
        if self.readers is None:  # the driver's type of each column tells SQLAlchemy how to read it
            self.readers = [
                column.type.dialect_impl(self.dialect).result_processor(self.dialect, described[1])
                for column, described in zip(self.returning, cursor.description, strict=True)
            ]
        readers = self.readers
        if any(readers):
            found = [
                [value if read is None else read(value) for read, value in zip(readers, row, strict=True)]
                for row in found
            ]
        return list(found)

    def _execute(self, connection: Connection, parameters: Mapping[str, Any], read: Callable[[Any], T]) -> T:
        values = dict(self.constants)
        for name, value in parameters.items():
            convert = self.converters.get(name)
            values[name] = value if convert is None or value is None else convert(value)
        with driver(connection, self.sql) as raw:
            cursor = raw.cursor()
            try:
                cursor.execute(
                    self.sql, values if self.order is None else [values[name] for name in self.order]
                )
                return read(cursor)
            finally:
                cursor.close()


@dataclass(frozen=True)
class _Hot:
    """A stage's claim and finish statements, built once: building a Core statement (and its key in
    SQLAlchemy's cache of compiled statements) costs about as much as running it on a batch."""

    claim: _Compiled
    finish: _Compiled
    finish_returning: _Compiled  # the same, returning the ids whose lease held


# Keyed by identity: a stage and its settings are built once per process and never change. Each
# entry holds both, so their ids cannot be reused while it lives; tests make new stages, hence the bound.
_hot: dict[tuple[int, int, bool], tuple[Stage, Settings, _Hot]] = {}


def _statements(db: Database, connection: Connection, stage: Stage, settings: Settings) -> _Hot:
    key = (id(stage), id(settings), db.is_postgres)
    found = _hot.get(key)
    if found is not None:
        return found[2]
    if len(_hot) >= 64:
        _hot.clear()
    finish = _finish_statement(db, stage)
    table = stage.table
    if stage.reads is None:
        returned = [column for column in table.c if column.name not in _BOOKKEEPING]
    else:
        returned = [table.c[name] for name in dict.fromkeys(("id", "attempts", *stage.reads))]
    built = _Hot(
        _claim(db, connection, stage, settings, returned),
        _Compiled.of(finish, connection),
        _Compiled.of(finish.returning(table.c.id), connection, [table.c.id]),
    )
    _hot[key] = (stage, settings, built)
    return built


def _claim(
    db: Database, connection: Connection, stage: Stage, settings: Settings, returned: list[Column[Any]]
) -> _Compiled:
    compiled = _Compiled.of(_claim_statement(db, stage, settings).returning(*returned), connection, returned)
    if db.is_postgres:
        return compiled
    # Without statistics (leadpipe never runs ANALYZE), SQLite would seek the status index and sort
    # every pending item at each claim. The claim names its partial index: SQLite refuses the
    # statement rather than claim any other way.
    name = stage.table.name
    scan = f"FROM {name} \nWHERE {name}.status = 'pending'"
    if compiled.sql.count(scan) != 1:
        raise RuntimeError(f"cannot name the index of {name}'s claim in: {compiled.sql}")
    return dataclasses.replace(
        compiled,
        sql=compiled.sql.replace(
            scan, f"FROM {name} INDEXED BY ix_{name}_claim \nWHERE {name}.status = 'pending'"
        ),
    )


# The engine's own record keeping, which a handler has no use for: a claim does not return it (on
# SQLite, reading its seven timestamps back into datetimes took a third of the claim's time).
_BOOKKEEPING = frozenset(
    {
        "run_after",
        "lease_owner",
        "lease_token",
        "lease_expires_at",
        "started_at",
        "finished_at",
        "last_error_at",
        "created_at",
        "updated_at",
    }
)


def _claim_statement(db: Database, stage: Stage, settings: Settings) -> Any:
    """Lease ``:limit`` due items, best first, to ``:owner`` under ``:token``."""
    table = stage.table
    clock = _clock_parameter(db, "now")
    due = [_is(table.c.status, "pending"), table.c.run_after <= clock]
    due += [not_(condition) for condition in _skip_conditions(stage, settings)]
    order = (table.c.priority, table.c.run_after, table.c.id)
    group = table.c[stage.one_at_a_time] if stage.one_at_a_time else None
    if group is not None:
        busy = table.alias("busy")
        due.append(
            ~select(busy.c.id).where(_is(busy.c.status, "running"), busy.c[group.name] == group).exists()
        )
    candidates = (
        select(table.c.id, *([group, *order[:2]] if group is not None else [])).where(*due).order_by(*order)
    )
    # With one item per group, look further ahead, then keep each group's best.
    candidates = candidates.limit(_given("scan" if group is not None else "limit", Integer))
    lease = {
        "status": "running",
        "attempts": table.c.attempts + 1,
        "lease_owner": _given("owner", String),
        "lease_token": _given("token", String),
        "lease_expires_at": _clock_parameter(db, "lease_expires", stage.lease_seconds),
        "started_at": clock,
        "updated_at": clock,
    }
    chosen: Any
    if db.is_postgres:
        # A MATERIALIZED CTE is an optimisation fence: an IN (subquery) may be re-run per row by a
        # nested loop and, with SKIP LOCKED, lease more than ``limit`` rows.
        chosen = candidates.with_for_update(skip_locked=True).cte("chosen").prefix_with("MATERIALIZED")
    else:
        chosen = candidates.subquery("chosen")
    if group is None:
        picked: Any = chosen.c.id if db.is_postgres else candidates.scalar_subquery()
    else:
        rank = func.row_number().over(
            partition_by=chosen.c[group.name], order_by=(chosen.c.priority, chosen.c.run_after, chosen.c.id)
        )
        ranked = select(chosen.c.id, chosen.c.priority, chosen.c.run_after, rank.label("rank")).subquery(
            "ranked"
        )
        best = (
            select(ranked.c.id)
            .where(ranked.c.rank == 1)
            .order_by(ranked.c.priority, ranked.c.run_after, ranked.c.id)
        )
        picked = best.limit(_given("limit", Integer)).scalar_subquery()
    if group is None and db.is_postgres:
        statement = update(table).where(table.c.id == picked).values(lease)
    else:
        statement = update(table).where(table.c.id.in_(picked)).values(lease)
    return statement


def claim(
    db: Database, connection: Connection, stage: Stage, settings: Settings, owner: str, limit: int
) -> Claimed | None:
    """Lease up to ``limit`` pending items, best first; the attempt is counted here, at claim."""
    token = str(uuid.uuid4())
    parameters = {"limit": limit, "owner": owner, "token": token, **_clock_values(db, stage)}
    if stage.one_at_a_time:
        parameters["scan"] = limit * 8
    statement = _statements(db, connection, stage, settings).claim
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
) -> Outcome:
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
        values: dict[str, Any] = dict(item.result.values)
        if item.result.outcome is not None:
            values.pop("outcome", None)  # _finish set it, with the status
        if values:
            fields.setdefault(table, {}).setdefault(item.id, {}).update(values)
        for output in item.result.outputs:  # after the item's own fields, which they may overrule
            if isinstance(output, Update):
                fields.setdefault(output.table, {}).setdefault(output.id, {}).update(output.values)
            elif output.link:
                linked = write(db, connection, pipeline, settings, output)
                fields.setdefault(table, {}).setdefault(item.id, {})[output.link] = linked
            else:
                new_rows.setdefault(output.table, []).extend(output.rows)
    for target, rows in new_rows.items():
        write(db, connection, pipeline, settings, Insert(target, rows))
    for target, by_id in fields.items():
        _update_many(connection, target, by_id)
    retried = dead = lost = 0
    for failure in failed:
        give_up = not failure.retryable or failure.attempts >= stage.max_attempts
        changes: dict[str, Any] = {
            "status": "dead" if give_up else "pending",
            "last_error": failure.error,
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
    return Outcome(held, retried, dead, lost + len(done) - held)


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
        chosen = table.c.id == any_(_given("ids", postgresql.ARRAY(table.c.id.type)))
    else:
        chosen = table.c.id.in_(
            select(literal_column("value")).select_from(func.json_each(_given("ids", String)))
        )
    return update(table).where(
        chosen, table.c.lease_token == _given("token", String), _is(table.c.status, "running")
    )


def _ids(db: Database, ids: Sequence[int]) -> Any:
    """Item ids as :func:`_fenced` takes them: an array on PostgreSQL, a JSON array on SQLite."""
    return list(ids) if db.is_postgres else json.dumps(list(ids))


def _finish_statement(db: Database, stage: Stage) -> Any:
    """Mark the items ``:ids`` of lease ``:token`` done, with ``:new_outcome`` unless it is null."""
    table = stage.table
    clock = _clock_parameter(db, "now")
    return _fenced(db, table).values(
        status="done",
        outcome=func.coalesce(_given("new_outcome", String), table.c.outcome),
        finished_at=clock,
        updated_at=clock,
        lease_owner=None,
        lease_token=None,
        lease_expires_at=None,
        last_error=None,
    )


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
    hot = _statements(db, connection, stage, settings)
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


BULK_ROWS = 1000  # from this many new records on, an Insert takes the bulk path (COPY on PostgreSQL)
BULK_SLICE = 25_000  # records converted and sent at a time on that path


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
    insert(db, connection, pipeline, settings, output.table, output.rows)
    if output.link is None:
        return None
    (linked,) = output.rows
    key = natural_key(output.table)
    found = select(output.table.c.id).where(*(output.table.c[name] == linked[name] for name in key))
    return int(connection.execute(found).scalar_one())


def insert(
    db: Database,
    connection: Connection,
    pipeline: Pipeline,
    settings: Settings,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
) -> int:
    """Add records, skipping those whose natural key exists: the one way in for every new record.

    A record's status is its consumer stage's curation policy for it (``awaiting`` where a person
    decides). Returns how many records were new.
    """
    consumer = pipeline.by_table.get(table.name)
    status = None if consumer is None else _initial_status(consumer, settings)
    added = 0
    # Rows with different keys must go in separate batches.
    by_keys: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        by_keys.setdefault(tuple(row), []).append(row)
    for keys, batch in by_keys.items():
        if len(batch) >= BULK_ROWS:
            # In slices: the converted copy of a commit's rows (hundreds of thousands, from a batch of
            # large sitemaps) would otherwise double what the worker holds.
            for start in range(0, len(batch), BULK_SLICE):
                part = batch[start : start + BULK_SLICE]
                columns = dict(zip(keys, zip(*(row.values() for row in part), strict=True), strict=True))
                if status is not None and "status" not in columns:
                    columns["status"] = tuple(map(status, columns.get("category", (None,) * len(part))))
                added += _bulk_insert(db, connection, table, columns)
        else:
            values = [dict(row) for row in batch]
            if status is not None and "status" not in keys:
                for row in values:
                    row["status"] = status(row.get("category"))
            if db.is_postgres:  # psycopg's executemany reports no count: count the ids returned
                statement = postgresql.insert(table).on_conflict_do_nothing().returning(table.c.id)
                added += len(connection.execute(statement, values).all())
            else:
                added += connection.execute(sqlite.insert(table).on_conflict_do_nothing(), values).rowcount
    return added


def _initial_status(consumer: Stage, settings: Settings) -> Callable[[str | None], str]:
    """A new record's status by its category, as its consumer's curation policy says (asked once a
    category)."""

    @functools.cache
    def status(category: str | None) -> str:
        return "awaiting" if consumer.policy(category, settings) == "manual" else "pending"

    return status


def _bulk_insert(
    db: Database, connection: Connection, table: Table, columns: Mapping[str, Sequence[Any]]
) -> int:
    """Insert many new records, given column by column, skipping those whose natural key exists;
    returns how many were new.

    A column with the same value in every record (a sitemap's pages share their domain, their sitemap
    and most often their category) is sent once, as a parameter; the rest row by row. SQLite: one
    ``INSERT … SELECT`` from ``json_each`` over those rows as a JSON array. PostgreSQL: ``COPY`` into a
    temporary table, then one ``INSERT … SELECT … ON CONFLICT DO NOTHING``. Both are several times
    faster than row-by-row inserts.
    Values are converted here as SQLAlchemy would (JSON serialised, dates formatted for SQLite).
    """
    dialect = connection.dialect
    # Compared as the driver gets them: {"a": 1} and {"a": True} are equal in Python, not in JSON.
    sent = {name: _converted(table.c[name].type, dialect, values) for name, values in columns.items()}
    count = len(next(iter(sent.values())))
    shared: dict[str, Any] = {}  # column → the value every record has
    varying: dict[str, Sequence[Any]] = {}
    for name, values in sent.items():
        if values.count(values[0]) == count:  # in C: a pass over the column
            shared[name] = values[0]
        else:
            varying[name] = values
    if not varying:  # one record, or the same many times: still sent as a row
        name = next(iter(shared))
        varying[name] = (shared.pop(name),)
    if not db.is_postgres:
        # SQLite evaluates a CURRENT_TIMESTAMP default for each row, which took a quarter of the
        # insert into pages: the columns stamped by default get this moment, once.
        (moment,) = _converted(Timestamp, dialect, (now(),))
        for column in table.c:
            if (
                column.name not in columns
                and column.server_default is not None
                and isinstance(column.type, DateTime)
            ):
                shared[column.name] = moment
    rows = list(zip(*varying.values(), strict=True))
    # In natural-key order, the unique index grows at fewer places (a quarter faster on SQLite alone).
    unique = natural_key(table)
    positions = {name: position for position, name in enumerate(varying)}
    sorting = [positions[name] for name in unique if name in positions]
    if sorting and all(name in columns and not table.c[name].nullable for name in unique):
        rows.sort(key=itemgetter(*sorting))
    names = ", ".join([*varying, *shared])
    if not db.is_postgres:
        # The rows as one JSON parameter: a single statement, which runs without the GIL. Row by row,
        # each row would wait for the GIL that the event loop's thread holds while it parses.
        fields = [f"value ->> {position}" for position in range(len(varying))]
        fields += [f"?{position}" for position in range(2, len(shared) + 2)]
        return connection.exec_driver_sql(
            f"INSERT INTO {table.name} ({names}) SELECT {', '.join(fields)} FROM json_each(?1) WHERE true"
            " ON CONFLICT DO NOTHING",
            (json.dumps(rows, allow_nan=False), *shared.values()),
        ).rowcount
    staging = f"leadpipe_new_{table.name}"
    copied = ", ".join(varying)
    connection.exec_driver_sql(
        f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS SELECT {copied} FROM {table.name} WITH NO DATA"
    )
    copy = f"COPY {staging} ({copied}) FROM STDIN"
    with driver(connection, copy) as raw, raw.cursor() as cursor, cursor.copy(copy) as rows_in:
        for row in rows:
            rows_in.write_row(row)
    given = [
        f"CAST(%({name})s AS {_cast_type(table.c[name].type).compile(dialect=dialect)})" for name in shared
    ]
    added = connection.exec_driver_sql(
        f"INSERT INTO {table.name} ({names}) SELECT {', '.join([copied, *given])} FROM {staging}"
        " ON CONFLICT DO NOTHING",
        shared,
    ).rowcount
    connection.exec_driver_sql(f"DROP TABLE {staging}")
    return added


def _converted(column_type: Any, dialect: Dialect, values: Sequence[Any]) -> Sequence[Any]:
    """``values`` of ``column_type`` as SQLAlchemy sends them to the driver."""
    if isinstance(column_type, JSON):
        return tuple(map(_json_text, values))
    convert = column_type.dialect_impl(dialect).bind_processor(dialect)
    if convert is None:
        return values
    return tuple(None if value is None else convert(value) for value in values)


def _cast_type(column_type: Any) -> Any:
    """The type a value sent once is cast to on PostgreSQL. Without a length: an explicit cast to
    VARCHAR(n) would cut a longer value short, where storing it in the column refuses it."""
    return String() if isinstance(column_type, String) and column_type.length else column_type


def _json_text(value: Any) -> str:
    # As SQLAlchemy's JSON type writes it, None included: JSON null, not SQL NULL.
    return "null" if value is None else json.dumps(value)


def natural_key(table: Table) -> list[str]:
    """The columns of a table's natural key: its first unique constraint."""
    for constraint in sorted(table.constraints, key=lambda c: str(c.name)):
        if isinstance(constraint, UniqueConstraint):
            return [column.name for column in constraint.columns]
    raise ValueError(f"{table.name} has no natural key to link by")


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
    table = stage.table
    count = 0
    for reason, rule in stage.skip_when.items():
        statement = (
            update(table)
            .where(_is(table.c.status, "pending"), rule(settings))
            .values(status="skipped", outcome=reason, finished_at=clock(db), updated_at=clock(db))
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
    conditions = [_is(table.c.status, "pending"), table.c.run_after <= clock(db, within)]
    conditions += [not_(condition) for condition in _skip_conditions(stage, settings)]
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
