"""The fake Places API keeps the rules of the real one: the tests of a client are only as good as its fake."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import phonenumbers
import pytest

from leadpipe.demo.places import GOOD_KEY, PlacesApi, seeded_city
from leadpipe.demo.sites import sample_sites

SEARCH = "/v1/places:searchText"
BERLIN = (52.33, 13.08, 52.68, 13.76)  # south, west, north, east
WEBSITES = [site.domain for site in sample_sites(40)]
# 640 businesses over 8 kinds: 80 dentists, more than the 60 a search can return.
CITY = seeded_city(640, websites=WEBSITES, closed_every=10)


@pytest.fixture
def api() -> Iterator[PlacesApi]:
    fake = PlacesApi(CITY, areas={"Berlin": BERLIN}).start()
    yield fake
    fake.stop()


@pytest.fixture
def client(api: PlacesApi) -> Iterator[httpx.Client]:
    # Plain HTTP on loopback: no certificates to load (that would be most of each test's time).
    with httpx.Client(base_url=api.url, timeout=5, verify=False) as http:
        yield http


def search(
    client: httpx.Client, body: dict[str, Any], mask: str | None = "places.id", key: str | None = GOOD_KEY
) -> httpx.Response:
    headers = {}
    if key is not None:
        headers["X-Goog-Api-Key"] = key
    if mask is not None:
        headers["X-Goog-FieldMask"] = mask
    return client.post(SEARCH, json=body, headers=headers)


def details(client: httpx.Client, place_id: str, mask: str) -> httpx.Response:
    return client.get(
        f"/v1/places/{place_id}", headers={"X-Goog-Api-Key": GOOD_KEY, "X-Goog-FieldMask": mask}
    )


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The google.rpc.Status of an error answer, after checking its shape."""
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "status", "details"}
    assert error["code"] == response.status_code
    return error


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [place for place in CITY if place["primaryType"] == kind]


# --- Keys and masks ---


def test_a_request_without_a_field_mask_is_refused(client: httpx.Client, api: PlacesApi) -> None:
    response = search(client, {"textQuery": "dentists"}, mask=None)
    assert response.status_code == 400
    error = error_of(response)
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"].startswith("FieldMask is a required parameter.")
    assert not api.billed


def test_a_bad_or_missing_key_is_a_400_with_reason_api_key_invalid(client: httpx.Client) -> None:
    expected = {
        "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "places.googleapis.com"},
                }
            ],
        }
    }
    for key in ("not-the-key", None):
        response = search(client, {"textQuery": "dentists"}, key=key)
        assert response.status_code == 400
        assert response.json() == expected
        error_of(response)


def test_key_and_mask_may_come_in_the_query_string(client: httpx.Client) -> None:
    response = client.post(
        SEARCH, params={"key": GOOD_KEY, "fields": "places.id"}, json={"textQuery": "dentists"}
    )
    assert response.status_code == 200
    assert len(response.json()["places"]) == 20


def test_an_unknown_mask_path_is_named_in_the_error(client: httpx.Client) -> None:
    for mask, path in (
        ("places.id,places.website", "places.website"),
        ("places.id, places.name", " places.name"),
    ):
        response = search(client, {"textQuery": "dentists"}, mask=mask)
        assert response.status_code == 400
        assert f"'{path}'" in error_of(response)["message"]
    # The bare name without its prefix is unknown to Text Search.
    assert search(client, {"textQuery": "dentists"}, mask="id").status_code == 400


# --- Paging and the 60-result cap ---


