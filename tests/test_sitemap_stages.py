"""Discovery (domain → sitemap files) and import (sitemap file → pages) against a web of sites on loopback,
through the real pipeline and engine, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import insert, select

from leadpipe.config import Settings
from leadpipe.db.connect import Database
from leadpipe.db.models import domains, pages, sitemap_files
from leadpipe.demo.web import Web
from leadpipe.engine.stage import Pipeline
from leadpipe.stages import PIPELINE as REAL
from leadpipe.stages import discover, sitemap_import
from leadpipe.web.fetch import ConnectionFailed, Fetcher
from leadpipe.web.sitemaps import KNOWN_PATHS, Discovery, discover_site
from tests.helpers import run_until_idle

NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'


def urlset(*locs: str) -> str:
    return (
        f"<?xml version='1.0'?><urlset {NS}>"
        + "".join(f"<url><loc>{loc}</loc></url>" for loc in locs)
        + "</urlset>"
    )


def index(*locs: str) -> str:
    body = "".join(f"<sitemap><loc>{loc}</loc></sitemap>" for loc in locs)
    return f"<?xml version='1.0'?><sitemapindex {NS}>{body}</sitemapindex>"


@pytest.fixture
def crawl_settings(settings: Settings, web: Web) -> Settings:
    return tuned(settings, proxy=web.url, http_total_timeout_seconds=15, http_per_host=4, discover_seconds=30)


def tuned(settings: Settings, **changes: Any) -> Settings:
    """A copy of ``settings`` with ``changes``, validated like any settings."""
    return Settings(**{**settings.model_dump(), **changes})


# One attempt, so an unreachable site is final at once rather than after two backoffs.
PIPELINE = Pipeline([replace(discover.STAGE, max_attempts=1), sitemap_import.STAGE], resources=REAL.resources)


def crawl(db: Database, settings: Settings, *names: str, pipeline: Pipeline = PIPELINE) -> None:
    with db.begin() as connection:
        connection.execute(insert(domains), [{"name": name} for name in names])
    run_until_idle(db, settings, pipeline)


def domain_row(db: Database, name: str) -> Any:
    with db.engine.connect() as connection:
        return connection.execute(select(domains).where(domains.c.name == name)).one()


def files_of(db: Database, name: str) -> dict[str, Any]:
    with db.engine.connect() as connection:
        rows = connection.execute(
            select(sitemap_files)
            .join(domains, domains.c.id == sitemap_files.c.domain_id)
            .where(domains.c.name == name)
        ).all()
    return {row.url: row for row in rows}


def pages_of(db: Database, name: str) -> dict[str, Any]:
    with db.engine.connect() as connection:
        rows = connection.execute(
            select(pages).join(domains, domains.c.id == pages.c.domain_id).where(domains.c.name == name)
        ).all()
    return {row.url: row for row in rows}


def test_robots_sitemaps_an_index_and_its_urlsets_become_pages(
    db: Database, crawl_settings: Settings, web: Web
) -> None:
    web.add(
        "acme.test",
        "/robots.txt",
        b"User-agent: *\nSitemap: /sitemap_index.xml\nSite-map: http://acme.test/extra.txt\n",
        content_type="text/plain",
    )
    web.add_xml(
        "acme.test",
        "/sitemap_index.xml",
        index("http://acme.test/pages.xml", "http://acme.test/posts.xml.gz"),
    )
    web.add_xml(
        "acme.test",
        "/pages.xml",
        urlset("http://acme.test/kontakt", "http://acme.test/ueber-uns", "http://acme.test/?a=1&amp;copy=2"),
    )
    web.add_xml("acme.test", "/posts.xml.gz", urlset("http://www.acme.test/blog/hello"), gzipped=True)
    web.add(
        "acme.test",
        "/extra.txt",
        b"http://acme.test/impressum\nnot a url\nhttp://elsewhere.test/x\n",
        content_type="text/plain",
    )
    crawl(db, crawl_settings, "acme.test")

    domain = domain_row(db, "acme.test")
    assert (domain.status, domain.outcome, domain.site_url) == ("done", "sitemaps", "http://acme.test")
    assert "https:" in domain.problem  # https was tried first, and why it failed is kept
    files = files_of(db, "acme.test")
    assert {url: (f.kind, f.found_by, f.status, f.outcome) for url, f in files.items()} == {
        "http://acme.test/sitemap_index.xml": ("index", "robots", "done", "index"),
        "http://acme.test/extra.txt": ("text", "robots", "done", "imported"),
        "http://acme.test/pages.xml": ("urlset", "index", "done", "imported"),
        "http://acme.test/posts.xml.gz": ("urlset", "index", "done", "imported"),
    }
    assert files["http://acme.test/pages.xml"].parent_url == "http://acme.test/sitemap_index.xml"
    assert files["http://acme.test/pages.xml"].url_count == 3
    assert "1 URLs dropped (off-site)" in files["http://acme.test/extra.txt"].problem
    found = pages_of(db, "acme.test")
    assert {url: page.category for url, page in found.items()} == {
        "http://acme.test/": "home",
        "http://acme.test/kontakt": "contact",
        "http://acme.test/ueber-uns": "about",
        "http://acme.test/?a=1&copy=2": "home",
        "http://www.acme.test/blog/hello": "blog",
        "http://acme.test/impressum": "legal",
    }
    assert found["http://acme.test/kontakt"].priority < found["http://www.acme.test/blog/hello"].priority
    assert "/sitemap.xml" not in web.requests_to("acme.test")  # robots named sitemaps: no guessing


def test_well_known_paths_are_probed_only_when_robots_names_none(
    db: Database, crawl_settings: Settings, web: Web
) -> None:
    web.add_xml("wp.test", "/wp-sitemap.xml", urlset("http://wp.test/contact"))
    crawl(db, crawl_settings, "wp.test")
    assert files_of(db, "wp.test")["http://wp.test/wp-sitemap.xml"].found_by == "known_path"
    assert "http://wp.test/contact" in pages_of(db, "wp.test")


def test_well_known_paths_are_probed_a_hosts_limit_at_a_time_until_one_is_a_sitemap(
    db: Database, crawl_settings: Settings, web: Web
) -> None:
    """Each probe after the first sitemap found would only repeat it; each before it waits its turn."""
    web.delay = 0.05  # so that requests to the host overlap if they are sent together
    web.add_xml("wp.test", "/wp-sitemap.xml", urlset("http://wp.test/contact"))
    crawl(db, tuned(crawl_settings, http_per_host=2), "wp.test", "bare.test")
    asked = web.requests_to("wp.test")
    found_at = KNOWN_PATHS.index("/wp-sitemap.xml")  # in the second wave of two
    assert {path for path in asked if path in KNOWN_PATHS} == set(KNOWN_PATHS[: found_at + 1])
    assert set(web.requests_to("bare.test")) >= set(KNOWN_PATHS)  # none found: every one answered
    assert web.host_peaks["wp.test"] == web.host_peaks["bare.test"] == 2
    assert domain_row(db, "bare.test").outcome == "no_sitemap"


def test_an_html_page_answered_with_200_is_a_soft_404(
    db: Database, crawl_settings: Settings, web: Web
) -> None:
    web.add("soft.test", "/robots.txt", b"Sitemap: http://soft.test/sitemap.xml\n", content_type="text/plain")
    web.add("soft.test", "/sitemap.xml", b"<!DOCTYPE html><html><body>Page not found</body></html>")
    web.add(
        "soft.test",
        "/",
        b'<html><body><a href="/contact-us">Contact</a><a href="https://other.test/">x</a></body></html>',
    )
    crawl(db, crawl_settings, "soft.test")
    soft = files_of(db, "soft.test")["http://soft.test/sitemap.xml"]
    assert (soft.kind, soft.outcome, soft.status) == ("html", "soft_404", "done")
    domain = domain_row(db, "soft.test")
    assert domain.outcome == "no_sitemap"
    found = pages_of(db, "soft.test")
    assert set(found) == {"http://soft.test/", "http://soft.test/contact-us"}
    assert found["http://soft.test/contact-us"].found_by == "home_links"
    assert found["http://soft.test/contact-us"].category == "contact"


def test_a_sitemap_link_on_the_home_page_is_found_last(
    db: Database, crawl_settings: Settings, web: Web
) -> None:
    web.add(
        "linked.test",
        "/",
        b'<html><head><link rel="sitemap" href="/maps/all.xml"></head><body></body></html>',
    )
    web.add_xml("linked.test", "/maps/all.xml", urlset("http://linked.test/team"))
    crawl(db, crawl_settings, "linked.test")
    assert files_of(db, "linked.test")["http://linked.test/maps/all.xml"].found_by == "home_page"
    assert pages_of(db, "linked.test")["http://linked.test/team"].category == "team"


def test_loops_self_listing_indexes_and_shared_children_are_fetched_once(
    db: Database, crawl_settings: Settings, web: Web
) -> None:
    web.add(
        "loop.test",
        "/robots.txt",
        b"Sitemap: http://loop.test/a.xml\nSitemap: http://loop.test/b.xml\n",
        content_type="text/plain",
    )
    web.add_xml(
        "loop.test",
        "/a.xml",
        index("http://loop.test/a.xml", "http://loop.test/b.xml", "http://loop.test/shared.xml"),
    )
    web.add_xml("loop.test", "/b.xml", index("http://loop.test/a.xml", "http://loop.test/shared.xml"))
    web.add_xml("loop.test", "/shared.xml", urlset("http://loop.test/one"))
    crawl(db, crawl_settings, "loop.test")
    assert set(files_of(db, "loop.test")) == {
        "http://loop.test/a.xml",
        "http://loop.test/b.xml",
        "http://loop.test/shared.xml",
    }
    requests = web.requests_to("loop.test")
    assert requests.count("/a.xml") == 1 and requests.count("/b.xml") == 1
    assert requests.count("/shared.xml") == 1  # read whole to know it, and handed to the import
    assert set(pages_of(db, "loop.test")) == {"http://loop.test/", "http://loop.test/one"}


def test_a_missing_child_is_recorded_and_a_child_redirecting_to_its_index_is_not_followed(
    db: Database, crawl_settings: Settings, web: Web
) -> None:
    web.add("tree.test", "/robots.txt", b"Sitemap: /root.xml\n", content_type="text/plain")
    web.add_xml("tree.test", "/root.xml", index("http://tree.test/mid.xml", "http://tree.test/back.xml"))
    web.add_xml("tree.test", "/mid.xml", index("http://tree.test/leaf.xml", "http://tree.test/gone.xml"))
    web.add_xml("tree.test", "/leaf.xml", urlset("http://tree.test/about"))
    web.add("tree.test", "/back.xml", status=301, headers={"Location": "/root.xml"})
    crawl(db, crawl_settings, "tree.test")
    files = files_of(db, "tree.test")
    assert {url: (f.kind, f.depth, f.outcome) for url, f in files.items()} == {
        "http://tree.test/root.xml": ("index", 0, "index"),
        "http://tree.test/mid.xml": ("index", 1, "index"),
        "http://tree.test/back.xml": (None, 1, "redirect_loop"),
        "http://tree.test/leaf.xml": ("urlset", 2, "imported"),
        "http://tree.test/gone.xml": (None, 2, "not_found"),
    }
    assert (
        files["http://tree.test/back.xml"].problem == "redirects to http://tree.test/root.xml, already read"
    )
    assert web.requests_to("tree.test").count("/root.xml") == 1


def test_indexes_deeper_than_the_cap_are_not_followed(
    db: Database, crawl_settings: Settings, web: Web
) -> None:
    for level in range(14):
        web.add_xml("deep.test", f"/s{level}.xml", index(f"http://deep.test/s{level + 1}.xml"))
    web.add("deep.test", "/robots.txt", b"Sitemap: /s0.xml\n", content_type="text/plain")
    crawl(db, tuned(crawl_settings, sitemap_max_depth=10), "deep.test")
    files = files_of(db, "deep.test")
    assert len(files) == 10
    assert "deeper than 10 levels" in files["http://deep.test/s9.xml"].problem


def test_a_server_that_never_answers_is_dead_with_the_reason_never_without_a_sitemap(
    db: Database, crawl_settings: Settings, web: Web
) -> None:
    web.add("hang.test", "/robots.txt", hang=True)
    web.add("slowmap.test", "/robots.txt", b"Sitemap: /sitemap.xml\n", content_type="text/plain")
    web.add("slowmap.test", "/sitemap.xml", hang=True)
    web.add_xml("fine.test", "/sitemap.xml", urlset("http://fine.test/about"))
    started = time.monotonic()
    crawl(db, tuned(crawl_settings, http_total_timeout_seconds=1), "hang.test", "slowmap.test", "fine.test")
    hung = domain_row(db, "hang.test")
    assert (hung.status, hung.outcome) == ("dead", None)
    assert "no complete answer from http://hang.test/robots.txt" in hung.last_error
    slow = domain_row(db, "slowmap.test")
    assert (slow.status, slow.outcome) == ("dead", None)
    assert "no complete answer from http://slowmap.test/sitemap.xml" in slow.last_error
    assert domain_row(db, "fine.test").outcome == "sitemaps"
    assert time.monotonic() - started < 20


@pytest.mark.parametrize(
    ("failing", "status", "headers", "reason"),
    [
        ("/robots.txt", 503, {}, "server error: 503 on http://down.test/robots.txt (no Retry-After)"),
        ("/listed.xml", 502, {}, "server error: 502 on http://down.test/listed.xml (no Retry-After)"),
        (
            "/sitemap.xml",
            429,
            {"Retry-After": "1"},
            "rate limited by the site: 429 on http://down.test/sitemap.xml (Retry-After: 1s)",
        ),
        ("/", 500, {}, "server error: 500 on http://down.test/ (no Retry-After)"),
    ],
    ids=["robots.txt", "listed sitemap", "well-known path", "home page"],
)
def test_a_5xx_or_429_to_any_discovery_request_is_never_an_absence(
    db: Database,
    crawl_settings: Settings,
    web: Web,
    failing: str,
    status: int,
    headers: dict[str, str],
    reason: str,
) -> None:
    if failing == "/listed.xml":
        web.add("down.test", "/robots.txt", b"Sitemap: /listed.xml\n", content_type="text/plain")
    web.add("down.test", failing, b"try later", status=status, headers=headers)
    crawl(db, crawl_settings, "down.test")  # one attempt: its failure is the last
    down = domain_row(db, "down.test")
    assert (down.status, down.outcome, down.last_error) == ("dead", None, reason)
    assert not files_of(db, "down.test") and not pages_of(db, "down.test")


@pytest.mark.parametrize("lost", ["/sitemap.xml", "/"], ids=["well-known path", "home page"])
def test_a_site_that_stops_taking_connections_during_discovery_is_never_without_a_sitemap(
    web: Web, lost: str
) -> None:
    """robots.txt answers, then the site's address stops taking connections: no absence is proven."""
    port = int(web.url.rsplit(":", 1)[1])
    # Each answer closes its connection, so each request looks the name up again.
    close = {"Connection": "close"}
    web.add("gone.test", "/robots.txt", b"User-agent: *\n", content_type="text/plain", headers=close)
    if lost == "/":  # every well-known path answers 404, so only the home page is left to ask
        for path in KNOWN_PATHS:
            web.add("gone.test", path, b"", status=404, headers=close)

    async def resolver(host: str, port: int) -> list[str]:
        asked = web.requests_to("gone.test")
        lost_is_next = asked == ["/robots.txt"] if lost == "/sitemap.xml" else len(asked) > len(KNOWN_PATHS)
        return ["127.0.0.2"] if lost_is_next else ["127.0.0.1"]  # nothing listens on 127.0.0.2

    async def discover() -> None:
        fetcher = Fetcher(
            Settings(allow_private_networks=True, http_total_timeout_seconds=5), resolver=resolver
        )
        try:
            await discover_site(fetcher, f"gone.test:{port}", Settings(discover_seconds=30))
        finally:
            await fetcher.aclose()

    with pytest.raises(ConnectionFailed):
        asyncio.run(discover())


