"""What a person decides is kept apart from what the machine does, and moves items in and out of the queue."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from leadpipe.cli import app
from leadpipe.config import Settings
from leadpipe.db.connect import Database
from leadpipe.db.models import pages, stage_pauses
from leadpipe.engine import queue
from leadpipe.engine.stage import Insert, Pipeline, Stage
from tests import pipelines
from tests.helpers import add_domains, domain, run_until_idle


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("LEADPIPE_DATABASE_URL", db_url)
    monkeypatch.setenv("LEADPIPE_PIPELINE", "tests.pipelines:PIPELINE")
    return CliRunner()


def _run(cli: CliRunner, *args: str) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_selecting_queues_awaiting_work_once(db: Database, cli: CliRunner) -> None:
    add_domains(db, ["a.test", "b.test"], status="awaiting")
    assert "1 queued" in _run(cli, "select", "touch", "--where", "name=a.test")
    assert domain(db, "a.test")["status"] == "pending" and domain(db, "a.test")["curation"] == "selected"
    assert domain(db, "b.test")["status"] == "awaiting"
    assert "no item matched" in _run(cli, "select", "touch", "--where", "name=a.test")
    assert domain(db, "a.test")["status"] == "pending"


def test_selecting_finished_work_does_nothing_unless_refresh(
    db: Database, cli: CliRunner, settings: Settings
) -> None:
    add_domains(db, ["a.test"])
    run_until_idle(db, settings, pipelines.PIPELINE)
    assert "recorded without moving" in _run(cli, "select", "touch", "--all")
    assert domain(db, "a.test")["status"] == "done"
    assert "1 queued" in _run(cli, "select", "touch", "--all", "--refresh")
    refreshed = domain(db, "a.test")
    assert refreshed["status"] == "pending" and refreshed["attempts"] == 0 and refreshed["outcome"] is None


def test_curation_on_postgresql_runs_on_the_database_s_clock(
    db: Database, cli: CliRunner, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not db.is_postgres:
        pytest.skip("SQLite's clock is this process's")
    add_domains(db, ["a.test", "b.test"], status="awaiting")
    add_domains(db, ["c.test"], status="done")
    far_off = datetime(2001, 1, 1, tzinfo=UTC)
    for module in ("leadpipe.db.connect", "leadpipe.engine.curation", "leadpipe.engine.queue"):
        monkeypatch.setattr(f"{module}.now", lambda: far_off, raising=False)
    _run(cli, "select", "touch", "--where", "name=a.test")
    _run(cli, "select", "touch", "--where", "name=c.test", "--refresh")
    _run(cli, "reject", "touch", "--where", "name=b.test")
    with db.engine.connect() as connection:
        database_now = connection.execute(select(func.now())).scalar_one()
    stamps = [
        domain(db, "a.test")["run_after"],
        domain(db, "c.test")["run_after"],
        domain(db, "b.test")["finished_at"],
    ]
    assert all(abs(stamp - database_now) < timedelta(seconds=1) for stamp in stamps), stamps


def test_rejecting_takes_unstarted_work_back_and_the_engine_never_overwrites_it(
    db: Database, cli: CliRunner, settings: Settings
) -> None:
    add_domains(db, ["a.test", "b.test"])
    assert "1 taken back" in _run(cli, "reject", "touch", "--where", "name=b.test")
    run_until_idle(db, settings, pipelines.PIPELINE)
    rejected = domain(db, "b.test")
    assert (rejected["status"], rejected["curation"], rejected["outcome"]) == (
        "skipped",
        "rejected",
        "rejected",
    )
    assert domain(db, "a.test")["status"] == "done" and domain(db, "a.test")["curation"] == "new"


def test_unselecting_puts_unstarted_work_back_to_awaiting(db: Database, cli: CliRunner) -> None:
    add_domains(db, ["a.test"], status="awaiting")
    _run(cli, "select", "touch", "--all")
    assert "1 taken back" in _run(cli, "unselect", "touch", "--all")
    assert domain(db, "a.test")["status"] == "awaiting" and domain(db, "a.test")["curation"] == "new"


def test_curation_names_its_items_or_refuses(db: Database, cli: CliRunner) -> None:
    nothing = cli.invoke(app, ["select", "touch"])
    assert nothing.exit_code == 1 and "name the items" in nothing.output
    unknown = cli.invoke(app, ["select", "touch", "--where", "colour=red"])
    assert unknown.exit_code == 1 and "--where takes column=value on domains" in unknown.output
    stage = cli.invoke(app, ["select", "nosuch", "--all"])
    assert stage.exit_code == 1 and "no stage named 'nosuch' (stages: touch)" in stage.output


def test_pause_and_resume(db: Database, cli: CliRunner, settings: Settings) -> None:
    add_domains(db, ["a.test"])
    assert "paused (quota)" in _run(cli, "pause", "touch", "--reason", "quota")
    run_until_idle(db, settings, pipelines.PIPELINE)
    assert domain(db, "a.test")["status"] == "pending"
    assert "paused: quota" in _run(cli, "status")
    _run(cli, "resume", "touch")
    run_until_idle(db, settings, pipelines.PIPELINE)
    assert domain(db, "a.test")["status"] == "done"


def test_pausing_from_the_command_line_does_not_load_the_worker(db: Database, db_url: str) -> None:
    """`leadpipe pause` and `resume` are quick commands: they load no worker and its machinery."""
    script = """
