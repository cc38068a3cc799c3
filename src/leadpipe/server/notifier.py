"""Alerts that push: a post to a webhook once when a problem starts, and once when it clears.

The problems are what keeps the system from being ready (``health.unready``: a stage without a live
consumer, a stalled stage, expired leases, a dead worker …) and paused stages. Each is an incident
in the database, by kind and stage, so any number of processes may watch: the first to see a problem
opens its incident, and a post is claimed before it is sent, so each goes out once (again later only
if the webhook failed to take it). Off unless ``LEADPIPE_ALERT_WEBHOOK_URL`` is set.

Posts follow Standard Webhooks 1.0: a JSON body ``{type, timestamp, data}``, and with
``LEADPIPE_ALERT_WEBHOOK_SECRET`` (``whsec_`` and a base64 key) the ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature`` headers (HMAC-SHA256 of ``id.timestamp.body``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import time
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from leadpipe.config import Settings
from leadpipe.db.connect import Database, database_now, utc
from leadpipe.db.models import incidents
from leadpipe.engine import health
from leadpipe.engine.stage import Pipeline
from leadpipe.logs import redact

__all__ = ["Notifier", "sign"]

log = logging.getLogger("leadpipe.notifier")


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header of Standard Webhooks for this message."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class Notifier:
    def __init__(self, db: Database, pipeline: Pipeline, settings: Settings) -> None:
        self.db, self.pipeline, self.settings = db, pipeline, settings
        url = settings.alert_webhook_url
        self.url = url.get_secret_value() if url else ""
        self._client = httpx.AsyncClient(timeout=15.0, headers={"User-Agent": settings.user_agent})

    async def run(self, stopping: asyncio.Event) -> None:
        """Look every ``alert_check_seconds`` until ``stopping`` is set."""
        try:
            while not stopping.is_set():
                try:
                    await self.check()
                except Exception as problem:  # a lost database or webhook must not end the watch
                    log.warning("alert check failed: %s", redact(str(problem), self.settings.secrets()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), timeout=self.settings.alert_check_seconds)
        finally:
            await self._client.aclose()

    async def check(self) -> int:
        """Open and clear incidents as the health check says, then send what is unsent; returns posts."""
        await asyncio.to_thread(self._record)
        sent = 0
        for event, row in await asyncio.to_thread(self._claim):
            if await self._post(event, row):
                sent += 1
            else:
                await asyncio.to_thread(self._unclaim, event, row["id"])
        return sent

    def _current(self) -> dict[str, health.Problem]:
        report = health.check(self.db, self.pipeline, self.settings, downstream=False)
        # A dead worker is seen only from its own machine: another process would clear what this one
        # opened, again and again. Its stage's work without a consumer is what every process sees.
        found = {
            f"{problem.kind}:{problem.stage or '-'}": problem
            for problem in health.unready(report)
            if problem.kind != "dead_worker"
        }
        for problem in report.problems:
            if problem.kind == "paused":
                found[f"paused:{problem.stage}"] = problem
        return found

    def _record(self) -> None:
        current = self._current()
        with self.db.begin() as connection:
            moment = database_now(connection)
            open_ = {
                row.key: row.id
                for row in connection.execute(
                    select(incidents.c.key, incidents.c.id).where(incidents.c.cleared_at.is_(None))
                )
            }
            ended = [row_id for key, row_id in open_.items() if key not in current]
            if ended:
                connection.execute(
                    update(incidents).where(incidents.c.id.in_(ended)).values(cleared_at=moment)
                )
        for key, problem in current.items():
            if key in open_:
                continue
            try:
                with self.db.begin() as connection:
                    connection.execute(
                        insert(incidents).values(key=key, message=problem.message, opened_at=moment)
                    )
            except IntegrityError:
                pass  # another process opened it first

    def _claim(self) -> list[tuple[str, dict[str, Any]]]:
        """The posts this process is to send: each claimed by marking it sent, so no other process
        sends it too."""
        claimed: list[tuple[str, dict[str, Any]]] = []
        with self.db.begin() as connection:
            moment = database_now(connection)
            for event, sent, when in (
                ("opened", incidents.c.opened_sent_at, incidents.c.opened_at),
                ("cleared", incidents.c.cleared_sent_at, incidents.c.cleared_at),
            ):
                rows = connection.execute(
                    select(incidents).where(sent.is_(None), when.is_not(None)).limit(100)
                ).mappings()
                for row in list(rows):
                    taken = connection.execute(
                        update(incidents)
                        .where(incidents.c.id == row["id"], sent.is_(None))
                        .values({sent.name: moment})
                    ).rowcount
                    if taken:
                        claimed.append((event, dict(row)))
        return claimed

    def _unclaim(self, event: str, incident_id: int) -> None:
        column = incidents.c.opened_sent_at if event == "opened" else incidents.c.cleared_sent_at
        with self.db.begin() as connection:
            connection.execute(
                update(incidents).where(incidents.c.id == incident_id).values({column.name: None})
            )

    async def _post(self, event: str, row: dict[str, Any]) -> bool:
        kind, _, stage = row["key"].partition(":")
        moment = utc(row["cleared_at"] if event == "cleared" else row["opened_at"])
        body = json.dumps(
            {
                "type": f"leadpipe.incident.{event}",
                "timestamp": moment.isoformat(),
                "data": {
                    "incident": row["id"],
                    "kind": kind,
                    "stage": None if stage == "-" else stage,
                    "message": row["message"],
                    "opened_at": utc(row["opened_at"]).isoformat(),
                    "cleared_at": _iso(row["cleared_at"]),
                },
            }
        ).encode()
        message_id = f"incident-{row['id']}-{event}"
        timestamp = int(time.time())  # the sending's: a receiver refuses a stale one, as replay
        headers = {
            "Content-Type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
        }
        secret = self.settings.alert_webhook_secret
        if secret:
            headers["webhook-signature"] = sign(secret.get_secret_value(), message_id, timestamp, body)
        try:
            # Only the status is read: whatever body the webhook sends back stays unread, however large.
            async with self._client.stream("POST", self.url, content=body, headers=headers) as answer:
                status = answer.status_code
        except httpx.HTTPError as problem:
            log.warning("alert webhook unreachable: %s", redact(str(problem), self.settings.secrets()))
            return False
        if status // 100 != 2:
            log.warning("alert webhook answered HTTP %s", status)
            return False
        log.info("alert posted: %s %s", event, row["key"])
        return True


def _iso(moment: datetime | None) -> str | None:
    return utc(moment).isoformat() if moment is not None else None
