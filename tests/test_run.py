"""The main job end to end: `leadpipe run` over a web of sample sites reached through the proxy settings,
its export checked against the sites' known contacts; a run killed half-way and run again."""

from __future__ import annotations

import csv
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from leadpipe.cli import run
from leadpipe.cli.run import Pace
from leadpipe.config import Settings
from leadpipe.db.connect import Database
from leadpipe.db.models import pages
from leadpipe.demo.sites import known_contacts, sample_sites, serve
from leadpipe.demo.web import Web
from leadpipe.engine import health
from leadpipe.web.fetch import Fetcher
from tests.helpers import leadpipe_process

SITES = sample_sites(56)


@pytest.fixture(scope="module")
def web() -> Iterator[Web]:
    server = Web().start()
    serve(server, SITES)
    yield server
    server.stop()


def leadpipe(db_url: str, web: Web, *args: str, **settings: str) -> subprocess.Popen[str]:
    defaults = {"LEADPIPE_PROXY": web.url, "LEADPIPE_HTTP_PER_HOST": "4", "LEADPIPE_DEFAULT_REGION": "US"}
    return leadpipe_process(*args, LEADPIPE_DATABASE_URL=db_url, **{**defaults, **settings})


def exported(path: Path) -> set[tuple[str, str, str]]:
    """(domain, kind, value) of each row; a phone's value without the quote that keeps it text."""
    with path.open(encoding="utf-8") as file:
        return {(row["domain"], row["kind"], row["value"].removeprefix("'")) for row in csv.DictReader(file)}


def write_input(tmp_path: Path) -> Path:
    path = tmp_path / "sites.txt"
    path.write_text("# sample sites\n" + "\n".join(site.domain for site in SITES) + "\n", encoding="utf-8")
    return path


def test_recall_and_precision_against_the_sites_known_contacts(db_url: str, web: Web, tmp_path: Path) -> None:
    output = tmp_path / "contacts.csv"
    process = leadpipe(
        db_url, web, "run", str(write_input(tmp_path)), "--output", str(output), "--max-wait", "2"
    )
    log, _ = process.communicate(timeout=300)
    assert process.returncode == 0, log
    assert f"wrote {len(exported(output))} rows to {output}" in log
    found = {fact for fact in exported(output) if fact[1] in ("email", "phone", "social")}
    expected = known_contacts(SITES)
    recall = len(found & expected) / len(expected)
    precision = len(found & expected) / len(found)
    assert recall >= 0.95, sorted(expected - found)[:20]
    assert precision >= 0.98, sorted(found - expected)[:20]


def test_a_run_killed_half_way_finishes_with_the_same_export_when_run_again(
    db_url: str, web: Web, tmp_path: Path
) -> None:
    sites = write_input(tmp_path)
    output = tmp_path / "contacts.csv"
    first = leadpipe(db_url, web, "run", str(sites), "--output", str(output), "--max-wait", "2")
    db = Database(db_url)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with db.engine.connect() as connection:
                scraped = connection.execute(
                    select(func.count()).where(pages.c.status == "done")
                ).scalar_one()
            if scraped >= 40:
                break
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        assert not output.exists(), "the run ended before it was killed: make the web slower"
        again = leadpipe(db_url, web, "run", str(sites), "--output", str(output), "--max-wait", "2")
        log, _ = again.communicate(timeout=300)
        assert again.returncode == 0, log
        assert "0 new domains, 56 already known" in log
    finally:
        db.dispose()
    uninterrupted = tmp_path / "uninterrupted.csv"
    clean = leadpipe(
        f"sqlite:///{tmp_path / 'clean.db'}", web, "run", str(sites), "--output", str(uninterrupted)
    )
    log, _ = clean.communicate(timeout=300)
    assert clean.returncode == 0, log
    assert exported(output) == exported(uninterrupted)
    assert len(exported(output) & known_contacts(SITES)) / len(known_contacts(SITES)) >= 0.95


def test_exit_status_names_what_is_not_final(db_url: str, tmp_path: Path) -> None:
    web = Web().start()
    try:
        web.add(
            "busy-shop.com",
            "/robots.txt",
            b"Sitemap: http://busy-shop.com/sitemap.xml\n",
            content_type="text/plain",
        )
        web.add("busy-shop.com", "/sitemap.xml", b"slow down", status=429, headers={"Retry-After": "600"})
        sites = tmp_path / "one.txt"
        sites.write_text("busy-shop.com\n", encoding="utf-8")
        waiting = leadpipe(
            db_url, web, "run", str(sites), "--output", str(tmp_path / "out.csv"), "--max-wait", "1"
        )
        log, _ = waiting.communicate(timeout=120)
        assert waiting.returncode == 3, log
        assert "not final: discover: 1 items wait for a retry later" in log
        unreadable = leadpipe(db_url, web, "run", str(tmp_path / "missing.txt"))
        log, _ = unreadable.communicate(timeout=60)
        assert unreadable.returncode == 1
        assert log.strip() == f"leadpipe: no such file: {tmp_path / 'missing.txt'}"
    finally:
        web.stop()


def test_a_run_leaves_the_input_to_a_person_where_curation_says_so(
    db_url: str, web: Web, tmp_path: Path
) -> None:
    sites = tmp_path / "two.txt"
    sites.write_text("\n".join(site.domain for site in SITES[:2]) + "\n", encoding="utf-8")
    output = str(tmp_path / "out.csv")
    curation = '{"discover": "manual"}'
    process = leadpipe(
        db_url, web, "run", str(sites), "--output", output, "--max-wait", "0.5", LEADPIPE_CURATION=curation
    )
    log, _ = process.communicate(timeout=120)
    assert process.returncode == 0, log
    assert "not final: discover: 2 items await a person (`leadpipe select discover …`)" in log
    db = Database(db_url)
    try:
        with db.engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(pages)).scalar_one() == 0
    finally:
        db.dispose()


def test_a_runs_pace_gives_requests_in_flight_rates_and_the_time_left() -> None:
    def report(scrape_done: int, scrape_due: int, discover_due: int = 0) -> health.Report:
        def stage(name: str, done: int, due: int) -> health.StageHealth:
            counts = Counter({"done": done, "pending": due})
            return health.StageHealth(name, "", counts, due, 0, None, 0, None, 0, 1)

        stages = [stage("discover", 10, discover_due), stage("scrape", scrape_done, scrape_due)]
        return health.Report(stages, [], [], [])

    now = [0.0]
    fetcher = Fetcher(Settings())
    pace = Pace(fetcher, clock=lambda: now[0])
    pace.note(report(scrape_done=0, scrape_due=100))
    assert "time left unknown" in pace.describe()  # no pace yet to go by
    now[0], fetcher.requests, fetcher.in_flight = 10.0, 300, 48
    pace.note(report(scrape_done=50, scrape_due=100))
    assert pace.describe() == "48 requests in flight · 30 requests/s · 5.0 pages/s · about 20s left"
    now[0] = 20.0
    pace.note(report(scrape_done=60, scrape_due=40, discover_due=5))  # discover finished none lately
    assert "time left unknown" in pace.describe()
    assert run._line(report(60, 40), pace).startswith("20s discover 10/10, scrape 60/100 · 48 requests")
