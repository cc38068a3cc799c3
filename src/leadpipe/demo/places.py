"""A fake of Google's Places API (New) on loopback, speaking its wire format: for the demo and the tests.

``PlacesApi`` serves ``POST /v1/places:searchText`` and ``GET /v1/places/{id}`` over a fixed list of
places (``seeded_city`` makes a realistic one), and enforces the rules of the real API that a client
can get wrong, as Google documents them (Places API (New): Text Search, Place Details, field masks,
usage and billing, and the google.rpc error model):

- the API key comes in ``X-Goog-Api-Key`` or ``?key=``; a missing or unknown one is a 400
  ``INVALID_ARGUMENT`` with reason ``API_KEY_INVALID`` (the real front end answers 400, not 403);
- there is no default field mask (``X-Goog-FieldMask``, ``?fields=`` or ``?$fields=``): without one, 400.
  Text Search paths are ``places.<field>`` or ``nextPageToken``; Place Details paths have no ``places.``
  prefix; ``*`` is every field; an unknown path (a space after a comma included) is a 400 naming it;
- only the masked fields come back, a field without data is left out, and ``nextPageToken`` only when
  the mask names it; a search without results answers ``{}``;
- Text Search returns at most 60 results across all pages, in pages of ``pageSize`` (1–20; 0 or unset is
  20, more is coerced to 20, negative is a 400; ``maxResultCount`` is its deprecated alias);
- a page token is opaque and signed, and every request field but ``pageToken``, ``pageSize`` and
  ``maxResultCount`` must match the first call's: otherwise a 400;
- request bodies are checked like the real API's: unknown fields, a missing ``textQuery``, a bad
  ``languageCode`` or ``regionCode``, an unsupported ``includedType``, ``locationBias`` together with
  ``locationRestriction``, a restriction that is not a rectangle: each a 400;
- every 200 is billed to the SKU of the highest tier of any field in its mask (Text Search and Place
  Details tiers differ); ``billed`` counts them per SKU;
- every error is a google.rpc.Status body, and ``fail_next`` makes the next requests fail the way the
  real API does under quota, outage or a misconfigured project.

Search results are ranked by a hash of the place id, not by position, so the 60 results for one map
cell are not the ones nearest any point: as with the real API, a dense area must be split to see all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import phonenumbers

from leadpipe.demo.sites import SampleSite
from leadpipe.demo.web import _QuietServer

__all__ = [
    "GOOD_KEY",
    "MAX_RESULTS",
    "TRADE_TYPES",
    "PlacesApi",
    "Recorded",
    "sample_site_places",
    "seeded_city",
]

GOOD_KEY = "demo-places-key"  # the key the fake accepts by default
MAX_RESULTS = 60  # Text Search's cap across all pages
PAGE_SIZE = 20  # the largest page, and the default one
PROJECT_NUMBER = "583020179433"  # the consumer named in quota and permission errors

SEARCH_PATH = "/v1/places:searchText"
DETAILS_PREFIX = "/v1/places/"

# --- Fields and the SKU tiers they are billed at ----------------------------------------------------

IDS_ONLY, ESSENTIALS, PRO, ENTERPRISE, ATMOSPHERE = range(5)

TEXT_SEARCH_SKUS = {
    IDS_ONLY: "Text Search Essentials IDs Only",
    PRO: "Text Search Pro",
    ENTERPRISE: "Text Search Enterprise",
    ATMOSPHERE: "Text Search Enterprise + Atmosphere",
}
PLACE_DETAILS_SKUS = {
    IDS_ONLY: "Place Details Essentials IDs Only",
    ESSENTIALS: "Place Details Essentials",
    PRO: "Place Details Pro",
    ENTERPRISE: "Place Details Enterprise",
    ATMOSPHERE: "Place Details Enterprise + Atmosphere",
}

_ID_FIELDS = {"id", "name", "attributions", "movedPlace", "movedPlaceId"}
# Place Details bills these as Essentials; Text Search has no Essentials tier and bills them as Pro.
_ADDRESS_FIELDS = {
    "addressComponents",
    "adrFormatAddress",
    "formattedAddress",
    "location",
    "plusCode",
    "postalAddress",
    "shortFormattedAddress",
    "types",
    "viewport",
}
_PRO_FIELDS = {
    "accessibilityOptions",
    "addressDescriptor",
    "businessStatus",
    "containingPlaces",
    "displayName",
    "googleMapsLinks",
    "googleMapsUri",
    "iconBackgroundColor",
    "iconMaskBaseUri",
    "primaryType",
    "primaryTypeDisplayName",
    "pureServiceAreaBusiness",
    "subDestinations",
    "timeZone",
    "utcOffsetMinutes",
}
_ENTERPRISE_FIELDS = {
    "currentOpeningHours",
    "currentSecondaryOpeningHours",
    "internationalPhoneNumber",
    "nationalPhoneNumber",
    "priceLevel",
    "priceRange",
    "rating",
    "regularOpeningHours",
    "regularSecondaryOpeningHours",
    "userRatingCount",
    "websiteUri",
}
_ATMOSPHERE_FIELDS = {
    "allowsDogs",
    "curbsidePickup",
    "delivery",
    "dineIn",
    "editorialSummary",
    "evChargeAmenitySummary",
    "evChargeOptions",
    "fuelOptions",
    "generativeSummary",
    "goodForChildren",
    "goodForGroups",
    "goodForWatchingSports",
    "liveMusic",
    "menuForChildren",
    "neighborhoodSummary",
    "outdoorSeating",
    "parkingOptions",
    "paymentOptions",
    "reservable",
    "restroom",
    "reviewSummary",
    "reviews",
    "servesBeer",
    "servesBreakfast",
    "servesBrunch",
    "servesCocktails",
    "servesCoffee",
    "servesDessert",
    "servesDinner",
    "servesLunch",
    "servesVegetarianFood",
    "servesWine",
    "takeout",
}


def _tiers(*groups: tuple[set[str], int]) -> dict[str, int]:
    return {name: tier for names, tier in groups for name in names}


TEXT_SEARCH_TIERS = _tiers(
    (_ID_FIELDS, IDS_ONLY),
    (_ADDRESS_FIELDS | _PRO_FIELDS | {"photos"}, PRO),
    (_ENTERPRISE_FIELDS, ENTERPRISE),
    (_ATMOSPHERE_FIELDS, ATMOSPHERE),
)
# Place Details lists photos with the IDs (it is their names that are billed at the Photo SKU).
PLACE_DETAILS_TIERS = _tiers(
    (_ID_FIELDS | {"photos"}, IDS_ONLY),
    (_ADDRESS_FIELDS, ESSENTIALS),
    (_PRO_FIELDS, PRO),
    (_ENTERPRISE_FIELDS, ENTERPRISE),
    (_ATMOSPHERE_FIELDS, ATMOSPHERE),
)
PLACE_FIELDS = frozenset(TEXT_SEARCH_TIERS)

# --- The businesses ----------------------------------------------------------------------------------

# Google type, its English display name, and how such businesses are called in Berlin.
KINDS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("dentist", "Dentist", ("Zahnarztpraxis {}", "Zahnärzte {} & Partner")),
    ("bakery", "Bakery", ("Bäckerei {}", "{} Backstube")),
    ("plumber", "Plumber", ("{} Sanitär & Heizung", "Installateur {}")),
    ("lawyer", "Lawyer", ("Kanzlei {}", "Rechtsanwälte {}")),
    ("florist", "Florist", ("Blumen {}", "{} Floristik")),
    ("car_repair", "Car repair", ("Autowerkstatt {}", "Kfz-Service {}")),
    ("cafe", "Cafe", ("Café {}", "{} Kaffeehaus")),
    ("electrician", "Electrician", ("Elektro {}", "{} Elektrotechnik")),
)
# Table A types a request may name in includedType: the seeded kinds and a few common others.
INCLUDED_TYPES = frozenset(
    {kind for kind, _, _ in KINDS}
    | {
        "accounting",
        "bar",
        "beauty_salon",
        "car_dealer",
        "doctor",
        "gym",
        "hair_care",
        "hospital",
        "locality",
        "lodging",
        "pharmacy",
        "physiotherapist",
        "real_estate_agency",
        "restaurant",
        "roofing_contractor",
        "store",
        "supermarket",
        "veterinary_care",
        "yoga_studio",
    }
)
SURNAMES = (
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Braun",
    "Zimmermann",
    "Krüger",
    "Hartmann",
    "Lange",
    "Werner",
    "Lehmann",
)
STREETS = (
    "Torstraße",
    "Kastanienallee",
    "Oranienstraße",
    "Bergmannstraße",
    "Schönhauser Allee",
    "Kantstraße",
    "Karl-Marx-Straße",
    "Sonnenallee",
    "Danziger Straße",
    "Invalidenstraße",
    "Friedrichstraße",
    "Boxhagener Straße",
    "Wilmersdorfer Straße",
    "Müllerstraße",
    "Schloßstraße",
    "Greifswalder Straße",
)
_KM_PER_DEGREE = 111.32


def _place_id(label: str) -> str:
    """A stable id shaped like Google's ("ChIJ" and 23 urlsafe base64 characters)."""
    digest = hashlib.sha256(label.encode()).digest()
    return "ChIJ" + base64.urlsafe_b64encode(digest).decode()[:23]


