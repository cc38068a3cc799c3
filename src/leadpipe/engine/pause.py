"""Pausing and resuming a stage: a row in ``stage_pauses`` while it is paused.

A paused stage's items wait; no worker claims or burns them until it is resumed. A person pauses a
stage with ``leadpipe pause``, a handler with :class:`~leadpipe.engine.stage.PauseStage`; both come
here. This module needs no worker, so ``leadpipe pause`` and ``resume`` do not load one.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select

from leadpipe.db.connect import database_now
from leadpipe.db.models import stage_pauses as pauses


def pause_stage(connection: Connection, stage: str, reason: str, *, by: str) -> bool:
    """Pause ``stage`` with ``reason``; False when it was paused already (the first reason stays)."""
    if connection.execute(select(pauses.c.stage).where(pauses.c.stage == stage)).first() is not None:
        return False
    connection.execute(
        insert(pauses).values(stage=stage, reason=reason, paused_by=by, paused_at=database_now(connection))
    )
    return True


def resume_stage(connection: Connection, stage: str) -> bool:
    """Resume a paused stage; False when it was not paused."""
    return bool(connection.execute(delete(pauses).where(pauses.c.stage == stage)).rowcount)
