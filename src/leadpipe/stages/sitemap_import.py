"""Sitemap file → pages: stream a urlset, text list or feed and record its URLs as the domain's pages.

The body is parsed as it arrives (never held whole); each page gets its category and claim priority,
so the contact stage takes the pages most likely to hold contacts first. A domain's page budget is the
stage's eligibility rule: a sitemap of a domain that already has its budget of pages is skipped.
A file answering 429 or 5xx, or not in time, is tried again later (`leadpipe.stages.errors`) and ends
dead with the reason: it never becomes a file of no pages.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, select

from leadpipe.config import Settings
from leadpipe.db.models import pages, sitemap_files
from leadpipe.engine.stage import Context, Insert, Item, Permanent, Result, Stage
from leadpipe.extract.pages import categorise
from leadpipe.extract.sitemap import Entry, SitemapParser
from leadpipe.stages.errors import REFUSED, retry_later
from leadpipe.web.fetch import Fetcher, Throttled
from leadpipe.web.sitemaps import read_sitemap

Rows = list[dict[str, Any]]


def page_row(entry: Entry, domain_id: int, sitemap_id: int) -> dict[str, Any]:
    category, priority = categorise(entry.loc)
    extras = None
    if entry.alternates or entry.images or entry.videos or entry.news:  # most entries have none
        extras = {
            name: value
            for name, value in (
                ("alternates", entry.alternates),
                ("images", entry.images),
                ("videos", entry.videos),
                ("news", entry.news),
            )
            if value
        }
    return {
        "domain_id": domain_id,
        "sitemap_file_id": sitemap_id,
        "url": entry.loc,
        "found_by": "sitemap",
        "category": category,
        "priority": priority,
        "lastmod": entry.lastmod,
        "changefreq": entry.changefreq,
        "sitemap_priority": entry.priority,
        "details": extras,
    }


def _problem(parser: SitemapParser) -> str | None:
    notes = list(parser.errors)
    notes += [f"{count} URLs dropped ({reason})" for reason, count in sorted(parser.dropped.items())]
    return "; ".join(notes) or None


async def import_sitemap(item: Item, context: Context) -> Result:
    fetcher: Fetcher = context.resources["fetcher"]
    rows: Rows = []
    domain_id, sitemap_id = item["domain_id"], item["id"]

    def collect(entries: list[Entry]) -> None:
        rows.extend(page_row(entry, domain_id, sitemap_id) for entry in entries)

    try:
        parser, status, size = await read_sitemap(
            fetcher, item["url"], item["site"], context.settings, collect
        )
    except Throttled as error:
        raise retry_later(error) from None
    except REFUSED as error:
        raise Permanent(str(error)) from None
    values: dict[str, Any] = {"http_status": status, "size_bytes": size, "kind": parser.kind}
    if status in (404, 410):
        return Result(outcome="not_found", values={**values, "problem": f"HTTP {status}"})
    if status >= 400:
        raise RuntimeError(f"{item['url']} answered HTTP {status}")
    if parser.kind == "html":
        return Result(outcome="soft_404", values={**values, "problem": _problem(parser)})
    values.update(url_count=len(rows), problem=_problem(parser))
    return Result(outcome="imported", values=values, outputs=[Insert(pages, rows)])


def _over_budget(settings: Settings) -> ColumnElement[bool]:
    count = select(func.count()).where(pages.c.domain_id == sitemap_files.c.domain_id).scalar_subquery()
    return count >= settings.domain_max_pages


def _no_pages() -> ColumnElement[bool]:
    lacking = ~select(pages.c.id).where(pages.c.domain_id == sitemap_files.c.domain_id).exists()
    return (sitemap_files.c.outcome == "imported") & (sitemap_files.c.url_count > 0) & lacking


STAGE = Stage(
    name="import",
    table=sitemap_files,
    handler=import_sitemap,
    description="sitemap file → pages (streamed, categorised)",
    concurrency=8,
    batch_size=8,
    lease_seconds=180,
    max_runtime_seconds=600,
    max_attempts=3,
    skip_when={"domain page budget reached": _over_budget},
    missing_outputs=_no_pages,
    reads=("domain_id", "url", "site"),
)