def _maps_uri(place_id: str) -> str:
    cid = int.from_bytes(hashlib.sha256(place_id.encode()).digest()[:8], "big")
    return f"https://maps.google.com/?cid={cid}"


def _moved(point: tuple[float, float], north_km: float, east_km: float) -> tuple[float, float]:
    latitude, longitude = point
    return (
        latitude + north_km / _KM_PER_DEGREE,
        longitude + east_km / (_KM_PER_DEGREE * math.cos(math.radians(latitude))),
    )


def _component(long_text: str, short_text: str, types: list[str], language: str = "de") -> dict[str, Any]:
    return {"longText": long_text, "shortText": short_text, "types": types, "languageCode": language}


def seeded_city(
    count: int,
    *,
    seed: int = 11,
    center: tuple[float, float] = (52.52, 13.405),
    clusters: int = 6,
    spread_km: float = 8.0,
    websites: Sequence[str] = (),
    closed_every: int = 0,
) -> list[dict[str, Any]]:
    """`count` businesses as full Place resources in the API's JSON shape (camelCase), placed in `clusters`
    dense clusters (gaussian, a few hundred metres) scattered within `spread_km` of `center`, deterministic
    for a seed. The i-th business has website f"http://{websites[i]}/" while i < len(websites) (others
    have no websiteUri, and some have no phone). Every `closed_every`-th one (0: none) is CLOSED_PERMANENTLY.
    Kinds of business cycle through ``KINDS`` (dentist, bakery, plumber, lawyer, florist, car_repair, cafe,
    electrician). Addresses and phone numbers are Berlin's, whatever the centre.

    The first n businesses are the same for any count ≥ n (same seed and layout), so a test can grow a
    city without its earlier places moving.
    """
    if count < 0 or clusters < 1 or spread_km < 0 or closed_every < 0:
        raise ValueError("count, spread_km and closed_every must not be negative; clusters at least 1")
    chooser = random.Random(seed)
    hubs = []
    for _ in range(clusters):
        # Uniform over the disc: the square root keeps the outer rings as full as the centre.
        distance = spread_km * math.sqrt(chooser.random())
        angle = chooser.uniform(0, 2 * math.pi)
        hubs.append(_moved(center, distance * math.cos(angle), distance * math.sin(angle)))

    places = []
    for number in range(count):
        # Every business draws the same random values in the same order, whatever its branch below:
        # that keeps the first n businesses the same for any count.
        hub = hubs[chooser.randrange(clusters)]
        latitude, longitude = _moved(hub, chooser.gauss(0, 0.25), chooser.gauss(0, 0.25))
        kind, kind_text, patterns = KINDS[number % len(KINDS)]
        title = chooser.choice(patterns).format(chooser.choice(SURNAMES))
        street, house = chooser.choice(STREETS), str(chooser.randint(1, 180))
        postal_code = str(chooser.randint(10115, 14199))
        subscriber = chooser.randrange(2 * 10**7, 9 * 10**7)
        has_phone = chooser.random() >= 0.12
        rating = round(min(5.0, max(1.0, chooser.gauss(4.3, 0.55))), 1)
        rating_count = 1 + int(chooser.expovariate(1 / 70))

        place_id = _place_id(f"leadpipe-places:{seed}:{number}")
        closed = closed_every > 0 and (number + 1) % closed_every == 0
        place: dict[str, Any] = {
            "name": f"places/{place_id}",
            "id": place_id,
            "types": [kind, "point_of_interest", "establishment"],
        }
        if has_phone:
            phone = phonenumbers.parse(f"+4930{subscriber}")
            national = phonenumbers.format_number(phone, phonenumbers.PhoneNumberFormat.NATIONAL)
            international = phonenumbers.format_number(phone, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
            place |= {"nationalPhoneNumber": national, "internationalPhoneNumber": international}
        place |= {
            "formattedAddress": f"{street} {house}, {postal_code} Berlin, Germany",
            "addressComponents": [
                _component(house, house, ["street_number"]),
                _component(street, street, ["route"]),
                _component("Berlin", "Berlin", ["locality", "political"]),
                _component("Berlin", "BE", ["administrative_area_level_1", "political"]),
                _component("Germany", "DE", ["country", "political"], "en"),
                _component(postal_code, postal_code, ["postal_code"]),
            ],
            "location": {"latitude": round(latitude, 7), "longitude": round(longitude, 7)},
            "rating": rating,
            "googleMapsUri": _maps_uri(place_id),
        }
        if number < len(websites):
            place["websiteUri"] = f"http://{websites[number]}/"
        place |= {
            "businessStatus": "CLOSED_PERMANENTLY" if closed else "OPERATIONAL",
            "userRatingCount": rating_count,
            "displayName": {"text": title, "languageCode": "de"},
            "primaryTypeDisplayName": {"text": kind_text, "languageCode": "en-US"},
            "shortFormattedAddress": f"{street} {house}, Berlin",
            "primaryType": kind,
        }
        places.append(place)
    return places


# The sample sites' trades as Google types them (primary type, its display name).
TRADE_TYPES = {
    "bakery": ("bakery", "Bakery"),
    "dental": ("dentist", "Dentist"),
    "plumbing": ("plumber", "Plumber"),
    "law": ("lawyer", "Lawyer"),
    "florist": ("florist", "Florist"),
    "garage": ("car_repair", "Car repair"),
    "yoga": ("yoga_studio", "Yoga studio"),
    "optician": ("optician", "Optician"),
    "roofing": ("roofing_contractor", "Roofing contractor"),
    "cafe": ("cafe", "Cafe"),
}


def sample_site_places(
    sites: Sequence[SampleSite], *, center: tuple[float, float] = (52.52, 13.405), seed: int = 5
) -> list[dict[str, Any]]:
    """A place for each sample site, within 2 km of ``center``: its name, trade, country, phone and
    website, so a search finds the businesses whose sites the demo serves."""
    chooser = random.Random(seed)
    places = []
    for site in sites:
        kind, kind_text = TRADE_TYPES[site.trade]
        place_id = _place_id(f"leadpipe-sample-site:{site.domain}")
        latitude, longitude = _moved(center, chooser.uniform(-2, 2), chooser.uniform(-2, 2))
        city = site.city
        phone = phonenumbers.parse(sorted(site.phones)[0])
        street, house, postal_code = (
            chooser.choice(STREETS),
            str(chooser.randint(1, 180)),
            str(chooser.randint(10000, 99999)),
        )
        places.append(
            {
                "name": f"places/{place_id}",
                "id": place_id,
                "displayName": {"text": site.name, "languageCode": "en"},
                "formattedAddress": f"{street} {house}, {postal_code} {city}",
                "addressComponents": [
                    _component(house, house, ["street_number"]),
                    _component(street, street, ["route"]),
                    _component(city, city, ["locality", "political"]),
                    _component(site.country, site.country, ["country", "political"], "en"),
                    _component(postal_code, postal_code, ["postal_code"]),
                ],
                "location": {"latitude": round(latitude, 7), "longitude": round(longitude, 7)},
                "internationalPhoneNumber": phonenumbers.format_number(
                    phone, phonenumbers.PhoneNumberFormat.INTERNATIONAL
                ),
                "nationalPhoneNumber": phonenumbers.format_number(
                    phone, phonenumbers.PhoneNumberFormat.NATIONAL
                ),
                "websiteUri": f"http://{site.domain}/",
                "googleMapsUri": _maps_uri(place_id),
                "rating": round(chooser.uniform(3.5, 5.0), 1),
                "userRatingCount": chooser.randint(3, 400),
                "types": [kind, "point_of_interest", "establishment"],
                "primaryType": kind,
                "primaryTypeDisplayName": {"text": kind_text, "languageCode": "en-US"},
                "businessStatus": "OPERATIONAL",
            }
        )
    return places


def _area_place(name: str, box: tuple[float, float, float, float]) -> dict[str, Any]:
    south, west, north, east = box
    place_id = _place_id(f"leadpipe-area:{name.lower()}")
    return {
        "name": f"places/{place_id}",
        "id": place_id,
        "types": ["locality", "political"],
        "formattedAddress": name,
        "addressComponents": [_component(name, name, ["locality", "political"], "en")],
        "location": {"latitude": round((south + north) / 2, 7), "longitude": round((west + east) / 2, 7)},
        "viewport": {
            "low": {"latitude": south, "longitude": west},
            "high": {"latitude": north, "longitude": east},
        },
        "googleMapsUri": _maps_uri(place_id),
        "displayName": {"text": name, "languageCode": "en"},
        "shortFormattedAddress": name,
        "primaryType": "locality",
    }


# --- Errors ------------------------------------------------------------------------------------------


class _ApiError(Exception):
    """An answer in the google.rpc.Status shape, raised anywhere while a request is answered."""

    def __init__(self, code: int, status: str, message: str, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.code, self.status, self.message = code, status, message
        self.details = details or []

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "status": self.status,
                "details": self.details,
            }
        }


