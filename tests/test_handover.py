"""The handover: what discovery read whole answers the import's and the scrape's ask for it, once, in
one worker; everything else still goes to the site. Against HTTP on loopback, and through the real
pipeline on both databases."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import insert, select

from leadpipe.config import Settings
from leadpipe.db.connect import Database
from leadpipe.db.models import contacts, domains, pages
from leadpipe.demo.web import Web
from leadpipe.engine.stage import Pipeline
from leadpipe.stages import PIPELINE as REAL
from leadpipe.web.fetch import Fetcher, Response
from leadpipe.web.handover import ENTRY_MAX_BYTES, Handover
from tests.helpers import run_until_idle

NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'


def with_fetcher(web: Web, use: Callable[[Fetcher], Awaitable[Any]]) -> Any:
    async def session() -> Any:
        options: dict[str, Any] = {"proxy": web.url, "http_total_timeout_seconds": 5}
        fetcher = Fetcher(Settings(**options))
        try:
            return await use(fetcher)
        finally:
            await fetcher.aclose()

    return asyncio.run(session())


def test_an_answer_handed_on_answers_the_next_ask_for_its_url_once(web: Web) -> None:
    web.add("acme.test", "/", b"<html>home</html>")

    async def asks(fetcher: Fetcher) -> list[Response]:
        first = await fetcher.get("http://acme.test/", hand_on=True)
        first.body = b""  # what its reader does with its own answer leaves the held one alone
        return [await fetcher.get("http://acme.test/"), await fetcher.get("http://acme.test/")]

    handed, asked_again = with_fetcher(web, asks)
    assert (handed.status, handed.body, handed.size, handed.content_type) == (
        200,
        b"<html>home</html>",
        17,
        "text/html",
    )
    assert asked_again.body == b"<html>home</html>"
    assert web.requests_to("acme.test") == ["/robots.txt", "/", "/"]  # the third ask went to the site


def test_a_sink_gets_a_held_body_in_pieces_and_may_stop_it(web: Web) -> None:
    body = bytes(range(256)) * 1024  # 256 KiB: four pieces
    web.add("acme.test", "/big.xml", body, content_type="application/xml")
    seen: list[bytes] = []

    def keep(chunk: bytes) -> bool:
        seen.append(chunk)
        return True

    async def asks(fetcher: Fetcher) -> tuple[Response, Response]:
        read = await fetcher.get("http://acme.test/big.xml", sink=lambda chunk: True, hand_on=True)
        replayed = await fetcher.get("http://acme.test/big.xml", sink=keep)
        return read, replayed

    read, replayed = with_fetcher(web, asks)
    assert (read.size, replayed.size, replayed.body) == (len(body), len(body), b"")
    assert b"".join(seen) == body and len(seen) == 4
    assert web.requests_to("acme.test").count("/big.xml") == 1

    async def stopped_early(fetcher: Fetcher) -> Response:
        await fetcher.get("http://acme.test/big.xml", hand_on=True)
        return await fetcher.get("http://acme.test/big.xml", sink=lambda chunk: False)

    assert with_fetcher(web, stopped_early).size == 64 * 1024


def test_only_a_whole_2xx_answer_is_held(web: Web) -> None:
    web.add("acme.test", "/gone", b"no", status=404)
    web.add("acme.test", "/busy", b"later", status=429, headers={"Retry-After": "0"})
    web.add("acme.test", "/long", b"x" * 4096)
    web.add("acme.test", "/huge", b"x" * (ENTRY_MAX_BYTES + 1))
    web.add("acme.test", "/stream", b"y" * 4096)

    async def each_twice(fetcher: Fetcher) -> None:
        for _ in range(2):
            await fetcher.get("http://acme.test/gone", hand_on=True)
            await fetcher.get("http://acme.test/busy", hand_on=True)
            await fetcher.get("http://acme.test/long", max_bytes=100, hand_on=True)  # cut at its cap
            await fetcher.get("http://acme.test/huge", hand_on=True)  # too big to hold
            await fetcher.get("http://acme.test/stream", sink=lambda chunk: False, hand_on=True)  # stopped

    with_fetcher(web, each_twice)
    asked = web.requests_to("acme.test")
    assert all(asked.count(path) == 2 for path in ("/gone", "/busy", "/long", "/huge", "/stream"))


def test_the_handover_keeps_to_its_budget_and_its_time() -> None:
    handover: Handover[str] = Handover(budget=1000, ttl=60)
    for number in range(5):
        handover.hold(f"u{number}", f"answer {number}", 300)
    assert handover.held_bytes == 900  # the two oldest went, to stay within 1,000 bytes
    assert [handover.take(f"u{number}") for number in range(5)] == [
        None,
        None,
        "answer 2",
        "answer 3",
        "answer 4",
    ]
    assert handover.held_bytes == 0 and handover.take("u4") is None  # each handed over once
    handover.hold("big", "too big", ENTRY_MAX_BYTES + 1)
    assert handover.take("big") is None
    stale: Handover[str] = Handover(ttl=0)
    stale.hold("u", "answer", 10)
    assert stale.take("u") is None


def test_a_site_is_asked_once_for_what_discovery_read_whole(
    db: Database, settings: Settings, web: Web
) -> None:
    """A small sitemap, and a site without one: the import and the scrape get discovery's answers."""
    web.add("mapped.test", "/robots.txt", b"Sitemap: /pages.xml\n", content_type="text/plain")
    web.add_xml(
        "mapped.test", "/pages.xml", f"<urlset {NS}><url><loc>http://mapped.test/kontakt</loc></url></urlset>"
    )
    web.add("mapped.test", "/kontakt", b"<html><body>Mail: info@mapped.de</body></html>")
    web.add(
        "plain.test",
        "/",
        b'<html><body>Call +49 30 1234567 <a href="/kontakt">Kontakt</a></body></html>',
    )
    web.add("plain.test", "/kontakt", b"<html><body>Mail: hallo@plain.de</body></html>")
    tuned = Settings(**{**settings.model_dump(), "proxy": web.url, "http_total_timeout_seconds": 15})
    with db.begin() as connection:
        connection.execute(insert(domains), [{"name": "mapped.test"}, {"name": "plain.test"}])
    stages = Pipeline([REAL["discover"], REAL["import"], REAL["scrape"]], REAL.resources)
    run_until_idle(db, tuned, stages)

    assert web.requests_to("mapped.test").count("/pages.xml") == 1
    assert web.requests_to("plain.test").count("/") == 1
    with db.engine.connect() as connection:
        emails = set(connection.scalars(select(contacts.c.value).where(contacts.c.kind == "email")))
        home = connection.execute(
            select(pages.c.status, pages.c.outcome, pages.c.http_status).where(
                pages.c.url == "http://plain.test/"
            )
        ).one()
    assert emails == {"info@mapped.de", "hallo@plain.de"}
    assert tuple(home) == ("done", "contacts_found", 200)
