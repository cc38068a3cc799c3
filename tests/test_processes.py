"""Reliability with real worker processes: killed, crashing, restarted under, stopped by a signal.

Each scenario runs ``python -m leadpipe worker`` subprocesses on ``tests.pipelines:PIPELINE``
with fast clocks, waits on the database with a deadline, and kills whatever it started at the end.
Counting pages counts commits: an item committed twice would have two.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from leadpipe.db.connect import Database, now, utc
from leadpipe.db.models import domains, pages, workers
from tests.helpers import add_domains, domain, pages_per_domain, statuses

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
FAST_CLOCKS = {
    "LEADPIPE_HEARTBEAT_SECONDS": "0.3",
    "LEADPIPE_POLL_SECONDS": "0.05",
    "LEADPIPE_WORKER_TTL_SECONDS": "3",
}
POSTGRES_ONLY = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
RESTART_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main restart"


class Fleet:
    """The worker processes of one test, each logging to its own file."""

    def __init__(self, url: str, logs: Path, env: dict[str, str]) -> None:
        self.url = url
        self.logs = logs
        self.env = env
        self.processes: list[subprocess.Popen[bytes]] = []

    def environment(self, **env: str) -> dict[str, str]:
        """The environment of a leadpipe process of this fleet."""
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("LEADPIPE_", "TEST_"))}
        path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
        return {
            **inherited,
            "PYTHONPATH": path,
            "LEADPIPE_DATABASE_URL": self.url,
            "LEADPIPE_PIPELINE": "tests.pipelines:PIPELINE",
            **FAST_CLOCKS,
            **self.env,
            **env,
        }

    def start(self, *options: str, **env: str) -> subprocess.Popen[bytes]:
        log = self.logs / f"worker{len(self.processes)}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "leadpipe", "worker", *options],
                env=self.environment(**env),
                cwd=self.logs,  # no stray .env of the working directory
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        return process

    def output(self) -> str:
        """Every worker's log, for assertion messages."""
        return "\n".join(
            f"--- worker{n} (pid {p.pid}, exit {p.returncode}):\n{self._log(n)}"
            for n, p in enumerate(self.processes)
        )

    def _log(self, n: int) -> str:
        return (self.logs / f"worker{n}.log").read_text(errors="replace")[-3000:]

    def kill_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
        for process in self.processes:
            process.wait(timeout=10)


@contextmanager
def fleet(url: str, tmp_path: Path, **env: str) -> Iterator[Fleet]:
    """Worker processes that are killed, whatever happens, when the test ends."""
    running = Fleet(url, tmp_path, env)
    try:
        yield running
    finally:
        running.kill_all()