def _error_info(reason: str, **metadata: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": "places.googleapis.com", **metadata},
    }


def _invalid(message: str, field: str | None = None) -> _ApiError:
    """A 400 INVALID_ARGUMENT; with the request field it is about as a google.rpc.BadRequest, as Google does."""
    details = []
    if field is not None:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": field, "description": message}],
            }
        )
    return _ApiError(400, "INVALID_ARGUMENT", message, details)


def _bad_key() -> _ApiError:
    return _ApiError(
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        [_error_info("API_KEY_INVALID")],
    )


def _no_mask(example: str) -> _ApiError:
    return _invalid(
        "FieldMask is a required parameter. See https://cloud.google.com/apis/docs/system-parameters on "
        f"how to provide it. As an example, you can set the header 'X-Goog-FieldMask' to value {example} "
        "to ask for the display name and the place ID of a place. You can also set the value to '*' in "
        "manual testing to get all the available response fields."
    )


def _unknown_path(path: str) -> _ApiError:
    message = f"Error expanding 'fields' parameter. Cannot find matching fields for path '{path}'."
    return _invalid(message, "fields")


def _not_found(message: str) -> _ApiError:
    return _ApiError(404, "NOT_FOUND", message)


FAILURE_KINDS = (
    "quota",
    "unavailable",
    "internal",
    "service_blocked",
    "service_disabled",
    "billing_disabled",
)


