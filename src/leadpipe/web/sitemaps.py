"""A site's sitemaps over the web, without a database: find them (discovery) and stream one (reading).

Discovery's order: the ``Sitemap:`` lines of robots.txt and the sitemap the input named; only when
those name none, the well-known paths, until one of them is a sitemap; only when those find none,
``<link rel="sitemap">`` and sitemap links on the home page. Candidates are asked as many at a time
as the host takes (``http_per_host``). A candidate counts only if its content is a sitemap: an HTML
page answered with 200 is recorded as a soft 404. Indexes are followed to a depth cap with one visited set
per domain, so each file is fetched once and loops end. Urlsets, text lists and feeds are noted for
reading after just enough of them is read to know what they are; a small one is read whole and
handed on (`leadpipe.web.handover`), as is the home page, so the next stage need not ask again. A
site with no sitemap at all is not a dead end: its home page's links on the same site stand in for
its pages.

A site has no sitemap only when its answers prove it: a 404 or 410, an HTML page (a soft 404), a
robots.txt naming none, every well-known path answered. A 429 or 5xx, no answer in time or a cut
connection, to any request of discovery, stops it with that :class:`Throttled` or other ``FetchError``
(``leadpipe.web.fetch.TRANSIENT``), and so does a site whose own origin stops taking connections after
its robots.txt (a ``NetworkError`` there): the caller tries the whole discovery again later. A sitemap
refused unread (it declares entities) is recorded wherever it was found, with the reason.

The discover and import stages (`leadpipe.stages`) and ``leadpipe sitemaps`` share this module;
it imports neither the engine's machinery nor the database, so the command stays light.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from leadpipe.config import Settings
from leadpipe.extract.links import Link, normalise_url, read_links
from leadpipe.extract.sitemap import ENTITIES_REFUSED, Entry, SitemapParser
from leadpipe.web.fetch import (
    TRANSIENT,
    Fetcher,
    FetchError,
    FetchTimeout,
    NetworkError,
    Site,
    Throttled,
    same_origin,
)
from leadpipe.web.handover import ENTRY_MAX_BYTES

KNOWN_PATHS = (
    "/sitemap.xml",
    "/sitemap_index.xml",
    "/sitemap-index.xml",
    "/wp-sitemap.xml",
    "/sitemap.xml.gz",
    "/sitemap_index.xml.gz",
    "/sitemap-index.xml.gz",
    "/sitemap.txt",
    "/sitemap",
    "/sitemaps.xml",
    "/sitemap/sitemap-index.xml",
    "/sitemap_news.xml",
    "/sitemap-news.xml",
    "/admin/config/search/xmlsitemap",
)
IMPORTABLE = ("urlset", "text", "rss", "atom")
HOME_MAX_BYTES = 5 * 1024 * 1024


@dataclass
class SitemapFound:
    """One sitemap file as discovery saw it."""

    url: str
    found_by: str  # robots, input, known_path, home_page, index
    depth: int = 0
    parent_url: str | None = None
    kind: str | None = None
    http_status: int | None = None
    size_bytes: int = 0
    url_count: int | None = None
    problem: str | None = None
    loops: bool = False  # redirected to a file already read
    refused: bool = False  # the parser refused it unread (entity declarations)

    @property
    def outcome(self) -> str:
        if self.loops:
            return "redirect_loop"
        if self.refused:
            return "refused"
        if self.kind in IMPORTABLE:
            return "to_import"
        if self.kind == "index":
            return "index"
        if self.kind == "html":
            return "soft_404"
        if self.http_status and self.http_status >= 400:
            return "not_found" if self.http_status in (404, 410) else "http_error"
        return "not_a_sitemap" if self.problem is None or self.http_status else "fetch_failed"


@dataclass
class Discovery:
    """What discovery found for a domain."""

    domain: str
    site: Site | None = None
    sitemaps: list[SitemapFound] = field(default_factory=list)
    home_links: list[Link] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def importable(self) -> list[SitemapFound]:
        return [found for found in self.sitemaps if found.kind in IMPORTABLE]


def same_site(domain: str) -> Callable[[str], bool]:
    """A test that a URL's host is the domain (a port aside) or one of its subdomains."""
    name = urlsplit(f"//{domain}").hostname or domain
    suffix = "." + name

    def keep(url: str) -> bool:
        host = urlsplit(url).hostname or ""
        return host == name or host.endswith(suffix)

    return keep


