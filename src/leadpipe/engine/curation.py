"""What a person decides: select, reject or unselect items of a stage.

Curation is kept apart from the engine's state: the ``curation`` column is written here and only here.
Where a decision moves an item in or out of the queue, the queue's own operations do it
(:func:`~leadpipe.engine.queue.requeue`, :func:`~leadpipe.engine.queue.skip`,
:func:`~leadpipe.engine.queue.hold`). Pausing a stage is :mod:`leadpipe.engine.pause`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ColumnElement, Connection, DateTime, Float, Integer, Table, and_, true, update

from leadpipe.db.connect import Database
from leadpipe.engine import queue
from leadpipe.engine.stage import Stage


class CurationError(ValueError):
    """A selection that cannot be understood (an unknown column, no items named)."""


def where_clause(
    table: Table, ids: Sequence[int], where: Sequence[str], everything: bool
) -> ColumnElement[bool]:
    """Items named by id, by ``column=value`` / ``column!=value`` filters (ANDed), or all of them."""
    if not ids and not where and not everything:
        raise CurationError("name the items: --id N, --where column=value, or --all")
    conditions: list[ColumnElement[bool]] = []
    if ids:
        conditions.append(table.c.id.in_(list(ids)))
    for text in where:
        negate = "!=" in text
        name, sep, raw = text.partition("!=" if negate else "=")
        name = name.strip()
        if not sep or name not in table.c:
            columns = ", ".join(column.name for column in table.c)
            raise CurationError(f"--where takes column=value on {table.name} ({columns}); got {text!r}")
        column = table.c[name]
        value: Any = raw.strip()
        if value in ("null", "NULL"):
            conditions.append(column.is_not(None) if negate else column.is_(None))
            continue
        value = _typed(name, column.type, value)
        conditions.append(column != value if negate else column == value)
    return and_(true(), *conditions)


def _typed(name: str, kind: Any, value: str) -> Any:
    """A filter's value as its column holds it, or a CurationError saying what the column takes: a
    database would otherwise refuse the comparison itself (PostgreSQL does; SQLite compares anyway)."""
    if isinstance(kind, JSON):
        raise CurationError(f"{name} holds JSON: it cannot be filtered by a value")
    converters: list[tuple[type[Any], Any, str]] = [
        (Integer, int, "a whole number"),
        (Float, float, "a number"),
        (DateTime, datetime.fromisoformat, "a moment such as 2026-12-07T10:00:00Z"),
    ]
    for column_type, convert, said in converters:
        if isinstance(kind, column_type):
            try:
                return convert(value)
            except ValueError:
                raise CurationError(f"{name} is {said}; got {value!r}") from None
    return value


@dataclass(frozen=True)
class Changed:
    """How many items a decision moved, and how many it only recorded."""

    queued: int = 0
    taken_back: int = 0
    recorded: int = 0

    def __str__(self) -> str:
        parts = []
        if self.queued:
            parts.append(f"{self.queued} queued")
        if self.taken_back:
            parts.append(f"{self.taken_back} taken back")
        if self.recorded:
            parts.append(f"{self.recorded} recorded without moving (already queued or finished)")
        return ", ".join(parts) or "no item matched"


def _stamp(connection: Connection, table: Table, chosen: ColumnElement[bool], curation: str) -> int:
    statement = update(table).where(chosen).values(curation=curation)
    return int(connection.execute(statement).rowcount)


def select_items(
    db: Database, connection: Connection, stage: Stage, chosen: ColumnElement[bool], refresh: bool
) -> Changed:
    """Queue the chosen items once. Finished ones (done, dead) move only with ``refresh``."""
    movable = ["awaiting", "skipped", *(("done", "dead") if refresh else ())]
    queued = queue.requeue(
        db, connection, stage.table, chosen, statuses=movable, values={"curation": "selected"}
    )
    recorded = _stamp(connection, stage.table, chosen & (stage.table.c.curation != "selected"), "selected")
    return Changed(queued=queued, recorded=recorded)


def reject_items(db: Database, connection: Connection, stage: Stage, chosen: ColumnElement[bool]) -> Changed:
    """Reject the chosen items; those not yet started leave the queue as ``skipped`` (rejected)."""
    table = stage.table
    taken = queue.skip(
        db,
        connection,
        table,
        chosen,
        "rejected",
        statuses=("awaiting", "pending"),
        values={"curation": "rejected"},
    )
    recorded = _stamp(connection, table, chosen & (table.c.curation != "rejected"), "rejected")
    return Changed(taken_back=int(taken), recorded=recorded)


def unselect_items(
    db: Database, connection: Connection, stage: Stage, chosen: ColumnElement[bool]
) -> Changed:
    """Undo a selection: items not yet started go back to awaiting a person."""
    table = stage.table
    taken = queue.hold(db, connection, table, chosen, values={"curation": "new"})
    recorded = _stamp(connection, table, chosen & (table.c.curation != "new"), "new")
    return Changed(taken_back=int(taken), recorded=recorded)


DECISIONS = ("select", "reject", "unselect")


def decide(
    db: Database,
    connection: Connection,
    stage: Stage,
    decision: str,
    chosen: ColumnElement[bool],
    refresh: bool = False,
) -> Changed:
    """One of the three decisions by name (the API's and the dashboard's routes take it so)."""
    if decision == "select":
        return select_items(db, connection, stage, chosen, refresh)
    if decision == "reject":
        return reject_items(db, connection, stage, chosen)
    if decision == "unselect":
        return unselect_items(db, connection, stage, chosen)
    raise CurationError(f"a decision is one of {', '.join(DECISIONS)}, not {decision!r}")
