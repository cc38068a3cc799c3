"""Page → contacts through the real pipeline and engine, against sites on loopback, on both databases."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pydantic import SecretStr
from sqlalchemy import func, insert, select

from leadpipe.config import Settings
from leadpipe.db.connect import Database
from leadpipe.db.models import contacts, domains, pages
from leadpipe.demo.web import Web
from leadpipe.engine.stage import Pipeline
from leadpipe.stages import PIPELINE as REAL
from leadpipe.stages import discover, scrape, sitemap_import, validate
from tests.fake_verifiers import FakeVerifiers
from tests.helpers import run_until_idle

NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
PIPELINE = Pipeline(
    [replace(discover.STAGE, max_attempts=1), sitemap_import.STAGE, scrape.STAGE], resources=REAL.resources
)
RETRYING = Pipeline([discover.STAGE, sitemap_import.STAGE, scrape.STAGE], resources=REAL.resources)


def urlset(*paths: str, host: str) -> str:
    return (
        f"<urlset {NS}>"
        + "".join(f"<url><loc>http://{host}{path}</loc></url>" for path in paths)
        + "</urlset>"
    )


def run(
    db: Database,
    settings: Settings,
    web: Web,
    *names: str,
    pipeline: Pipeline = PIPELINE,
    max_wait: float = 0.0,
    **changes: Any,
) -> None:
    tuned = Settings(
        **{**settings.model_dump(), "proxy": web.url, "http_total_timeout_seconds": 15, **changes}
    )
    with db.begin() as connection:
        connection.execute(insert(domains), [{"name": name} for name in names])
    run_until_idle(db, tuned, pipeline, max_wait=max_wait)


def found(db: Database, name: str) -> dict[tuple[str, str], Any]:
    with db.engine.connect() as connection:
        rows = connection.execute(
            select(contacts, pages.c.url.label("page_url"))
            .join(domains, domains.c.id == contacts.c.domain_id)
            .join(pages, pages.c.id == contacts.c.page_id)
            .where(domains.c.name == name)
        ).all()
    return {(row.kind, row.value): row for row in rows}


def page_columns(db: Database, name: str, *columns: str) -> dict[str, tuple[Any, ...]]:
    """The domain's pages by path, each with the named columns."""
    with db.engine.connect() as connection:
        rows = connection.execute(
            select(pages.c.url, *(pages.c[column] for column in columns))
            .join(domains, domains.c.id == pages.c.domain_id)
            .where(domains.c.name == name)
        ).all()
    return {row.url.split(name, 1)[1]: tuple(row[1:]) for row in rows}


def page_states(db: Database, name: str) -> dict[str, tuple[Any, ...]]:
    return page_columns(db, name, "status", "outcome")


HOME = """<!doctype html><html lang="de"><head><title>Bäckerei Sonne – Berlin</title>
<meta name="description" content="Brot und Kuchen seit 1950"><meta name="generator" content="WordPress 6.5">
</head><body><nav><a href="/kontakt">Kontakt</a> <a href="/impressum">Impressum</a></nav>
<p>Willkommen!</p><a href="https://www.facebook.com/baeckerei.sonne/">Facebook</a></body></html>"""
CONTACT = """<html><body><h1>Kontakt</h1><p>Schreiben Sie uns: <a href="mailto:info@sonne-berlin.de">info@sonne-berlin.de</a></p>
<p>Telefon: <a href="tel:+49301234567">030 1234567</a></p></body></html>"""


def test_a_site_s_contacts_are_found_best_pages_first(db: Database, settings: Settings, web: Web) -> None:
    web.add_xml(
        "sonne-berlin.de",
        "/sitemap.xml",
        urlset("/kontakt", "/impressum", "/blog/rezept", host="sonne-berlin.de"),
    )
    web.add("sonne-berlin.de", "/", HOME.encode())
    web.add("sonne-berlin.de", "/kontakt", CONTACT.encode())
    web.add(
        "sonne-berlin.de", "/impressum", b"<html><body>Inhaber: Anna Sonne, Tel. 030 7654321</body></html>"
    )
    run(db, settings, web, "sonne-berlin.de", default_region="DE")
    contacts_found = found(db, "sonne-berlin.de")
    assert contacts_found[("email", "info@sonne-berlin.de")].page_url == "http://sonne-berlin.de/kontakt"
    assert contacts_found[("email", "info@sonne-berlin.de")].found_by == "mailto"
    assert ("phone", "+49301234567") in contacts_found
    assert contacts_found[("social", "https://facebook.com/baeckerei.sonne")].network == "facebook"
    states = page_states(db, "sonne-berlin.de")
    assert states["/"] == ("done", "contacts_found")
    assert states["/kontakt"] == ("done", "contacts_found")
    assert states["/blog/rezept"] == ("awaiting", None)  # not contact-like: waits for a person
    with db.engine.connect() as connection:
        domain = connection.execute(select(domains).where(domains.c.name == "sonne-berlin.de")).one()
    assert (domain.title, domain.language, domain.site_builder) == (
        "Bäckerei Sonne – Berlin",
        "de",
        "wordpress",
    )