import json, sys
from typer.testing import CliRunner
from leadpipe.cli import app
result = CliRunner().invoke(app, sys.argv[1:])
loaded = sorted(name for name in sys.modules if name.startswith("leadpipe.engine"))
print(json.dumps({"exit": result.exit_code, "output": result.output, "loaded": loaded}))
"""
    env = {**os.environ, "LEADPIPE_DATABASE_URL": db_url, "LEADPIPE_PIPELINE": "tests.pipelines:PIPELINE"}
    for command in (["pause", "touch", "--reason", "quota"], ["resume", "touch"]):
        ran = subprocess.run(
            [sys.executable, "-c", script, *command], env=env, capture_output=True, text=True, check=True
        )
        told = json.loads(ran.stdout.splitlines()[-1])
        assert told["exit"] == 0, told["output"]
        assert "leadpipe.engine.worker" not in told["loaded"], told["loaded"]
        with db.engine.connect() as connection:
            paused = connection.execute(select(stage_pauses.c.reason)).scalars().all()
        assert paused == (["quota"] if command[0] == "pause" else [])


def test_requeue_from_the_command_line(db: Database, cli: CliRunner, settings: Settings) -> None:
    add_domains(db, ["permanent.test"])
    run_until_idle(db, settings, pipelines.PIPELINE)
    assert "1 items queued again" in _run(cli, "requeue", "touch", "--dead")
    assert domain(db, "permanent.test")["status"] == "pending"


def test_new_outputs_wait_for_a_person_where_the_consumer_stage_says_so(db: Database) -> None:
    """The consuming stage's policy, per category, decides whether new records go forward on their own."""
    reader = Stage(
        name="read",
        table=pages,
        handler=pipelines.touch,
        curation={"contact": "auto", "*": "manual"},
    )
    pipeline = Pipeline([pipelines.touch_stage(), reader])
    add_domains(db, ["a.test"])
    domain_id = domain(db, "a.test")["id"]
    rows = [
        {"domain_id": domain_id, "url": "https://a.test/kontakt", "category": "contact"},
        {"domain_id": domain_id, "url": "https://a.test/blog", "category": "blog"},
    ]
    default = Settings(database_url=db.url)
    configured = Settings(database_url=db.url, curation={"read": {"blog": "auto"}})
    with db.begin() as connection:
        queue.write(db, connection, pipeline, default, Insert(pages, rows))
        queue.write(
            db, connection, pipeline, configured, Insert(pages, [{**rows[1], "url": "https://a.test/news"}])
        )
    with db.engine.connect() as connection:
        found = dict(connection.execute(pages.select().with_only_columns(pages.c.url, pages.c.status)).all())
    assert found == {
        "https://a.test/kontakt": "pending",
        "https://a.test/blog": "awaiting",
        "https://a.test/news": "pending",
    }