def _failure(kind: str, method: str) -> _ApiError:
    """The error the real API gives for ``kind``; ``method`` is "SearchText" or "GetPlace"."""
    consumer = f"projects/{PROJECT_NUMBER}"
    if kind == "quota":
        metric = "SearchTextRequest" if method == "SearchText" else "GetPlaceRequest"
        return _ApiError(
            429,
            "RESOURCE_EXHAUSTED",
            f"Quota exceeded for quota metric '{metric}' and limit '{metric} per minute' of service "
            f"'places.googleapis.com' for consumer 'project_number:{PROJECT_NUMBER}'.",
            [
                _error_info(
                    "RATE_LIMIT_EXCEEDED",
                    consumer=consumer,
                    quota_metric=f"places.googleapis.com/{metric}",
                    quota_limit=f"{metric}PerMinutePerProject",
                    quota_location="global",
                    quota_limit_value="600",
                )
            ],
        )
    if kind == "unavailable":
        return _ApiError(503, "UNAVAILABLE", "The service is currently unavailable.")
    if kind == "internal":
        return _ApiError(500, "INTERNAL", "Internal error encountered.")
    if kind == "service_blocked":
        method_name = f"google.maps.places.v1.Places.{method}"
        return _ApiError(
            403,
            "PERMISSION_DENIED",
            f"Requests to this API places.googleapis.com method {method_name} are blocked.",
            [_error_info("API_KEY_SERVICE_BLOCKED", consumer=consumer, methodName=method_name)],
        )
    if kind == "service_disabled":
        activation = f"https://console.developers.google.com/apis/api/places.googleapis.com/overview?project={PROJECT_NUMBER}"
        return _ApiError(
            403,
            "PERMISSION_DENIED",
            f"Places API (New) has not been used in project {PROJECT_NUMBER} before or it is disabled. "
            f"Enable it by visiting {activation} then retry. If you enabled this API recently, wait a few "
            "minutes for the action to propagate to our systems and retry.",
            [
                _error_info(
                    "SERVICE_DISABLED",
                    consumer=consumer,
                    serviceTitle="Places API (New)",
                    activationUrl=activation,
                )
            ],
        )
    if kind == "billing_disabled":
        return _ApiError(
            403,
            "PERMISSION_DENIED",
            f"This API method requires billing to be enabled. Please enable billing on project "
            f"#{PROJECT_NUMBER} by visiting https://console.developers.google.com/billing/enable?project="
            f"{PROJECT_NUMBER} then retry. If you enabled billing for this project recently, wait a few "
            "minutes for the action to propagate to our systems and retry.",
            [_error_info("BILLING_DISABLED", consumer=consumer)],
        )
    raise ValueError(f"unknown failure kind {kind!r}; one of {', '.join(FAILURE_KINDS)}")