def test_a_sitemap_rate_limited_once_is_read_later_and_its_contact_page_scraped(
    db: Database, settings: Settings, web: Web
) -> None:
    web.add_first("sonne-berlin.de", "/sitemap.xml", b"slow down", status=429, headers={"Retry-After": "1"})
    web.add_xml("sonne-berlin.de", "/sitemap.xml", urlset("/kontakt", host="sonne-berlin.de"))
    web.add("sonne-berlin.de", "/", b"<html><body>Willkommen!</body></html>")  # no link to /kontakt
    web.add("sonne-berlin.de", "/kontakt", CONTACT.encode())
    run(db, settings, web, "sonne-berlin.de", pipeline=RETRYING, max_wait=3, default_region="DE")
    with db.engine.connect() as connection:
        domain = connection.execute(select(domains).where(domains.c.name == "sonne-berlin.de")).one()
    assert (domain.status, domain.outcome, domain.attempts) == ("done", "sitemaps", 2)
    assert page_states(db, "sonne-berlin.de")["/kontakt"] == ("done", "contacts_found")
    assert ("email", "info@sonne-berlin.de") in found(db, "sonne-berlin.de")


def test_a_page_answering_5xx_or_behind_a_busy_robots_txt_is_retried_not_written_off(
    db: Database, settings: Settings, web: Web
) -> None:
    web.add_xml(
        "retry.test",
        "/sitemap.xml",
        f"<urlset {NS}><url><loc>http://retry.test/kontakt</loc></url>"
        "<url><loc>http://www.retry.test/impressum</loc></url></urlset>",
    )
    web.add("retry.test", "/", b"<html><body>Willkommen!</body></html>")
    web.add_first("retry.test", "/kontakt", b"oops", status=502)
    web.add("retry.test", "/kontakt", CONTACT.encode())
    # The page's own host keeps out while its robots.txt answers 503 (RFC 9309): later, not never.
    web.add_first("www.retry.test", "/robots.txt", b"down", status=503, headers={"Retry-After": "0"})
    web.add(
        "www.retry.test", "/impressum", b"<html><body>Inhaber: Anna Sonne, Tel. 030 7654321</body></html>"
    )
    run(
        db,
        settings,
        web,
        "retry.test",
        default_region="DE",
        http_busy_retry_seconds=0,
        scrape_stop_when_found=False,
    )
    states = page_states(db, "retry.test")
    assert states["/kontakt"] == ("done", "contacts_found")
    assert states["/impressum"] == ("done", "contacts_found")
    assert ("phone", "+49307654321") in found(db, "retry.test")


def test_once_a_domain_has_a_sure_email_and_phone_its_other_pages_are_skipped(
    db: Database, settings: Settings, web: Web
) -> None:
    web.add_xml(
        "early-bird.com", "/sitemap.xml", urlset("/contact", "/about", "/team", host="early-bird.com")
    )
    web.add(
        "early-bird.com",
        "/",
        b"<html><body>Call <a href='tel:+12125550199'>us</a>, or mail <a href='mailto:hi@early-bird.com'>hi</a></body></html>",
    )
    for path in ("/contact", "/about", "/team"):
        web.add("early-bird.com", path, b"<html><body>nothing here</body></html>")
    run(db, settings, web, "early-bird.com")
    states = page_states(db, "early-bird.com")
    assert states["/"] == ("done", "contacts_found")
    assert {states[p] for p in ("/contact", "/about", "/team")} == {("skipped", "domain has its contacts")}
    assert not [path for path in web.requests_to("early-bird.com") if path in ("/contact", "/about", "/team")]


def test_a_domain_s_page_budget_is_kept(db: Database, settings: Settings, web: Web) -> None:
    paths = [f"/contact-{i}" for i in range(8)]
    web.add_xml("many.test", "/sitemap.xml", urlset(*paths, host="many.test"))
    web.add("many.test", "/", b"<html><body>hello</body></html>")
    for path in paths:
        web.add("many.test", path, b"<html><body>nothing</body></html>")
    run(db, settings, web, "many.test", scrape_max_pages=3)
    outcomes = [state for path, state in page_states(db, "many.test").items() if path != "/"]
    assert outcomes.count(("skipped", "domain page budget reached")) >= 4
    assert sum(1 for state in outcomes if state[0] == "done") <= 4


