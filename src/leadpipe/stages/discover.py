"""Domain → sitemap files: record what discovery (`leadpipe.web.sitemaps`) finds for a domain.

Every sitemap file found becomes a record; urlsets, text lists and feeds are work for the import
stage, the rest (indexes, soft 404s, missing files) are done records that say what they were. The
home page, and without any sitemap its links on the same site, become the domain's pages.

A 429 or 5xx, no answer in time or a cut connection, to any request of discovery, is retried later
(`leadpipe.stages.errors`); once the attempts are spent the domain is dead with that reason, never
``no_sitemap``. A site that cannot be reached at all (no DNS, no connection), or whose own origin
stops taking connections during discovery, is tried again and, its attempts spent, ends ``unreachable``.
"""

from __future__ import annotations

from leadpipe.db.models import domains, pages, sitemap_files
from leadpipe.engine.stage import Context, Insert, Item, Result, Stage
from leadpipe.extract.pages import categorise
from leadpipe.stages.errors import retry_later
from leadpipe.web.fetch import TRANSIENT, Fetcher, FetchError, NetworkError, Throttled
from leadpipe.web.sitemaps import IMPORTABLE, Discovery, discover_site


async def discover(item: Item, context: Context) -> Result:
    fetcher: Fetcher = context.resources["fetcher"]
    try:
        found = await discover_site(fetcher, item["name"], context.settings, item["sitemap_hint"])
    except Throttled as error:
        raise retry_later(error) from None
    except TRANSIENT:
        raise
    except FetchError as error:
        # A site that cannot be reached is tried again while attempts remain, then final.
        if isinstance(error, NetworkError) and item["attempts"] < context.stage.max_attempts:
            raise
        return Result(outcome="unreachable", values={"problem": str(error)})
    return _result(item, found)


def _result(item: Item, found: Discovery) -> Result:
    assert found.site is not None
    domain_id = item["id"]
    files = [
        {
            "domain_id": domain_id,
            "site": found.domain,
            "url": sitemap.url,
            "parent_url": sitemap.parent_url,
            "depth": sitemap.depth,
            "kind": sitemap.kind,
            "found_by": sitemap.found_by,
            "http_status": sitemap.http_status,
            "size_bytes": sitemap.size_bytes,
            "url_count": sitemap.url_count,
            "problem": sitemap.problem,
            # Only urlsets, text lists and feeds are work for the import stage; the rest are records.
            **({} if sitemap.kind in IMPORTABLE else {"status": "done", "outcome": sitemap.outcome}),
        }
        for sitemap in found.sitemaps
    ]
    home = found.site.origin + "/"
    page_rows = [{"domain_id": domain_id, "url": home, "found_by": "home", "category": "home", "priority": 5}]
    for link in found.home_links:
        category, priority = categorise(link.url, link.text)
        page_rows.append(
            {
                "domain_id": domain_id,
                "url": link.url,
                "found_by": "home_links",
                "category": category,
                "priority": priority,
            }
        )
    problems = [
        p for p in [found.site.https_problem and f"https: {found.site.https_problem}", *found.problems] if p
    ]
    return Result(
        outcome="sitemaps" if found.importable else "no_sitemap",
        values={"site_url": found.site.origin, "problem": "; ".join(problems) or None},
        outputs=[Insert(sitemap_files, files), Insert(pages, page_rows)],
    )


STAGE = Stage(
    name="discover",
    table=domains,
    handler=discover,
    description="domain → sitemap files (robots.txt, well-known paths, home page)",
    concurrency=64,
    batch_size=32,
    lease_seconds=180,
    max_runtime_seconds=300,
    max_attempts=3,
    missing_outputs=lambda: (
        domains.c.outcome.in_(("sitemaps", "no_sitemap"))
        & ~domains.c.id.in_(pages.select().with_only_columns(pages.c.domain_id).scalar_subquery())
        & ~domains.c.id.in_(
            sitemap_files.select().with_only_columns(sitemap_files.c.domain_id).scalar_subquery()
        )
    ),
    reads=("name", "sitemap_hint"),
)
