"""``leadpipe search``: a Google Maps search over an area, planned and priced, added as the search
stage's first cells.

The area comes as a box (``--bbox``), a circle (``--near`` and ``--radius-km``, searched as the box
around it) or a name (``--in``), whose viewport one Text Search finds. The plan, printed before
anything is added and alone with ``--dry-run``, says what the search may cost at worst: its first
cells, the requests they take before any split, the cap that bounds the rest, the price tier the
field mask is billed at and the list price.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from sqlalchemy import insert

from leadpipe.config import Settings
from leadpipe.db.connect import Database
from leadpipe.db.models import search_cells, searches
from leadpipe.engine import bulk
from leadpipe.engine.stage import Pipeline
from leadpipe.stages.search import cell_rows
from leadpipe.web.places import (
    ENTERPRISE,
    LEAD_FIELDS,
    PAGE_SIZE,
    PRICES,
    PRICES_AS_OF,
    RESULTS_CAP,
    PlacesClient,
    PlacesError,
    Rectangle,
    search_mask,
    search_tier,
)

__all__ = ["Area", "Plan", "add", "area_by_name", "area_from", "parse_bbox", "parse_point", "plan"]

AREA_MASK = "places.displayName,places.formattedAddress,places.viewport"  # Pro: one request


@dataclass(frozen=True)
class Area:
    rectangle: Rectangle
    label: str
    requests: int = 0  # Places API requests spent finding it


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    south, west, north, east = _numbers(
        text, 4, "--bbox takes S,W,N,E in degrees, e.g. 52.45,13.28,52.56,13.47"
    )
    return south, west, north, east


def parse_point(text: str) -> tuple[float, float]:
    latitude, longitude = _numbers(text, 2, "--near takes LAT,LNG in degrees, e.g. 52.52,13.405")
    return latitude, longitude


def _numbers(text: str, count: int, usage: str) -> list[float]:
    try:
        numbers = [float(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(usage) from None
    if len(numbers) != count or not all(math.isfinite(number) for number in numbers):
        raise ValueError(usage)
    return numbers


def area_by_name(settings: Settings, name: str, language: str | None, region: str | None) -> Area:
    """The viewport Google gives the place ``name`` (a city, a district), found by one Text Search."""

    async def look_up() -> Area:
        client = PlacesClient(settings)
        try:
            body = {"textQuery": name, "pageSize": 1}
            body |= {
                key: value for key, value in (("languageCode", language), ("regionCode", region)) if value
            }
            page = await client.search_text(body, AREA_MASK)
        finally:
            await client.aclose()
        for place in page.places:
            viewport = place.get("viewport") or {}
            try:
                low, high = viewport["low"], viewport["high"]
                box = Rectangle(low["latitude"], low["longitude"], high["latitude"], high["longitude"])
            except (KeyError, TypeError, ValueError):
                continue
            found = place.get("formattedAddress") or (place.get("displayName") or {}).get("text") or name
            return Area(box, str(found), requests=1)
        raise ValueError(f"Google Places knows no area named {name!r} (give --bbox or --near instead)")

    try:
        return asyncio.run(look_up())
    except PlacesError as error:
        raise ValueError(f"looking up the area {name!r}: {error}") from None


def area_from(
    settings: Settings,
    *,
    name: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    near: tuple[float, float] | None = None,
    radius_km: float | None = None,
    language: str | None = None,
    region: str | None = None,
) -> Area:
    """The area named one of three ways: by name (one Text Search), a box, or a circle's centre and
    radius. A ValueError says what is wrong with what was given."""
    if [name is not None, bbox is not None, near is not None].count(True) != 1:
        raise ValueError(
            "name the area with one of: a name (--in), a box (--bbox S,W,N,E), or --near LAT,LNG"
        )
    if (near is None) != (radius_km is None):
        raise ValueError("a circle takes its centre (--near) and its radius (--radius-km) together")
    if name is not None:
        return area_by_name(settings, name, language, region)
    if bbox is not None:
        return Area(Rectangle(*bbox), "the box " + ",".join(f"{value:g}" for value in bbox))
    assert near is not None and radius_km is not None
    return Area(Rectangle.around(*near, radius_km), f"{radius_km:g} km around {near[0]:g},{near[1]:g}")


@dataclass(frozen=True)
class Plan:
    area: Area
    cells: list[Rectangle]
    mask: str
    settings: Settings

    @property
    def tier(self) -> str:
        return search_tier(self.mask)

    @property
    def price_per_request(self) -> float:
        return PRICES[self.tier] / 1000

    def lines(self) -> list[str]:
        settings, cells = self.settings, len(self.cells)
        box = self.area.rectangle
        cap = settings.places_max_requests
        unsplit = cells * RESULTS_CAP // PAGE_SIZE
        paid = sorted(name for name in LEAD_FIELDS if name in ENTERPRISE)
        lines = [
            f"area: {self.area.label} ({box.south:.4f},{box.west:.4f} to {box.north:.4f},{box.east:.4f};"
            f" {box.height_km:.1f} × {box.width_km:.1f} km)",
            f"first cells: {cells} of at most {settings.places_cell_km:g} km a side (LEADPIPE_PLACES_CELL_KM)",
            f"requests: at least {cells}; up to {unsplit} before any split ({RESULTS_CAP // PAGE_SIZE} pages of"
            f" {PAGE_SIZE} a cell); a cell that comes back with {RESULTS_CAP} places is split in four, down to"
            f" {settings.places_min_cell_km:g} km (LEADPIPE_PLACES_MIN_CELL_KM)",
            f"cap: {cap:,} requests for this search (LEADPIPE_PLACES_MAX_REQUESTS),"
            f" {settings.places_max_requests_per_day:,} a day (LEADPIPE_PLACES_MAX_REQUESTS_PER_DAY);"
            " at a cap the search stage pauses",
            f"billed as Text Search {self.tier}"
            + (f" (the mask asks for {', '.join(paid)})" if paid else "")
            + f": ${PRICES[self.tier]:.2f} per 1,000 requests, list price of {PRICES_AS_OF}, before the free"
            " monthly allowance",
            f"worst case: {cap:,} requests (the cap), ${cap * self.price_per_request:.2f}; without a split: {unsplit}"
            f" requests, ${unsplit * self.price_per_request:.2f}",
        ]
        if self.area.requests:
            lines.append(f"finding the area took {self.area.requests} Text Search Pro request")
        if unsplit > cap:
            lines.append(
                f"warning: the cap is below the {unsplit} requests the first cells may take: raise"
                " LEADPIPE_PLACES_MAX_REQUESTS or search a smaller area"
            )
        return lines


MAX_FIRST_CELLS = 10_000  # a search's first cells: 30,000 requests before any split, $1,050 at list price


def plan(settings: Settings, area: Area) -> Plan:
    """The search's plan; a ValueError for an area that would need more than ``MAX_FIRST_CELLS`` cells
    (counted before any is made: a continent at 5 km would be millions)."""
    rows, columns = area.rectangle.grid_shape(settings.places_cell_km)
    if rows * columns > MAX_FIRST_CELLS:
        raise ValueError(
            f"{area.label} is {area.rectangle.height_km:,.0f} × {area.rectangle.width_km:,.0f} km: {rows * columns:,}"
            f" first cells of {settings.places_cell_km:g} km, more than {MAX_FIRST_CELLS:,}; search a smaller area"
            " or raise LEADPIPE_PLACES_CELL_KM"
        )
    return Plan(area, area.rectangle.grid(settings.places_cell_km), search_mask(LEAD_FIELDS), settings)


def add(
    db: Database,
    pipeline: Pipeline,
    settings: Settings,
    query: str,
    chosen: Plan,
    *,
    included_type: str | None,
    language: str | None,
    region: str | None,
) -> int:
    """Record the search and queue its first cells, in one transaction; returns the search's id."""
    box = chosen.area.rectangle
    with db.begin() as connection:
        search_id = connection.execute(
            insert(searches)
            .values(
                query=query,
                area=chosen.area.label[:500],
                south=box.south,
                west=box.west,
                north=box.north,
                east=box.east,
                included_type=included_type,
                language=language,
                region=region.upper() if region else None,
                field_mask=chosen.mask,
            )
            .returning(searches.c.id)
        ).scalar_one()
        bulk.insert(db, connection, pipeline, settings, search_cells, cell_rows(search_id, chosen.cells))
    return int(search_id)
