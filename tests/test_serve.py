"""`leadpipe serve` as a process: one command gives a working system, and readiness tells the truth.

Every worker of a stage with waiting work killed (SIGKILL): /readyz turns 503 within the minute,
naming the stage, and the notifier posts once; a worker started again clears it, with one more post."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from leadpipe.config import Settings
from leadpipe.db.connect import Database
from leadpipe.demo.sites import sample_sites, serve
from leadpipe.demo.web import Web
from leadpipe.server import keys
from leadpipe.server.notifier import Notifier, sign
from leadpipe.stages import PIPELINE
from tests.helpers import add_domains, leadpipe_process

SECRET = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGVzdHM="  # base64 of a test key


class Receiver:
    """A webhook endpoint on loopback that keeps every post, its headers and body."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.posts.append(({key.lower(): value for key, value in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.posts]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def leadpipe(db_url: str, *args: str, **settings: str) -> subprocess.Popen[str]:
    # A stop waits at most a second for items in flight (answers here take seconds, the default grace 30).
    fast = {
        "LEADPIPE_HEARTBEAT_SECONDS": "0.5",
        "LEADPIPE_WORKER_TTL_SECONDS": "3",
        "LEADPIPE_SHUTDOWN_GRACE_SECONDS": "1",
    }
    return leadpipe_process(*args, LEADPIPE_DATABASE_URL=db_url, **{**fast, **settings})


def wait_for(check: Any, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s")


@pytest.mark.slow
def test_readiness_falls_when_a_stages_last_worker_is_killed_and_the_notifier_posts_once(
    db_url: str, receiver: Receiver
) -> None:
    web = Web(delay=2.0).start()  # every answer slow: the work outlives the worker
    sites = sample_sites(30)
    serve(web, sites)
    db = Database(db_url)
    db.upgrade()
    key = keys.create(db, "ops", "read")
    add_domains(db, [site.domain for site in sites])
    port = free_port()
    hooks = {
        "LEADPIPE_ALERT_WEBHOOK_URL": receiver.url,
        "LEADPIPE_ALERT_WEBHOOK_SECRET": SECRET,
        "LEADPIPE_ALERT_CHECK_SECONDS": "0.5",
    }
    api = leadpipe(db_url, "serve", "--no-workers", "--port", str(port), **hooks)
    worker = leadpipe(db_url, "worker", "--stage", "discover", LEADPIPE_PROXY=web.url)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _get(base + "/healthz") == 200, 30)
        wait_for(lambda: _get(base + "/readyz") == 200, 30)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        killed = time.monotonic()
        answer = wait_for(lambda: _not_ready(base), 60)
        assert time.monotonic() - killed < 60
        assert "discover" in [problem["stage"] for problem in answer["problems"]]
        opened = wait_for(
            lambda: [
                event
                for event in receiver.events()
                if event["type"] == "leadpipe.incident.opened" and event["data"]["stage"] == "discover"
            ],
            30,
        )
        time.sleep(2)  # several more looks of the notifier: still one post for the incident
        opened = [
            event
            for event in receiver.events()
            if event["type"] == "leadpipe.incident.opened" and event["data"]["stage"] == "discover"
        ]
        assert len(opened) == 1, receiver.events()
        assert opened[0]["data"]["kind"] == "no_consumer"
        headers, body = next((headers, body) for headers, body in receiver.posts if b'"discover"' in body)
        assert headers["webhook-signature"] == sign(
            SECRET, headers["webhook-id"], int(headers["webhook-timestamp"]), body
        )
        metrics = httpx.get(base + "/metrics", headers={"Authorization": f"Bearer {key}"}).text
        assert 'leadpipe_stage_without_consumer{stage="discover"} 1.0' in metrics

        worker = leadpipe(db_url, "worker", "--stage", "discover", LEADPIPE_PROXY=web.url)
        wait_for(lambda: _get(base + "/readyz") == 200, 60)
        cleared = wait_for(
            lambda: [
                event
                for event in receiver.events()
                if event["type"] == "leadpipe.incident.cleared" and event["data"]["stage"] == "discover"
            ],
            30,
        )
        assert len(cleared) == 1
    finally:
        for process in (worker, api):
            process.send_signal(signal.SIGTERM)
        for process in (worker, api):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        web.stop()
        db.dispose()
    log = api.stdout.read() if api.stdout else ""
    assert key not in log


def _get(url: str) -> int:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.HTTPError:
        return 0


def _not_ready(base: str) -> dict[str, Any] | None:
    answer = httpx.get(base + "/readyz", timeout=5)
    return answer.json() if answer.status_code == 503 else None


def test_a_webhook_answering_an_endless_body_costs_the_notifier_nothing(
    db: Database, settings: Settings
) -> None:
    """The post counts as sent on a 2xx; the body that follows is never read (it would never end)."""

    class Endless(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"x" * 65536
            try:
                while True:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except (BrokenPipeError, ConnectionResetError):
                pass

    hostile = ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    hostile.daemon_threads = True
    threading.Thread(target=hostile.serve_forever, daemon=True).start()
    add_domains(db, ["a.example"])  # ready work, no worker: an incident
    watching = settings.model_copy(
        update={"alert_webhook_url": SecretStr(f"http://127.0.0.1:{hostile.server_address[1]}/hook")}
    )
    try:
        started = time.monotonic()
        sent = asyncio.run(asyncio.wait_for(Notifier(db, PIPELINE, watching).check(), timeout=20))
        assert sent == 1 and time.monotonic() - started < 10
    finally:
        hostile.shutdown()
