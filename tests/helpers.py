"""Small helpers the tests share."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

from leadpipe.config import Settings
from leadpipe.db.connect import Database
from leadpipe.db.models import domains, pages
from leadpipe.engine.stage import Pipeline
from leadpipe.engine.worker import Worker

ROOT = Path(__file__).resolve().parents[1]
# The PostgreSQL server the tests make their databases on.
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


def leadpipe_process(*args: str, **settings: str) -> subprocess.Popen[str]:
    """``leadpipe ARGS`` in a process of its own, with these settings (``LEADPIPE_*``) over the
    environment's; its output (and errors) on ``stdout``."""
    return subprocess.Popen(
        [sys.executable, "-m", "leadpipe", *args],
        env={**os.environ, "PYTHONPATH": str(ROOT), **settings},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def add_domains(db: Database, names: list[str], **fields: Any) -> None:
    with db.begin() as connection:
        connection.execute(insert(domains), [{"name": name, **fields} for name in names])


def domain(db: Database, name: str) -> dict[str, Any]:
    with db.engine.connect() as connection:
        return dict(connection.execute(select(domains).where(domains.c.name == name)).mappings().one())


def statuses(db: Database) -> Counter[str]:
    with db.engine.connect() as connection:
        rows = connection.execute(select(domains.c.status, func.count()).group_by(domains.c.status))
        return Counter({key: count for key, count in rows})


def pages_per_domain(db: Database) -> Counter[int]:
    """How many pages each domain has: a domain committed twice would have two."""
    with db.engine.connect() as connection:
        rows = connection.execute(select(pages.c.domain_id, func.count()).group_by(pages.c.domain_id))
        return Counter({key: count for key, count in rows})


def run_until_idle(
    db: Database, settings: Settings, pipeline: Pipeline, max_wait: float = 0.0, **options: Any
) -> Counter[str]:
    worker = Worker(db, pipeline, settings, **options)
    return asyncio.run(asyncio.wait_for(worker.run(until_idle=True, max_wait=max_wait), timeout=60))
