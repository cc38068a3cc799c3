"""``leadpipe serve``: the web application under uvicorn and, unless told not to, the stage workers and
the notifier in the same process, on one event loop: one command gives a working system.

The worker takes SIGTERM and SIGINT (its in-flight items finish first); when it has stopped, so does
the web server. With ``--no-workers`` the server stops at once on a signal, and workers run elsewhere
(`leadpipe worker`, on any machine sharing the PostgreSQL database).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from typing import Any

import uvicorn

from leadpipe.config import Settings
from leadpipe.db.connect import Database
from leadpipe.engine.stage import Pipeline
from leadpipe.engine.worker import Worker
from leadpipe.server.app import create_app
from leadpipe.server.notifier import Notifier

__all__ = ["serve"]


class _Server(uvicorn.Server):
    """uvicorn's server without its own signal handling: this process's signals stop the worker first."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(
    settings: Settings, db: Database, pipeline: Pipeline, host: str, port: int, workers: bool
) -> None:
    app = create_app(settings, db, pipeline)
    server = _Server(
        uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="off")
    )
    stopping = asyncio.Event()
    tasks: list[asyncio.Task[Any]] = [asyncio.create_task(server.serve(), name="web")]
    worker = Worker(db, pipeline, settings) if workers else None
    app.state.workers = [worker] if worker else []
    if worker is not None:
        tasks.append(asyncio.create_task(worker.run(), name="worker"))
    else:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
    if settings.alert_webhook_url:
        tasks.append(asyncio.create_task(Notifier(db, pipeline, settings).run(stopping), name="notifier"))
    waiting = {*tasks, asyncio.create_task(stopping.wait(), name="signal")}
    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    # Whatever ended first (a signal, the worker after one, the server failing to start), all end.
    stopping.set()
    server.should_exit = True
    if worker is not None:
        worker.stop()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            raise result