def test_sixty_results_at_most_in_three_pages_of_twenty(client: httpx.Client, api: PlacesApi) -> None:
    assert len(of_kind("dentist")) > 60
    body: dict[str, Any] = {"textQuery": "dentists in Berlin"}
    seen: list[str] = []
    pages = []
    while True:
        response = search(client, body, mask="places.id,nextPageToken")
        assert response.status_code == 200
        page = response.json()
        pages.append(page)
        seen += [place["id"] for place in page["places"]]
        if "nextPageToken" not in page:
            break
        body = {**body, "pageToken": page["nextPageToken"]}
    assert [len(page["places"]) for page in pages] == [20, 20, 20]
    assert len(set(seen)) == 60
    assert set(seen) <= {place["id"] for place in of_kind("dentist")}
    assert api.billed == {"Text Search Essentials IDs Only": 3}


def test_no_next_page_token_unless_the_mask_names_it(client: httpx.Client) -> None:
    page = search(client, {"textQuery": "dentists"}, mask="places.id").json()
    assert set(page) == {"places"}
    assert len(page["places"]) == 20


def test_page_size_is_coerced_and_checked(client: httpx.Client) -> None:
    def sizes(body: dict[str, Any]) -> int:
        return len(search(client, {"textQuery": "dentists", **body}).json()["places"])

    assert sizes({"pageSize": 5}) == 5
    assert sizes({"pageSize": 50}) == 20
    assert sizes({"pageSize": 0}) == 20
    assert sizes({"maxResultCount": 7}) == 7
    assert sizes({"pageSize": 3, "maxResultCount": 7}) == 3  # the alias is ignored beside pageSize
    response = search(client, {"textQuery": "dentists", "pageSize": -1})
    assert response.status_code == 400
    assert error_of(response)["status"] == "INVALID_ARGUMENT"


def test_later_pages_must_repeat_the_first_request(client: httpx.Client) -> None:
    first = {"textQuery": "dentists", "pageSize": 10}
    token = search(client, first, mask="places.id,nextPageToken").json()["nextPageToken"]
    changed = search(client, {"textQuery": "bakeries", "pageToken": token}, mask="places.id,nextPageToken")
    assert changed.status_code == 400
    error = error_of(changed)
    assert error["status"] == "INVALID_ARGUMENT"
    assert "page token" in error["message"]
    # Only pageSize (and maxResultCount) may change.
    resized = search(client, {"textQuery": "dentists", "pageSize": 20, "pageToken": token})
    assert resized.status_code == 200
    assert len(resized.json()["places"]) == 20


def test_a_forged_or_garbled_page_token_is_refused(client: httpx.Client) -> None:
    forged = base64.urlsafe_b64encode(b"\0" * 16 + json.dumps({"o": 40, "d": "0" * 32}).encode()).decode()
    for token in (forged, "not a token", "AeCrKX"):
        response = search(client, {"textQuery": "dentists", "pageToken": token})
        assert response.status_code == 400
        assert error_of(response)["status"] == "INVALID_ARGUMENT"


def test_a_search_without_results_is_an_empty_object(client: httpx.Client) -> None:
    response = search(client, {"textQuery": "submarine dealers"}, mask="places.id,nextPageToken")
    assert response.status_code == 200
    assert response.json() == {}


# --- What a search finds ---


def test_a_rectangle_restriction_keeps_the_places_inside_it(client: httpx.Client) -> None:
    # A box around the first bakery: its cluster's bakeries, and no others.
    centre = of_kind("bakery")[0]["location"]
    low = {"latitude": centre["latitude"] - 0.01, "longitude": centre["longitude"] - 0.015}
    high = {"latitude": centre["latitude"] + 0.01, "longitude": centre["longitude"] + 0.015}
    inside = {
        place["id"]
        for place in of_kind("bakery")
        if low["latitude"] <= place["location"]["latitude"] <= high["latitude"]
        and low["longitude"] <= place["location"]["longitude"] <= high["longitude"]
    }
    assert 0 < len(inside) < len(of_kind("bakery"))
    body = {"textQuery": "bakery", "locationRestriction": {"rectangle": {"low": low, "high": high}}}
    page = search(client, body, mask="places.id,places.location").json()
    assert {place["id"] for place in page["places"]} == inside