def test_what_a_fetch_was_like_is_recorded_on_the_page(db: Database, settings: Settings, web: Web) -> None:
    web.add_xml(
        "odd.test", "/sitemap.xml", urlset("/contact.pdf", "/contact-gone", "/about", host="odd.test")
    )
    web.add(
        "odd.test", "/", b'<html><body><div id="root"></div><script src="/app.js"></script></body></html>'
    )
    web.add("odd.test", "/contact.pdf", b"%PDF-1.4", content_type="application/pdf")
    web.add("odd.test", "/about", b"<html><body>We bake bread.</body></html>")
    run(db, settings, web, "odd.test")
    states = page_states(db, "odd.test")
    assert states["/"] == ("done", "script_shell")
    assert states["/contact.pdf"] == ("done", "not_html")
    assert states["/contact-gone"] == ("done", "not_found")
    assert states["/about"] == ("done", "no_contacts")
    with db.engine.connect() as connection:
        pdf = connection.execute(select(pages).where(pages.c.url == "http://odd.test/contact.pdf")).one()
    assert (pdf.http_status, pdf.content_type, pdf.problem) == (
        200,
        "application/pdf",
        "not HTML: application/pdf",
    )


def problems(db: Database, name: str) -> dict[str, tuple[Any, ...]]:
    return page_columns(db, name, "outcome", "problem")


def test_no_page_or_site_floods_the_contacts_or_their_validations(
    db: Database, settings: Settings, web: Web
) -> None:
    site = "flood-shop.de"
    others = ("/kontakt", "/impressum", "/about", "/team", "/mitarbeiter")
    web.add_xml(site, "/sitemap.xml", urlset(*others, host=site))
    crowd = " ".join(f"buyer{i}@list{i % 9}.com" for i in range(1_000))
    numbers = "".join(f'<a href="tel:+49301234{i:03d}">call</a>' for i in range(80))
    web.add(site, "/", f"<html><body><p>{crowd} shop@{site}</p>{numbers}</body></html>".encode())
    for number, path in enumerate(others):
        addresses = " ".join(f"staff{number}-{i}@{site}" for i in range(100))
        web.add(site, path, f"<html><body><p>{addresses}</p></body></html>".encode())
    run(db, settings, web, site, default_region="DE")

    with db.engine.connect() as connection:
        per_page = connection.execute(
            select(contacts.c.page_id, contacts.c.kind, func.count()).group_by(
                contacts.c.page_id, contacts.c.kind
            )
        ).all()
    assert per_page and max(count for _, _, count in per_page) == 50
    kept = found(db, site)
    assert sum(kind == "email" for kind, _ in kept) == 200
    assert sum(kind == "phone" for kind, _ in kept) == 50
    assert ("email", f"shop@{site}") in kept  # the site's own address outranks the crowd
    notes = problems(db, site)
    assert notes["/"] == (
        "contacts_found",
        "found 1,001 email addresses, kept the best 50 (cap per page); "
        "found 80 phone numbers, kept the best 50 (cap per page)",
    )
    full = [note for outcome, note in notes.values() if outcome == "domain_contacts_full"]
    assert len(full) == 2
    assert full[0] == (
        "found 100 email addresses, kept the best 50 (cap per page); "
        "50 more email addresses not kept: the domain already has 200 (cap per domain)"
    )

    # Validated without DNS (no look-ups from tests), by a paid verifier faked on loopback.
    verifier = FakeVerifiers("vk-test").start()
    try:
        checking = Settings(
            **{
                **settings.model_dump(),
                "email_dns_checks": False,
                "email_verifier": "debounce",
                "debounce_api_key": SecretStr("vk-test"),
                "debounce_url": f"{verifier.url}/debounce/v1/",
            }
        )
        run_until_idle(db, checking, Pipeline([validate.STAGE]), resources=validate.resources(checking))
    finally:
        verifier.stop()
    with db.engine.connect() as connection:
        checked = connection.execute(
            select(func.count()).where(contacts.c.validation.is_not(None))
        ).scalar_one()
    assert checked == 200
    asked = verifier.calls("/debounce/v1/")
    assert len(asked) == checking.email_verifier_calls_per_domain == 20
    assert f"shop@{site}" in asked


def test_a_page_cut_at_the_size_cap_says_so_and_keeps_what_was_read(
    db: Database, settings: Settings, web: Web
) -> None:
    site = "cut-short.de"
    head = f"<html><body><a href='mailto:info@{site}'>mail</a><p>".encode()
    filler = b"x" * (scrape.PAGE_MAX_BYTES - len(head))
    web.add(site, "/", head + filler + f" late@{site}</p></body></html>".encode())
    run(db, settings, web, site)
    assert set(found(db, site)) == {("email", f"info@{site}")}
    assert problems(db, site)["/"] == (
        "contacts_found",
        "cut at 5 MiB: contacts past that point were not read",
    )