async def discover_site(
    fetcher: Fetcher, domain: str, settings: Settings, hint: str | None = None
) -> Discovery:
    """Find a domain's sitemaps (and, without any, its home page links); see the module docstring.

    Raises :class:`FetchError` when the site itself cannot be reached, or a request got no answer
    in time or a cut connection, or was answered 429 or 5xx (:class:`Throttled`).
    """
    found = Discovery(domain)
    found.site = await fetcher.open_site(domain)
    origin = found.site.origin
    try:
        async with asyncio.timeout(settings.discover_seconds):
            first = [(url, "robots") for url in found.site.robots.sitemaps]
            if hint:
                first.append((hint, "input"))
            await _explore(fetcher, found, first, settings)
            if not _has_one(found):
                await _explore(
                    fetcher, found, [(origin + path, "known_path") for path in KNOWN_PATHS], settings
                )
            if not found.importable:
                await _from_home_page(fetcher, found, settings)
    except TimeoutError:
        stopped = f"discovery stopped at its {settings.discover_seconds:g}s budget"
        if not found.importable:  # what was not asked may hold the sitemap
            raise FetchTimeout(f"{stopped} before it found a sitemap") from None
        found.problems.append(stopped)
    return found


async def _explore(
    fetcher: Fetcher, found: Discovery, candidates: list[tuple[str, str]], settings: Settings
) -> None:
    """Fetch candidates and follow indexes breadth-first, each file once, as many at a time as a host
    takes (``http_per_host``). Well-known paths are probed only until one of them is a sitemap: the
    rest would only repeat it."""
    seen = {s.url for s in found.sitemaps}
    queue = deque(SitemapFound(url, how) for url, how in candidates)
    while queue:
        wave: list[SitemapFound] = []
        while queue and len(wave) < settings.http_per_host:
            candidate = queue.popleft()
            url = normalise_url(candidate.url)
            if url is None or url in seen or (candidate.found_by == "known_path" and _has_one(found)):
                continue
            if len(found.sitemaps) + len(wave) >= settings.sitemap_max_files:
                if wave:  # the wave first: what it records decides whether this one has room
                    queue.appendleft(candidate)
                    break
                found.problems.append(f"stopped at {settings.sitemap_max_files} sitemap files")
                return
            candidate.url = url
            seen.add(url)
            wave.append(candidate)
        answers = await asyncio.gather(
            *(_probe(fetcher, candidate, found, settings, seen) for candidate in wave), return_exceptions=True
        )
        for candidate, children in zip(wave, answers, strict=True):
            if isinstance(children, BaseException):
                raise children
            _record(found, candidate, children, queue, settings)


def _has_one(found: Discovery) -> bool:
    return any(sitemap.kind in (*IMPORTABLE, "index") for sitemap in found.sitemaps)


def _record(
    found: Discovery,
    candidate: SitemapFound,
    children: list[str],
    queue: deque[SitemapFound],
    settings: Settings,
) -> None:
    """Note a candidate read, and queue an index's children."""
    if candidate.refused:
        found.problems.append(f"sitemap {candidate.url}: {ENTITIES_REFUSED}")
    elif candidate.found_by == "known_path" and candidate.kind not in (*IMPORTABLE, "index", "html"):
        return  # a well-known path that is simply absent is not worth a record
    found.sitemaps.append(candidate)
    if candidate.kind != "index":
        return
    if candidate.depth + 1 >= settings.sitemap_max_depth:
        candidate.problem = f"its children are deeper than {settings.sitemap_max_depth} levels: not followed"
        return
    for child in children:
        queue.append(SitemapFound(child, "index", candidate.depth + 1, candidate.url))


async def _probe(
    fetcher: Fetcher, candidate: SitemapFound, found: Discovery, settings: Settings, seen: set[str]
) -> list[str]:
    """Read a candidate just far enough to know what it is; read an index whole. Returns its children."""
    parser = SitemapParser(
        candidate.url,
        max_bytes=settings.sitemap_max_bytes,
        max_urls=settings.sitemap_max_files,
        keep=same_site(found.domain),
    )
    children: list[str] = []
    read = 0

    def sink(chunk: bytes) -> bool:
        nonlocal read
        read += len(chunk)
        if parser.kind not in IMPORTABLE:
            entries = parser.feed(chunk)
            if parser.kind == "index":
                children.extend(entry.loc for entry in entries)
            if parser.kind not in IMPORTABLE:
                return parser.kind in ("index", "unknown") and not parser.stopped
        # Known to be for the import: a small one is read on, unparsed, to be handed to it whole.
        return read <= ENTRY_MAX_BYTES and not parser.stopped

    try:
        # One byte over the parser's cap, so the parser is the one to name it.
        response = await fetcher.get(
            candidate.url, max_bytes=settings.sitemap_max_bytes + 1, sink=sink, stop_at=seen, hand_on=True
        )
    except (Throttled, *TRANSIENT):
        raise
    except FetchError as error:
        if _at_the_site(error, found):
            raise
        candidate.problem = str(error)
        return []
    candidate.http_status = response.status
    if response.is_redirect:
        # A child redirecting back to its index (or to any file already read) would loop.
        candidate.problem = (
            f"redirects to {urljoin(response.url, response.headers['location'])}, already read"
        )
        candidate.loops = True
        return []
    candidate.size_bytes = response.size
    fetcher.raise_if_throttled(response)
    if response.status >= 400:
        candidate.problem = f"HTTP {response.status}"
        return []
    if parser.kind in ("index", "unknown"):
        children.extend(entry.loc for entry in parser.close())
    candidate.kind = parser.kind
    if parser.kind == "index":
        candidate.url_count = len(children)
    if parser.errors:
        candidate.problem = "; ".join(parser.errors)
        candidate.refused = ENTITIES_REFUSED in parser.errors
    return children