def test_a_restriction_must_be_one_rectangle_with_low_below_high(client: httpx.Client) -> None:
    low, high = {"latitude": 52.4, "longitude": 13.3}, {"latitude": 52.6, "longitude": 13.5}
    circle = {"circle": {"center": low, "radius": 1000.0}}
    for body in (
        {"locationRestriction": circle},
        {"locationRestriction": {"rectangle": {"low": high, "high": low}}},
        {"locationRestriction": {"rectangle": {"low": low, "high": high}}, "locationBias": circle},
    ):
        response = search(client, {"textQuery": "bakery", **body})
        assert response.status_code == 400, body
        assert error_of(response)["status"] == "INVALID_ARGUMENT"
    assert search(client, {"textQuery": "bakery", "locationBias": circle}).status_code == 200


def test_included_type_filters_by_type(client: httpx.Client) -> None:
    page = search(
        client, {"textQuery": "dentist bakery", "includedType": "bakery"}, mask="places.types"
    ).json()
    assert page["places"]
    assert all("bakery" in place["types"] for place in page["places"])
    assert search(client, {"textQuery": "dentists", "includedType": "bakery"}).json() == {}
    response = search(client, {"textQuery": "dentists", "includedType": "dragon_lair"})
    assert response.status_code == 400
    assert "Unsupported types: dragon_lair" in error_of(response)["message"]


def test_the_ranking_is_not_by_distance(client: httpx.Client) -> None:
    """The first page is not the places nearest the centre of a restriction: a cell must be split to
    see all of a dense area, as with the real API."""
    box = {"low": {"latitude": 52.33, "longitude": 13.08}, "high": {"latitude": 52.68, "longitude": 13.76}}
    body = {"textQuery": "dentists", "locationRestriction": {"rectangle": box}}
    by_relevance = search(client, body, mask="places.location").json()["places"]
    by_distance = search(client, {**body, "rankPreference": "DISTANCE"}, mask="places.location").json()[
        "places"
    ]
    assert by_relevance != by_distance


@pytest.mark.parametrize(
    "body",
    [
        {"textQuery": "dentists", "languageCode": "not a language"},
        {"textQuery": "dentists", "regionCode": "DEU"},
        {"textQuery": "dentists", "query": "typo"},
        {"textQuery": ""},
        {},
        {"textQuery": "dentists", "pageSize": "many"},
    ],
)
def test_bad_bodies_are_refused(client: httpx.Client, body: dict[str, Any]) -> None:
    response = search(client, body)
    assert response.status_code == 400
    assert error_of(response)["status"] == "INVALID_ARGUMENT"


def test_bad_json_is_refused(client: httpx.Client) -> None:
    headers = {
        "X-Goog-Api-Key": GOOD_KEY,
        "X-Goog-FieldMask": "places.id",
        "Content-Type": "application/json",
    }
    response = client.post(SEARCH, content=b"{textQuery:", headers=headers)
    assert response.status_code == 400
    assert error_of(response)["message"].startswith("Invalid JSON payload received.")


# --- Masks and billing ---


def test_only_the_masked_fields_come_back(client: httpx.Client, api: PlacesApi) -> None:
    page = search(client, {"textQuery": "dentists"}, mask="places.id").json()
    assert all(set(place) == {"id"} for place in page["places"])
    assert api.billed == {"Text Search Essentials IDs Only": 1}

    # A place without a website simply lacks the field.
    page = search(client, {"textQuery": "dentists"}, mask="places.id,places.websiteUri").json()
    assert all(set(place) <= {"id", "websiteUri"} for place in page["places"])
    with_site = {place["id"]: place["websiteUri"] for place in CITY if "websiteUri" in place}
    for place in page["places"]:
        assert place.get("websiteUri") == with_site.get(place["id"])
    assert api.billed["Text Search Enterprise"] == 1

    search(client, {"textQuery": "dentists"}, mask="places.id,places.displayName,places.location")
    assert api.billed["Text Search Pro"] == 1
    full = search(client, {"textQuery": "dentists"}, mask="*").json()
    assert "nextPageToken" in full
    assert {"id", "displayName", "formattedAddress", "primaryType"} <= set(full["places"][0])
    assert api.billed["Text Search Enterprise + Atmosphere"] == 1


