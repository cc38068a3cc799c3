"""How much a map search costs: the requests leadpipe's area tiling makes, against the least possible.

A city of businesses in dense clusters is served by the fake Places API (``leadpipe.demo.places``,
Google's wire format and its 60-result cap); ``leadpipe search`` over the city's box is worked by the
search stage on a fresh SQLite database, as a user's run would. For each city it prints the places
in the box, the places found (and whether any is missing or doubled), the requests made, the least
possible (every page full: places ÷ 20), their ratio, the cells that ended saturated, and the price
at list rates. Beside it, what a single query over the whole box finds: Google's cap of 60, which is
where the system leadpipe replaces stopped (at 20, one page).

    uv run python bench/places.py [--cell-km 5] [--min-cell-km 0.25]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import func, select

from leadpipe.cli import search as search_command
from leadpipe.config import Settings
from leadpipe.db.connect import Database
from leadpipe.db.models import businesses, search_cells
from leadpipe.demo.places import GOOD_KEY, PlacesApi, seeded_city
from leadpipe.engine.worker import Worker
from leadpipe.stages import PIPELINE
from leadpipe.web.places import PRICES, Rectangle

CENTER = (52.52, 13.405)
CITIES = ((4_000, 4), (16_000, 6), (48_000, 8))  # businesses of every kind (an eighth are dentists), clusters


def run(count: int, clusters: int, cell_km: float, min_cell_km: float, folder: Path) -> None:
    places = seeded_city(count, center=CENTER, clusters=clusters, spread_km=8.0)
    box = Rectangle.around(*CENTER, 10.0)
    inside = {
        place["id"]
        for place in places
        if place["primaryType"] == "dentist"
        and box.holds(place["location"]["latitude"], place["location"]["longitude"])
    }
    api = PlacesApi(places).start()
    url = f"sqlite:///{folder / f'{count}.db'}"
    settings = Settings(
        database_url=url,
        google_places_api_key=SecretStr(GOOD_KEY),
        places_base_url=api.url,
        places_cell_km=cell_km,
        places_min_cell_km=min_cell_km,
        places_max_requests=100_000,
        places_max_requests_per_day=100_000,
        poll_seconds=0.05,
    )
    db = Database(url)
    try:
        db.ensure_schema()
        plan = search_command.plan(settings, search_command.Area(box, "the city's box"))
        search_command.add(
            db, PIPELINE, settings, "dentist", plan, included_type=None, language=None, region=None
        )
        started = time.perf_counter()
        worker = Worker(db, PIPELINE, settings, stages=["search"])
        asyncio.run(worker.run(until_idle=True, max_wait=0))
        seconds = time.perf_counter() - started
        with db.engine.connect() as connection:
            found = set(connection.execute(select(businesses.c.place_id)).scalars())
            saturated = connection.execute(
                select(func.count()).where(search_cells.c.outcome == "saturated")
            ).scalar_one()
    finally:
        db.dispose()
        api.stop()
    requests = len(api.requests)
    least = math.ceil(len(inside) / 20)
    price = requests * PRICES[plan.tier] / 1000
    print(
        f"{len(inside):>6,} dentists in {clusters} clusters: found {len(found & inside):,}"
        f" ({len(inside - found)} missing, {len(found - inside)} outside the box);"
        f" {requests:,} requests, the least possible {least:,} ({requests / max(least, 1):.2f}×);"
        f" {len(plan.cells)} first cells, {saturated} saturated; ${price:.2f} at list price; {seconds:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cell-km", type=float, default=Settings().places_cell_km)
    parser.add_argument("--min-cell-km", type=float, default=Settings().places_min_cell_km)
    arguments = parser.parse_args()
    print(
        f"a 20 × 20 km box; first cells of {arguments.cell_km:g} km, split down to {arguments.min_cell_km:g} km"
    )
    print(
        "one query over the whole box (Google's cap; the old system stopped at its first page of 20): 60 places"
    )
    with tempfile.TemporaryDirectory(prefix="leadpipe-places-") as scratch:
        for count, clusters in CITIES:
            run(count, clusters, arguments.cell_km, arguments.min_cell_km, Path(scratch))


if __name__ == "__main__":
    main()
