"""Intake: lists of domains and CSVs of businesses in, every unusable line named, nothing added twice."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from leadpipe import intake
from leadpipe.cli import app
from leadpipe.db.connect import Database
from leadpipe.db.models import businesses, domains


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_list_of_domains_and_urls(tmp_path: Path) -> None:
    found = intake.read(
        write(
            tmp_path,
            "sites.txt",
            "# my leads\n\nacme.com\nhttps://www.acme.com/about   # same site\n"
            "https://shop.example.de/sitemap_index.xml\nhttps://facebook.com/joes\nnot a site\n",
        )
    )
    assert found.kind == "domains"
    assert found.domains == [
        {"name": "acme.com", "sitemap_hint": None},
        {"name": "example.de", "sitemap_hint": "https://shop.example.de/sitemap_index.xml"},
    ]
    assert found.problems == [
        "line 6: a facebook page, not a website",
        "line 7: not a web address: 'not a site'",
    ]


def test_a_csv_of_businesses_with_a_semicolon_and_german_headers(tmp_path: Path) -> None:
    found = intake.read(
        write(
            tmp_path,
            "firmen.csv",
            "Firma;Webseite;Telefon;Adresse;Land\n"
            "Bäckerei Müller;www.baeckerei-mueller.de;+49 30 123456;Hauptstr. 1, Berlin;de\n"
            "Kein Web;;030 999;;DE\n",
        )
    )
    assert found.kind == "businesses"
    first, second = found.businesses
    assert (first["name"], first["website"], first["phone"], first["country"]) == (
        "Bäckerei Müller",
        "www.baeckerei-mueller.de",
        "+49 30 123456",
        "DE",
    )
    assert second["website"] is None and second["source_key"] != first["source_key"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("name,phone\nAcme,123\n", "has no website or domain column (columns: name, phone)"),
        ("# only comments\n\nnot-a-site\n", "nothing usable in"),
    ],
)
def test_unusable_inputs_are_refused_with_one_reason(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(intake.IntakeError, match=re.escape(message)):
        intake.read(write(tmp_path, "input.csv", text))


def test_adding_twice_adds_nothing_new_and_refresh_queues_again(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path, "sites.txt", "acme.com\nexample.org\n")
    first = intake.add(db, intake.read(path))
    with db.begin() as connection:
        connection.execute(
            domains.update().where(domains.c.name == "acme.com").values(status="done", outcome="sitemaps")
        )
    second = intake.add(db, intake.read(path))
    refreshed = intake.add(db, intake.read(path), refresh=True)
    assert (first.new, first.known) == (2, 0)
    assert (second.new, second.known, second.refreshed) == (0, 2, 0)
    assert refreshed.refreshed == 1
    with db.engine.connect() as connection:
        states = dict(connection.execute(select(domains.c.name, domains.c.status)).all())
    assert states == {"acme.com": "pending", "example.org": "pending"}


def test_csv_businesses_are_unique_by_their_fields(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path, "b.csv", "name,website\nAcme,acme.com\nAcme Two,acme.com\n")
    intake.add(db, intake.read(path))
    intake.add(db, intake.read(path))
    with db.engine.connect() as connection:
        assert connection.execute(select(businesses.c.name)).scalars().all() == ["Acme", "Acme Two"]


def test_the_add_command(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADPIPE_DATABASE_URL", db_url)
    runner = CliRunner()
    result = runner.invoke(
        app, ["add", str(write(tmp_path, "sites.txt", "acme.com\nhttps://instagram.com/x\n"))]
    )
    assert result.exit_code == 0, result.output
    assert "1 new domains, 0 already known" in result.output
    assert "skipped line 2: a instagram page, not a website" in result.output
    missing = runner.invoke(app, ["add", str(tmp_path / "nope.txt")])
    assert (
        missing.exit_code == 1
        and missing.output.strip() == f"leadpipe: no such file: {tmp_path / 'nope.txt'}"
    )
