"""Statements given as SQL text and run on the driver's own cursor, with SQLAlchemy's conversions.

The claim and the finish of a stage (:mod:`leadpipe.engine.sql`) run once per batch, so they skip
SQLAlchemy's execution of a statement and go to the driver's cursor. Values still cross as SQLAlchemy
would convert them, by asking its column types (their bind and result processors), and a stage's
rules, written as Core conditions, are rendered into the SQL text by SQLAlchemy's compiler. This is
the one module that uses those parts of SQLAlchemy: every other statement of the engine is Core.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import JSON, Column, ColumnElement, Connection, String, Table, select
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.type_api import TypeEngine

from leadpipe.db.connect import driver

T = TypeVar("T")


def render(condition: ColumnElement[bool], table: Table, dialect: Dialect) -> str:
    """A condition on the records of ``table`` as SQL text, for a statement that reads ``table``; its
    values are written in (they are a stage's rules, fixed for the life of the statement).

    Compiled as part of such a statement, so that a subquery of the condition that names ``table``
    refers to the record at hand (is correlated) rather than reading the whole table again."""
    compiler = dialect.statement_compiler(dialect, None)
    compiler.stack.append({"correlate_froms": {table}, "asfrom_froms": {table}, "selectable": select(table)})
    return str(compiler.process(condition, literal_binds=True))


def sql_type(column_type: TypeEngine[Any], dialect: Dialect) -> str:
    """A column type's name in ``dialect``'s SQL, for a cast. Without a length: an explicit cast to
    VARCHAR(n) would cut a longer value short, where storing it in the column refuses it."""
    if isinstance(column_type, String) and column_type.length:
        column_type = String()
    return str(column_type.compile(dialect=dialect))


def driver_values(column_type: TypeEngine[Any], dialect: Dialect, values: Sequence[Any]) -> Sequence[Any]:
    """``values`` of ``column_type`` as SQLAlchemy sends them to the driver."""
    if isinstance(column_type, JSON):
        return tuple(map(_json_text, values))
    convert = column_type.dialect_impl(dialect).bind_processor(dialect)
    if convert is None:
        return values
    return tuple(None if value is None else convert(value) for value in values)


def _json_text(value: Any) -> str:
    # As SQLAlchemy's JSON type writes it, None included: JSON null, not SQL NULL.
    return "null" if value is None else json.dumps(value)


@dataclass
class CursorStatement:
    """SQL text with named parameters, run on the driver's cursor of a connection of ``dialect``.

    ``types`` names the parameters whose values the driver cannot take as they are (timestamps on
    SQLite); ``returning`` the columns of the rows it returns, in order, each read back as SQLAlchemy
    would.
    """

    sql: str
    dialect: Dialect
    types: Mapping[str, TypeEngine[Any]] = field(default_factory=dict)
    returning: Sequence[Column[Any]] = ()
    _converters: dict[str, Callable[[Any], Any]] = field(init=False, repr=False)
    _readers: list[Callable[[Any], Any] | None] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._converters = {}
        for name, type_ in self.types.items():
            convert = type_.dialect_impl(self.dialect).bind_processor(self.dialect)
            if convert is not None:
                self._converters[name] = convert

    @property
    def columns(self) -> list[str]:
        return [column.name for column in self.returning]

    def rows(self, connection: Connection, parameters: Mapping[str, Any]) -> list[Sequence[Any]]:
        """Execute with ``parameters``; the rows it returns (values in :attr:`columns` order)."""
        return self._execute(connection, parameters, self._fetch)

    def count(self, connection: Connection, parameters: Mapping[str, Any]) -> int:
        """Execute with ``parameters``; how many records it changed."""
        return int(self._execute(connection, parameters, lambda cursor: cursor.rowcount))

    def _fetch(self, cursor: Any) -> list[Sequence[Any]]:
        found = cursor.fetchall()
        if self._readers is None:  # the driver's type of each column tells SQLAlchemy how to read it
            self._readers = [
                column.type.dialect_impl(self.dialect).result_processor(self.dialect, described[1])
                for column, described in zip(self.returning, cursor.description, strict=True)
            ]
        readers = self._readers
        if any(readers):
            found = [
                [value if read is None else read(value) for read, value in zip(readers, row, strict=True)]
                for row in found
            ]
        return list(found)

    def _execute(self, connection: Connection, parameters: Mapping[str, Any], read: Callable[[Any], T]) -> T:
        values = dict(parameters)
        for name, convert in self._converters.items():
            value = values.get(name)
            if value is not None:
                values[name] = convert(value)
        with driver(connection, self.sql) as raw:
            cursor = raw.cursor()
            try:
                cursor.execute(self.sql, values)
                return read(cursor)
            finally:
                cursor.close()
