"""A Google Place (Places API (New), as JSON) → a business record. No I/O.

Google leaves out every field it has no data for, and a place's parts come in ``addressComponents``
by type; whatever is missing or malformed becomes None, never an error: one odd place must not cost
a page of twenty.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import phonenumbers

__all__ = ["FACTS", "business_from_place", "source_key"]

# What a later search may say anew of a business it finds again: Google's facts. Never what the
# pipeline or a person did with it (its status, curation, domain), nor the search that found it first.
FACTS = (
    "name", "website", "phone", "address", "country", "street", "city", "postal_code", "state", "latitude",
    "longitude", "rating", "review_count", "category", "primary_type", "types", "business_status", "maps_url",
    "raw",
)  # fmt: skip

# Where an address writes the house number before the street.
NUMBER_FIRST = frozenset({"US", "CA", "GB", "IE", "AU", "NZ", "FR", "LU", "IL", "PH", "SG", "MY", "ZA", "IN"})


def source_key(place_id: str) -> str:
    """The business's natural key: one business per place, however many searches find it."""
    key = f"place:{place_id}"
    # Place ids are mostly 27 characters, but Google sets no bound: a long one is hashed to fit.
    return key if len(key) <= 100 else "place:sha256:" + hashlib.sha256(place_id.encode()).hexdigest()


def business_from_place(place: Mapping[str, Any]) -> dict[str, Any] | None:
    """The business record of a place, or None for a place without an id (nothing to know it by)."""
    place_id = _text(place.get("id"))
    if not place_id:
        return None
    parts = _components(place.get("addressComponents"))
    country = (parts.get("country", ("", ""))[1] or "").upper()[:2] or None
    location = place.get("location")
    location = location if isinstance(location, Mapping) else {}
    types = place.get("types")
    return {
        "source_key": source_key(place_id),
        "place_id": place_id[:300],
        "source": "google_places",
        "name": _text(_display(place.get("displayName")))[:500] or None,
        "website": _text(place.get("websiteUri"))[:2000] or None,
        "phone": _phone(place, country),
        "address": _text(place.get("formattedAddress"))[:1000] or None,
        "country": country,
        "street": _street(parts, country),
        "city": _long(parts, "locality", "postal_town", "administrative_area_level_3")[:200] or None,
        "postal_code": _long(parts, "postal_code")[:32] or None,
        "state": _long(parts, "administrative_area_level_1")[:200] or None,
        "latitude": _number(location.get("latitude")),
        "longitude": _number(location.get("longitude")),
        "rating": _number(place.get("rating")),
        "review_count": _count(place.get("userRatingCount")),
        "category": _text(_display(place.get("primaryTypeDisplayName")))[:200] or None,
        "primary_type": _text(place.get("primaryType"))[:100] or None,
        "types": [str(kind)[:100] for kind in types[:50]] if isinstance(types, list) else None,
        "business_status": _text(place.get("businessStatus"))[:32] or None,
        "maps_url": _text(place.get("googleMapsUri"))[:2000] or None,
        "raw": dict(place),
    }


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _display(value: Any) -> Any:
    """The text of a LocalizedText (``{"text": …, "languageCode": …}``)."""
    return value.get("text") if isinstance(value, Mapping) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value == value and abs(value) != float("inf") else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _components(value: Any) -> dict[str, tuple[str, str]]:
    """Each address type's (longText, shortText), the first component of a type winning."""
    found: dict[str, tuple[str, str]] = {}
    for component in value if isinstance(value, list) else ():
        if not isinstance(component, Mapping) or not isinstance(component.get("types"), list):
            continue
        texts = (_text(component.get("longText")), _text(component.get("shortText")))
        for kind in component["types"]:
            found.setdefault(str(kind), texts)
    return found


def _long(parts: dict[str, tuple[str, str]], *kinds: str) -> str:
    return next((parts[kind][0] for kind in kinds if kind in parts and parts[kind][0]), "")


def _street(parts: dict[str, tuple[str, str]], country: str | None) -> str | None:
    route, number = _long(parts, "route"), _long(parts, "street_number")
    pieces = [number, route] if country in NUMBER_FIRST else [route, number]
    return " ".join(piece for piece in pieces if piece)[:500] or None


def _phone(place: Mapping[str, Any], country: str | None) -> str | None:
    """The phone in E.164, from the international form, else the national one read in the country."""
    for field, region in (("internationalPhoneNumber", None), ("nationalPhoneNumber", country)):
        text = _text(place.get(field))
        if not text:
            continue
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None