def test_a_sitemap_redirecting_to_a_host_that_cannot_be_reached_is_that_files_problem(web: Web) -> None:
    """Only the site's own origin failing stops discovery; a redirect's dead target is recorded."""
    port = int(web.url.rsplit(":", 1)[1])
    target = f"http://cdn.test:{port}/map.xml"
    web.add("moved.test", "/robots.txt", b"Sitemap: /sitemap.xml\n", content_type="text/plain")
    web.add("moved.test", "/sitemap.xml", status=301, headers={"Location": target})

    async def resolver(host: str, port: int) -> list[str]:
        if host == "cdn.test":
            raise OSError("no such name")
        return ["127.0.0.1"]

    async def discover() -> Discovery:
        settings = Settings(allow_private_networks=True, http_total_timeout_seconds=5)
        fetcher = Fetcher(settings, resolver=resolver)
        try:
            return await discover_site(fetcher, f"moved.test:{port}", Settings(discover_seconds=30))
        finally:
            await fetcher.aclose()

    found = asyncio.run(discover())
    (moved,) = [s for s in found.sitemaps if s.url.endswith("/sitemap.xml")]
    assert "cdn.test does not resolve" in (moved.problem or "")


@pytest.mark.parametrize("cap", [1, 2, 3])
def test_discovery_stops_at_the_sitemap_file_cap_having_read_that_many(
    db: Database, crawl_settings: Settings, web: Web, cap: int
) -> None:
    listed = [f"/map-{number}.xml" for number in range(3)]
    robots = "".join(f"Sitemap: http://many.test{path}\n" for path in listed).encode()
    web.add("many.test", "/robots.txt", robots, content_type="text/plain")
    for number, path in enumerate(listed):
        web.add_xml("many.test", path, urlset(f"http://many.test/page-{number}"))
    crawl(db, tuned(crawl_settings, sitemap_max_files=cap, http_per_host=2), "many.test")
    assert len(files_of(db, "many.test")) == cap
    stopped = "stopped at" in (domain_row(db, "many.test").problem or "")
    assert stopped == (cap < len(listed))


