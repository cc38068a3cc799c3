"""Google Places API (New): Text Search and Place Details, and what each request costs.

Text Search (``POST /v1/places:searchText``) answers at most 20 places a page and 60 in all; the next
page is asked for with ``nextPageToken``, which comes back only when the field mask names it, and with
every other field of the request repeated. The field mask (``X-Goog-FieldMask``) is required and sets
the price: a request is billed at the highest tier of any field it names, so a mask asking for a
website or a phone is Text Search Enterprise, one request per page of up to 20 places. Place Details
(``GET /v1/places/{id}``) takes its mask without the ``places.`` prefix, and costs per place.

Errors come as Google sends them, a ``google.rpc.Status`` body: a rejected key (400 with reason
``API_KEY_INVALID``), a forbidden project (403: API not enabled, key restricted, billing off) need a
person and are :class:`PlacesRefused`; a 429 or 5xx, or no answer, is :class:`PlacesBusy`, for a retry
later; any other refusal is :class:`PlacesRejected`, the request itself being wrong.

This is a third-party API, not a crawled site: requests go straight through httpx, not through the
crawler's robots.txt and address guard. The key never enters an error message.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from leadpipe.config import Settings
from leadpipe.logs import redact

# httpx is imported where a request is made: most runs search nothing, and it costs a start ~40 ms.
if TYPE_CHECKING:
    import httpx

__all__ = [
    "LEAD_FIELDS",
    "PAGE_SIZE",
    "PRICES",
    "PRICES_AS_OF",
    "RESULTS_CAP",
    "PlacesBusy",
    "PlacesClient",
    "PlacesError",
    "PlacesRefused",
    "PlacesRejected",
    "Rectangle",
    "SearchPage",
    "search_mask",
    "search_tier",
]

PAGE_SIZE = 20
RESULTS_CAP = 60  # Text Search answers at most this many places over all pages of one query
MAX_BODY_BYTES = 8 * 1024 * 1024  # far above any real page of 20 places

# Text Search tiers by field (Google's "Text Search (New)" page, data fields by SKU); the rest of the
# Place fields are Pro. ``nextPageToken`` and ids are free.
IDS_ONLY = frozenset({"id", "name", "attributions", "movedPlace", "movedPlaceId"})
ENTERPRISE = frozenset(
    {
        "websiteUri",
        "nationalPhoneNumber",
        "internationalPhoneNumber",
        "rating",
        "userRatingCount",
        "regularOpeningHours",
        "currentOpeningHours",
        "regularSecondaryOpeningHours",
        "currentSecondaryOpeningHours",
        "priceLevel",
        "priceRange",
    }
)
ATMOSPHERE = frozenset(
    {
        "reviews",
        "editorialSummary",
        "generativeSummary",
        "reviewSummary",
        "paymentOptions",
        "parkingOptions",
        "accessibilityOptions",
        "fuelOptions",
        "evChargeOptions",
        "takeout",
        "delivery",
        "dineIn",
        "curbsidePickup",
        "reservable",
        "servesBreakfast",
        "servesLunch",
        "servesDinner",
        "servesBeer",
        "servesWine",
        "servesBrunch",
        "servesVegetarianFood",
        "outdoorSeating",
        "liveMusic",
        "menuForChildren",
        "servesCocktails",
        "servesDessert",
        "servesCoffee",
        "goodForChildren",
        "allowsDogs",
        "restroom",
        "goodForGroups",
        "goodForWatchingSports",
    }
)
TIERS = ("Essentials IDs Only", "Pro", "Enterprise", "Enterprise + Atmosphere")

# List prices in USD per 1,000 Text Search requests, 0–100k a month, since Google's pricing of
# 1 March 2025 (each SKU has a free monthly allowance besides: unlimited, 5,000, 1,000, 1,000).
PRICES_AS_OF = "2025-03-01"
PRICES = {"Essentials IDs Only": 0.0, "Pro": 32.0, "Enterprise": 35.0, "Enterprise + Atmosphere": 40.0}

# What a lead needs of a place, all in the search itself (Enterprise): Place Details would cost more
# per place than a page of 20 does.
LEAD_FIELDS = (
    "id",
    "displayName",
    "formattedAddress",
    "addressComponents",
    "location",
    "types",
    "primaryType",
    "primaryTypeDisplayName",
    "businessStatus",
    "googleMapsUri",
    "websiteUri",
    "nationalPhoneNumber",
    "internationalPhoneNumber",
    "rating",
    "userRatingCount",
)


def search_mask(fields: Iterable[str], *, paged: bool = True) -> str:
    """A Text Search field mask for these Place fields, with ``nextPageToken`` when pages are wanted."""
    names = [f"places.{name}" for name in fields]
    return ",".join([*names, "nextPageToken"] if paged else names)


def search_tier(mask: str) -> str:
    """The Text Search SKU a request with this mask is billed as: its costliest field's tier."""
    rank = 0
    for path in mask.split(","):
        name = path.removeprefix("places.")
        if path in ("*", "places.*") or name in ATMOSPHERE:
            rank = 3
        elif name in ENTERPRISE:
            rank = max(rank, 2)
        elif path != "nextPageToken" and name not in IDS_ONLY:
            rank = max(rank, 1)
    return TIERS[rank]


