"""Running the engine in the command's own process, for `leadpipe worker`, `run` and `demo`."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_engine"]

T = TypeVar("T")


def run_engine(main: Coroutine[Any, Any, T]) -> T:
    """Run a command that runs the engine on uvloop where it exists (not on Windows): the engine runs
    a task per item and hands each transaction to its database thread, which uvloop does for less.
    The one-shot commands stay on asyncio's loop: they run few tasks, and uvloop costs memory."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
