"""Bulk writes: new records added many at a time, skipping those whose natural key exists.

Every new record, a handler's output or an input's line, enters through :func:`insert`, which gives it
the status its consuming stage's curation policy says. Thousands of records (a sitemap's pages) are
sent column by column: a column with one value in every record goes once, as a parameter; the rest as
one JSON array that SQLite reads with ``json_each``, or by ``COPY`` into a temporary table on
PostgreSQL, then one ``INSERT … SELECT … ON CONFLICT DO NOTHING``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, DateTime, Table
from sqlalchemy.dialects import postgresql, sqlite

from leadpipe.config import Settings
from leadpipe.db.connect import Database, driver, now
from leadpipe.db.models import NATURAL_KEYS, Timestamp
from leadpipe.engine.cursor import driver_values, sql_type
from leadpipe.engine.stage import Pipeline, Stage

BULK_ROWS = 1000  # from this many new records on, an Insert takes the bulk path (COPY on PostgreSQL)
BULK_SLICE = 25_000  # records converted and sent at a time on that path


def insert(
    db: Database,
    connection: Connection,
    pipeline: Pipeline,
    settings: Settings,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    refresh: Sequence[str] = (),
) -> int:
    """Add records, skipping those whose natural key exists: the one way in for every new record.

    A record's status is its consumer stage's curation policy for it (``awaiting`` where a person
    decides). A record whose natural key exists gets the columns named in ``refresh`` anew, and keeps
    everything else (its status and curation above all); no two of such ``rows`` may share a key.
    Returns how many records were new, or with ``refresh``, new or refreshed.
    """
    if refresh and {"status", "curation"} & set(refresh):
        raise ValueError("an insert never refreshes a record's status or curation")
    consumer = pipeline.by_table.get(table.name)
    status = None if consumer is None else _initial_status(consumer, settings)
    added = 0
    # Rows with different keys must go in separate batches.
    by_keys: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        by_keys.setdefault(tuple(row), []).append(row)
    for keys, batch in by_keys.items():
        if len(batch) >= BULK_ROWS and not refresh:
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
            dialect = postgresql if db.is_postgres else sqlite
            statement = dialect.insert(table)
            if refresh:
                anew = {name: statement.excluded[name] for name in refresh}
                statement = statement.on_conflict_do_update(
                    index_elements=NATURAL_KEYS[table.name], set_=anew
                )
            else:
                statement = statement.on_conflict_do_nothing()
            if db.is_postgres:  # psycopg's executemany reports no count: count the ids returned
                added += len(connection.execute(statement.returning(table.c.id), values).all())
            else:
                added += connection.execute(statement, values).rowcount
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
    temporary table, then one ``INSERT … SELECT … ON CONFLICT DO NOTHING``: one statement for them
    all, where row-by-row inserts would make one round of the driver per record.
    Values are converted here as SQLAlchemy would (JSON serialised, dates formatted for SQLite).
    """
    dialect = connection.dialect
    # Compared as the driver gets them: {"a": 1} and {"a": True} are equal in Python, not in JSON.
    sent = {name: driver_values(table.c[name].type, dialect, values) for name, values in columns.items()}
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
        # SQLite would evaluate a CURRENT_TIMESTAMP default for each row: the columns stamped by
        # default get this moment, sent once.
        (moment,) = driver_values(Timestamp, dialect, (now(),))
        for column in table.c:
            if (
                column.name not in columns
                and column.server_default is not None
                and isinstance(column.type, DateTime)
            ):
                shared[column.name] = moment
    rows = list(zip(*varying.values(), strict=True))
    # In natural-key order, the unique index grows at fewer places.
    unique = NATURAL_KEYS.get(table.name, ())
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
    given = [f"CAST(%({name})s AS {sql_type(table.c[name].type, dialect)})" for name in shared]
    added = connection.exec_driver_sql(
        f"INSERT INTO {table.name} ({names}) SELECT {', '.join([copied, *given])} FROM {staging}"
        " ON CONFLICT DO NOTHING",
        shared,
    ).rowcount
    connection.exec_driver_sql(f"DROP TABLE {staging}")
    return added
