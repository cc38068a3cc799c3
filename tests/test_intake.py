"""Intake: lists of domains and CSVs of businesses in, every unusable line named, nothing added twice."""

from __future__ import annotations

import re
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from leadpipe import intake
from leadpipe.cli import app
from leadpipe.config import Settings
from leadpipe.db.connect import Database
from leadpipe.db.models import businesses, domains
from leadpipe.engine import queue
from leadpipe.extract.website import normalise
from leadpipe.stages import PIPELINE
from tests.helpers import domain


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def rows(found: intake.Intake, **options: Any) -> tuple[list[dict[str, Any]], intake.Added]:
    added = intake.Added()
    return list(found.rows(added, **options)), added


def add(db: Database, path: Path, *, refresh: bool = False, **settings: Any) -> intake.Added:
    return intake.add(
        db, PIPELINE, Settings(database_url=db.url, **settings), intake.read(path), refresh=refresh
    )


def test_a_list_of_domains_and_urls(tmp_path: Path) -> None:
    found, added = rows(
        intake.read(
            write(
                tmp_path,
                "sites.txt",
                "# my leads\n\nacme.com\nhttps://www.acme.com/about   # same site\n"
                "https://shop.example.de/sitemap_index.xml\nhttps://facebook.com/joes\nnot a site\n",
            )
        )
    )
    assert found == [
        {"name": "acme.com", "sitemap_hint": None},
        {"name": "acme.com", "sitemap_hint": None},
        {"name": "example.de", "sitemap_hint": "https://shop.example.de/sitemap_index.xml"},
    ]
    assert added.skipped == [
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
    (first, second), _ = rows(found)
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
        ("# only comments\n\n", "is empty"),
        ("name,phone\nAcme,123\n", "has no website or domain column (columns: name, phone)"),
    ],
)
def test_unusable_inputs_are_refused_with_one_reason(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(intake.IntakeError, match=re.escape(message)):
        intake.read(write(tmp_path, "input.csv", text))


def test_an_input_with_no_usable_line_is_refused(db: Database, tmp_path: Path) -> None:
    with pytest.raises(intake.IntakeError, match=re.escape("nothing usable in")):
        add(db, write(tmp_path, "input.txt", "# only comments\n\nnot-a-site\n"))


def test_adding_twice_adds_nothing_new_and_refresh_queues_again(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path, "sites.txt", "acme.com\nexample.org\n")
    first = add(db, path)
    with db.begin() as connection:
        connection.execute(
            domains.update()
            .where(domains.c.name == "acme.com")
            .values(status="dead", last_error="timed out", attempts=5)
        )
    second = add(db, path)
    refreshed = add(db, path, refresh=True)
    assert (first.new, first.known) == (2, 0)
    assert (second.new, second.known, second.refreshed) == (0, 2, 0)
    assert refreshed.refreshed == 1
    with db.engine.connect() as connection:
        states = dict(connection.execute(select(domains.c.name, domains.c.status)).all())
    assert states == {"acme.com": "pending", "example.org": "pending"}
    # Queued again by the engine's one requeue: attempts afresh, the last error kept as history.
    again = domain(db, "acme.com")
    assert (again["attempts"], again["last_error"]) == (0, "requeued; last error: timed out")


def test_csv_businesses_are_unique_by_their_fields(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path, "b.csv", "name,website\nAcme,acme.com\nAcme Two,acme.com\n")
    add(db, path)
    add(db, path)
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


# ---- the curation policy and the database's clock ---------------------------------------------------


def test_added_records_wait_for_a_person_where_the_consuming_stage_says_so(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADPIPE_DATABASE_URL", db_url)
    monkeypatch.setenv("LEADPIPE_CURATION", '{"discover": "manual", "resolve": "manual"}')
    runner = CliRunner()
    listed = runner.invoke(app, ["add", str(write(tmp_path, "sites.txt", "acme.com\nexample.org\n"))])
    csv = runner.invoke(app, ["add", str(write(tmp_path, "b.csv", "name,website\nAcme,acme.com\n"))])
    assert listed.exit_code == 0 and csv.exit_code == 0, listed.output + csv.output
    db = Database(db_url)
    try:
        with db.engine.connect() as connection:
            assert set(connection.execute(select(domains.c.status)).scalars()) == {"awaiting"}
            assert set(connection.execute(select(businesses.c.status)).scalars()) == {"awaiting"}
    finally:
        db.dispose()


def test_a_refresh_on_postgresql_runs_on_the_database_s_clock(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not db.is_postgres:
        pytest.skip("SQLite's clock is this process's")
    path = write(tmp_path, "sites.txt", "acme.com\n")
    add(db, path)
    with db.begin() as connection:
        connection.execute(domains.update().values(status="done"))
    far_off = datetime(2001, 1, 1, tzinfo=UTC)
    for module in ("leadpipe.db.connect", "leadpipe.intake", "leadpipe.engine.queue"):
        monkeypatch.setattr(f"{module}.now", lambda: far_off, raising=False)
    add(db, write(tmp_path, "more.txt", "acme.com\nexample.org\n"), refresh=True)
    with db.engine.connect() as connection:
        database_now = connection.execute(select(func.now())).scalar_one()
        run_after = dict(connection.execute(select(domains.c.name, domains.c.run_after)).all())
    for name in ("acme.com", "example.org"):
        assert abs(run_after[name] - database_now) < timedelta(seconds=1), name


# ---- counts and sitemap hints -----------------------------------------------------------------------


def test_rows_repeated_in_the_file_or_known_to_the_database_are_not_counted_as_new(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(db, write(tmp_path, "before.csv", "name,website\nOld,old.com\n"))
    monkeypatch.setattr(intake, "BATCH_LINES", 2)  # repeats across batches are found in the database
    added = add(
        db,
        write(
            tmp_path,
            "b.csv",
            "name,website\nAcme,acme.com\nAcme,acme.com\nBeta,beta.com\nOld,old.com\nAcme,acme.com\n",
        ),
    )
    assert (added.new, added.known, added.repeated) == (2, 1, 2)
    with db.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(businesses)).scalar_one() == 3


def test_the_summary_counts_repeats_apart(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADPIPE_DATABASE_URL", db_url)
    path = write(tmp_path, "b.csv", "name,website\nAcme,acme.com\nAcme,acme.com\n")
    result = CliRunner().invoke(app, ["add", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 new businesses, 0 already known, 1 named again in the input" in result.output


@pytest.mark.parametrize("batch", [intake.BATCH_LINES, 1])
def test_a_sitemap_on_a_later_line_becomes_the_domain_s_hint(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    monkeypatch.setattr(intake, "BATCH_LINES", batch)
    hint = "https://example.com/sitemap_index.xml"
    added = add(db, write(tmp_path, "sites.txt", f"example.com\nacme.com\n{hint}\n"))
    assert (added.new, added.repeated) == (2, 1)
    assert domain(db, "example.com")["sitemap_hint"] == hint
    # Discovery gets it with the domain it claims.
    settings = Settings(database_url=db.url)
    with db.begin() as connection:
        claimed = queue.claim(db, connection, PIPELINE["discover"], settings, "test", 10)
    assert claimed is not None
    assert {item["name"]: item["sitemap_hint"] for item in claimed.items} == {
        "example.com": hint,
        "acme.com": None,
    }


def test_a_sitemap_given_later_for_a_domain_already_known_becomes_its_hint(
    db: Database, tmp_path: Path
) -> None:
    add(db, write(tmp_path, "first.txt", "example.com\n"))
    add(db, write(tmp_path, "second.txt", "https://www.example.com/shop/sitemap.xml\n"))
    assert domain(db, "example.com")["sitemap_hint"] == "https://www.example.com/shop/sitemap.xml"


# ---- what is text, and what is a name ---------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-be", "utf-32"])
def test_text_with_a_byte_order_mark_is_read_in_its_encoding(
    db: Database, tmp_path: Path, encoding: str
) -> None:
    text = "bäckerei-müller.de\nexample.org\n"
    data = text.encode(encoding)
    if encoding == "utf-16-be":  # Python writes the mark only for the native order
        data = b"\xfe\xff" + data
    path = tmp_path / "sites.txt"
    path.write_bytes(data)
    added = add(db, path)
    assert added.new == 2 and not added.skipped
    with db.engine.connect() as connection:
        assert set(connection.execute(select(domains.c.name)).scalars()) == {
            "bäckerei-müller.de",
            "example.org",
        }


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"acme.com\n\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "utf-8 cannot decode byte b'\\x89' near line 2"),
        (b"acme.com\nexample.org\x00\x00\x00\x01\n", "a NUL byte on line 2"),
        ("acme.com\nexample.org\n".encode("utf-16-le"), "a NUL byte on line 1"),
        (b"acme.com\nexample.org\n\xff\xfe\xfa", "utf-8 cannot decode byte b'\\xff' near line 3"),
    ],
)
def test_a_file_that_is_not_text_is_refused_in_one_line(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes, reason: str
) -> None:
    monkeypatch.setenv("LEADPIPE_DATABASE_URL", db_url)
    path = tmp_path / "input.txt"
    path.write_bytes(data)
    result = CliRunner().invoke(app, ["add", str(path)])
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"leadpipe: {path} is not a text file: {reason}")


def test_a_csv_cell_past_the_csv_reader_s_limit_is_refused_in_one_line(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path, "b.csv", "name,website\nAcme,acme.com\n" + "x" * 200_000 + ",beta.com\n")
    with pytest.raises(
        intake.IntakeError, match=re.escape(f"{path} cannot be read as CSV on line 3: field larger")
    ):
        add(db, path)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("a" * 64 + ".com", "a label longer than 63 characters"),
        (".".join(["a" * 60] * 5) + ".com", "a name longer than 253 characters"),
        ("foo..com", "an empty label in the name: 'foo..com'"),
        ("https://[::1]:8080/", "an IP address, not a domain name"),
        ("10.0.0.1", "an IP address, not a domain name"),
        ("intranet.internal", "no known public suffix (top-level domain): 'intranet.internal'"),
        ("co.uk", "a public suffix, not a domain: 'co.uk'"),
        ("shop_1.com", "not a valid domain name: 'shop_1.com'"),
        ("info@gmail.com", "an e-mail address at gmail.com, a free-mail provider"),
        ("mailto:anna@yahoo.co.uk", "an e-mail address at yahoo.co.uk, a free-mail provider"),
        ("max@web.de", "an e-mail address at web.de, a free-mail provider"),
        ("x" * 5000, "5000 characters, longer than a web address can be"),
    ],
)
def test_each_name_is_checked_with_a_reason_for_its_line(tmp_path: Path, line: str, reason: str) -> None:
    found, added = rows(intake.read(write(tmp_path, "sites.txt", f"acme.com\n{line}\n")))
    assert [row["name"] for row in found] == ["acme.com"]
    (skipped,) = added.skipped
    assert skipped.startswith(f"line 2: {reason}")
    assert len(skipped) < 250


def test_an_e_mail_address_of_a_business_becomes_its_domain_with_a_note(tmp_path: Path) -> None:
    found, added = rows(intake.read(write(tmp_path, "sites.txt", "info@baeckerei-mueller.de\n")))
    assert found == [{"name": "baeckerei-mueller.de", "sitemap_hint": None}]
    assert added.notes == ["line 1: an e-mail address: took its domain, baeckerei-mueller.de"]


def test_a_csv_website_that_is_a_free_mail_address_is_not_taken_as_the_business_s_domain(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "b.csv", "name,website\nAcme,info@gmail.com\nBeta,office@beta-bau.de\n")
    (acme, beta), added = rows(intake.read(path))
    assert acme["website"] is None and beta["website"] == "beta-bau.de"
    assert added.notes[0].startswith(
        "line 2: the business has no usable website: an e-mail address at gmail.com"
    )


def test_ip_addresses_and_private_names_are_allowed_with_private_networks(tmp_path: Path) -> None:
    path = write(tmp_path, "sites.txt", "https://[::1]:8080/\n10.0.0.1\nintranet.internal\n")
    found, added = rows(intake.read(path), allow_private=True)
    assert [row["name"] for row in found] == ["[::1]", "10.0.0.1", "intranet.internal"]
    assert not added.skipped


def test_the_summary_of_skipped_lines_is_bounded(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADPIPE_DATABASE_URL", db_url)
    path = write(tmp_path, "sites.txt", "acme.com\n" + "foo..com\n" * 500)
    result = CliRunner().invoke(app, ["add", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.count("skipped line") == intake.MESSAGES_KEPT
    assert f"skipped {500 - intake.MESSAGES_KEPT} more lines" in result.output


def test_the_website_normaliser_refuses_what_is_not_a_public_domain() -> None:
    assert normalise("https://[::1]:8080/").problem
    assert normalise("https://[::1]:8080/", allow_private=True).domain == "[::1]"
    assert normalise("foo..com").problem == "an empty label in the name: 'foo..com'"
    assert (
        normalise("x" * 10_000 + ".com").problem == "a label longer than 63 characters: '" + "x" * 60 + "…'"
    )


# ---- memory -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["domains", "businesses"])
def test_a_long_input_is_added_in_batches_of_bounded_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Memory follows the batch, not the input: 10,000 lines in batches of 250 (read whole, the input
    took over 6 MB)."""
    url = f"sqlite:///{tmp_path / 'memory.db'}"
    Database(url).upgrade()
    db = Database(url)
    lines = 10_000
    if kind == "domains":
        text = "".join(f"shop-{number}.com\n" for number in range(lines))
    else:
        text = "name,website,phone\n" + "".join(
            f"Shop {n},shop-{n}.com,+1 555 {n:07d}\n" for n in range(lines)
        )
    path = write(tmp_path, "input.csv", text)
    del text
    monkeypatch.setattr(intake, "BATCH_LINES", 250)
    add(
        db,
        write(tmp_path, "warm.csv", "name,website\nWarm,warm.com\n" if kind != "domains" else "warm.com\n"),
    )
    tracemalloc.start()
    try:
        added = add(db, path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        db.dispose()
    assert added.new == lines
    assert peak < 2_500_000, f"{peak / 1e6:.1f} MB"
