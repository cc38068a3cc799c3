"""The pipeline ``bench/engine.py`` runs its worker processes on: one no-op stage over ``domains``.

Workers load it with ``LEADPIPE_PIPELINE=bench.noop:PIPELINE`` (the repository root on
``PYTHONPATH``). ``BENCH_BATCH`` sets the stage's batch size, and ``BENCH_CONCURRENCY`` its slots
(default: one batch), so the engine claims and completes batches of the same size as the bare loop.
Importing it waits for the benchmark's start signal (:func:`bench.engine.wait_for_start`), then, with
``BENCH_PROFILE`` set, profiles the worker from there on: its event loop and its database thread.
"""

from __future__ import annotations

import atexit
import cProfile
import os
import pstats
import sys
import threading

from bench.engine import wait_for_start
from leadpipe.db.models import domains
from leadpipe.engine.stage import Context, Item, Pipeline, Result, Stage

BATCH = int(os.environ.get("BENCH_BATCH", "100"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", str(BATCH)))


async def noop(item: Item, context: Context) -> Result:
    """Finish at once: an outcome and nothing else, so all that is measured is the queue."""
    return Result(outcome="ok")


STAGE = Stage(
    name="noop",
    table=domains,
    handler=noop,
    description="domain → nothing (benchmark)",
    concurrency=CONCURRENCY,
    batch_size=BATCH,
    reads=(),  # like the bare loop's claim, which returns what it reads: the ids
)

PIPELINE = Pipeline([STAGE])


def profile_threads(prefix: str) -> None:
    """Profile this thread and every thread started from now on (cProfile sees one thread each);
    write them together to ``{prefix}-{pid}.prof`` at exit."""
    profiles: list[cProfile.Profile] = []

    def start(*_: object) -> None:
        sys.setprofile(None)
        profile = cProfile.Profile()
        profiles.append(profile)
        profile.enable()

    def save() -> None:
        pstats.Stats(*profiles).dump_stats(f"{prefix}-{os.getpid()}.prof")

    threading.setprofile(start)  # the database thread starts with the worker's first query
    start()
    atexit.register(save)


# A worker loads its pipeline before it connects: wait here for the benchmark's go (a no-op without it).
wait_for_start()
if os.environ.get("BENCH_PROFILE"):
    profile_threads(os.environ["BENCH_PROFILE"])
