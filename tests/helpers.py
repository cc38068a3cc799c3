"""Small helpers the tests share."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from leadpipe.config import Settings
from leadpipe.db.connect import Database
from leadpipe.db.models import domains, pages
from leadpipe.engine.stage import Pipeline
from leadpipe.engine.worker import Worker

ROOT = Path(__file__).resolve().parents[1]


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
