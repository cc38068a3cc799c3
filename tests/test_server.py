"""The HTTP API and the dashboard, route by route: success, no key, a wrong key, a read key asking to
change something, bad input answered 4xx in the one error shape with nothing half-written; the
readiness check, the metrics, the keys, and the dashboard's sign-in, session and CSRF rules."""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select, update
from typer.testing import CliRunner

from leadpipe.cli.app import app
from leadpipe.config import Settings
from leadpipe.db.connect import Database, database_now
from leadpipe.db.models import businesses, contacts, domains, pages
from leadpipe.server import keys
from leadpipe.server.app import create_app
from leadpipe.stages import PIPELINE
from tests.helpers import add_domains

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def client(db: Database, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db, PIPELINE)) as test_client:
        yield test_client


@pytest.fixture
def admin_key(db: Database) -> str:
    return keys.create(db, "admin", "admin")


@pytest.fixture
def read_key(db: Database) -> str:
    return keys.create(db, "reader", "read")


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def is_error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["status"] == status and body["error"]["message"]
    message: str = body["error"]["message"]
    return message


def count(db: Database, table: Any) -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def routes(client: TestClient) -> list[tuple[str, str]]:
    schema = client.get("/api/v1/openapi.json").json()
    return [(method.upper(), path) for path, methods in schema["paths"].items() for method in methods]


def concrete(path: str) -> str:
    return path.replace("{record_id}", "1").replace("{stage}", "discover")


def test_every_route_but_the_health_checks_needs_a_valid_key(client: TestClient, read_key: str) -> None:
    found = routes(client)
    assert len(found) > 20
    for method, path in found:
        if path in ("/healthz", "/readyz"):
            continue
        missing = client.request(method, concrete(path))
        assert "Bearer" in is_error(missing, 401) and missing.headers["www-authenticate"] == "Bearer"
        wrong = client.request(method, concrete(path), headers=auth("lp_not-a-key"))
        is_error(wrong, 401)
    assert client.get("/healthz").json() == {"status": "ok"}


def test_a_read_key_reads_and_may_change_nothing(client: TestClient, read_key: str, db: Database) -> None:
    add_domains(db, ["a.example"], status="awaiting")
    for method, path in routes(client):
        if method == "POST":
            answer = client.post(concrete(path), headers=auth(read_key), json={})
            assert "admin key" in is_error(answer, 403), path
    assert client.get("/api/v1/domains", headers=auth(read_key)).json()["total"] == 1
    with db.engine.connect() as connection:
        assert connection.execute(select(domains.c.status)).scalar_one() == "awaiting"


def test_no_route_shadows_another(client: TestClient, admin_key: str) -> None:
    """Each route of the schema answers as itself: no parameter in a path takes another route's requests."""
    for method, path in routes(client):
        answer = client.request(method, concrete(path), headers=auth(admin_key), json={})
        assert (
            answer.status_code not in (404, 405) or "no record" in answer.text or "no stage" in answer.text
        ), (
            method,
            path,
            answer.text,
        )


def test_lists_filter_sort_page_and_report_the_total(client: TestClient, read_key: str, db: Database) -> None:
    add_domains(db, [f"site{number:02}.example" for number in range(30)])
    with db.begin() as connection:
        connection.execute(update(domains).where(domains.c.id <= 10).values(status="dead", last_error="boom"))
    dead = client.get(
        "/api/v1/domains", params={"where": "status=dead", "limit": 4}, headers=auth(read_key)
    ).json()
    assert dead["total"] == 10 and len(dead["items"]) == 4 and dead["next_after"] == dead["items"][-1]["id"]
    rest = client.get(
        "/api/v1/domains",
        params={"where": "status=dead", "after": dead["next_after"], "limit": 50},
        headers=auth(read_key),
    ).json()
    assert [item["id"] for item in rest["items"]] == list(range(5, 11))
    ordered = client.get(
        "/api/v1/domains", params={"sort": "-name", "limit": 2, "offset": 1}, headers=auth(read_key)
    )
    assert [item["name"] for item in ordered.json()["items"]] == ["site28.example", "site27.example"]
    assert all("lease_token" not in item for item in ordered.json()["items"])
    one = client.get(f"/api/v1/domains/{dead['items'][0]['id']}", headers=auth(read_key)).json()
    assert one["status"] == "dead" and one["last_error"] == "boom"
    assert "no record" in is_error(client.get("/api/v1/domains/999999", headers=auth(read_key)), 404)
    assert "where" in is_error(
        client.get("/api/v1/domains", params={"where": "colour=red"}, headers=auth(read_key)), 400
    )
    assert "sort" in is_error(
        client.get("/api/v1/domains", params={"sort": "colour"}, headers=auth(read_key)), 400
    )
    is_error(client.get("/api/v1/domains", params={"where": "lease_token=x"}, headers=auth(read_key)), 400)
    is_error(client.get("/api/v1/domains", params={"limit": "many"}, headers=auth(read_key)), 422)
    is_error(client.get("/api/v1/domains", params={"limit": 10_000}, headers=auth(read_key)), 422)
    is_error(
        client.get("/api/v1/domains", params={"where": ["status=dead"] * 21}, headers=auth(read_key)), 422
    )