def wait_for(condition: Callable[[], bool], seconds: float, what: str, workers: Fleet | None = None) -> None:
    """Poll ``condition`` until true; fail after ``seconds``. A database away for a moment is not true."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if condition():
                return
        except DBAPIError:
            pass
        if time.monotonic() > deadline:
            logs = f"\n{workers.output()}" if workers else ""
            pytest.fail(f"not within {seconds:g}s: {what}{logs}")
        time.sleep(0.05)


def exit_code(process: subprocess.Popen[bytes], seconds: float, workers: Fleet) -> int:
    try:
        return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        pytest.fail(f"worker {process.pid} still running after {seconds:g}s\n{workers.output()}")


def terminate(processes: list[subprocess.Popen[bytes]], workers: Fleet) -> list[int]:
    """SIGTERM each worker; their exit codes."""
    for process in processes:
        process.send_signal(signal.SIGTERM)
    return [exit_code(process, 15, workers) for process in processes]


def rows(db: Database, *columns: Any) -> list[Any]:
    with db.engine.connect() as connection:
        return list(connection.execute(select(*columns).order_by(domains.c.id)))


def worker_rows(db: Database) -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(workers)).scalar_one())


def page_urls(db: Database) -> list[str]:
    with db.engine.connect() as connection:
        return list(connection.execute(select(pages.c.url)).scalars())


def committers(db: Database) -> set[int]:
    """The pids of the workers whose commits wrote the pages (a page's URL names its worker)."""
    return {pid_of(url.split("/")[3]) for url in page_urls(db)}


def pid_of(worker_id: str) -> int:
    """A worker's id is ``host-pid-random``."""
    return int(worker_id.rsplit("-", 2)[1])


def assert_every_item_done_once(db: Database, count: int) -> None:
    assert statuses(db) == {"done": count}
    per_domain = pages_per_domain(db)
    assert len(per_domain) == count and set(per_domain.values()) == {1}
    assert len(page_urls(db)) == count


# -- a worker killed mid-item ------------------------------------------------------------------------


def test_an_item_of_a_killed_worker_is_finished_once_by_another(db: Database, tmp_path: Path) -> None:
    add_domains(db, ["slow.test"])
    with fleet(db.url, tmp_path, TEST_LEASE_SECONDS="2", TEST_SLOW_SECONDS="2") as workers:
        first, second = workers.start(), workers.start()
        wait_for(lambda: domain(db, "slow.test")["status"] == "running", 20, "item claimed", workers)
        owner = pid_of(domain(db, "slow.test")["lease_owner"])
        victim, survivor = (first, second) if owner == first.pid else (second, first)
        assert owner == victim.pid
        victim.send_signal(signal.SIGKILL)
        assert exit_code(victim, 5, workers) == -signal.SIGKILL
        assert pages_per_domain(db) == {}  # killed before it could commit

        wait_for(lambda: domain(db, "slow.test")["status"] == "done", 15, "item finished", workers)
        item = domain(db, "slow.test")
        assert item["attempts"] == 2 and item["lease_owner"] is None
        assert pages_per_domain(db) == {item["id"]: 1}
        assert committers(db) == {survivor.pid}
        assert page_urls(db)[0].endswith("/2")  # written by the second attempt

        survivor.send_signal(signal.SIGTERM)
        assert exit_code(survivor, 10, workers) == 0


def test_status_names_a_killed_worker_and_its_running_items_at_once(db: Database, tmp_path: Path) -> None:
    """The worker's heartbeat and its leases outlast the test: only its missing process can tell."""
    add_domains(db, ["slow1.test", "slow2.test"])
    lasting = {"TEST_LEASE_SECONDS": "120", "TEST_SLOW_SECONDS": "120", "LEADPIPE_WORKER_TTL_SECONDS": "120"}
    with fleet(db.url, tmp_path, **lasting) as workers:
        victim = workers.start()
        wait_for(lambda: statuses(db) == {"running": 2}, 20, "items claimed", workers)
        victim.send_signal(signal.SIGKILL)
        assert exit_code(victim, 5, workers) == -signal.SIGKILL
        status = subprocess.run(
            [sys.executable, "-m", "leadpipe", "status", "--check"],
            env=workers.environment(COLUMNS="500"),  # a problem on one line
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert status.returncode == 1, status.stdout + status.stderr
    (problem,) = [line for line in status.stdout.splitlines() if f"pid {victim.pid})" in line]
    assert problem.startswith("error worker ") and "is dead: its process is gone" in problem
    assert "it left 2 items running (touch 2)" in problem
    assert "live workers: 0, dead: 1" in status.stdout


# -- many workers at once ----------------------------------------------------------------------------


@pytest.mark.parametrize(("db_url", "processes"), [("postgresql", 4), ("sqlite", 2)], indirect=["db_url"])
def test_many_workers_commit_every_item_exactly_once(db: Database, tmp_path: Path, processes: int) -> None:
    count = 5000
    # A lease far longer than the run: an item claimed twice would be a claim bug, not a reap.
    with fleet(db.url, tmp_path, TEST_LEASE_SECONDS="60") as workers:
        started = [workers.start() for _ in range(processes)]
        # The work arrives once every process is up: one worker alone drains 5,000 items in about
        # the time the next one takes to start, and then they would not share the queue.
        wait_for(lambda: worker_rows(db) == processes, 30, "every worker registered", workers)
        add_domains(db, [f"site{i}.test" for i in range(count)])
        wait_for(lambda: statuses(db) == {"done": count}, 90, "every item done", workers)
        assert terminate(started, workers) == [0] * processes
    assert_every_item_done_once(db, count)
    assert {attempts for (attempts,) in rows(db, domains.c.attempts)} == {1}
    assert committers(db) == {process.pid for process in started}  # they really shared the queue
    assert worker_rows(db) == 0


# -- PostgreSQL restarted under the workers ----------------------------------------------------------


def _postgres_ready(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"]).returncode != 0:
        if time.monotonic() > deadline:
            pytest.fail(f"PostgreSQL not accepting connections {seconds:g}s after its restart")
        time.sleep(0.1)


@POSTGRES_ONLY
def test_workers_ride_out_a_postgres_restart(db: Database, tmp_path: Path) -> None:
    count = 3000
    add_domains(db, [f"slow{i}.test" for i in range(count)])
    env = {"TEST_LEASE_SECONDS": "3", "TEST_SLOW_SECONDS": "0.1"}
    try:
        with fleet(db.url, tmp_path, **env) as workers:
            started = [workers.start() for _ in range(4)]
            wait_for(lambda: statuses(db)["done"] >= count // 10, 30, "a tenth done", workers)
            subprocess.run(RESTART_POSTGRES, shell=True, check=True, timeout=60, capture_output=True)
            _postgres_ready(30)
            assert statuses(db)["done"] < count, "the run ended before the restart: make it longer"

            wait_for(lambda: statuses(db) == {"done": count}, 90, "every item done", workers)
            assert [process.poll() for process in started] == [None] * 4, workers.output()
            assert "database unavailable" in workers.output()
            assert terminate(started, workers) == [0] * 4
    finally:
        _postgres_ready(30)
    assert_every_item_done_once(db, count)
    assert worker_rows(db) == 0


# -- an item that crashes its worker -----------------------------------------------------------------


def test_an_item_that_kills_its_worker_ends_dead_not_in_a_crash_loop(db: Database, tmp_path: Path) -> None:
    """Workers run as a cron job would: ``--until-idle``, once the last one's lease has run out."""
    add_domains(db, ["crash.test"])

    def lease_over() -> bool:
        item = domain(db, "crash.test")
        return item["status"] != "running" or utc(item["lease_expires_at"]) < now()

    codes: list[int] = []
    with fleet(db.url, tmp_path, TEST_LEASE_SECONDS="1") as workers:
        for _ in range(6):
            wait_for(lease_over, 10, "the crashed worker's lease expired", workers)
            codes.append(exit_code(workers.start("--until-idle"), 30, workers))
            if codes[-1] == 0:
                break
    # Attempts are counted at claim: the third crash used the last, and the fourth worker's reaper
    # dead-letters the item.
    assert codes == [-signal.SIGKILL] * 3 + [0], workers.output()
    item = domain(db, "crash.test")
    assert item["status"] == "dead" and item["attempts"] == 3
    assert "lease expired" in item["last_error"]
    assert pages_per_domain(db) == {}


# -- a graceful stop ---------------------------------------------------------------------------------


def test_sigterm_lets_in_flight_items_finish_within_the_grace(db: Database, tmp_path: Path) -> None:
    add_domains(db, [f"slow{i}.test" for i in range(8)])
    env = {"TEST_SLOW_SECONDS": "1", "LEADPIPE_SHUTDOWN_GRACE_SECONDS": "10", "TEST_LEASE_SECONDS": "30"}
    with fleet(db.url, tmp_path, **env) as workers:
        worker = workers.start("--concurrency", "5")
        wait_for(lambda: statuses(db)["running"] == 5, 20, "five items in flight", workers)
        stopping = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        assert exit_code(worker, 15, workers) == 0
        assert time.monotonic() - stopping < 10
    # The five in flight finished and were committed; nothing more was claimed.
    assert statuses(db) == {"done": 5, "pending": 3}
    finished = [row for row in rows(db, domains.c.status, domains.c.attempts) if row.status == "done"]
    assert [row.attempts for row in finished] == [1] * 5
    assert sorted(pages_per_domain(db).values()) == [1] * 5
    assert worker_rows(db) == 0


def test_sigterm_releases_items_longer_than_the_grace_unburnt(db: Database, tmp_path: Path) -> None:
    add_domains(db, [f"slow{i}.test" for i in range(5)])
    env = {"TEST_SLOW_SECONDS": "5", "LEADPIPE_SHUTDOWN_GRACE_SECONDS": "0.2", "TEST_LEASE_SECONDS": "30"}
    with fleet(db.url, tmp_path, **env) as workers:
        worker = workers.start()
        wait_for(lambda: statuses(db)["running"] == 5, 20, "five items in flight", workers)
        stopping = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        assert exit_code(worker, 10, workers) == 0
        assert time.monotonic() - stopping < 4  # well before the items would have ended
    assert statuses(db) == {"pending": 5}
    released = rows(db, domains.c.attempts, domains.c.lease_token, domains.c.lease_expires_at)
    assert [tuple(row) for row in released] == [(0, None, None)] * 5
    assert pages_per_domain(db) == {}
    assert worker_rows(db) == 0


@pytest.mark.skipif(sys.platform == "win32", reason="no open-file limit to raise on Windows")
@pytest.mark.parametrize("hard", [None, 300])  # None: this machine's own hard limit
def test_the_engine_raises_a_low_open_file_limit_as_far_as_allowed(hard: int | None) -> None:
    """A laptop's 256 open files would not hold the sockets of a crawl: a command running the engine
    raises its own soft limit, never past the hard one."""
    import resource

    from leadpipe.cli.runner import OPEN_FILES

    if hard is None:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    script = f"""
import resource
resource.setrlimit(resource.RLIMIT_NOFILE, (256, {hard}))
from leadpipe.cli.runner import run_engine

async def limit():
    return resource.getrlimit(resource.RLIMIT_NOFILE)

print(*run_engine(limit()))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    expected = OPEN_FILES if hard == resource.RLIM_INFINITY else min(OPEN_FILES, hard)
    assert done.stdout.split() == [str(expected), str(hard)]