@dataclass(frozen=True)
class Rectangle:
    """An area by its edges in degrees, as ``locationRestriction.rectangle`` takes it."""

    south: float
    west: float
    north: float
    east: float

    def __post_init__(self) -> None:
        if not (-90 <= self.south < self.north <= 90 and -180 <= self.west < self.east <= 180):
            raise ValueError(
                f"not an area: south {self.south}, west {self.west}, north {self.north}, east {self.east}"
                " (south < north, west < east, within ±90 and ±180)"
            )

    @classmethod
    def around(cls, latitude: float, longitude: float, radius_km: float) -> Rectangle:
        """The rectangle holding the circle of ``radius_km`` around a point."""
        rise = radius_km / KM_PER_DEGREE
        run = radius_km / (KM_PER_DEGREE * max(math.cos(math.radians(latitude)), 0.01))
        return cls(
            max(-90.0, latitude - rise),
            max(-180.0, longitude - run),
            min(90.0, latitude + rise),
            min(180.0, longitude + run),
        )

    @property
    def height_km(self) -> float:
        return (self.north - self.south) * KM_PER_DEGREE

    @property
    def width_km(self) -> float:
        middle = math.radians((self.north + self.south) / 2)
        return (self.east - self.west) * KM_PER_DEGREE * math.cos(middle)

    def grid_shape(self, side_km: float) -> tuple[int, int]:
        """Rows and columns of the grid of cells no side of which is longer than ``side_km``."""
        return max(1, math.ceil(self.height_km / side_km)), max(1, math.ceil(self.width_km / side_km))

    def grid(self, side_km: float) -> list[Rectangle]:
        """The area cut into equal cells no side of which is longer than ``side_km``."""
        rows, columns = self.grid_shape(side_km)
        rise, run = (self.north - self.south) / rows, (self.east - self.west) / columns
        return [
            Rectangle(
                self.south + row * rise,
                self.west + column * run,
                self.north if row == rows - 1 else self.south + (row + 1) * rise,
                self.east if column == columns - 1 else self.west + (column + 1) * run,
            )
            for row in range(rows)
            for column in range(columns)
        ]

    def quarters(self) -> list[Rectangle]:
        middle_latitude, middle_longitude = (self.south + self.north) / 2, (self.west + self.east) / 2
        return [
            Rectangle(self.south, self.west, middle_latitude, middle_longitude),
            Rectangle(self.south, middle_longitude, middle_latitude, self.east),
            Rectangle(middle_latitude, self.west, self.north, middle_longitude),
            Rectangle(middle_latitude, middle_longitude, self.north, self.east),
        ]

    def holds(self, latitude: float, longitude: float) -> bool:
        return self.south <= latitude <= self.north and self.west <= longitude <= self.east

    def restriction(self) -> dict[str, Any]:
        return {
            "rectangle": {
                "low": {"latitude": self.south, "longitude": self.west},
                "high": {"latitude": self.north, "longitude": self.east},
            }
        }


KM_PER_DEGREE = 111.32  # of latitude; of longitude, times the cosine of the latitude


@dataclass(frozen=True)
class SearchPage:
    places: list[dict[str, Any]]
    next_page_token: str | None