# --- Reading a request -------------------------------------------------------------------------------

_SEARCH_FIELDS = frozenset(
    {
        "textQuery",
        "includedType",
        "strictTypeFiltering",
        "locationBias",
        "locationRestriction",
        "languageCode",
        "regionCode",
        "pageSize",
        "maxResultCount",
        "pageToken",
        "openNow",
        "minRating",
        "priceLevels",
        "rankPreference",
        "includePureServiceAreaBusinesses",
        "includeFutureOpeningBusinesses",
        "evOptions",
        "routingParameters",
        "searchAlongRouteParameters",
    }
)
_PAGING_FIELDS = frozenset({"pageToken", "pageSize", "maxResultCount"})  # may change from page to page
_PRICE_LEVELS = frozenset(
    {"PRICE_LEVEL_INEXPENSIVE", "PRICE_LEVEL_MODERATE", "PRICE_LEVEL_EXPENSIVE", "PRICE_LEVEL_VERY_EXPENSIVE"}
)
_RANKINGS = frozenset({"RANK_PREFERENCE_UNSPECIFIED", "RELEVANCE", "DISTANCE"})
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_REGION = re.compile(r"[A-Za-z]{2}")
# Words that say where or how, not what: "dentists near the Alexanderplatz" is about dentists.
_STOPWORDS = frozenset(
    {"a", "an", "and", "around", "at", "by", "close", "for", "in", "me", "near", "nearby", "of", "the", "to"}
)


