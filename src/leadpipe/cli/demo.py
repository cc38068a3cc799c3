"""``leadpipe demo``: the whole path from a map search to verified contacts, on loopback.

A fake of Google's Places API (``leadpipe.demo.places``, Google's wire format) knows a city whose
businesses include the sample sites' (``leadpipe.demo.sites``), each with its website, and some without
one or closed for good. The demo finds the city's area by name, searches it for each trade, and runs
every stage: search, resolve, discover, import, scrape, validate. Nothing leaves this machine.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from leadpipe import export
from leadpipe.cli import run as run_command
from leadpipe.cli import search as search_command
from leadpipe.cli.runner import run_engine
from leadpipe.cli.summary import exit_code, summarise
from leadpipe.config import Settings
from leadpipe.db.connect import Database
from leadpipe.demo.places import GOOD_KEY, TRADE_TYPES, PlacesApi, sample_site_places, seeded_city
from leadpipe.demo.sites import SampleSite, sample_sites, serve
from leadpipe.demo.web import Web
from leadpipe.stages import PIPELINE
from leadpipe.web.places import Rectangle

__all__ = ["demo"]

CITY = "Springfield"
CENTER = (52.52, 13.405)


def demo(console: Console, sites: int, database_url: str | None) -> int:
    """Serve the sample sites and the fake Places API, search, run every stage, print what was found;
    returns the exit status."""
    web = Web().start()
    samples = sample_sites(sites)
    serve(web, samples)
    area = Rectangle.around(*CENTER, 2.4)  # one first cell, at the default cell size
    # Beside the sample sites' businesses, as many that have no website, a few closed for good.
    places = sample_site_places(samples, center=CENTER) + seeded_city(
        len(samples), center=CENTER, spread_km=1, closed_every=4
    )
    api = PlacesApi(places, areas={CITY: (area.south, area.west, area.north, area.east)}).start()
    with tempfile.TemporaryDirectory(prefix="leadpipe-demo-") as scratch:
        url = database_url or f"sqlite:///{Path(scratch) / 'demo.db'}"
        # The sample sites are reached through the demo web, which is their proxy; Google is the fake.
        settings = Settings(
            database_url=url,
            proxy=SecretStr(web.url),
            http_per_host=4,
            http_total_timeout_seconds=10,
            google_places_api_key=SecretStr(GOOD_KEY),
            places_base_url=api.url,
        )
        db = Database(url)
        try:
            db.ensure_schema()
            console.print(
                f"serving {len(samples)} sample sites on {web.url} and a fake Google Places API on {api.url};"
                f" database {db.display_url}",
                markup=False,
            )
            found = search_command.area_by_name(settings, CITY, None, None)
            plan = search_command.plan(settings, found)
            trades = sorted({TRADE_TYPES[site.trade][1].lower() for site in samples})
            for trade in trades:
                search_command.add(
                    db, PIPELINE, settings, trade, plan, included_type=None, language=None, region=None
                )
            console.print(
                f"searching {found.label} for {', '.join(trades)}: {len(trades)} searches of"
                f" {len(plan.cells)} cell{'s' if len(plan.cells) != 1 else ''} each, billed as Text Search {plan.tier}",
                markup=False,
            )
            started = time.monotonic()
            run_engine(run_command.work(db, PIPELINE, settings, console, max_wait=5))
            names = [site.domain for site in samples]
            rows = list(export.domain_rows(db, export.Filters(domains=names)))
            console.print(_table(rows, samples))
            summary = summarise(db, PIPELINE, settings, names)
            summary.seconds = time.monotonic() - started
            run_command.print_summary(console, summary, None)
            console.print(
                f"Places API requests: {len(api.requests)} ({', '.join(f'{n} {sku}' for sku, n in api.billed.items())})",
                markup=False,
            )
            return exit_code(summary)
        finally:
            db.dispose()
            api.stop()
            web.stop()


def _table(rows: list[dict[str, object]], samples: list[SampleSite]) -> Table:
    by_domain = {str(row["domain"]): row for row in rows}
    table = Table(title="contacts found", title_justify="left")
    for heading in ("domain", "how its sitemaps are", "email", "phone", "profiles", "as expected"):
        table.add_column(heading)
    for site in samples:
        row = by_domain.get(site.domain, {})
        profiles = [str(row[network]) for network in export.NETWORKS if row.get(network)]
        expected = row.get("email") in site.emails and row.get("phone") in site.phones
        expected = expected and set(profiles) == site.socials
        table.add_row(
            site.domain,
            site.shape.replace("_", " "),
            str(row.get("email") or "-"),
            str(row.get("phone") or "-"),
            "\n".join(profiles) or "-",
            "[green]yes[/]" if expected else "[red]no[/]",
        )
    return table
