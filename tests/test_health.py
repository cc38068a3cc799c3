"""Nothing fails silently: `leadpipe status` and the health check name every way work can stop moving."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, insert, select, update
from typer.testing import CliRunner

from leadpipe.cli import app
from leadpipe.config import Settings
from leadpipe.db.connect import Database, now
from leadpipe.db.models import businesses, domains, pages, stage_pauses, workers
from leadpipe.engine import health, queue
from leadpipe.engine.pause import pause_stage
from leadpipe.engine.stage import Context, Item, Pipeline, Result
from leadpipe.engine.worker import process_start
from tests import pipelines
from tests.helpers import add_domains, run_until_idle

PIPELINE = Pipeline([pipelines.touch_stage()])


def _age(db: Database, seconds: float) -> None:
    """Make every pending domain eligible since ``seconds`` ago."""
    with db.begin() as connection:
        connection.execute(update(domains).values(run_after=now() - timedelta(seconds=seconds)))


def _worker(
    db: Database,
    stages: list[str],
    seen_ago: float = 0.0,
    *,
    host: str = "host",
    pid: int = 1,
    started: str | None = None,
) -> str:
    moment = now() - timedelta(seconds=seen_ago)
    name = f"{host}-{pid}-{'+'.join(stages)}-{seen_ago}"
    with db.begin() as connection:
        connection.execute(
            insert(workers).values(
                id=name,
                host=host,
                pid=pid,
                process_start=started,
                stages=stages,
                concurrency=1,
                version="test",
                started_at=moment,
                last_seen_at=moment,
            )
        )
    return name


def _ended_pid() -> int:
    """The pid of a process that has ended (and was waited for)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _messages(report: health.Report, level: str) -> list[str]:
    return [f"{p.stage}: {p.message}" for p in report.problems if p.level == level]


def test_waiting_work_with_no_worker_at_all_is_a_notice_naming_the_stage(
    db: Database, settings: Settings
) -> None:
    add_domains(db, ["a.test", "b.test"])
    _age(db, 90)
    report = health.check(db, PIPELINE, settings)
    (stage,) = report.stages
    assert stage.pending_now == 2 and stage.live_workers == 0
    assert stage.oldest_eligible_seconds is not None and stage.oldest_eligible_seconds >= 89
    (notice,) = _messages(report, "notice")
    assert notice.startswith("touch: 2 items are ready") and "`leadpipe worker`" in notice
    assert report.ok


def test_workers_that_do_not_serve_a_stage_with_work_is_an_error(db: Database, settings: Settings) -> None:
    add_domains(db, ["a.test"])
    _worker(db, ["other"])
    report = health.check(db, PIPELINE, settings)
    (error,) = _messages(report, "error")
    assert "none of the 1 live workers serves this stage" in error
    assert "leadpipe worker --stage touch" in error
    assert not report.ok


def test_a_worker_whose_heartbeat_stopped_is_not_live(db: Database, settings: Settings) -> None:
    add_domains(db, ["a.test"])
    _worker(db, ["touch"], seen_ago=60)
    report = health.check(db, PIPELINE, settings)
    assert report.workers == [] and report.ok
    assert "no worker is running" in _messages(report, "notice")[0]


def test_a_served_stage_that_stopped_completing_is_an_error(db: Database, settings: Settings) -> None:
    add_domains(db, ["a.test"])
    _age(db, 600)
    _worker(db, ["touch"])
    report = health.check(db, PIPELINE, settings)
    (error,) = _messages(report, "error")
    assert error.startswith("touch: stalled: 1 items ready for 10 min and none completed")


def test_expired_leases_left_unreaped_while_workers_live_are_an_error(
    db: Database, settings: Settings
) -> None:
    add_domains(db, ["a.test"])
    stage = pipelines.touch_stage(lease_seconds=0)
    with db.begin() as connection:
        queue.claim(db, connection, stage, settings, "vanished", 1)
        connection.execute(update(domains).values(lease_expires_at=now() - timedelta(minutes=3)))
    _worker(db, ["touch"])
    report = health.check(db, PIPELINE, settings)
    assert report.stages[0].expired_leases == 1
    assert any("hold leases that expired 3 min ago" in e for e in _messages(report, "error"))