async def _from_home_page(fetcher: Fetcher, found: Discovery, settings: Settings) -> None:
    """The last resort: sitemap links on the home page, else its links become the domain's pages."""
    assert found.site is not None
    home = found.site.origin + "/"
    try:
        response = await fetcher.get(home, max_bytes=HOME_MAX_BYTES, hand_on=True)  # the scrape's next
    except (Throttled, *TRANSIENT):
        raise
    except FetchError as error:
        if _at_the_site(error, found):
            raise
        found.problems.append(f"home page: {error}")
        return
    fetcher.raise_if_throttled(response)
    if response.status >= 400 or "html" not in response.content_type:
        found.problems.append(
            f"home page answered HTTP {response.status} ({response.content_type or 'no type'})"
        )
        return
    links, sitemaps = read_links(response.body.decode("utf-8", errors="replace"), response.url)
    del response  # its body is no longer needed while the sitemaps it names are read
    await _explore(fetcher, found, [(url, "home_page") for url in sitemaps], settings)
    if not found.importable:
        keep = same_site(found.domain)
        found.home_links = [link for link in links if keep(link.url)]


def _at_the_site(error: FetchError, found: Discovery) -> bool:
    """Whether ``error`` is a network failure of a request to the site's own origin, which answered
    robots.txt a moment ago: then it is no absence, and discovery is tried again later. A file on
    another host (a redirect's target included) that cannot be reached is that file's problem."""
    assert found.site is not None
    return (
        isinstance(error, NetworkError)
        and error.url is not None
        and same_origin(error.url, found.site.origin)
    )


def site_test(domain: str) -> Callable[[str], bool]:
    """:func:`same_site`, answered without parsing for URLs under an authority already accepted.

    A large sitemap's URLs mostly share one authority, and ``same_site`` would parse each of them
    (``urlsplit``) to give the same answer again. That answer depends only on the URL's authority,
    which ``urlsplit`` ends at the first ``/``, ``?`` or ``#`` after ``scheme://``: so every URL that
    starts with the same ``scheme://authority/`` as an accepted one (and has no tab or line break
    there, which ``urlsplit`` would remove) is accepted too.
    """
    slow = same_site(domain)
    accepted: tuple[str, ...] = ()

    def keep(url: str) -> bool:
        nonlocal accepted
        if url.startswith(accepted):
            return True
        if not slow(url):
            return False
        start = 8 if url.startswith("https://") else 7 if url.startswith("http://") else -1
        end = url.find("/", start) if start > 0 else -1
        prefix = url[: end + 1]
        if end > 0 and len(accepted) < 8 and not any(c in prefix for c in "\t\r\n"):
            accepted = (*accepted, prefix)
        return True

    return keep


async def read_sitemap(
    fetcher: Fetcher, url: str, site: str, settings: Settings, on_entries: Callable[[list[Entry]], None]
) -> tuple[SitemapParser, int, int]:
    """Stream one sitemap through the parser, handing entries over as they come.

    Returns the parser (kind, errors, drops), the HTTP status and the bytes read. Raises
    :class:`FetchError` for no usable answer, :class:`Throttled` for an answer of 429 or 5xx.
    """
    parser = SitemapParser(
        url, max_bytes=settings.sitemap_max_bytes, max_urls=settings.sitemap_max_urls, keep=site_test(site)
    )

    def sink(chunk: bytes) -> bool:
        entries = parser.feed(chunk)
        if entries:
            on_entries(entries)
        return not parser.stopped

    # One byte over the parser's cap, so the parser is the one to name it.
    response = await fetcher.get(url, max_bytes=settings.sitemap_max_bytes + 1, sink=sink)
    fetcher.raise_if_throttled(response)
    if response.status < 400:
        tail = parser.close()
        if tail:
            on_entries(tail)
    return parser, response.status, response.size
