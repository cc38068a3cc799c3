"""Finding businesses with Google Places, against the fake API (leadpipe.demo.places), which speaks
Google's wire format: the client's paging and prices, the area's cells as the search stage's work, the
errors as Google sends them, the caps, a search stopped half-way, and a search made again."""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import delete, func, select, update
from typer.testing import CliRunner

from leadpipe.cli import search as search_command
from leadpipe.cli.app import app
from leadpipe.config import Settings
from leadpipe.db.connect import Database
from leadpipe.db.models import businesses, search_cells, stage_pauses
from leadpipe.demo.places import GOOD_KEY, PlacesApi, seeded_city
from leadpipe.engine import health
from leadpipe.extract.places import business_from_place
from leadpipe.stages import PIPELINE
from leadpipe.web.places import LEAD_FIELDS, PlacesClient, Rectangle, search_mask, search_tier
from tests.helpers import run_until_idle

CENTER = (52.52, 13.405)
CITY = seeded_city(8400, center=CENTER, clusters=6, spread_km=6.0, closed_every=50)
DENTISTS = [place for place in CITY if place["primaryType"] == "dentist"]
AREA = Rectangle.around(*CENTER, 12.0)
# Somewhere in a cluster: a few dentists around it.
BUSY = (DENTISTS[0]["location"]["latitude"], DENTISTS[0]["location"]["longitude"])


@pytest.fixture(scope="module")
def api() -> Iterator[PlacesApi]:
    server = PlacesApi(CITY, areas={"Berlin": (AREA.south, AREA.west, AREA.north, AREA.east)}).start()
    yield server
    server.stop()


@pytest.fixture
def places_settings(settings: Settings, api: PlacesApi) -> Settings:
    api.requests.clear()
    api.billed.clear()
    return settings.model_copy(
        update={
            "google_places_api_key": SecretStr(GOOD_KEY),
            "places_base_url": api.url,
            "places_cell_km": 6.0,
        }
    )


def add_search(db: Database, settings: Settings, query: str, area: Rectangle = AREA, **options: Any) -> int:
    plan = search_command.plan(settings, search_command.Area(area, "the test's box"))
    return search_command.add(
        db,
        PIPELINE,
        settings,
        query,
        plan,
        included_type=options.get("included_type"),
        language=options.get("language"),
        region=options.get("region"),
    )


def search_only(db: Database, settings: Settings) -> Counter[str]:
    return run_until_idle(db, settings, PIPELINE, stages=["search"])


def found(db: Database) -> list[dict[str, Any]]:
    with db.engine.connect() as connection:
        return [dict(row) for row in connection.execute(select(businesses)).mappings()]


def cell_outcomes(db: Database) -> Counter[str]:
    with db.engine.connect() as connection:
        rows = connection.execute(
            select(search_cells.c.status, search_cells.c.outcome, func.count()).group_by(
                search_cells.c.status, search_cells.c.outcome
            )
        )
        return Counter({f"{status}:{outcome}": count for status, outcome, count in rows})


def pause_reason(db: Database) -> str | None:
    with db.engine.connect() as connection:
        return connection.execute(
            select(stage_pauses.c.reason).where(stage_pauses.c.stage == "search")
        ).scalar_one_or_none()


# -- the client ---------------------------------------------------------------------------------------


def test_text_search_pages_through_60_results_and_the_lead_mask_is_billed_as_enterprise(
    api: PlacesApi, places_settings: Settings
) -> None:
    async def pages() -> list[int]:
        client = PlacesClient(places_settings)
        sizes, token = [], None
        body = {"textQuery": "dentist", "pageSize": 20}
        try:
            while True:
                page = await client.search_text(body, search_mask(LEAD_FIELDS), token)
                sizes.append(len(page.places))
                if page.next_page_token is None:
                    return sizes
                token = page.next_page_token
        finally:
            await client.aclose()

    assert len(DENTISTS) > 60
    assert asyncio.run(pages()) == [20, 20, 20]
    assert api.billed == Counter({"Text Search Enterprise": 3})
    assert search_tier(search_mask(LEAD_FIELDS)) == "Enterprise"
    assert all(request.field_mask == search_mask(LEAD_FIELDS) for request in api.requests)


