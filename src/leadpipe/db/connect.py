"""Connecting to the database: SQLite (embedded default) or PostgreSQL (shared by many workers).

PostgreSQL goes through psycopg 3: one driver for the synchronous engine the workers and the CLI use,
with server-side COPY for bulk imports, and ``prepare_threshold`` to turn prepared statements off
behind a transaction-mode PgBouncer.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

try:
    import fcntl
except ImportError:  # Windows: SQLite's busy handler alone orders the writers
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from leadpipe.logs import redact

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = str(Path(__file__).with_name("migrations"))
# The newest migration in db/migrations/versions (tests/test_schema.py holds it to Alembic's head). A
# database at it, or an empty one, is ready without Alembic, whose import costs each command ~0.15 s.
SCHEMA_HEAD = "0005"
# Where Alembic keeps a database's revision, as Alembic makes it.
alembic_version = Table(
    "alembic_version",
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)
BUSY_TIMEOUT_MS = 60_000  # how long a SQLite transaction waits for the write lock


class DatabaseError(Exception):
    """A database problem told in one line, for people rather than tracebacks."""


def utc(moment: datetime) -> datetime:
    """SQLite gives timestamps back without a zone; every timestamp leadpipe writes is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def now() -> datetime:
    return datetime.now(UTC)


def database_now(connection: Connection) -> datetime:
    """Now by the engine's clock: PostgreSQL's own (one clock for every machine that shares it),
    or this process's on SQLite (one machine). The value that ``engine.queue.clock`` writes into
    statements."""
    if connection.dialect.name == "postgresql":
        return utc(connection.execute(text("SELECT now()")).scalar_one())
    return now()


def _revision(connection: Connection) -> str | None:
    """The database's migration revision, read as Alembic writes it (None when it has none)."""
    if not inspect(connection).has_table(alembic_version.name):
        return None
    return connection.execute(select(alembic_version.c.version_num)).scalar()


def _engine_for(url: str) -> Engine:
    try:
        return _create_engine(make_url(url))
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise DatabaseError(
            f"not a database URL: {redact(url)!r} (use sqlite:///leadpipe.db or postgresql://user@host/dbname)"
        ) from None