def test_a_site_answering_404_everywhere_has_no_sitemap(
    db: Database, crawl_settings: Settings, web: Web
) -> None:
    crawl(db, crawl_settings, "empty.test")
    empty = domain_row(db, "empty.test")
    assert (empty.status, empty.outcome) == ("done", "no_sitemap")
    assert "home page answered HTTP 404" in empty.problem
    assert set(pages_of(db, "empty.test")) == {"http://empty.test/"}


@pytest.mark.parametrize(("asked", "waits"), [("600", 600), ("99999999999999", 86400)])
def test_429_with_retry_after_waits_through_the_queue_a_day_at_most(
    db: Database, crawl_settings: Settings, web: Web, asked: str, waits: int
) -> None:
    """``Retry-After: 99999999999999`` overflowed the claim clock and stopped the worker, at every rerun."""
    web.add("busy.test", "/robots.txt", b"Sitemap: /sitemap.xml\n", content_type="text/plain")
    web.add("busy.test", "/sitemap.xml", b"slow down", status=429, headers={"Retry-After": asked})
    web.add_xml("fine.test", "/sitemap.xml", urlset("http://fine.test/about"))
    # Three attempts: the first 429 is not the last. The other site goes on meanwhile.
    crawl(db, crawl_settings, "busy.test", "fine.test", pipeline=REAL)
    assert domain_row(db, "fine.test").outcome == "sitemaps"
    assert "http://fine.test/about" in pages_of(db, "fine.test")
    busy = domain_row(db, "busy.test")
    assert busy.status == "pending" and busy.lease_token is None
    assert busy.last_error == (
        f"rate limited by the site: 429 on http://busy.test/sitemap.xml (Retry-After: {waits}s)"
    )
    waited = (busy.run_after.replace(tzinfo=None) - busy.updated_at.replace(tzinfo=None)).total_seconds()
    assert waits - 60 < waited <= waits + 60