def test_curation_by_ids_and_by_filter_with_the_engines_rules(
    client: TestClient, admin_key: str, db: Database
) -> None:
    add_domains(db, ["a.example", "b.example", "c.example"], status="awaiting")
    selected = client.post(
        "/api/v1/stages/discover/select", json={"ids": [1, 2]}, headers=auth(admin_key)
    ).json()
    assert selected["queued"] == 2
    rejected = client.post(
        "/api/v1/stages/discover/reject", json={"where": ["name=c.example"]}, headers=auth(admin_key)
    ).json()
    assert rejected["taken_back"] == 1
    with db.engine.connect() as connection:
        rows = dict(connection.execute(select(domains.c.name, domains.c.status)).all())
    assert rows == {"a.example": "pending", "b.example": "pending", "c.example": "skipped"}
    assert "name the items" in is_error(
        client.post("/api/v1/stages/discover/select", json={}, headers=auth(admin_key)), 400
    )
    assert "no stage" in is_error(
        client.post("/api/v1/stages/nope/select", json={"all": True}, headers=auth(admin_key)), 404
    )
    too_many = client.post(
        "/api/v1/stages/discover/unselect", json={"ids": list(range(1, 10_002))}, headers=auth(admin_key)
    )
    assert "10000" in is_error(too_many, 422)
    is_error(
        client.post("/api/v1/stages/discover/select", json={"ids": ["one"]}, headers=auth(admin_key)), 422
    )
    with db.engine.connect() as connection:
        assert (
            dict(connection.execute(select(domains.c.name, domains.c.status)).all()) == rows
        )  # nothing half-done


def test_submissions_report_every_line_and_a_bad_file_adds_nothing(
    client: TestClient, admin_key: str, db: Database
) -> None:
    answer = client.post(
        "/api/v1/inputs", json={"lines": ["acme-tools.de", "https://shop-berlin.de/x", "bad..name", "acme-tools.de"]},
        headers=auth(admin_key),
    ).json()  # fmt: skip
    assert answer["new"] == 2 and answer["repeated"] == 1 and "line 3" in answer["skipped"][0]
    table = "website,name\nhttps://bakery-koeln.de,Bakery\nnot a site,Nobody\n"
    uploaded = client.post(
        "/api/v1/inputs/upload",
        files={"file": ("leads.csv", table.encode(), "text/csv")},
        headers=auth(admin_key),
    ).json()
    assert uploaded["kind"] == "businesses" and uploaded["new"] == 2
    before = count(db, businesses), count(db, domains)
    binary = client.post(
        "/api/v1/inputs/upload",
        files={"file": ("x.csv", b"web\x00site\n\xff\xfe", "text/csv")},
        headers=auth(admin_key),
    )
    assert "text" in is_error(binary, 400)
    no_header = client.post(
        "/api/v1/inputs/upload", files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")}, headers=auth(admin_key)
    )
    is_error(no_header, 400)
    huge = client.post(
        "/api/v1/inputs/upload",
        files={"file": ("x.txt", b"a.example\n" * 2_200_000, "text/plain")},
        headers=auth(admin_key),
    )
    assert "20 MB" in is_error(huge, 413)
    is_error(client.post("/api/v1/inputs", json={"lines": []}, headers=auth(admin_key)), 422)
    is_error(
        client.post("/api/v1/inputs", json={"lines": ["x.example"] * 10_001}, headers=auth(admin_key)), 422
    )
    is_error(
        client.post(
            "/api/v1/inputs",
            content=b"{not json",
            headers={**auth(admin_key), "Content-Type": "application/json"},
        ),
        422,
    )
    assert (count(db, businesses), count(db, domains)) == before