def _create_engine(parsed: URL) -> Engine:
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(
            parsed,
            pool_pre_ping=True,
            pool_size=3,
            max_overflow=2,
            connect_args={"connect_timeout": 5},
        )
    if backend == "sqlite" and parsed.get_driver_name() in ("pysqlite", ""):
        if parsed.database in (None, "", ":memory:"):
            raise DatabaseError("an in-memory SQLite database cannot be shared by workers: name a file")
        engine = create_engine(
            parsed.set(drivername="sqlite+pysqlite"), connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    raise DatabaseError(
        f"unsupported database {parsed.drivername!r}: use sqlite:///file.db or postgresql://user@host/db"
    )


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN IMMEDIATE: a deferred transaction that reads then
    # writes fails at once with SQLITE_BUSY under a concurrent writer, whatever the busy timeout.
    dbapi_connection.isolation_level = None
    _into_wal(dbapi_connection)
    for pragma in (
        "PRAGMA synchronous=NORMAL",
        f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
        "PRAGMA foreign_keys=ON",
    ):
        dbapi_connection.execute(pragma)


def _into_wal(dbapi_connection: sqlite3.Connection) -> None:
    """Write-ahead logging, which a new file takes at its first connection. While one connection turns
    it on, SQLite answers another's request at once with "database is locked", without waiting as the
    busy timeout says (workers started together on a new file): that one asks again until the timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class WriteLockBusy(Exception):
    """A transaction that was not to wait cannot begin at once: SQLite's write lock is held by another
    connection, or the turn at it (:class:`WriterQueue`) by another worker, or the worker's own
    connection by its database thread."""


def _sqlite_begin(connection: Connection) -> None:
    # A reader (Database.read) takes its snapshot without the write lock, so no writer waits for it.
    options = connection.get_execution_options()
    statement = "BEGIN" if options.get("leadpipe_read_only", False) else "BEGIN IMMEDIATE"
    # On the driver itself: this runs at every transaction, and the statement needs nothing of SQLAlchemy.
    with driver(connection, statement) as raw:
        if options.get("leadpipe_wait", True):
            raw.execute(statement)
            return
        raw.execute("PRAGMA busy_timeout=0")
        try:
            raw.execute(statement)
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:  # BUSY_RECOVERY and the like too
                raise
            raise WriteLockBusy(str(error)) from None
        finally:
            raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def wait_for_write_lock(connection: Connection, wait: bool) -> None:
    """Whether the next transactions of ``connection`` wait for SQLite's write lock (the default, for
    up to a minute), or raise :class:`WriteLockBusy` at once while another connection holds it."""
    connection.execution_options(leadpipe_wait=wait)


class WriterQueue:
    """Where leadpipe's workers on one SQLite file take turns at its write lock: an OS lock on a file
    beside the database (``<database file>-writers``).

    SQLite's own busy handler retries in sleeps that grow longer: a waiting worker sleeps through the
    moments the lock is free, so the lock goes round the others first and sits idle between turns. A
    worker blocked here is woken the moment the turn is given back, without polling, which would take
    the processor from the workers doing the work. The turn only orders leadpipe's workers: SQLite's
    lock still guards the data against every writer.
    """

    def __init__(self, database_path: str) -> None:
        self.path = f"{database_path}-writers"
        self._turn: int | None = None  # the file descriptor that holds the turn

    def take(self, *, wait: bool) -> bool:
        """Take the turn: wait for it, or return False at once when another worker has it."""
        turn = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            fcntl.flock(turn, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(turn)
            return False
        except BaseException:
            os.close(turn)
            raise
        self._turn = turn
        return True

    def give_back(self) -> None:
        turn, self._turn = self._turn, None
        if turn is not None:
            os.close(turn)  # closing the descriptor releases its lock


@contextlib.contextmanager
def driver(connection: Connection, statement: str) -> Iterator[Any]:
    """The driver's own connection under ``connection``, for ``statement``: its errors are made
    SQLAlchemy's, as every other statement's are, so that a lost connection is waited out like any other."""
    dialect = connection.dialect
    driver_error = dialect.loaded_dbapi.Error
    raw = connection.connection.driver_connection
    try:
        yield raw
    except driver_error as error:
        lost = dialect.is_disconnect(error, raw, None)
        raise DBAPIError.instance(
            statement, None, error, driver_error, connection_invalidated=lost
        ) from error


class Database:
    """One database: its engine, its dialect and its schema version."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _engine_for(url)
        self.is_postgres = self.engine.dialect.name == "postgresql"

    def __repr__(self) -> str:
        return f"Database({self.display_url})"

    @property
    def display_url(self) -> str:
        """The URL without its credentials: SQLAlchemy hides the password, not a ``?password=``."""
        return redact(self.engine.url.render_as_string(hide_password=True))

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction (BEGIN IMMEDIATE on SQLite) that commits on success."""
        with self.engine.begin() as connection:
            yield connection

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction: one snapshot of the database, which never blocks a writer."""
        with self.engine.connect() as connection:
            if self.is_postgres:  # read committed would let each statement see a later moment
                connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            else:
                connection.execution_options(leadpipe_read_only=True)
            with connection.begin():
                yield connection

    def check(self) -> None:
        """Reach the database, or raise a one-line :class:`DatabaseError`."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except DBAPIError as error:
            reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
            raise DatabaseError(f"cannot reach the database at {self.display_url}: {reason}") from None

    def _alembic(self, connection: Connection) -> Config:
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", MIGRATIONS)
        config.attributes["connection"] = connection
        return config

    def schema_revision(self) -> str | None:
        with self.engine.connect() as connection:
            return _revision(connection)

    def head_revision(self) -> str | None:
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self._alembic(None)).get_current_head()  # type: ignore[arg-type]

    def upgrade(self) -> None:
        """Bring the schema to the newest migration; safe when many processes start at once."""
        from alembic import command

        self.check()
        try:
            with self._schema_change() as connection:
                command.upgrade(self._alembic(connection), "head")
        except SQLAlchemyError as error:
            raise DatabaseError(f"could not upgrade the database schema: {error}") from None

    def ensure_schema(self) -> None:
        """Create or upgrade the schema when it is behind, so every command starts on a ready database.

        An empty database gets the models' schema in one go, stamped with the newest migration (as
        Alembic's documentation advises for a new database): what the migrations build step by step,
        tests/test_schema.py holds them to the same."""
        self.check()
        if self.schema_revision() == SCHEMA_HEAD:
            return
        try:
            with self._schema_change() as connection:
                # Asked again under the lock: another process may have made it meanwhile.
                revision = _revision(connection)
                if revision is None and not inspect(connection).get_table_names():
                    from leadpipe.db.models import metadata

                    metadata.create_all(connection)
                    alembic_version.create(connection)
                    connection.execute(alembic_version.insert().values(version_num=SCHEMA_HEAD))
                    revision = SCHEMA_HEAD
        except SQLAlchemyError as error:
            raise DatabaseError(f"could not create the database schema: {error}") from None
        if revision != SCHEMA_HEAD:
            self.upgrade()

    @contextlib.contextmanager
    def _schema_change(self) -> Iterator[Connection]:
        """A transaction that changes the schema, one process at a time."""
        with self.engine.begin() as connection:
            if self.is_postgres:  # SQLite's BEGIN IMMEDIATE serialises them already
                connection.execute(text("SELECT pg_advisory_xact_lock(7150111)"))
            yield connection

    def writer_queue(self) -> WriterQueue | None:
        """The queue for the write lock of a SQLite file (none for PostgreSQL, whose rows lock apart,
        nor where the OS has no ``flock``)."""
        if self.is_postgres or fcntl is None or not self.engine.url.database:
            return None
        return WriterQueue(self.engine.url.database)

    def dispose(self) -> None:
        self.engine.dispose()