def test_awaiting_selection_and_paused_are_reported_but_are_not_errors(
    db: Database, settings: Settings
) -> None:
    add_domains(db, ["a.test"], status="awaiting")
    add_domains(db, ["b.test"])
    with db.begin() as connection:
        connection.execute(
            insert(stage_pauses).values(stage="touch", reason="no credits", paused_by="me", paused_at=now())
        )
    _worker(db, ["touch"])
    report = health.check(db, PIPELINE, settings)
    assert report.ok
    notices = _messages(report, "notice")
    assert any("paused: no credits (by me" in n for n in notices)
    assert any("1 items await a person's selection" in n for n in notices)
    assert report.stages[0].counts["awaiting"] == 1


def test_items_done_whose_downstream_records_never_appeared_are_named(
    db: Database, settings: Settings
) -> None:
    add_domains(db, ["ok.test", "hollow.test"])
    run_until_idle(db, settings, PIPELINE)
    with (
        db.begin() as connection
    ):  # as if the handler of hollow.test had reported success and written nothing
        hollow = select(domains.c.id).where(domains.c.name == "hollow.test").scalar_subquery()
        connection.execute(delete(pages).where(pages.c.domain_id == hollow))
    report = health.check(db, PIPELINE, settings)
    assert report.stages[0].missing_outputs == 1
    (error,) = _messages(report, "error")
    assert "1 items are done but their downstream records never appeared (e.g. hollow.test)" in error


def test_records_waiting_in_a_table_no_stage_consumes_are_an_error(db: Database, settings: Settings) -> None:
    with db.begin() as connection:
        connection.execute(insert(businesses).values(name="Acme", website="acme.test"))
    report = health.check(db, PIPELINE, settings)
    (error,) = _messages(report, "error")
    assert error == "None: 1 businesses records wait but no stage of this pipeline consumes businesses"


def test_dead_items_are_a_warning_with_the_way_back(db: Database, settings: Settings) -> None:
    add_domains(db, ["permanent.test"])
    run_until_idle(db, settings, PIPELINE)
    report = health.check(db, PIPELINE, settings)
    (warning,) = _messages(report, "warning")
    assert "1 items are dead (latest error: Permanent: permanent.test is malformed)" in warning
    assert "leadpipe requeue touch --dead" in warning
    assert report.ok