def test_export_takes_the_lists_filters(client: TestClient, read_key: str, db: Database) -> None:
    add_domains(db, ["a.example", "b.example"])
    with db.begin() as connection:
        connection.execute(
            insert(contacts),
            [
                {"domain_id": 1, "kind": "email", "value": "info@a.example", "validation": "deliverable"},
                {"domain_id": 1, "kind": "phone", "value": "+4930123456", "validation": None},
                {"domain_id": 2, "kind": "email", "value": "=cmd@b.example", "validation": "risky"},
            ],
        )
    answer = client.get(
        "/api/v1/exports/contacts",
        params={"kind": "email", "validation": "deliverable"},
        headers=auth(read_key),
    )
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(row["domain"], row["value"]) for row in rows] == [("a.example", "info@a.example")]
    by_filter = client.get(
        "/api/v1/exports/contacts", params={"where": "validation=risky"}, headers=auth(read_key)
    )
    assert [row["value"] for row in csv.DictReader(io.StringIO(by_filter.text))] == ["'=cmd@b.example"]
    is_error(
        client.get("/api/v1/exports/contacts", params={"where": "colour=red"}, headers=auth(read_key)), 400
    )
    everything = client.get(
        "/api/v1/exports/contacts", params={"format": "jsonl"}, headers=auth(read_key)
    ).text
    assert everything.count("\n") == 3 and '"=cmd@b.example"' in everything
    is_error(client.get("/api/v1/exports/contacts", params={"format": "pdf"}, headers=auth(read_key)), 422)


def test_pause_resume_requeue_and_the_stages(client: TestClient, admin_key: str, db: Database) -> None:
    add_domains(db, ["a.example", "b.example"], status="dead", last_error="gone")
    paused = client.post(
        "/api/v1/stages/discover/pause", json={"reason": "quota"}, headers=auth(admin_key)
    ).json()
    assert paused["paused"] is True
    stages = client.get("/api/v1/stages", headers=auth(admin_key)).json()
    discover = next(stage for stage in stages["stages"] if stage["name"] == "discover")
    assert "quota" in discover["paused"] and discover["counts"]["dead"] == 2
    assert client.post("/api/v1/stages/discover/resume", headers=auth(admin_key)).json()["was_paused"] is True
    assert (
        client.post("/api/v1/stages/discover/requeue", json={"dead": True}, headers=auth(admin_key)).json()[
            "queued"
        ]
        == 2
    )
    assert "dead=true" in is_error(
        client.post("/api/v1/stages/discover/requeue", json={}, headers=auth(admin_key)), 400
    )
    is_error(client.post("/api/v1/stages/discover/pause", json={"reason": ""}, headers=auth(admin_key)), 422)


def test_a_search_plan_over_a_box_costs_no_request(client: TestClient, admin_key: str, db: Database) -> None:
    answer = client.post(
        "/api/v1/searches", json={"query": "dentist", "bbox": [52.4, 13.3, 52.6, 13.5], "dry_run": True},
        headers=auth(admin_key),
    ).json()  # fmt: skip
    assert answer["search_id"] is None and answer["cells"] == 15 and answer["tier"] == "Enterprise"
    added = client.post(
        "/api/v1/searches",
        json={"query": "dentist", "near": [52.52, 13.4], "radius_km": 2},
        headers=auth(admin_key),
    ).json()
    assert added["search_id"] == 1
    assert client.get("/api/v1/search-cells", headers=auth(admin_key)).json()["total"] == added["cells"]
    both = client.post(
        "/api/v1/searches",
        json={"query": "x", "bbox": [1, 2, 3, 4], "area": "Berlin"},
        headers=auth(admin_key),
    )
    assert "one of" in is_error(both, 400)
    assert "south < north" in is_error(
        client.post("/api/v1/searches", json={"query": "x", "bbox": [3, 2, 1, 4]}, headers=auth(admin_key)),
        400,
    )


