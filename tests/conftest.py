"""Every engine test runs on SQLite and on the machine's real PostgreSQL.

PostgreSQL: ``LEADPIPE_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``)
names a server where a fresh database is created for the session; tables are emptied between tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from leadpipe.config import Settings
from leadpipe.db.connect import Database
from leadpipe.db.models import Base
from leadpipe.demo.web import Web

ADMIN_URL = os.environ.get("LEADPIPE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database on the test server, dropped afterwards."""
    name = f"leadpipe_test_{uuid.uuid4().hex[:8]}"
    # pool_pre_ping: the restart test restarts the server, and this engine must still drop the database.
    admin = create_engine(
        make_url(ADMIN_URL).set(drivername="postgresql+psycopg"),
        isolation_level="AUTOCOMMIT",
        pool_pre_ping=True,
    )
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with fresh_postgres() as url:
        Database(url).upgrade()
        yield url


def _empty(db: Database) -> None:
    with db.begin() as connection:
        names = [table.name for table in reversed(Base.metadata.sorted_tables)]
        if db.is_postgres:
            connection.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
        else:
            for name in names:
                connection.execute(text(f"DELETE FROM {name}"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'leadpipe.db'}"
        Database(url).upgrade()
        yield url
    else:
        url = request.getfixturevalue("postgres_url")
        _empty(Database(url))
        yield url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def settings(db_url: str) -> Settings:
    """Fast clocks, so a test sees heartbeats, reaping and polling within a second or two."""
    return Settings(
        database_url=db_url,
        heartbeat_seconds=0.3,
        worker_ttl_seconds=3,
        poll_seconds=0.05,
        shutdown_grace_seconds=5,
        stall_seconds=1,
    )


@pytest.fixture
def web() -> Iterator[Web]:
    """The sample web on loopback, empty: a test adds the routes it needs (its own fixture may fill it)."""
    server = Web().start()
    yield server
    server.stop()
