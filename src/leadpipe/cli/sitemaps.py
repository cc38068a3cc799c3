"""``leadpipe sitemaps``: one site's sitemap tree and page URLs, printed as they are read.

A site that answers 429 or 5xx is waited for as its Retry-After asks, up to ``max_wait`` seconds in
all, and asked again; past that the command gives up (:class:`GaveUp`) rather than report a site it
could not read as empty. No answer in time, or a cut connection, is a :class:`FetchError` at once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from functools import partial
from json.encoder import encode_basestring as _string
from json.encoder import encode_basestring_ascii as _ascii_string
from typing import TextIO, TypeVar
from urllib.parse import urlsplit

from leadpipe.config import Settings
from leadpipe.extract.sitemap import Entry
from leadpipe.extract.website import normalise, sitemap_hint
from leadpipe.web.fetch import TRANSIENT, Fetcher, FetchError, Throttled
from leadpipe.web.sitemaps import Discovery, SitemapFound, discover_site, read_sitemap

T = TypeVar("T")


class TargetError(ValueError):
    """The argument names no domain; the message is the reason intake gives for the same line."""


def target(argument: str) -> tuple[str, str | None]:
    """The domain to read and its sitemap hint: what intake makes of ``argument`` as a line of a
    domain list (one normaliser, a sitemap's URL kept as the hint). A port given is kept, to reach
    the site where it was named. A private name or address passes here: the fetcher's address guard
    refuses it unless a proxy resolves it or private networks are allowed, as for any URL it fetches.
    """
    site = normalise(argument, allow_private=True)
    if site.domain is None or site.url is None:
        raise TargetError(site.reason)
    try:
        port = urlsplit(site.url).port
    except ValueError:
        raise TargetError(f"not a valid port: {argument!r}") from None
    return site.domain + (f":{port}" if port else ""), sitemap_hint(argument.strip())


class GaveUp(Exception):
    """The site asked for a longer wait than the command may spend."""


class Patience:
    """Waits out what sites ask for (their Retry-After), up to ``max_wait`` seconds in all."""

    def __init__(self, max_wait: float) -> None:
        self.max_wait = max_wait
        self.waited = 0.0

    async def retry(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """``attempt()``, again after each wait a :class:`Throttled` asks for while the budget lasts."""
        while True:
            try:
                return await attempt()
            except Throttled as throttled:
                # At least a second a try, so a site asking for no wait at all cannot keep us for ever.
                wait = max(throttled.retry_after, 1.0)
                if self.waited + wait > self.max_wait:
                    raise GaveUp(
                        f"{throttled.reason}; waiting {wait:g}s more would pass --max-wait "
                        f"({self.max_wait:g}s, {self.waited:g}s waited): try again later"
                    ) from None
                self.waited += wait
                await asyncio.sleep(wait)


def _sitemap_line(found: SitemapFound, as_json: bool) -> str:
    if as_json:
        record = {
            "sitemap": found.url,
            "kind": found.kind,
            "found_by": found.found_by,
            "parent": found.parent_url,
            "depth": found.depth,
            "status": found.http_status,
            "urls": found.url_count,
            "problem": found.problem,
        }
        return json.dumps(record, ensure_ascii=False) + "\n"
    note = f"  ({found.problem})" if found.problem else ""
    return f"{'  ' * found.depth}{found.kind or 'missing':8} {found.url}  [{found.found_by}]{note}\n"


async def run(
    domain: str, hint: str | None, settings: Settings, out: TextIO, *, as_json: bool, max_wait: float
) -> tuple[Discovery, int]:
    """Discover ``domain``'s sitemaps, then stream each urlset's URLs to ``out``. Returns what discovery
    found and how many page URLs were printed. Raises :class:`GaveUp` or :class:`FetchError` when the
    site could not be read (see the module docstring)."""
    fetcher = Fetcher(settings)
    patience = Patience(max_wait)
    try:
        found = await patience.retry(lambda: discover_site(fetcher, domain, settings, hint))
        return found, await _report(fetcher, found, settings, out, as_json, patience)
    finally:
        await fetcher.aclose()


async def _report(
    fetcher: Fetcher, found: Discovery, settings: Settings, out: TextIO, as_json: bool, patience: Patience
) -> int:
    for sitemap in found.sitemaps:
        if sitemap.kind not in ("urlset", "text", "rss", "atom"):
            out.write(_sitemap_line(sitemap, as_json))
    total = 0
    for sitemap in found.importable:
        counted = await patience.retry(
            partial(_stream_pages, fetcher, sitemap, found.domain, settings, out, as_json)
        )
        out.write(_sitemap_line(sitemap, as_json))
        total += counted
    if not found.importable:
        for link in found.home_links:
            out.write(
                json.dumps({"url": link.url, "found_by": "home_links", "text": link.text}) + "\n"
                if as_json
                else f"  {link.url}\n"
            )
        total += len(found.home_links)
    out.flush()
    return total


async def _stream_pages(
    fetcher: Fetcher, sitemap: SitemapFound, domain: str, settings: Settings, out: TextIO, as_json: bool
) -> int:
    """Print one urlset's page URLs as they are parsed; note what happened on ``sitemap``."""
    source = json.dumps(sitemap.url, ensure_ascii=False)
    indent = "  " * (sitemap.depth + 1)
    counted = 0

    def print_entries(entries: list[Entry]) -> None:
        nonlocal counted
        counted += len(entries)
        if as_json:
            # What json.dumps(value, ensure_ascii=False) returns for a string, without the dispatch on
            # the value's type that json.dumps repeats for every URL; lastmod as json.dumps(lastmod)
            # writes it.
            lines = [
                f'{{"url": {_string(e.loc)}, "sitemap": {source}, "lastmod": '
                f"{'null' if e.lastmod is None else _ascii_string(e.lastmod)}}}\n"
                for e in entries
            ]
        else:
            lines = [f"{indent}{e.loc}\n" for e in entries]
        out.write("".join(lines))

    try:
        parser, status, _ = await read_sitemap(fetcher, sitemap.url, domain, settings, print_entries)
    except (Throttled, *TRANSIENT):
        raise
    except FetchError as error:
        sitemap.problem = str(error)
    else:
        sitemap.http_status, sitemap.url_count, sitemap.kind = status, counted, parser.kind
        sitemap.problem = "; ".join(parser.errors) or None
    return counted
