"""A pipeline for engine tests: one stage over domains whose names say how their handler behaves.

Each success writes one page whose URL names the worker and the attempt, so an item committed twice
would leave two pages: counting pages counts commits. Worker subprocesses load it with
``LEADPIPE_PIPELINE=tests.pipelines:PIPELINE``; ``TEST_LEASE_SECONDS``, ``TEST_SLOW_SECONDS`` and
``TEST_MAX_RUNTIME_SECONDS`` tune it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

from sqlalchemy import select

from leadpipe.db.models import domains, pages
from leadpipe.engine.stage import (
    Backoff,
    Context,
    Insert,
    Item,
    PauseStage,
    Permanent,
    Pipeline,
    Result,
    RetryLater,
    Stage,
)

# When each attempt of each item started, for the tests that run workers in this process.
ATTEMPTS: dict[str, list[float]] = {}


async def touch(item: Item, context: Context) -> Result:
    name: str = item["name"]
    ATTEMPTS.setdefault(name, []).append(time.monotonic())
    if name.startswith("crash"):
        os.kill(os.getpid(), signal.SIGKILL)
    if name.startswith("poison"):
        raise ValueError(f"{name} is poisoned")
    if name.startswith("permanent"):
        raise Permanent(f"{name} is malformed")
    if name.startswith("later"):
        raise RetryLater("429 Too Many Requests, Retry-After: 30", 30)
    if name.startswith("pause"):
        raise PauseStage("the paid service says: no credits left")
    if name.startswith("slow"):
        await asyncio.sleep(float(os.environ.get("TEST_SLOW_SECONDS", "2")))
    if name.startswith("empty"):
        return Result(outcome="nothing_found")
    if name.startswith("unwritable"):  # a page without a URL: the database refuses it
        return Result(outcome="touched", outputs=[Insert(pages, [{"domain_id": item["id"], "url": None}])])
    # The page is written done: no stage of this pipeline consumes pages.
    url = f"https://{name}/{context.worker_id}/{item['attempts']}"
    page = {"domain_id": item["id"], "url": url, "status": "done"}
    return Result(outcome="touched", values={"title": f"touched {name}"}, outputs=[Insert(pages, [page])])


def touch_stage(**overrides: object) -> Stage:
    options: dict[str, object] = {
        "name": "touch",
        "table": domains,
        "handler": touch,
        "description": "domain → one page per commit",
        "concurrency": 20,
        "batch_size": 50,
        "lease_seconds": float(os.environ.get("TEST_LEASE_SECONDS", "2")),
        "max_runtime_seconds": float(os.environ.get("TEST_MAX_RUNTIME_SECONDS", "30")),
        "max_attempts": 3,
        "backoff": Backoff(base=0.2, cap=2, jitter=0),
        "missing_outputs": lambda: (
            (domains.c.outcome == "touched") & ~domains.c.id.in_(select(pages.c.domain_id))
        ),
    }
    options.update(overrides)
    return Stage(**options)  # type: ignore[arg-type]


PIPELINE = Pipeline([touch_stage()])