def test_readiness_names_a_stage_whose_work_has_no_consumer(client: TestClient, db: Database) -> None:
    assert client.get("/readyz").json() == {"ready": True, "problems": []}
    add_domains(db, ["a.example"])
    answer = client.get("/readyz")
    assert answer.status_code == 503
    (problem,) = answer.json()["problems"]
    assert problem["stage"] == "discover" and "no consumer" in problem["message"]


def test_metrics_give_each_stage_its_items_and_problems(
    client: TestClient, read_key: str, db: Database
) -> None:
    add_domains(db, ["a.example", "b.example"])
    text = client.get("/metrics", headers=auth(read_key)).text
    assert 'leadpipe_items{stage="discover",status="pending"} 2.0' in text
    assert 'leadpipe_stage_without_consumer{stage="discover"} 1.0' in text
    assert 'leadpipe_stage_without_consumer{stage="scrape"} 0.0' in text
    assert "leadpipe_live_workers" in text and "leadpipe_oldest_eligible_seconds" in text


def test_keys_are_kept_hashed_revocable_and_never_logged(
    client: TestClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = keys.create(db, "ci", "read")
    assert secret.startswith("lp_") and len(secret) > 40
    assert all(secret not in str(value) for row in keys.listed(db) for value in row.values())
    assert client.get("/api/v1/domains", headers=auth(secret)).status_code == 200
    assert keys.revoke(db, "ci") and not keys.revoke(db, "ci")
    is_error(client.get("/api/v1/domains", headers=auth(secret)), 401)
    with pytest.raises(keys.KeyError_):
        keys.create(db, "ci", "read")
    with pytest.raises(keys.KeyError_):
        keys.create(db, "other", "root")
    assert secret not in caplog.text


# -- the dashboard --------------------------------------------------------------------------------------


def sign_in(client: TestClient, key: str) -> str:
    answer = client.post("/sign-in", data={"key": key}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    page: str = client.get("/").text
    marker = 'name="csrf" value="'
    return page.split(marker, 1)[1].split('"', 1)[0]


def test_the_dashboard_needs_a_session_and_every_form_its_csrf_token(
    client: TestClient, admin_key: str, db: Database
) -> None:
    assert client.get("/", follow_redirects=False).headers["location"] == "/sign-in"
    assert client.post("/sign-in", data={"key": "lp_wrong"}).status_code == 401
    csrf = sign_in(client, admin_key)
    assert "Pipeline" in client.get("/").text
    add_domains(db, ["a.example", "b.example"], status="awaiting")
    forged = client.post(
        "/curate/discover/select", data={"ids": ["1"], "csrf": "forged"}, follow_redirects=False
    )
    assert forged.status_code == 403
    chosen = client.post("/curate/discover/select", data={"ids": ["1"], "csrf": csrf}, follow_redirects=False)
    assert chosen.status_code == 303
    with db.engine.connect() as connection:
        assert dict(connection.execute(select(domains.c.name, domains.c.status)).all()) == {
            "a.example": "pending",
            "b.example": "awaiting",
        }
    report = client.post("/submit", data={"domains": "shop-berlin.de\nbad..name\n", "csrf": csrf}).text
    assert "1 new" in report and "bad..name" in report
    assert "a.example" in client.get("/browse/domains").text


def test_a_read_key_sees_the_dashboard_and_changes_nothing(
    client: TestClient, read_key: str, db: Database
) -> None:
    csrf = sign_in(client, read_key)
    add_domains(db, ["a.example"], status="awaiting")
    answer = client.post("/curate/discover/select", data={"ids": ["1"], "csrf": csrf})
    assert answer.status_code == 403 and "read" in answer.json()["error"]["message"]


def test_failed_sign_ins_are_limited_per_address(client: TestClient, admin_key: str) -> None:
    for _ in range(10):
        assert client.post("/sign-in", data={"key": "lp_guess"}).status_code == 401
    assert client.post("/sign-in", data={"key": admin_key}).status_code == 429


def test_the_alerting_rules_name_only_metrics_the_server_exports(client: TestClient, read_key: str) -> None:
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    named = {
        name.removesuffix("_total")
        for group in rules["groups"]
        for rule in group["rules"]
        for name in re.findall(r"leadpipe_[a-z_]+", rule["expr"])
    }
    text = client.get("/metrics", headers=auth(read_key)).text
    families = {
        line.split()[2].removesuffix("_total") for line in text.splitlines() if line.startswith("# TYPE")
    }
    assert named and named <= families, named - families
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert alerts == {
        "LeadpipeStageWithoutConsumer", "LeadpipeStageStalled", "LeadpipeExpiredLeases", "LeadpipeErrorRateJump",
        "LeadpipeStagePaused",
    }  # fmt: skip


def test_doctor_names_each_problem_with_what_to_do(db: Database, db_url: str) -> None:
    add_domains(db, ["a.example"])
    with db.begin() as connection:
        moment = database_now(connection)
        rows = [
            {"domain_id": 1, "url": f"https://a.example/{number}", "status": "pending", "attempts": 1,
             "last_error": "HTTP 503", "last_error_at": moment - timedelta(minutes=1)}
            for number in range(8)
        ]  # fmt: skip
        connection.execute(insert(pages), rows)
    result = CliRunner().invoke(app, ["doctor", "--db", db_url])
    assert result.exit_code == 1, result.output
    assert "no consumer" in result.output and "leadpipe worker --stage discover" in result.output
    assert "error rate jumped: 8 of 8 items failed" in result.output


def test_a_body_past_the_limit_is_refused_before_it_is_read(
    client: TestClient, admin_key: str, db: Database
) -> None:
    huge = b"a.example\n" * 2_700_000  # 27 MB
    answer = client.post(
        "/api/v1/inputs/upload", files={"file": ("x.txt", huge, "text/plain")}, headers=auth(admin_key)
    )
    assert "25 MB" in is_error(answer, 413)
    assert count(db, domains) == 0


def test_the_dashboard_sends_a_person_back_only_within_itself(
    client: TestClient, admin_key: str, db: Database
) -> None:
    csrf = sign_in(client, admin_key)
    add_domains(db, ["a.example"], status="awaiting")
    for back, expected in (("//evil.example/x", "/"), ("/\\evil.example", "/"), ("https://evil.example", "/"),
                           ("/browse/domains?where=status%3Dawaiting", "/browse/domains?where=status%3Dawaiting")):  # fmt: skip
        answer = client.post(
            "/curate/discover/select", data={"ids": ["1"], "csrf": csrf, "back": back}, follow_redirects=False
        )
        assert answer.headers["location"] == expected, back


def test_filters_take_each_columns_type_and_refuse_what_it_cannot_hold(
    client: TestClient, read_key: str, db: Database
) -> None:
    add_domains(db, ["a.example"])
    for where in ("attempts=many", "finished_at=yesterday", "priority=1.5"):
        is_error(client.get("/api/v1/domains", params={"where": where}, headers=auth(read_key)), 400)
    for where in ("types=x", "raw=x", "latitude=north"):
        is_error(client.get("/api/v1/businesses", params={"where": where}, headers=auth(read_key)), 400)
    is_error(client.get("/api/v1/businesses", params={"sort": "raw"}, headers=auth(read_key)), 400)
    found = client.get(
        "/api/v1/domains",
        params={"where": ["finished_at=null", "created_at!=2020-01-01T00:00:00Z"]},
        headers=auth(read_key),
    )
    assert found.json()["total"] == 1


def test_a_search_over_too_large_an_area_is_refused_before_any_cell_is_made(
    client: TestClient, admin_key: str, db: Database
) -> None:
    world = client.post(
        "/api/v1/searches",
        json={"query": "dentist", "bbox": [-89, -179, 89, 179], "dry_run": True},
        headers=auth(admin_key),
    )
    assert "more than 10,000" in is_error(world, 400)


def test_readiness_is_503_when_the_database_cannot_be_reached(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gone' / 'leadpipe.db'}"  # a folder that does not exist
    app = create_app(Settings(database_url=url), Database(url), PIPELINE)
    with TestClient(app) as detached:
        answer = detached.get("/readyz")
        assert answer.status_code == 503 and answer.json()["problems"][0]["message"].startswith("database")
        assert "database" in is_error(detached.get("/api/v1/domains", headers=auth("lp_x")), 503)


def test_the_dashboards_filters_are_bounded(client: TestClient, read_key: str) -> None:
    sign_in(client, read_key)
    assert client.get("/browse/domains", params={"where": "&".join(["status=dead"] * 21)}).status_code == 400
    assert client.get("/browse/domains", params={"where": "x" * 2001}).status_code == 422
    assert client.get("/browse/domains", params={"where": "status=dead"}).status_code == 200