def test_place_details_takes_a_mask_without_prefix(client: httpx.Client, api: PlacesApi) -> None:
    place = CITY[0]
    response = details(client, place["id"], "id,displayName,websiteUri")
    assert response.status_code == 200
    assert response.json() == {
        "id": place["id"],
        "displayName": place["displayName"],
        "websiteUri": f"http://{WEBSITES[0]}/",
    }
    assert details(client, place["id"], "formattedAddress").json() == {
        "formattedAddress": place["formattedAddress"]
    }
    assert api.billed == {"Place Details Enterprise": 1, "Place Details Essentials": 1}

    prefixed = details(client, place["id"], "places.id,places.displayName")
    assert prefixed.status_code == 400
    assert "'places.id'" in error_of(prefixed)["message"]
    missing = details(client, "ChIJdoesNotExist000000000", "id")
    assert missing.status_code == 404
    assert error_of(missing)["status"] == "NOT_FOUND"
    assert details(client, place["id"], "").status_code == 400
    assert sum(api.billed.values()) == 2


# --- Failures on demand ---


@pytest.mark.parametrize(
    ("kind", "status", "code", "reason"),
    [
        ("quota", 429, "RESOURCE_EXHAUSTED", "RATE_LIMIT_EXCEEDED"),
        ("unavailable", 503, "UNAVAILABLE", None),
        ("internal", 500, "INTERNAL", None),
        ("service_blocked", 403, "PERMISSION_DENIED", "API_KEY_SERVICE_BLOCKED"),
        ("service_disabled", 403, "PERMISSION_DENIED", "SERVICE_DISABLED"),
        ("billing_disabled", 403, "PERMISSION_DENIED", "BILLING_DISABLED"),
    ],
)
def test_fail_next_gives_the_real_errors(
    client: httpx.Client, api: PlacesApi, kind: str, status: int, code: str, reason: str | None
) -> None:
    api.fail_next(kind, times=2)
    for _ in range(2):
        response = search(client, {"textQuery": "dentists"})
        assert response.status_code == status
        error = error_of(response)
        assert error["status"] == code
        reasons = [detail["reason"] for detail in error["details"]]
        assert reasons == ([reason] if reason else [])
    if kind == "quota":
        assert error["details"][0]["metadata"]["quota_limit"] == "SearchTextRequestPerMinutePerProject"
        assert error["message"].startswith("Quota exceeded for quota metric 'SearchTextRequest'")
    if kind == "service_blocked":
        assert "google.maps.places.v1.Places.SearchText are blocked" in error["message"]
    assert search(client, {"textQuery": "dentists"}).status_code == 200
    assert [recorded.status for recorded in api.requests] == [status, status, 200]
    assert sum(api.billed.values()) == 1


def test_fail_next_refuses_an_unknown_kind(api: PlacesApi) -> None:
    with pytest.raises(ValueError, match="unknown failure kind"):
        api.fail_next("meteor")


# --- Areas, routes, records ---


def test_an_area_name_answers_a_locality_with_its_viewport(client: httpx.Client) -> None:
    for query in ("Berlin", "berlin, Germany"):
        page = search(
            client, {"textQuery": query}, mask="places.id,places.primaryType,places.viewport"
        ).json()
        (place,) = page["places"]
        assert place["primaryType"] == "locality"
        assert place["viewport"] == {
            "low": {"latitude": 52.33, "longitude": 13.08},
            "high": {"latitude": 52.68, "longitude": 13.76},
        }
        assert place["id"] not in {business["id"] for business in CITY}
    full = search(client, {"textQuery": "Berlin"}, mask="places.location,places.types").json()["places"][0]
    assert full["location"] == {"latitude": 52.505, "longitude": 13.42}
    assert "locality" in full["types"]


