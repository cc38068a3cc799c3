"""From a map search to exported contacts, as a user types it: `leadpipe search … && leadpipe run -o
leads.csv`, against the fake Places API and the sample sites on loopback, on SQLite and PostgreSQL; a
search killed half-way and resumed; the plan of a dry run; and the demo."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from leadpipe.db.connect import Database
from leadpipe.db.models import businesses, search_cells, searches
from leadpipe.demo.places import GOOD_KEY, PlacesApi, sample_site_places, seeded_city
from leadpipe.demo.sites import known_contacts, sample_sites, serve
from leadpipe.demo.web import Web
from leadpipe.web.places import Rectangle
from tests.helpers import leadpipe_process

ROOT = Path(__file__).resolve().parents[1]
SITES = sample_sites(40)
CENTER = (52.52, 13.405)
BOX = Rectangle.around(*CENTER, 3.0)
BBOX = f"{BOX.south},{BOX.west},{BOX.north},{BOX.east}"
# The sample sites' businesses within 2 km of the centre, and a city of others around them.
PLACES = sample_site_places(SITES, center=CENTER) + seeded_city(
    2000, center=CENTER, spread_km=2.5, closed_every=9
)


@pytest.fixture(scope="module")
def web() -> Iterator[Web]:
    server = Web().start()
    serve(server, SITES)
    yield server
    server.stop()


@pytest.fixture
def api() -> Iterator[PlacesApi]:
    server = PlacesApi(PLACES, areas={"Berlin": (BOX.south, BOX.west, BOX.north, BOX.east)}).start()
    yield server
    server.stop()


def leadpipe(
    db_url: str, api: PlacesApi, web: Web | None, *args: str, **settings: str
) -> subprocess.Popen[str]:
    defaults = {
        "LEADPIPE_DATABASE_URL": db_url,
        "LEADPIPE_GOOGLE_PLACES_API_KEY": GOOD_KEY,
        "LEADPIPE_PLACES_BASE_URL": api.url,
        "LEADPIPE_HTTP_PER_HOST": "4",
        **({"LEADPIPE_PROXY": web.url} if web else {}),
    }
    return leadpipe_process(*args, **{**defaults, **settings})


def finished(process: subprocess.Popen[str], code: int = 0) -> str:
    log, _ = process.communicate(timeout=300)
    assert process.returncode == code, log
    return log


def test_from_a_map_search_to_exported_contacts(
    db_url: str, api: PlacesApi, web: Web, tmp_path: Path
) -> None:
    log = finished(leadpipe(db_url, api, web, "search", "dentist", "--in", "Berlin"))
    assert "added search #1" in log and "Text Search Enterprise" in log
    finished(leadpipe(db_url, api, web, "search", "bakery", "--bbox", BBOX))
    output = tmp_path / "leads.csv"
    log = finished(leadpipe(db_url, api, web, "run", "-o", str(output), "--max-wait", "2"))
    assert "businesses from map searches:" in log and "closed_permanently" in log and "no_website" in log
    with output.open(encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    found = {(row["domain"], row["kind"], row["value"].removeprefix("'")) for row in rows}
    wanted = [site for site in SITES if site.trade in ("dental", "bakery")]
    expected = known_contacts(wanted)
    assert len(found & expected) / len(expected) >= 0.95, sorted(expected - found)[:10]
    assert {domain for domain, _, _ in found} == {site.domain for site in wanted}  # no other trade's site
    by_domain = {row["domain"]: row for row in rows}
    for site in wanted:
        row = by_domain[site.domain]
        assert row["business"] == site.name
        assert row["category"] == ("Dentist" if site.trade == "dental" else "Bakery")
        assert row["place_id"].startswith("ChIJ") and row["maps_url"].startswith("https://maps.google.com/")
        assert row["city"] == site.city and row["country"] == site.country
        assert (
            float(row["latitude"])
            and float(row["longitude"])
            and float(row["rating"])
            and int(row["reviews"])
        )
        assert row["business_phone"].removeprefix("'") in site.phones


def test_a_search_killed_half_way_resumes_and_pays_for_no_page_twice(db_url: str, api: PlacesApi) -> None:
    api.delay = 0.05
    finished(leadpipe(db_url, api, None, "search", "dentist", "--bbox", BBOX, LEADPIPE_PLACES_CELL_KM="1"))
    db = Database(db_url)
    try:
        with db.engine.connect() as connection:
            first_cells = connection.execute(select(func.count()).select_from(search_cells)).scalar_one()
        worker = leadpipe(db_url, api, None, "worker", "--stage", "search", LEADPIPE_PLACES_CELL_KM="1")
        deadline = time.monotonic() + 60
        done = 0
        while time.monotonic() < deadline and done < first_cells // 2:
            with db.engine.connect() as connection:
                done = connection.execute(
                    select(func.count()).where(search_cells.c.status == "done")
                ).scalar_one()
            time.sleep(0.02)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        before_kill = len(api.requests)
        assert 0 < done < first_cells, "the search ended before it was killed: make the fake slower"
        api.delay = 0
        finished(leadpipe(db_url, api, None, "worker", "--stage", "search", "--until-idle"))
        with db.engine.connect() as connection:
            outcomes: Counter[str] = Counter(
                dict(
                    connection.execute(
                        select(search_cells.c.status, func.count()).group_by(search_cells.c.status)
                    ).all()
                )
            )
            billed = connection.execute(select(func.sum(search_cells.c.requests))).scalar_one()
            place_ids = set(connection.execute(select(businesses.c.place_id)).scalars())
    finally:
        db.dispose()
    assert set(outcomes) == {"done"}, outcomes
    asked = Counter((str(request.body), request.status) for request in api.requests)
    twice = {key: count for key, count in asked.items() if count > 1}
    # Only a request in flight when the worker died (at most the stage's 4 at a time) is asked again.
    assert sum(count - 1 for count in twice.values()) <= 4, twice
    assert billed >= len(api.requests) - 4 and len(api.requests) > before_kill
    dentists = {
        place["id"]
        for place in PLACES
        if place["primaryType"] == "dentist"
        and BOX.holds(place["location"]["latitude"], place["location"]["longitude"])
    }
    assert place_ids == dentists


def test_a_dry_run_prints_the_plan_and_its_price_and_adds_nothing(db_url: str, api: PlacesApi) -> None:
    # 0.2° of latitude is 22.3 km: 5 rows of cells; 0.2° of longitude at 52.5° north is 13.6 km: 3 columns.
    log = finished(
        leadpipe(db_url, api, None, "search", "dentist", "--bbox", "52.4,13.3,52.6,13.5", "--dry-run")
    )
    assert "first cells: 15" in log
    assert "up to 45 before any split" in log
    assert (
        "billed as Text Search Enterprise" in log
        and "$35.00 per 1,000 requests" in log
        and "2025-03-01" in log
    )
    assert "worst case: 500 requests (the cap), $17.50" in log
    assert not api.requests  # a box or a circle costs nothing to plan
    db = Database(db_url)
    try:
        with db.engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(searches)).scalar_one() == 0
    finally:
        db.dispose()


def test_an_area_by_name_with_a_rejected_key_is_one_clear_line(db_url: str, api: PlacesApi) -> None:
    process = leadpipe(
        db_url, api, None, "search", "dentist", "--in", "Berlin", LEADPIPE_GOOGLE_PLACES_API_KEY="nope"
    )
    log = finished(process, code=1)
    assert "API_KEY_INVALID" in log and "LEADPIPE_GOOGLE_PLACES_API_KEY" in log and "Traceback" not in log
    unknown = finished(leadpipe(db_url, api, None, "search", "dentist", "--in", "Atlantis"), code=1)
    assert "knows no area named 'Atlantis'" in unknown
    bad = finished(leadpipe(db_url, api, None, "search", "dentist", "--bbox", "52,13,51,14"), code=1)
    assert "south < north" in bad


def test_the_demo_goes_from_a_map_search_to_the_expected_contacts() -> None:
    process = subprocess.run(
        [sys.executable, "-m", "leadpipe", "demo"],
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stdout + process.stderr
    assert "businesses from map searches: 14 (8 domain, 5 no_website, 1 closed_permanently)" in process.stdout
    assert process.stdout.count("│ yes") == 8  # each sample site found with its expected contacts
