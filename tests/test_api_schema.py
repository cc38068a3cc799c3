"""Schemathesis against the API's own OpenAPI schema: whatever a client sends that the schema allows,
or nearly allows, no route answers a server error. Requests carry an admin key, so they reach the
routes' own checks rather than stopping at authentication."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.openapi import from_asgi

from leadpipe.config import Settings
from leadpipe.db.connect import Database
from leadpipe.server import keys
from leadpipe.server.app import create_app
from leadpipe.stages import PIPELINE
from tests.helpers import add_domains


def _app() -> tuple[str, object]:
    """An app over a fresh SQLite file with two dead domains, and an admin key (made at collection:
    the schema is read when pytest collects the test)."""
    url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='leadpipe-schema-')) / 'leadpipe.db'}"
    db = Database(url)
    db.upgrade()
    add_domains(db, ["a.example", "b.example"], status="dead", last_error="gone")
    # No Places key: a search by an area's name is refused with a clear 400, never sent anywhere.
    settings = Settings(database_url=url, google_places_api_key=None)
    return keys.create(db, "schemathesis", "admin"), create_app(settings, db, PIPELINE)


KEY, APP = _app()
schema = from_asgi("/api/v1/openapi.json", APP)


@schema.parametrize()
@hypothesis_settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
    case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"}, checks=[not_a_server_error])