def _snake(name: str) -> str:
    """The proto name of a JSON field, as Google's messages spell it: pageSize → page_size."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _value_error(name: str, kind: str, value: Any) -> _ApiError:
    shown = json.dumps(value, ensure_ascii=False)
    return _invalid(f"Invalid value at '{_snake(name)}' ({kind}), {shown}", name)


def _string(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise _value_error(name, "TYPE_STRING", value)
    return value


def _integer(body: Mapping[str, Any], name: str) -> int:
    value = body.get(name, 0)
    # proto3 JSON takes an int32 as a number or a string of digits.
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _value_error(name, "TYPE_INT32", value)
    return value


def _boolean(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise _value_error(name, "TYPE_BOOL", value)
    return value


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _value_error(name, "TYPE_DOUBLE", value)
    return float(value)


def _lat_lng(value: Any, name: str) -> tuple[float, float]:
    if not isinstance(value, dict):
        raise _invalid(f"Invalid '{_snake(name)}': expected an object with latitude and longitude.", name)
    latitude = _number(value.get("latitude", 0.0), f"{name}.latitude")
    longitude = _number(value.get("longitude", 0.0), f"{name}.longitude")
    if not -90 <= latitude <= 90 or not -180 <= longitude <= 180:
        raise _invalid(f"Invalid '{_snake(name)}': latitude or longitude out of range.", name)
    return latitude, longitude


@dataclass(frozen=True)
class _Rectangle:
    low: tuple[float, float]  # (latitude, longitude) of the south-west corner
    high: tuple[float, float]

    def holds(self, point: tuple[float, float]) -> bool:
        """Inclusive; a rectangle whose low longitude is east of its high one crosses the antimeridian."""
        (south, west), (north, east) = self.low, self.high
        latitude, longitude = point
        across = west <= longitude <= east if west <= east else longitude >= west or longitude <= east
        return south <= latitude <= north and across

    @property
    def centre(self) -> tuple[float, float]:
        return (self.low[0] + self.high[0]) / 2, (self.low[1] + self.high[1]) / 2


def _rectangle(value: Any, name: str) -> _Rectangle:
    if not isinstance(value, dict):
        raise _invalid(f"Invalid '{_snake(name)}': expected low and high corners.", name)
    low = _lat_lng(value.get("low"), f"{name}.low")
    high = _lat_lng(value.get("high"), f"{name}.high")
    if low[0] > high[0]:
        raise _invalid(
            f"Invalid '{_snake(name)}': the low latitude must not be greater than the high latitude.", name
        )
    return _Rectangle(low, high)


def _bias_centre(value: Any, name: str) -> tuple[float, float]:
    """The centre of a locationBias (a circle or a rectangle), checked."""
    if not isinstance(value, dict) or len(value) != 1 or not {"circle", "rectangle"} >= set(value):
        raise _invalid(f"Invalid '{_snake(name)}': exactly one of circle or rectangle must be set.", name)
    if "rectangle" in value:
        return _rectangle(value["rectangle"], f"{name}.rectangle").centre
    circle = value["circle"]
    if not isinstance(circle, dict):
        raise _invalid(f"Invalid '{_snake(name)}.circle'.", f"{name}.circle")
    centre = _lat_lng(circle.get("center"), f"{name}.circle.center")
    radius = _number(circle.get("radius", 0.0), f"{name}.circle.radius")
    if not 0 <= radius <= 50_000:
        raise _invalid("Invalid radius: it must be between 0.0 and 50000.0.", f"{name}.circle.radius")
    return centre


def _singular(word: str) -> str:
    if len(word) > 3 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _words(text: str) -> set[str]:
    return {_singular(word) for word in re.findall(r"[^\W_]+", text.lower()) if word not in _STOPWORDS}


@dataclass(frozen=True)
class _Search:
    """A Text Search request, checked."""

    text: str
    page_size: int
    offset: int
    digest: str  # of every field but the paging ones: what a page token is bound to
    included_type: str | None
    restriction: _Rectangle | None
    centre: tuple[float, float] | None  # of the bias or restriction, for DISTANCE ranking
    by_distance: bool
    min_rating: float
    price_levels: frozenset[str]
    open_now: bool


@dataclass(frozen=True)
class Recorded:
    """One request the fake answered."""

    method: str
    path: str
    field_mask: str | None
    body: dict[str, Any] | None
    status: int


@dataclass(frozen=True)
class _Mask:
    fields: frozenset[str] | None  # the Place fields to answer with; None: all of them
    token: bool  # nextPageToken named (Text Search)
    tier: int


# --- The server --------------------------------------------------------------------------------------


class PlacesApi:
    """Text Search and Place Details over ``places``; every request is recorded, every 200 billed."""

    def __init__(
        self,
        places: Sequence[Mapping[str, Any]],
        *,
        areas: Mapping[str, tuple[float, float, float, float]] | None = None,
        keys: Collection[str] = (GOOD_KEY,),
    ) -> None:
        self.keys = frozenset(keys)
        self.delay = (
            0.0  # seconds before each answer: a real API's latency, for a test to stop a search mid-way
        )
        self.requests: list[Recorded] = []
        self.billed: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._failures: list[str] = []
        self._secret = os.urandom(32)  # per server, so a token cannot be made up or carried to another
        self._server: _QuietServer | None = None

        # Copies, so a caller changing its list later cannot change what the fake answers.
        self._businesses = [json.loads(json.dumps(place)) for place in places]
        self._areas = {}
        for name, box in (areas or {}).items():
            south, _, north, _ = box
            if south > north:
                raise ValueError(f"area {name!r}: its south is north of its north")
            self._areas[name.lower()] = _area_place(name, box)
        self._by_id: dict[str, dict[str, Any]] = {}
        for place in [*self._businesses, *self._areas.values()]:
            if place["id"] in self._by_id:
                raise ValueError(f"two places have the id {place['id']}")
            self._by_id[place["id"]] = place
        # What a query is matched against, worked out once.
        self._words = {
            place["id"]: _words(
                " ".join(
                    (
                        place.get("displayName", {}).get("text", ""),
                        place.get("primaryTypeDisplayName", {}).get("text", ""),
                        place.get("primaryType", ""),
                    )
                )
            )
            for place in self._businesses
        }

    # --- Control ---

    def fail_next(self, kind: str, times: int = 1) -> None:
        """The next ``times`` requests to an API method get the error of ``kind`` instead of an answer:
        "quota", "unavailable", "internal", "service_blocked", "service_disabled", "billing_disabled"."""
        _failure(kind, "SearchText")  # an unknown kind fails here, in the test, not in the server thread
        with self._lock:
            self._failures.extend([kind] * times)

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> PlacesApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def do_PUT(self) -> None:
                self._handle()

            def do_PATCH(self) -> None:
                self._handle()

            def do_DELETE(self) -> None:
                self._handle()

            def _read_body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    chunks = []
                    while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _handle(self) -> None:
                target = urlsplit(self.path)
                query = parse_qs(target.query, keep_blank_values=True)

                def first(*names: str) -> str | None:
                    for name in names:
                        if name in query:
                            return query[name][0]
                    return None

                if api.delay:
                    time.sleep(api.delay)
                key = self.headers.get("X-Goog-Api-Key") or first("key")
                mask = self.headers.get("X-Goog-FieldMask") or first("fields", "$fields")
                status, payload = api._answer(self.command, target.path, key, mask, self._read_body(), query)
                data = json.dumps(payload, ensure_ascii=False, indent=2).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A short poll: stop() waits for the loop to notice, and tests start and stop one fake each.
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- Answering ---

    def _answer(
        self,
        method: str,
        path: str,
        key: str | None,
        mask: str | None,
        raw: bytes,
        query: Mapping[str, list[str]],
    ) -> tuple[int, dict[str, Any]]:
        """The status and body for one request; records it, and bills it if it is a 200."""
        body: dict[str, Any] | None = None
        bad_json: str | None = None
        if raw:
            try:
                loaded = json.loads(raw)
            except ValueError as error:
                bad_json = str(error)
            else:
                if isinstance(loaded, dict):
                    body = loaded
                else:
                    bad_json = "the payload is not a JSON object"
        sku = ""
        try:
            if path == SEARCH_PATH and method == "POST":
                self._admit("SearchText", key)
                if bad_json is not None:
                    raise _invalid(f"Invalid JSON payload received. {bad_json}")
                payload, sku = self._search(mask, body or {})
            elif (
                path.startswith(DETAILS_PREFIX) and "/" not in path[len(DETAILS_PREFIX) :] and method == "GET"
            ):
                self._admit("GetPlace", key)
                payload, sku = self._details(unquote(path[len(DETAILS_PREFIX) :]), mask, query)
            else:
                raise _not_found("Method not found.")
            status = 200
        except _ApiError as error:
            status, payload = error.code, error.body()
        with self._lock:
            self.requests.append(Recorded(method, path, mask, body, status))
            if status == 200:
                self.billed[sku] += 1
        return status, payload

    def _admit(self, method: str, key: str | None) -> None:
        """A failure queued by ``fail_next`` first, then the key."""
        with self._lock:
            kind = self._failures.pop(0) if self._failures else None
        if kind is not None:
            raise _failure(kind, method)
        if not key or key not in self.keys:
            raise _bad_key()

    def _search(self, mask: str | None, body: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
        wanted = _search_mask(mask)
        search = self._read_search(body)
        results = self._results(search)
        page = results[search.offset : search.offset + search.page_size]
        end = search.offset + len(page)
        payload: dict[str, Any] = {}
        if page and wanted.fields != frozenset():
            payload["places"] = [_masked(place, wanted.fields) for place in page]
        if wanted.token and end < len(results):
            payload["nextPageToken"] = self._token(end, search.digest)
        return payload, TEXT_SEARCH_SKUS[wanted.tier]

    def _details(
        self, place_id: str, mask: str | None, query: Mapping[str, list[str]]
    ) -> tuple[dict[str, Any], str]:
        wanted = _details_mask(mask)
        for name, pattern in (("languageCode", _LANGUAGE), ("regionCode", _REGION)):
            for value in query.get(name, []):
                if not pattern.fullmatch(value):
                    raise _invalid(f"Invalid '{_snake(name)}': {value!r}.", name)
        place = self._by_id.get(place_id)
        if place is None:
            raise _not_found("Requested entity was not found.")
        return _masked(place, wanted.fields), PLACE_DETAILS_SKUS[wanted.tier]

    def _read_search(self, body: Mapping[str, Any]) -> _Search:
        for name in body:
            if name not in _SEARCH_FIELDS:
                raise _invalid(f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.')
        text = _string(body, "textQuery")
        if not text or not text.strip():
            raise _invalid("Missing or empty 'text_query': a Text Search needs one.", "textQuery")

        # pageSize wins; maxResultCount is its deprecated alias, read only without it.
        page_size = _integer(body, "pageSize")
        size_field = "pageSize"
        if page_size == 0:
            page_size, size_field = _integer(body, "maxResultCount"), "maxResultCount"
        if page_size < 0:
            raise _invalid(f"Invalid '{_snake(size_field)}': must not be negative.", size_field)
        page_size = min(page_size or PAGE_SIZE, PAGE_SIZE)

        for name, pattern in (("languageCode", _LANGUAGE), ("regionCode", _REGION)):
            value = _string(body, name)
            if value is not None and not pattern.fullmatch(value):
                raise _invalid(f"Invalid '{_snake(name)}': {value!r}.", name)

        included_type = _string(body, "includedType") or None
        if included_type is not None and included_type not in INCLUDED_TYPES:
            raise _invalid(f"Unsupported types: {included_type}.", "includedType")
        for name in (
            "strictTypeFiltering",
            "includePureServiceAreaBusinesses",
            "includeFutureOpeningBusinesses",
        ):
            _boolean(body, name)
        open_now = _boolean(body, "openNow")

        if "locationBias" in body and "locationRestriction" in body:
            raise _invalid(
                "Only one of 'location_bias' and 'location_restriction' may be set.", "locationBias"
            )
        restriction, centre = None, None
        if "locationBias" in body:
            centre = _bias_centre(body["locationBias"], "locationBias")
        if "locationRestriction" in body:
            value = body["locationRestriction"]
            if not isinstance(value, dict) or set(value) != {"rectangle"}:
                raise _invalid(
                    "Invalid 'location_restriction': only a rectangle is supported.", "locationRestriction"
                )
            restriction = _rectangle(value["rectangle"], "locationRestriction.rectangle")
            centre = restriction.centre

        min_rating = _number(body.get("minRating", 0.0), "minRating")
        if not 0 <= min_rating <= 5:
            raise _invalid("Invalid 'min_rating': it must be between 0.0 and 5.0.", "minRating")
        min_rating = math.ceil(min_rating * 2) / 2  # rounded up to the next half, as documented

        levels = body.get("priceLevels", [])
        if not isinstance(levels, list) or any(level not in _PRICE_LEVELS for level in levels):
            raise _invalid(f"Invalid 'price_levels': {json.dumps(levels)}.", "priceLevels")
        ranking = _string(body, "rankPreference") or "RANK_PREFERENCE_UNSPECIFIED"
        if ranking not in _RANKINGS:
            raise _invalid(f"Invalid 'rank_preference': {ranking!r}.", "rankPreference")

        offset, digest = 0, _digest(body)
        token = _string(body, "pageToken")
        if token:
            offset, bound_to = self._read_token(token)
            if bound_to != digest:
                raise _invalid(
                    "The request parameters of the page token do not match the request: every field but "
                    "page_token, page_size and max_result_count must be the same as in the first request.",
                    "pageToken",
                )
        return _Search(
            text=text,
            page_size=page_size,
            offset=offset,
            digest=digest,
            included_type=included_type,
            restriction=restriction,
            centre=centre,
            by_distance=ranking == "DISTANCE",
            min_rating=min_rating,
            price_levels=frozenset(levels),
            open_now=open_now,
        )

    def _results(self, search: _Search) -> list[dict[str, Any]]:
        """Every place the search finds, best first, cut at the cap."""
        area = self._area_named(search.text)
        if area is not None:
            candidates = [area]
        else:
            words = _words(search.text)
            candidates = [place for place in self._businesses if words & self._words[place["id"]]]
        found = [place for place in candidates if _passes(place, search)]
        if search.by_distance and search.centre is not None:
            centre = search.centre
            found.sort(key=lambda place: _distance(centre, _point(place)))
        else:
            # "Relevance": a hash of the id, unrelated to where a place is.
            found.sort(key=lambda place: hashlib.sha256(place["id"].encode()).digest())
        return found[:MAX_RESULTS]

    def _area_named(self, text: str) -> dict[str, Any] | None:
        """The area a query names: the whole query, or its part before the first comma ("Berlin, Germany")."""
        query = text.strip().lower()
        return self._areas.get(query) or self._areas.get(query.split(",", 1)[0].strip())

    # --- Page tokens: opaque, signed, bound to the request ---

    def _token(self, offset: int, digest: str) -> str:
        raw = json.dumps({"o": offset, "d": digest}, separators=(",", ":")).encode()
        signature = hmac.new(self._secret, raw, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(signature + raw).decode().rstrip("=")

    def _read_token(self, token: str) -> tuple[int, str]:
        unreadable = _invalid("Invalid page token: it is not one this API gave out.", "pageToken")
        try:
            data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except ValueError:
            raise unreadable from None
        signature, raw = data[:16], data[16:]
        if not hmac.compare_digest(signature, hmac.new(self._secret, raw, hashlib.sha256).digest()[:16]):
            raise unreadable
        content = json.loads(raw)  # signed by this server: well-formed
        return int(content["o"]), str(content["d"])


def _search_mask(mask: str | None) -> _Mask:
    if mask is None or not mask.strip():
        raise _no_mask("'places.displayName', 'places.id'")
    fields: set[str] = set()
    token, tier, everything = False, IDS_ONLY, False
    for path in filter(None, mask.split(",")):
        if path == "*":
            everything = True
        elif path == "nextPageToken":
            token = True
        elif path.startswith("places.") and path[len("places.") :] in PLACE_FIELDS:
            fields.add(path[len("places.") :])
            tier = max(tier, TEXT_SEARCH_TIERS[path[len("places.") :]])
        else:
            raise _unknown_path(path)
    if everything:
        return _Mask(None, True, ATMOSPHERE)
    return _Mask(frozenset(fields), token, tier)


def _details_mask(mask: str | None) -> _Mask:
    if mask is None or not mask.strip():
        raise _no_mask("'displayName', 'id'")
    fields: set[str] = set()
    tier = IDS_ONLY
    for path in filter(None, mask.split(",")):
        if path == "*":
            return _Mask(None, False, ATMOSPHERE)
        if path not in PLACE_FIELDS:  # "places.id" included: Place Details takes no prefix
            raise _unknown_path(path)
        fields.add(path)
        tier = max(tier, PLACE_DETAILS_TIERS[path])
    return _Mask(frozenset(fields), False, tier)


def _masked(place: Mapping[str, Any], fields: frozenset[str] | None) -> dict[str, Any]:
    return {name: value for name, value in place.items() if fields is None or name in fields}


def _digest(body: Mapping[str, Any]) -> str:
    bound = {name: value for name, value in body.items() if name not in _PAGING_FIELDS}
    return hashlib.sha256(json.dumps(bound, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:32]


def _point(place: Mapping[str, Any]) -> tuple[float, float]:
    location = place.get("location", {})
    return float(location.get("latitude", 0.0)), float(location.get("longitude", 0.0))


def _distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Good enough for ranking: an equirectangular approximation."""
    x = math.radians(b[1] - a[1]) * math.cos(math.radians((a[0] + b[0]) / 2))
    return math.hypot(x, math.radians(b[0] - a[0]))


def _passes(place: Mapping[str, Any], search: _Search) -> bool:
    """The filters of a search, on the data a place has (one without a rating fails a minimum rating)."""
    if search.included_type is not None and search.included_type not in place.get("types", []):
        return False
    if search.restriction is not None and not search.restriction.holds(_point(place)):
        return False
    if search.min_rating and place.get("rating", 0.0) < search.min_rating:
        return False
    if search.price_levels and place.get("priceLevel") not in search.price_levels:
        return False
    return not search.open_now or bool(place.get("currentOpeningHours", {}).get("openNow"))
