"""``leadpipe demo``: the whole pipeline against a small web of sample business sites on loopback."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from leadpipe import export
from leadpipe.cli import run as run_command
from leadpipe.cli.runner import run_engine
from leadpipe.cli.summary import exit_code, summarise
from leadpipe.config import Settings
from leadpipe.db.connect import Database
from leadpipe.db.models import domains
from leadpipe.demo.sites import SampleSite, sample_sites, serve
from leadpipe.demo.web import Web
from leadpipe.engine import bulk
from leadpipe.stages import PIPELINE

__all__ = ["demo"]


def demo(console: Console, sites: int, database_url: str | None) -> int:
    """Serve the sample sites, run every stage against them, print what was found; returns the exit status."""
    web = Web().start()
    samples = sample_sites(sites)
    serve(web, samples)
    with tempfile.TemporaryDirectory(prefix="leadpipe-demo-") as scratch:
        url = database_url or f"sqlite:///{Path(scratch) / 'demo.db'}"
        # The sample sites are reached through the demo web, which is their proxy: nothing leaves this machine.
        settings = Settings(
            database_url=url, proxy=SecretStr(web.url), http_per_host=4, http_total_timeout_seconds=10
        )
        db = Database(url)
        try:
            db.ensure_schema()
            names = [site.domain for site in samples]
            console.print(
                f"serving {len(samples)} sample sites on {web.url}; database {db.display_url}", markup=False
            )
            with db.begin() as connection:
                bulk.insert(db, connection, PIPELINE, settings, domains, [{"name": name} for name in names])
            started = time.monotonic()
            run_engine(run_command.work(db, PIPELINE, settings, console, max_wait=5))
            rows = list(export.domain_rows(db, export.Filters(domains=names)))
            console.print(_table(rows, samples))
            summary = summarise(db, PIPELINE, settings, names)
            summary.seconds = time.monotonic() - started
            run_command.print_summary(console, summary, None)
            return exit_code(summary)
        finally:
            db.dispose()
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
