"""Every engine test runs on SQLite and on the machine's real PostgreSQL.

PostgreSQL: ``LEADPIPE_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``)
names a server where a fresh database is created for the session; tables are emptied between tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from leadpipe.config import Settings
from leadpipe.db.connect import Database
from leadpipe.db.models import metadata
from leadpipe.demo.web import Web
from tests.helpers import fresh_postgres


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with fresh_postgres() as url:
        Database(url).upgrade()
        yield url


def _empty(db: Database) -> None:
    with db.begin() as connection:
        names = [table.name for table in reversed(metadata.sorted_tables)]
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