def test_the_mask_sets_the_tier() -> None:
    assert search_tier("places.id,nextPageToken") == "Essentials IDs Only"
    assert search_tier("places.id,places.displayName,places.location") == "Pro"
    assert search_tier("places.id,places.websiteUri") == "Enterprise"
    assert search_tier("places.reviews") == "Enterprise + Atmosphere"
    assert search_tier("*") == "Enterprise + Atmosphere"


def test_place_details_takes_its_mask_without_the_prefix(api: PlacesApi, places_settings: Settings) -> None:
    async def details() -> dict[str, Any]:
        client = PlacesClient(places_settings)
        try:
            return await client.details(DENTISTS[0]["id"], ["id", "displayName", "websiteUri"])
        finally:
            await client.aclose()

    place = asyncio.run(details())
    assert place["id"] == DENTISTS[0]["id"]
    assert api.requests[-1].field_mask == "id,displayName,websiteUri"
    assert api.billed == Counter({"Place Details Enterprise": 1})


def test_a_place_becomes_a_business_with_its_parts_and_an_e164_phone() -> None:
    place = next(place for place in DENTISTS if place.get("internationalPhoneNumber"))
    business = business_from_place(place)
    assert business is not None
    assert business["place_id"] == place["id"] and business["source_key"] == f"place:{place['id']}"
    assert business["phone"] is not None and business["phone"].startswith("+49")
    assert " " not in business["phone"]
    assert business["country"] == "DE" and business["city"] and business["postal_code"] and business["street"]
    assert business["latitude"] == place["location"]["latitude"]
    assert business["category"] == "Dentist" and business["primary_type"] == "dentist"
    assert business["maps_url"] == place["googleMapsUri"] and business["raw"] == place
    assert business_from_place({"displayName": {"text": "no id"}}) is None
    odd = business_from_place({"id": "x", "location": "north", "rating": "5", "types": "dentist"})
    assert odd is not None and odd["latitude"] is None and odd["rating"] is None and odd["types"] is None


# -- the search stage ---------------------------------------------------------------------------------


def test_an_area_of_a_thousand_places_in_dense_clusters_is_found_whole_without_duplicates(
    db: Database, places_settings: Settings, api: PlacesApi
) -> None:
    inside = [
        place
        for place in DENTISTS
        if AREA.holds(place["location"]["latitude"], place["location"]["longitude"])
    ]
    assert len(inside) >= 1000
    settings = places_settings.model_copy(update={"places_max_requests": 5000})
    add_search(db, settings, "dentist")
    search_only(db, settings)
    rows = found(db)
    assert sorted(row["place_id"] for row in rows) == sorted(place["id"] for place in inside)
    outcomes = cell_outcomes(db)
    assert not [key for key in outcomes if not key.startswith("done:")], outcomes
    assert outcomes["done:saturated"] == 0
    requests = len(api.requests)
    least = math.ceil(len(inside) / 20)
    print(
        f"\n{len(inside)} places found with {requests} requests; the least possible is {least}"
        f" ({requests / least:.1f}×); cells: {dict(outcomes)}"
    )
    with db.engine.connect() as connection:
        billed = connection.execute(select(func.sum(search_cells.c.requests))).scalar_one()
    assert billed == requests == api.billed["Text Search Enterprise"]
    assert requests < 6 * least


def test_a_full_cell_at_the_smallest_size_is_reported_saturated(
    db: Database, places_settings: Settings
) -> None:
    settings = places_settings.model_copy(update={"places_cell_km": 50.0, "places_min_cell_km": 40.0})
    add_search(db, settings, "dentist")
    search_only(db, settings)
    assert cell_outcomes(db)["done:saturated"] == 1
    assert len(found(db)) == 60