def test_a_sitemap_answering_5xx_at_import_is_retried_and_ends_dead_never_empty(
    db: Database, crawl_settings: Settings, web: Web
) -> None:
    for host in ("flaky.test", "broken.test"):
        web.add(host, "/robots.txt", b"Sitemap: /pages.xml\n", content_type="text/plain")
        web.add_first(host, "/pages.xml", urlset(f"http://{host}/kontakt").encode())  # discovery's look
    # flaky.test asks for a moment once, then serves the file; broken.test fails every time.
    web.add_first("flaky.test", "/pages.xml", b"busy", status=503, headers={"Retry-After": "0"})
    web.add_xml("flaky.test", "/pages.xml", urlset("http://flaky.test/kontakt"))
    web.add("broken.test", "/pages.xml", b"oops", status=500)
    settings = tuned(crawl_settings, http_busy_retry_seconds=0)
    # Discovery and import in two workers, as on two machines: the import asks the site itself.
    crawl(
        db, settings, "flaky.test", "broken.test", pipeline=Pipeline([PIPELINE["discover"]], REAL.resources)
    )
    run_until_idle(db, settings, Pipeline([PIPELINE["import"]], REAL.resources))
    flaky = files_of(db, "flaky.test")["http://flaky.test/pages.xml"]
    assert (flaky.status, flaky.outcome, flaky.url_count) == ("done", "imported", 1)
    assert "http://flaky.test/kontakt" in pages_of(db, "flaky.test")
    broken = files_of(db, "broken.test")["http://broken.test/pages.xml"]
    assert (broken.status, broken.attempts, broken.outcome) == ("dead", 3, None)
    assert broken.last_error == "server error: 500 on http://broken.test/pages.xml (no Retry-After)"
    assert set(pages_of(db, "broken.test")) == {"http://broken.test/"}


