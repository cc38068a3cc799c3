"""The hot statements, as SQL text per dialect: each stage's claim and finish, which run once per batch.

They are written out here rather than built with Core, so the statement a database runs can be read
as it is, and they run on the driver's own cursor (:class:`~leadpipe.engine.cursor.CursorStatement`).
Each is built once per stage; its parameters are named (``:name`` on SQLite, ``%(name)s`` on
PostgreSQL):

- claim: ``owner``, ``token``, ``limit`` (and ``scan``, how far to look ahead, for a stage that runs
  one item of a group at a time); on SQLite also ``now`` and ``lease_expires``;
- finish: ``ids``, ``token``, ``new_outcome`` (null keeps the item's outcome); on SQLite also ``now``.

On PostgreSQL the clock is the database's ``now()``; on SQLite it is this process's, given as ``now``.
Statuses are written in, never parameters: the claim and lease indexes are partial
(``WHERE status = 'pending'``), and with a parameter SQLite re-plans the statement at every run and a
generic plan of a statement PostgreSQL has prepared cannot use them.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Column, Connection, not_
from sqlalchemy.engine import Dialect

from leadpipe.config import Settings
from leadpipe.db.models import Timestamp
from leadpipe.engine.cursor import CursorStatement, render
from leadpipe.engine.stage import Stage

# The engine's own record keeping, which a handler has no use for: a claim does not return it (on
# SQLite each timestamp returned would be read back into a datetime, for every item).
BOOKKEEPING = frozenset(
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


@dataclass(frozen=True)
class HotStatements:
    """A stage's claim and finish statements."""

    claim: CursorStatement
    finish: CursorStatement
    finish_returning: CursorStatement  # the same, returning the ids whose lease held


# Keyed by identity: a stage and its settings are built once per process and never change. Each
# entry holds both, so their ids cannot be reused while it lives; tests make new stages, hence the bound.
_built: dict[tuple[int, int, str], tuple[Stage, Settings, HotStatements]] = {}


def statements(connection: Connection, stage: Stage, settings: Settings) -> HotStatements:
    """The stage's hot statements in the dialect of ``connection``, built at the first call."""
    dialect = connection.dialect
    key = (id(stage), id(settings), dialect.name)
    found = _built.get(key)
    if found is not None:
        return found[2]
    if len(_built) >= 64:
        _built.clear()
    table = stage.table
    if stage.reads is None:
        returned = [column for column in table.c if column.name not in BOOKKEEPING]
    else:
        returned = [table.c[name] for name in dict.fromkeys(("id", "attempts", *stage.reads))]
    clock = {} if dialect.name == "postgresql" else {"now": Timestamp, "lease_expires": Timestamp}
    finish = finish_sql(stage, dialect)
    built = HotStatements(
        CursorStatement(claim_sql(stage, settings, dialect, returned), dialect, clock, returned),
        CursorStatement(finish, dialect, clock),
        CursorStatement(f"{finish}\nRETURNING {table.name}.id", dialect, clock, [table.c.id]),
    )
    _built[key] = (stage, settings, built)
    return built