def test_a_rejected_key_pauses_the_stage_with_the_fix_and_burns_nothing(
    db: Database, places_settings: Settings
) -> None:
    settings = places_settings.model_copy(update={"google_places_api_key": SecretStr("AIza-not-a-key")})
    add_search(db, settings, "dentist")
    search_only(db, settings)
    reason = pause_reason(db)
    assert reason is not None and "API_KEY_INVALID" in reason and "LEADPIPE_GOOGLE_PLACES_API_KEY" in reason
    assert "AIza-not-a-key" not in reason
    with db.engine.connect() as connection:
        rows = connection.execute(select(search_cells.c.status, search_cells.c.attempts)).all()
    assert {status for status, _ in rows} == {"pending"} and {attempts for _, attempts in rows} == {0}


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("service_blocked", "API_KEY_SERVICE_BLOCKED"),
        ("service_disabled", "SERVICE_DISABLED"),
        ("billing_disabled", "BILLING_DISABLED"),
    ],
)
def test_a_forbidden_project_pauses_the_stage_naming_the_fix(
    db: Database, places_settings: Settings, api: PlacesApi, kind: str, said: str
) -> None:
    add_search(db, places_settings, "dentist", area=Rectangle.around(*BUSY, 1.0))
    api.fail_next(kind)
    search_only(db, places_settings)
    reason = pause_reason(db)
    assert (reason is not None and said in reason and "console" in reason) or "restrictions" in (reason or "")
    assert found(db) == []


@pytest.mark.parametrize("kind", ["quota", "unavailable", "internal"])
def test_a_429_or_5xx_is_retried_and_the_places_are_found(
    db: Database, places_settings: Settings, api: PlacesApi, kind: str
) -> None:
    add_search(db, places_settings, "dentist", area=Rectangle.around(*BUSY, 1.0))
    api.fail_next(kind, times=2)
    with db.begin() as connection:  # the retry's backoff starts at seconds: let it come due at once
        connection.execute(update(search_cells).values(run_after=func.now()))
    fast = places_settings.model_copy()
    outcome = asyncio.run(_search_with_instant_retries(db, fast))
    assert outcome["search.retried"] == 2
    statuses = cell_outcomes(db)
    assert all(key.startswith("done:") for key in statuses), statuses
    assert len(found(db)) > 0 and pause_reason(db) is None


async def _search_with_instant_retries(db: Database, settings: Settings) -> Counter[str]:
    """Run the search stage with its backoff at zero (a retry comes due at once)."""
    from dataclasses import replace

    from leadpipe.engine.stage import Backoff, Pipeline
    from leadpipe.engine.worker import Worker
    from leadpipe.stages import search

    stage = replace(search.STAGE, backoff=Backoff(base=0.01, cap=0.01, jitter=0))
    worker = Worker(db, Pipeline([stage], resources=PIPELINE.resources), settings)
    return await asyncio.wait_for(worker.run(until_idle=True, max_wait=2), timeout=60)


def test_a_request_google_calls_wrong_is_dead_with_googles_message(
    db: Database, places_settings: Settings
) -> None:
    add_search(db, places_settings, "dentist", area=Rectangle.around(*BUSY, 1.0), included_type="spaceport")
    search_only(db, places_settings)
    with db.engine.connect() as connection:
        status, error = connection.execute(select(search_cells.c.status, search_cells.c.last_error)).one()
    assert status == "dead" and "INVALID_ARGUMENT" in error and "spaceport" in error