def test_a_redirect_loop_is_recorded_on_its_sitemap(db: Database, crawl_settings: Settings, web: Web) -> None:
    web.add("redir.test", "/robots.txt", b"Sitemap: /a.xml\n", content_type="text/plain")
    web.add("redir.test", "/a.xml", status=301, headers={"Location": "/b.xml"})
    web.add("redir.test", "/b.xml", status=301, headers={"Location": "/a.xml"})
    crawl(db, crawl_settings, "redir.test")
    looped = files_of(db, "redir.test")["http://redir.test/a.xml"]
    assert (
        looped.outcome == "redirect_loop"
        and looped.problem == "redirects to http://redir.test/a.xml, already read"
    )
    assert domain_row(db, "redir.test").outcome == "no_sitemap"


def test_a_50_mb_sitemap_streams_whole_and_a_gzip_bomb_stops_at_the_cap(
    db: Database, crawl_settings: Settings, web: Web
) -> None:
    caption = "A photo of our shop in the old town, taken in spring. " * 17
    row = (
        "<url><loc>http://big.test/gallery/{}</loc><lastmod>2024-05-01T10:00:00+00:00</lastmod>"
        f"<image:image><image:loc>http://big.test/img/{{}}.jpg</image:loc><image:caption>{caption}</image:caption></image:image></url>"
    )
    head = f"<?xml version='1.0'?><urlset {NS} xmlns:image='http://www.google.com/schemas/sitemap-image/1.1'>"
    count = (49 * 1024 * 1024 - len(head)) // len(row.format(10000, 10000))  # just under the 50 MiB limit

    def big() -> Iterator[bytes]:
        yield head.encode()
        for start in range(0, count, 500):
            yield "".join(row.format(i, i) for i in range(start, min(start + 500, count))).encode()
        yield b"</urlset>"

    web.add(
        "big.test", "/robots.txt", b"Sitemap: /big.xml\nSitemap: /bomb.xml.gz\n", content_type="text/plain"
    )
    web.add("big.test", "/big.xml", big, content_type="application/xml")
    bomb = gzip.compress(b"<urlset>" + b" " * (300 * 1024 * 1024), compresslevel=9)
    web.add("big.test", "/bomb.xml.gz", bomb, content_type="application/octet-stream")
    crawl(db, tuned(crawl_settings, http_total_timeout_seconds=60), "big.test")
    files = files_of(db, "big.test")
    big_file = files["http://big.test/big.xml"]
    assert (big_file.outcome, big_file.url_count, big_file.problem) == ("imported", count, None)
    assert big_file.size_bytes > 48 * 1024 * 1024
    gallery = pages_of(db, "big.test")["http://big.test/gallery/7"]
    assert gallery.details["images"][0]["loc"] == "http://big.test/img/7.jpg"
    bomb_file = files["http://big.test/bomb.xml.gz"]
    assert bomb_file.status == "done" and bomb_file.size_bytes < 1_000_000
    assert "more than 52428800 bytes" in bomb_file.problem and bomb_file.url_count == 0


