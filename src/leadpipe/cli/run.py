"""``leadpipe run``: intake, every stage in this process until nothing is due, then the export.

Progress comes from the database, like everything else: a live table per stage on a terminal, a
plain line every few seconds elsewhere. Stopping (Ctrl-C) lets in-flight items finish; running the
same command again carries on from there. What the progress and the summary say is read by
:mod:`leadpipe.cli.summary`; this module shows it.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from leadpipe import export
from leadpipe.cli.summary import Summary, progress
from leadpipe.config import Settings
from leadpipe.db.connect import Database
from leadpipe.engine import health
from leadpipe.engine.stage import Pipeline
from leadpipe.engine.worker import Worker

__all__ = ["export_for", "print_summary", "work"]


async def work(
    db: Database, pipeline: Pipeline, settings: Settings, console: Console, *, max_wait: float
) -> Counter[str]:
    """Run every stage until nothing is due within ``max_wait``; show progress meanwhile."""
    worker = Worker(db, pipeline, settings)
    running = asyncio.create_task(worker.run(until_idle=True, max_wait=max_wait))
    started = time.monotonic()
    if console.is_terminal:
        with Live(console=console, refresh_per_second=4, transient=False) as live:
            while not running.done():
                live.update(_table(await asyncio.to_thread(progress, db, pipeline, settings), started))
                await asyncio.wait([running], timeout=1.0)
            live.update(_table(await asyncio.to_thread(progress, db, pipeline, settings), started))
    else:
        while not running.done():
            await asyncio.wait([running], timeout=5.0)
            report = await asyncio.to_thread(progress, db, pipeline, settings)
            console.print(_line(report, started), highlight=False)
    return await running


def _table(report: health.Report, started: float) -> Table:
    elapsed = max(time.monotonic() - started, 0.001)
    table = Table(title=f"leadpipe run · {elapsed:.0f}s", title_justify="left")
    for heading in ("stage", "done", "total", "running", "ready", "waiting", "dead", "per min"):
        table.add_column(heading, justify="left" if heading == "stage" else "right")
    for stage in report.stages:
        counts = stage.counts
        total = sum(counts.values())
        table.add_row(
            stage.name,
            str(counts["done"] + counts["skipped"]),
            str(total),
            str(counts["running"]),
            str(stage.pending_now),
            str(stage.pending_later + counts["awaiting"]),
            str(counts["dead"]),
            f"{stage.completed_recently * 60 / min(elapsed, 300):.0f}",
        )
    return table


def _line(report: health.Report, started: float) -> str:
    parts = [
        f"{s.name} {s.counts['done'] + s.counts['skipped']}/{sum(s.counts.values())}"
        + (f" ({s.counts['dead']} dead)" if s.counts["dead"] else "")
        for s in report.stages
    ]
    return f"{time.monotonic() - started:.0f}s " + ", ".join(parts)


def print_summary(console: Console, summary: Summary, output: Path | None) -> None:
    outcomes = ", ".join(
        f"{count} {outcome or 'not finished'}" for outcome, count in summary.domain_outcomes.most_common()
    )
    console.print(f"domains: {summary.domains} ({outcomes})", highlight=False)
    console.print(f"pages found: {summary.pages}", highlight=False)
    kinds = ", ".join(f"{count} {kind}" for kind, count in summary.contacts.most_common()) or "none"
    console.print(f"contacts: {kinds}", highlight=False)
    for failure, count in summary.failures.most_common(10):
        console.print(f"failed: {count} × {failure}", markup=False, highlight=False)
    for line in summary.not_final:
        console.print(f"not final: {line}", markup=False, highlight=False)
    if output is not None:
        console.print(f"wrote {summary.exported} rows to {output}", highlight=False)
    console.print(f"elapsed: {summary.seconds:.1f}s", highlight=False)


def export_for(db: Database, names: list[str], output: Path, fmt: export.Format, per_domain: bool) -> int:
    return export.export(db, output, fmt, per_domain=per_domain, filters=export.Filters(domains=names))