class PlacesError(Exception):
    """Google's answer was not a result; ``status`` is its google.rpc status (``RESOURCE_EXHAUSTED`` …)
    and ``reason`` the ErrorInfo reason, when it gave them."""

    def __init__(self, message: str, *, http_status: int = 0, status: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.http_status = http_status
        self.status = status
        self.reason = reason


class PlacesRefused(PlacesError):
    """The key or its project is refused (invalid key, API not enabled, key restricted, billing off):
    a person has to act; the message says what to do."""


class PlacesBusy(PlacesError):
    """Rate-limited, a server error or no answer: the same request may well succeed later."""


class PlacesRejected(PlacesError):
    """This request cannot succeed as it is (an invalid argument, an unknown place)."""


# What a person does about each refusal of the key or its project.
FIXES = {
    "API_KEY_INVALID": "set LEADPIPE_GOOGLE_PLACES_API_KEY to a valid API key",
    "SERVICE_DISABLED": "enable Places API (New) for the key's project in the Google Cloud console",
    "API_KEY_SERVICE_BLOCKED": "allow places.googleapis.com in the API key's API restrictions",
    "BILLING_DISABLED": "enable billing for the key's project in the Google Cloud console",
}


class PlacesClient:
    """Places API (New) over httpx, with the key of the settings; one per worker, closed with it."""

    def __init__(self, settings: Settings) -> None:
        key = settings.google_places_api_key
        self._key = key.get_secret_value() if key else ""
        self.base_url = settings.places_base_url.rstrip("/")
        self._settings = settings
        self._client: httpx.AsyncClient | None = None  # made at the first call: most runs search nothing

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(
                timeout=self._settings.places_timeout_seconds,
                headers={"User-Agent": self._settings.user_agent, "Content-Type": "application/json"},
            )
        return self._client

    async def search_text(
        self, body: Mapping[str, Any], mask: str, page_token: str | None = None
    ) -> SearchPage:
        """One page of a Text Search. ``body`` is the whole request but its token, the same for every
        page, as Google requires."""
        sent = {**body, "pageToken": page_token} if page_token else dict(body)
        answer = await self._call("POST", "/v1/places:searchText", mask, json=sent)
        places = answer.get("places", [])
        token = answer.get("nextPageToken") or None
        if not isinstance(places, list) or not all(isinstance(place, dict) for place in places):
            raise PlacesBusy("Text Search answered places that are not a list of objects")
        return SearchPage(places, token if isinstance(token, str) else None)

    async def details(
        self, place_id: str, fields: Sequence[str], *, language: str | None = None, region: str | None = None
    ) -> dict[str, Any]:
        """A place's fields by its id (Place Details: the mask without the ``places.`` prefix)."""
        params = {
            name: value for name, value in (("languageCode", language), ("regionCode", region)) if value
        }
        return await self._call("GET", f"/v1/places/{place_id}", ",".join(fields), params=params)

    async def _call(self, method: str, path: str, mask: str, **request: Any) -> dict[str, Any]:
        if not self._key:
            raise PlacesRefused("no Google Places API key: set LEADPIPE_GOOGLE_PLACES_API_KEY")
        import httpx

        headers = {"X-Goog-Api-Key": self._key, "X-Goog-FieldMask": mask}
        try:
            async with self.client.stream(
                method, self.base_url + path, headers=headers, **request
            ) as response:
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY_BYTES:
                        raise PlacesBusy(f"Places API answer larger than {MAX_BODY_BYTES} bytes")
        except httpx.TimeoutException:
            raise PlacesBusy("Places API gave no answer in time") from None
        except httpx.HTTPError as error:
            raise PlacesBusy(
                redact(f"Places API unreachable: {type(error).__name__}: {error}", [self._key])
            ) from None
        try:
            answer = json.loads(body) if body else {}
        except ValueError:  # UnicodeDecodeError too
            answer = None
        if response.status_code == 200:
            if not isinstance(answer, dict):
                raise PlacesBusy("Places API answered HTTP 200 with a body that is not a JSON object")
            return answer
        raise _error(response.status_code, answer)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _error(http_status: int, answer: Any) -> PlacesError:
    """The exception for a google.rpc.Status answer (or for whatever came instead of one)."""
    error = answer.get("error") if isinstance(answer, dict) else None
    error = error if isinstance(error, dict) else {}
    status = str(error.get("status") or "")
    message = str(error.get("message") or "no message")[:300]
    details = error.get("details")
    details = details if isinstance(details, list) else []
    reason = next(
        (str(info["reason"]) for info in details if isinstance(info, dict) and info.get("reason")), ""
    )
    said = f"HTTP {http_status} {status or 'without a Google error body'}" + (
        f" ({reason})" if reason else ""
    )
    if reason in FIXES:
        return PlacesRefused(
            f"{said}: {FIXES[reason]}", http_status=http_status, status=status, reason=reason
        )
    if http_status in (401, 403):
        fix = "check the API key and its project in the Google Cloud console"
        return PlacesRefused(
            f"{said}: {message}; {fix}", http_status=http_status, status=status, reason=reason
        )
    if http_status == 429 or http_status >= 500:
        return PlacesBusy(f"{said}: {message}", http_status=http_status, status=status, reason=reason)
    return PlacesRejected(f"{said}: {message}", http_status=http_status, status=status, reason=reason)