def test_a_billion_laughs_sitemap_is_refused_without_expansion(
    db: Database, crawl_settings: Settings, web: Web
) -> None:
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + "".join(
            f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'
            for i in range(1, 10)
        )
        + f"]><urlset {NS}><url><loc>http://lol.test/&lol9;</loc></url></urlset>"
    )
    web.add("lol.test", "/robots.txt", b"Sitemap: /s.xml\n", content_type="text/plain")
    web.add_xml("lol.test", "/s.xml", laughs)
    started = time.monotonic()
    crawl(db, crawl_settings, "lol.test")
    assert time.monotonic() - started < 10
    record = files_of(db, "lol.test")["http://lol.test/s.xml"]
    assert "entity declarations refused" in (record.problem or "")
    assert all("lol" not in url.split("//")[1].split("/", 1)[-1] for url in pages_of(db, "lol.test"))


def test_a_sitemap_at_a_well_known_path_refused_for_its_entities_is_recorded(
    db: Database, crawl_settings: Settings, web: Web
) -> None:
    declared = f'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x "y">]><urlset {NS}></urlset>'
    web.add_xml("xxe.test", "/sitemap.xml", declared)
    crawl(db, crawl_settings, "xxe.test")
    record = files_of(db, "xxe.test")["http://xxe.test/sitemap.xml"]
    assert (record.found_by, record.status, record.outcome) == ("known_path", "done", "refused")
    assert record.problem == "entity declarations refused"
    domain = domain_row(db, "xxe.test")
    assert domain.outcome == "no_sitemap"
    assert "sitemap http://xxe.test/sitemap.xml: entity declarations refused" in domain.problem


def test_a_domain_resolving_to_loopback_is_refused_when_the_guard_is_on(
    db: Database, settings: Settings
) -> None:
    crawl(db, tuned(settings, http_total_timeout_seconds=2), "localhost")
    local = domain_row(db, "localhost")
    assert (local.status, local.outcome) == ("done", "unreachable")
    assert "refused: localhost resolves to" in local.problem and "private or local address" in local.problem