def test_unknown_paths_and_methods_are_404s(client: httpx.Client) -> None:
    headers = {"X-Goog-Api-Key": GOOD_KEY, "X-Goog-FieldMask": "*"}
    for response in (
        client.get("/v1/nowhere", headers=headers),
        client.get(SEARCH, headers=headers),
        client.delete(f"/v1/places/{CITY[0]['id']}", headers=headers),
        client.post("/v1/places:searchNearby", json={}, headers=headers),
    ):
        assert response.status_code == 404
        assert error_of(response)["status"] == "NOT_FOUND"


def test_requests_are_recorded_and_counted_under_load(client: httpx.Client, api: PlacesApi) -> None:
    search(client, {"textQuery": "dentists"}, mask="places.id,nextPageToken")
    (first,) = api.requests
    assert (first.method, first.path, first.field_mask, first.body, first.status) == (
        "POST",
        SEARCH,
        "places.id,nextPageToken",
        {"textQuery": "dentists"},
        200,
    )

    def many() -> None:
        with httpx.Client(base_url=api.url, timeout=5, verify=False) as own:
            for _ in range(5):
                assert search(own, {"textQuery": "cafes"}).status_code == 200

    threads = [threading.Thread(target=many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(api.requests) == 41
    assert api.billed == {"Text Search Essentials IDs Only": 41}


# --- The seeded city ---


def test_seeded_city_is_deterministic_with_unique_ids() -> None:
    assert seeded_city(50, seed=3) == seeded_city(50, seed=3)
    assert seeded_city(50, seed=3) != seeded_city(50, seed=4)
    assert seeded_city(80, seed=3)[:50] == seeded_city(50, seed=3)
    ids = [place["id"] for place in CITY]
    assert len(set(ids)) == len(ids)
    assert all(place["name"] == f"places/{place['id']}" and place["id"].startswith("ChIJ") for place in CITY)


def test_seeded_city_has_the_websites_closed_ones_and_real_numbers() -> None:
    assert [place.get("websiteUri") for place in CITY[: len(WEBSITES)]] == [
        f"http://{domain}/" for domain in WEBSITES
    ]
    assert not any("websiteUri" in place for place in CITY[len(WEBSITES) :])
    closed = [number for number, place in enumerate(CITY) if place["businessStatus"] == "CLOSED_PERMANENTLY"]
    assert closed == list(range(9, len(CITY), 10))
    phones = [place for place in CITY if "internationalPhoneNumber" in place]
    assert 0 < len(phones) < len(CITY)  # some have none
    for place in phones:
        number = phonenumbers.parse(place["internationalPhoneNumber"])
        assert phonenumbers.is_valid_number(number)
        assert place["internationalPhoneNumber"].startswith("+49 30 ")
        assert place["nationalPhoneNumber"].startswith("030 ")
    kinds = [place["primaryType"] for place in CITY[:8]]
    assert kinds == ["dentist", "bakery", "plumber", "lawyer", "florist", "car_repair", "cafe", "electrician"]
    assert all(
        place["types"] == [place["primaryType"], "point_of_interest", "establishment"] for place in CITY
    )
    assert all(1.0 <= place["rating"] <= 5.0 for place in CITY)
    assert CITY[0]["addressComponents"][-2]["shortText"] == "DE"


def test_seeded_city_clusters_stay_near_the_centre() -> None:
    city = seeded_city(200, center=(48.137, 11.575), spread_km=5.0, clusters=3)
    for place in city:
        location = place["location"]
        assert abs(location["latitude"] - 48.137) < 0.08
        assert abs(location["longitude"] - 11.575) < 0.12
