"""Running the engine in the command's own process, for `leadpipe worker`, `run` and `demo`."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_engine"]

T = TypeVar("T")

# Sockets the engine may hold at once: its requests in flight, and each recent host's idle connection
# kept for that host's next request (see ``leadpipe.web.fetch.KEEPALIVE_SECONDS``): some hundreds at
# the default concurrency, more than a laptop's default of 256 open files allows.
OPEN_FILES = 8192


def run_engine(main: Coroutine[Any, Any, T]) -> T:
    """Run a command that runs the engine on uvloop where it exists (not on Windows): the engine runs
    a task per item and hands each transaction to its database thread, which uvloop does for less.
    The one-shot commands stay on asyncio's loop: they run few tasks, and uvloop costs memory."""
    allow_open_files(OPEN_FILES)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def allow_open_files(wanted: int) -> None:
    """Raise this process's soft limit of open files towards ``wanted``, as far as its hard limit
    allows (no limit to raise on Windows)."""
    try:
        import resource
    except ImportError:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < ceiling:
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