def test_the_request_cap_pauses_the_stage_and_fails_nothing(
    db: Database, places_settings: Settings, api: PlacesApi
) -> None:
    settings = places_settings.model_copy(update={"places_max_requests": 7})
    add_search(db, settings, "dentist")
    search_only(db, settings)
    reason = pause_reason(db)
    assert reason is not None and "LEADPIPE_PLACES_MAX_REQUESTS" in reason
    assert len(api.requests) == 7
    outcomes = cell_outcomes(db)
    assert not [key for key in outcomes if key.startswith(("dead", "running"))], outcomes
    with db.engine.connect() as connection:
        burnt = connection.execute(
            select(func.count()).where(search_cells.c.status == "pending", search_cells.c.attempts > 0)
        ).scalar_one()
    assert burnt == 0


def test_the_daily_cap_counts_every_search_of_the_day(
    db: Database, places_settings: Settings, api: PlacesApi
) -> None:
    settings = places_settings.model_copy(update={"places_max_requests_per_day": 5})
    add_search(db, settings, "dentist", area=Rectangle.around(*BUSY, 2.0))
    add_search(db, settings, "bakery", area=Rectangle.around(*BUSY, 2.0))
    search_only(db, settings)
    reason = pause_reason(db)
    assert reason is not None and "LEADPIPE_PLACES_MAX_REQUESTS_PER_DAY" in reason
    assert len(api.requests) == 5


def test_a_search_made_again_updates_the_facts_and_keeps_what_a_person_decided(
    db: Database, places_settings: Settings
) -> None:
    settings = places_settings.model_copy(update={"curation": {"resolve": "manual"}})
    small = Rectangle.around(*BUSY, 3.0)
    add_search(db, settings, "dentist", area=small)
    search_only(db, settings)
    first = {row["place_id"]: row for row in found(db)}
    assert first and {row["status"] for row in first.values()} == {"awaiting"}
    chosen, dropped = sorted(first)[:2], sorted(first)[2]
    cli = CliRunner()
    with_db = ["--db", settings.database_url]
    ids = [f"--id={first[key]['id']}" for key in chosen]
    assert cli.invoke(app, ["select", "resolve", *ids, *with_db]).exit_code == 0
    rejected = cli.invoke(app, ["reject", "resolve", "--where", f"place_id={dropped}", *with_db])
    assert rejected.exit_code == 0, rejected.output
    decided = {row["place_id"]: (row["status"], row["curation"]) for row in found(db)}

    changed = [
        {
            **place,
            "rating": 1.0,
            "displayName": {"text": place["displayName"]["text"] + " (new)", "languageCode": "de"},
        }
        for place in CITY
    ]
    again = PlacesApi(changed).start()
    try:
        later = settings.model_copy(update={"places_base_url": again.url})
        add_search(db, later, "dentist", area=small)
        add_search(db, later, "dentist", area=Rectangle.around(*BUSY, 2.0))  # the same places, found twice
        search_only(db, later)
    finally:
        again.stop()
    now = {row["place_id"]: row for row in found(db)}
    assert set(now) == set(first)  # one business per place, however many searches found it
    assert {key: (row["status"], row["curation"]) for key, row in now.items()} == decided
    assert all(row["rating"] == 1.0 and row["name"].endswith("(new)") for row in now.values())
    assert all(row["search_id"] == first[key]["search_id"] for key, row in now.items())


def test_status_names_a_page_whose_next_page_never_appeared(db: Database, places_settings: Settings) -> None:
    add_search(db, places_settings, "dentist", area=Rectangle.around(*BUSY, 1.0))
    search_only(db, places_settings)
    assert search_health(db, places_settings).missing_outputs == 0
    with db.begin() as connection:
        lost = connection.execute(
            select(func.max(search_cells.c.id)).where(search_cells.c.page == 2)
        ).scalar_one()
        assert lost is not None
        connection.execute(delete(search_cells).where(search_cells.c.id == lost))
    assert search_health(db, places_settings).missing_outputs == 1


def search_health(db: Database, settings: Settings) -> health.StageHealth:
    return next(stage for stage in health.check(db, PIPELINE, settings).stages if stage.name == "search")
