"""``leadpipe sitemaps``: one site's sitemap tree and page URLs, printed as they are read."""

from __future__ import annotations

import json
from json.encoder import encode_basestring as _string
from json.encoder import encode_basestring_ascii as _ascii_string
from typing import TextIO

from leadpipe.config import Settings
from leadpipe.extract.sitemap import Entry
from leadpipe.web.fetch import Fetcher, FetchError
from leadpipe.web.sitemaps import Discovery, SitemapFound, discover_site, read_sitemap


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
    domain: str, hint: str | None, settings: Settings, out: TextIO, *, as_json: bool
) -> tuple[Discovery, int]:
    """Discover ``domain``'s sitemaps, then stream each urlset's URLs to ``out``. Returns what discovery
    found and how many page URLs were printed."""
    fetcher = Fetcher(settings)
    try:
        found = await discover_site(fetcher, domain, settings, hint)
        return found, await _report(fetcher, found, settings, out, as_json)
    finally:
        await fetcher.aclose()


async def _report(fetcher: Fetcher, found: Discovery, settings: Settings, out: TextIO, as_json: bool) -> int:
    for sitemap in found.sitemaps:
        if sitemap.kind not in ("urlset", "text", "rss", "atom"):
            out.write(_sitemap_line(sitemap, as_json))
    total = 0
    for sitemap in found.importable:
        counted = await _stream_pages(fetcher, sitemap, found.domain, settings, out, as_json)
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

    def write(entries: list[Entry]) -> None:
        nonlocal counted
        counted += len(entries)
        if as_json:
            # What json.dumps(value, ensure_ascii=False) returns for a string, without its per-call
            # dispatch (a tenth of the command's time); lastmod as json.dumps(lastmod) writes it.
            lines = [
                f'{{"url": {_string(e.loc)}, "sitemap": {source}, "lastmod": '
                f"{'null' if e.lastmod is None else _ascii_string(e.lastmod)}}}\n"
                for e in entries
            ]
        else:
            lines = [f"{indent}{e.loc}\n" for e in entries]
        out.write("".join(lines))

    try:
        parser, status, _ = await read_sitemap(fetcher, sitemap.url, domain, settings, write)
    except FetchError as error:
        sitemap.problem = str(error)
    else:
        sitemap.http_status, sitemap.url_count, sitemap.kind = status, counted, parser.kind
        sitemap.problem = "; ".join(parser.errors) or None
    return counted