def claim_sql(stage: Stage, settings: Settings, dialect: Dialect, returned: list[Column[object]]) -> str:
    """Lease ``limit`` due items, best first, to ``owner`` under ``token``; the attempt is counted."""
    name = stage.table.name
    postgres = dialect.name == "postgresql"
    group = stage.one_at_a_time
    param = _placeholder(dialect)
    now = "now()" if postgres else param("now")
    due = [f"{name}.status = 'pending'", f"{name}.run_after <= {now}"]
    due += [render(not_(rule(settings)), stage.table, dialect) for rule in stage.skip_when.values()]
    if group:
        due.append(
            f"NOT (EXISTS (SELECT busy.id FROM {name} AS busy"
            f" WHERE busy.status = 'running' AND busy.{group} = {name}.{group}))"
        )
    # Without statistics (leadpipe never runs ANALYZE), SQLite would seek the status index and sort
    # every pending item at each claim. The claim names its partial index: SQLite refuses the
    # statement rather than claim any other way.
    source = name if postgres else f"{name} INDEXED BY ix_{name}_claim"
    candidates = (
        f"SELECT {name}.id{f', {name}.{group}, {name}.priority, {name}.run_after' if group else ''}\n"
        f"FROM {source}\n"
        f"WHERE {' AND '.join(due)}\n"
        f"ORDER BY {name}.priority, {name}.run_after, {name}.id\n"
        f"LIMIT {param('scan' if group else 'limit')}"
    )
    lease_expires = (
        f"now() + make_interval(secs => {stage.lease_seconds!r})" if postgres else param("lease_expires")
    )
    lease = (
        f"UPDATE {name} SET status = 'running', attempts = {name}.attempts + 1,"
        f" lease_owner = {param('owner')}, lease_token = {param('token')},"
        f" lease_expires_at = {lease_expires}, started_at = {now}, updated_at = {now}"
    )
    returning = "RETURNING " + ", ".join(f"{name}.{column.name}" for column in returned)
    if not postgres:
        chosen = f"(\n{_indent(candidates)}\n) AS chosen"
        picked = _best_of_each(group, chosen, param) if group else candidates
        return f"{lease}\nWHERE {name}.id IN (\n{_indent(picked)}\n)\n{returning}"
    # A MATERIALIZED CTE is an optimisation fence: an IN (subquery) may be re-run per row by a nested
    # loop and, with SKIP LOCKED, lease more than ``limit`` rows.
    cte = f"WITH chosen AS MATERIALIZED (\n{_indent(candidates)}\n    FOR UPDATE SKIP LOCKED\n)\n"
    if group:
        picked = _best_of_each(group, "chosen", param)
        return f"{cte}{lease}\nWHERE {name}.id IN (\n{_indent(picked)}\n)\n{returning}"
    return f"{cte}{lease}\nFROM chosen WHERE {name}.id = chosen.id\n{returning}"


def _best_of_each(group: str, chosen: str, param: Callable[[str], str]) -> str:
    """The ``limit`` best of the candidates ``chosen``, one per value of the column ``group``: a claim
    of a stage that runs one item of a group at a time looks further ahead, then keeps each group's
    best."""
    ranked = (
        "SELECT chosen.id, chosen.priority, chosen.run_after,"
        f" row_number() OVER (PARTITION BY chosen.{group}"
        " ORDER BY chosen.priority, chosen.run_after, chosen.id) AS rank\n"
        f"FROM {chosen}"
    )
    return (
        f"SELECT ranked.id FROM (\n{_indent(ranked)}\n) AS ranked\n"
        "WHERE ranked.rank = 1 ORDER BY ranked.priority, ranked.run_after, ranked.id\n"
        f"LIMIT {param('limit')}"
    )


def _indent(sql: str) -> str:
    return textwrap.indent(sql, "    ")


def finish_sql(stage: Stage, dialect: Dialect) -> str:
    """Mark the items ``ids`` still under the lease ``token`` done, with ``new_outcome`` unless null."""
    name = stage.table.name
    param = _placeholder(dialect)
    if dialect.name == "postgresql":
        now = "now()"
        # One array parameter, not an IN list of one parameter per id, which would make a new
        # statement of every number of items.
        chosen = f"{name}.id = ANY ({param('ids')}::BIGINT[])"
        new_outcome = f"{param('new_outcome')}::VARCHAR"
    else:
        now = param("now")
        chosen = f"{name}.id IN (SELECT value FROM json_each({param('ids')}))"  # a JSON array
        new_outcome = param("new_outcome")
    return (
        f"UPDATE {name} SET status = 'done', outcome = coalesce({new_outcome}, {name}.outcome),"
        f" finished_at = {now}, updated_at = {now},"
        " lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, last_error = NULL\n"
        f"WHERE {chosen} AND {name}.lease_token = {param('token')} AND {name}.status = 'running'"
    )


def _placeholder(dialect: Dialect) -> Callable[[str], str]:
    """How a named parameter is written: ``%(name)s`` for psycopg, ``:name`` for sqlite3."""
    if dialect.name == "postgresql":
        return lambda name: f"%({name})s"
    return lambda name: f":{name}"
