"""Search cell → businesses: one Google Places Text Search request per item.

A search over an area is a tree of cells. Its first cells are a grid over the area
(``LEADPIPE_PLACES_CELL_KM``); each item asks for one page (up to 20 places) of the query restricted
to its cell. A page that names a next one adds it as a new item, with the token; a cell whose pages
reach Google's cap of 60 places may hold more, so it is split into four cells, new items too, until a
cell is ``LEADPIPE_PLACES_MIN_CELL_KM`` small: then it is reported ``saturated``. Places found by
several cells, or several searches, are one business each (the natural key is the place id); a place
found again refreshes the business's facts and never what a person decided about it.

Every item is one billed request, committed with the places it found, so a search stopped half-way
resumes where it stopped and pays for no page twice. The requests of a search
(``LEADPIPE_PLACES_MAX_REQUESTS``) and of a day (``LEADPIPE_PLACES_MAX_REQUESTS_PER_DAY``) are counted
in the claim's transaction, from the pages done and the pages claimed: at a cap the stage pauses with
its reason and the item waits, unburnt. A refused key or project pauses it too, naming the fix; a 429
or 5xx is retried with backoff; a request Google calls wrong is dead with Google's message.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, exists, func, select, text

from leadpipe.config import Settings
from leadpipe.db.connect import database_now
from leadpipe.db.models import businesses, search_cells, searches
from leadpipe.engine.stage import (
    Backoff,
    Context,
    Insert,
    Item,
    PauseStage,
    Permanent,
    Result,
    RetryLater,
    Stage,
)
from leadpipe.extract.places import FACTS, business_from_place
from leadpipe.web.places import (
    PAGE_SIZE,
    RESULTS_CAP,
    PlacesBusy,
    PlacesClient,
    PlacesRefused,
    PlacesRejected,
    Rectangle,
)

__all__ = ["STAGE", "cell_rows", "request_body", "resources"]

COUNTING_LOCK = 0x6C656164  # the advisory lock the search stage's claims count requests under
SEARCH_FIELDS = ("id", "query", "included_type", "language", "region", "field_mask")


def request_body(search: dict[str, Any], cell: Rectangle) -> dict[str, Any]:
    """The Text Search request for one cell: the same for each of its pages, as Google requires."""
    body: dict[str, Any] = {
        "textQuery": search["query"],
        "pageSize": PAGE_SIZE,
        "locationRestriction": cell.restriction(),
    }
    for field, name in (
        ("included_type", "includedType"),
        ("language", "languageCode"),
        ("region", "regionCode"),
    ):
        if search.get(field):
            body[name] = search[field]
    return body


def cell_rows(
    search_id: int, cells: list[Rectangle], *, depth: int = 0, parent_id: int | None = None
) -> list[dict[str, Any]]:
    """The first-page items of these cells."""
    return [
        {
            "search_id": search_id,
            "parent_id": parent_id,
            "depth": depth,
            "south": cell.south,
            "west": cell.west,
            "north": cell.north,
            "east": cell.east,
            "page": 1,
            "page_token": None,
            "found_before": 0,
        }
        for cell in cells
    ]


def _load_search(connection: Connection, items: list[dict[str, Any]]) -> None:
    """Each claimed item's search, and the requests counted before it: of its search, and of the day.

    Counted are the pages done, and the pages claimed and not done (this batch's own among them, each
    after the ones before it): so workers claiming at once cannot all take the last request.
    """
    if connection.dialect.name == "postgresql":
        # Workers claiming at once would each miss the others' claims, not yet committed: the counts
        # are taken one claim at a time (the lock ends with the claim's transaction).
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": COUNTING_LOCK})
    ids = sorted({item["search_id"] for item in items})
    found = connection.execute(
        select(*(searches.c[name] for name in SEARCH_FIELDS)).where(searches.c.id.in_(ids))
    )
    by_id = {row.id: dict(row._mapping) for row in found}
    cells = search_cells.c
    ours = cells.search_id.in_(ids)
    billed = func.coalesce(func.sum(cells.requests), 0)
    done: dict[int, int] = dict(
        connection.execute(
            select(cells.search_id, billed).where(cells.status == "done", ours).group_by(cells.search_id)
        ).all()
    )
    running: dict[int, int] = dict(
        connection.execute(
            select(cells.search_id, func.count())
            .where(cells.status == "running", ours)
            .group_by(cells.search_id)
        ).all()
    )
    done_today = connection.execute(
        select(billed).where(cells.status == "done", cells.finished_at >= today(connection))
    ).scalar_one()
    running_all = connection.execute(select(func.count()).where(cells.status == "running")).scalar_one()
    claimed = Counter(item["search_id"] for item in items)
    before: Counter[int] = Counter()
    for position, item in enumerate(sorted(items, key=lambda item: item["id"])):
        search_id = item["search_id"]
        item["search"] = by_id[search_id]
        others = running.get(search_id, 0) - claimed[search_id]
        item["requests_before"] = done.get(search_id, 0) + others + before[search_id]
        item["requests_today"] = done_today + running_all - len(items) + position
        before[search_id] += 1


def today(connection: Connection) -> datetime:
    """Midnight (UTC) by the engine's clock: where the daily cap's count starts."""
    return database_now(connection).replace(hour=0, minute=0, second=0, microsecond=0)


async def search(item: Item, context: Context) -> Result:
    settings = context.settings
    found_by = item["search"]
    if item["requests_before"] >= settings.places_max_requests:
        raise PauseStage(
            f"search #{found_by['id']} made {item['requests_before']} Places API requests, its cap "
            "(LEADPIPE_PLACES_MAX_REQUESTS): raise it and `leadpipe resume search` to go on"
        )
    if item["requests_today"] >= settings.places_max_requests_per_day:
        raise PauseStage(
            f"{item['requests_today']} Places API requests today, the daily cap "
            "(LEADPIPE_PLACES_MAX_REQUESTS_PER_DAY): `leadpipe resume search` tomorrow, or raise it"
        )
    cell = Rectangle(item["south"], item["west"], item["north"], item["east"])
    client: PlacesClient = context.resources["places"]
    token = item["page_token"]
    try:
        page = await client.search_text(request_body(found_by, cell), found_by["field_mask"], token)
    except PlacesRefused as refused:
        raise PauseStage(f"Google Places refused the request: {refused}") from None
    except PlacesBusy as busy:
        raise RetryLater(f"Google Places: {busy}", context.stage.backoff.delay(item["attempts"])) from None
    except PlacesRejected as rejected:
        if token and rejected.status == "INVALID_ARGUMENT" and _splittable(cell, settings):
            # A page token lives minutes: one of a search stopped for longer is refused. The cell's
            # quarters find its places again, where asking for its first page would find the same 60.
            return _split(item, cell, "page_token_refused", requests=0)
        raise Permanent(f"Google Places: {rejected}") from None
    rows: dict[str, dict[str, Any]] = {}
    for place in page.places:
        business = business_from_place(place)
        if business is not None:
            rows[business["source_key"]] = {
                **business,
                "search_id": found_by["id"],
                "query": found_by["query"],
            }
    outputs: list[Insert] = [Insert(businesses, list(rows.values()), refresh=FACTS)] if rows else []
    found = item["found_before"] + len(page.places)
    values = {"places": len(page.places), "requests": 1}
    if page.next_page_token and found < RESULTS_CAP:
        (following,) = cell_rows(item["search_id"], [cell], depth=item["depth"], parent_id=item["parent_id"])
        following.update(page=item["page"] + 1, page_token=page.next_page_token, found_before=found)
        return Result("next_page", values, [*outputs, Insert(search_cells, [following])])
    if found < RESULTS_CAP:
        return Result("complete", values, outputs)
    if not _splittable(cell, settings):
        return Result("saturated", values, outputs)
    split = _split(item, cell, "split", requests=1)
    return Result(split.outcome, {**values, **split.values}, [*outputs, *split.outputs])


def _splittable(cell: Rectangle, settings: Settings) -> bool:
    return max(cell.width_km, cell.height_km) / 2 >= settings.places_min_cell_km


def _split(item: Item, cell: Rectangle, outcome: str, *, requests: int) -> Result:
    quarters = cell_rows(item["search_id"], cell.quarters(), depth=item["depth"] + 1, parent_id=item["id"])
    return Result(outcome, {"requests": requests}, [Insert(search_cells, quarters)])


def _no_follower() -> ColumnElement[bool]:
    """Done pages whose next page, or whose quarters, never appeared."""
    cells, follower = search_cells, search_cells.alias("follower")
    next_page = exists().where(
        follower.c.search_id == cells.c.search_id,
        follower.c.south == cells.c.south,
        follower.c.west == cells.c.west,
        follower.c.north == cells.c.north,
        follower.c.east == cells.c.east,
        follower.c.page == cells.c.page + 1,
    )
    quarters = exists().where(follower.c.parent_id == cells.c.id)
    return ((cells.c.outcome == "next_page") & ~next_page) | (
        cells.c.outcome.in_(["split", "page_token_refused"]) & ~quarters
    )


def resources(settings: Settings) -> dict[str, Any]:
    return {"places": PlacesClient(settings)}


STAGE = Stage(
    name="search",
    table=search_cells,
    handler=search,
    description="map search cell → businesses (a Places Text Search page; a full cell split in four)",
    concurrency=4,
    batch_size=4,
    lease_seconds=60,
    max_runtime_seconds=90,
    max_attempts=6,
    backoff=Backoff(base=5, cap=600),
    context=_load_search,
    missing_outputs=_no_follower,
    reads=(
        "search_id",
        "parent_id",
        "depth",
        "south",
        "west",
        "north",
        "east",
        "page",
        "page_token",
        "found_before",
    ),
)