@pytest.fixture
def cli_env(db_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("LEADPIPE_DATABASE_URL", db_url)
    monkeypatch.setenv("LEADPIPE_PIPELINE", "tests.pipelines:PIPELINE")
    return CliRunner()


def test_status_check_exits_non_zero_only_on_errors(db: Database, cli_env: CliRunner) -> None:
    add_domains(db, ["a.test"])
    calm = cli_env.invoke(app, ["status", "--check"])
    assert calm.exit_code == 0, calm.output
    assert "no worker is running" in calm.output
    _worker(db, ["elsewhere"])
    alarmed = cli_env.invoke(app, ["status", "--check", "--json"])
    assert alarmed.exit_code == 1
    report = json.loads(alarmed.output)
    assert report["ok"] is False
    assert report["stages"][0]["name"] == "touch" and report["stages"][0]["pending_now"] == 1
    assert report["problems"][0]["level"] == "error"


def test_a_health_check_in_progress_never_makes_a_writer_wait(db: Database) -> None:
    """A progress display reads every few seconds while the workers write: on SQLite a reader that
    took the write lock would hold up every claim and commit behind it."""
    add_domains(db, ["reading.test"])
    done = threading.Event()

    def write() -> None:
        add_domains(db, ["writing.test"])
        done.set()

    with db.read() as connection:
        assert connection.execute(select(domains.c.name)).scalars().all() == ["reading.test"]
        writer = threading.Thread(target=write)
        writer.start()
        assert done.wait(5), "the writer waited for the reader"
        # The reader's snapshot is one moment: the row written meanwhile is not in it.
        assert connection.execute(select(domains.c.name)).scalars().all() == ["reading.test"]
    writer.join()


def test_a_worker_of_this_machine_whose_process_is_gone_is_dead_at_once(
    db: Database, settings: Settings, cli_env: CliRunner
) -> None:
    """Its heartbeat is fresh and its leases hold, as just after a SIGKILL: the process's absence tells."""
    add_domains(db, ["a.test", "b.test", "c.test"])
    host, pid = socket.gethostname(), _ended_pid()
    killed = _worker(db, ["touch"], host=host, pid=pid)
    with db.begin() as connection:
        queue.claim(db, connection, pipelines.touch_stage(lease_seconds=600), settings, killed, 2)
    report = health.check(db, PIPELINE, settings)
    assert report.workers == [] and report.stages[0].live_workers == 0
    (dead,) = report.dead_workers
    assert (dead.id, dead.host, dead.pid, dead.running) == (killed, host, pid, {"touch": 2})
    (error,) = _messages(report, "error")
    assert f"worker {killed} (host {host}, pid {pid}) is dead: its process is gone" in error
    assert "it left 2 items running (touch 2)" in error
    assert not report.ok

    checked = cli_env.invoke(app, ["status", "--check", "--json"])
    assert checked.exit_code == 1
    assert json.loads(checked.output)["dead_workers"][0]["running"] == {"touch": 2}


def test_a_pid_now_held_by_a_later_process_is_not_the_worker(db: Database, settings: Settings) -> None:
    """The worker's pid was given to another process since, in this boot or after a reboot: the
    recorded start tells them apart."""
    host, pid = socket.gethostname(), os.getpid()
    started = process_start(pid)
    assert started is not None
    boot, space, _ = started.split("/", 2)
    alive = _worker(db, ["touch"], host=host, pid=pid, started=started)
    earlier = _worker(db, ["earlier"], host=host, pid=pid, started=f"{boot}/{space}/1")
    # A container's pid namespace is new at each boot: only the boot tells that it is gone.
    rebooted = _worker(db, ["rebooted"], host=host, pid=pid, started="an earlier boot/pid:[1]/1")
    report = health.check(db, PIPELINE, settings)
    assert [worker.id for worker in report.workers] == [alive]
    assert sorted(worker.id for worker in report.dead_workers) == sorted([earlier, rebooted])
    assert not report.ok


def test_another_machine_s_worker_is_judged_by_its_heartbeat(db: Database, settings: Settings) -> None:
    """A pid of another machine, or of another container under this host name, means nothing here,
    even one that no process seen from here holds."""
    add_domains(db, ["a.test"])
    pid = _ended_pid()
    started = process_start(os.getpid())
    assert started is not None
    boot, _, ticks = started.split("/", 2)
    remote = _worker(db, ["touch"], host="elsewhere.invalid", pid=pid)
    _worker(db, ["touch"], seen_ago=60, host="gone.invalid", pid=pid)
    container = _worker(db, ["other"], host=socket.gethostname(), pid=pid, started=f"{boot}/pid:[1]/{ticks}")
    report = health.check(db, PIPELINE, settings)
    assert sorted(worker.id for worker in report.workers) == sorted([remote, container])
    assert report.dead_workers == [] and report.ok


def test_a_worker_process_ended_but_not_yet_waited_for_is_dead(db: Database, settings: Settings) -> None:
    """A killed process stays in the process table until its parent waits for it: it runs nothing."""
    process = subprocess.Popen(["true"])
    try:
        zombie = Path(f"/proc/{process.pid}/stat")
        deadline = time.monotonic() + 5
        while zombie.read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline, "the process did not end"
            time.sleep(0.01)
        ended = _worker(db, ["touch"], host=socket.gethostname(), pid=process.pid)
        report = health.check(db, PIPELINE, settings)
    finally:
        process.wait()
    assert report.workers == [] and [worker.id for worker in report.dead_workers] == [ended]


def test_on_postgresql_workers_pauses_and_the_health_check_keep_the_database_s_clock(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A machine whose clock is a day off still counts as live, and its stamps are the database's."""
    if not db.is_postgres:
        pytest.skip("SQLite's clock is this process's")
    a_day_off = now() - timedelta(days=1)
    for module in ("connect", "queue", "worker", "health", "pause"):
        name = f"leadpipe.db.{module}.now" if module == "connect" else f"leadpipe.engine.{module}.now"
        monkeypatch.setattr(name, lambda: a_day_off, raising=False)
    add_domains(db, ["a.test"])
    seen: list[health.Report] = []
    stamps: list[datetime] = []

    async def touch_and_look(item: Item, context: Context) -> Result:
        with db.begin() as connection:
            pause_stage(connection, "other", "a test", by="test")
            stamps.extend(connection.execute(select(workers.c.last_seen_at, func.now())).one())
        seen.append(health.check(db, PIPELINE, settings))
        return Result(outcome="ok")

    run_until_idle(db, settings, Pipeline([pipelines.touch_stage(handler=touch_and_look)]))
    (report,) = seen
    assert [worker.stages for worker in report.workers] == [["touch"]]
    assert report.workers[0].last_seen_seconds < 5
    with db.engine.connect() as connection:
        database_now = connection.execute(select(func.now())).scalar_one()
        (paused_at,) = connection.execute(select(stage_pauses.c.paused_at)).one()
    assert abs(paused_at - database_now) < timedelta(seconds=5)
    last_seen, then = stamps
    assert abs(last_seen - then) < timedelta(seconds=5)
