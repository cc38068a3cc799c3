"""``leadpipe run``: intake, every stage in this process until nothing is due, then the export.

Progress comes from the database, like everything else: a live table per stage on a terminal, a
plain line every few seconds elsewhere. Beside it, the pace: requests in flight (the fetcher's own
count), requests and pages per second over the last half minute, and an estimate of the time left
(what each stage has due or running, at the rate it has been finishing items). Stopping (Ctrl-C) lets in-flight items finish; running the
same command again carries on from there. What the progress and the summary say is read by
:mod:`leadpipe.cli.summary`; this module shows it.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from leadpipe.web.fetch import Fetcher

__all__ = ["export_for", "print_summary", "work"]


async def work(
    db: Database, pipeline: Pipeline, settings: Settings, console: Console, *, max_wait: float
) -> Counter[str]:
    """Run every stage until nothing is due within ``max_wait``; show progress meanwhile."""
    worker = Worker(db, pipeline, settings)
    running = asyncio.create_task(worker.run(until_idle=True, max_wait=max_wait))
    pace = Pace(worker.resources.get("fetcher"))

    async def look() -> health.Report:
        report = await asyncio.to_thread(progress, db, pipeline, settings)
        pace.note(report)
        return report

    if console.is_terminal:
        with Live(console=console, refresh_per_second=4, transient=False) as live:
            while not running.done():
                live.update(_table(await look(), pace))
                await asyncio.wait([running], timeout=1.0)
            live.update(_table(await look(), pace))
    else:
        while not running.done():
            await asyncio.wait([running], timeout=5.0)
            console.print(_line(await look(), pace), highlight=False)
    return await running


class Pace:
    """How fast a run goes, from what it saw at each look: rates over the last ``WINDOW`` seconds."""

    WINDOW = 30.0

    def __init__(self, fetcher: Fetcher | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.fetcher = fetcher
        self.clock = clock
        self.started = clock()
        # (moment, items finished per stage, requests answered): the looks within the window
        self.looks: deque[tuple[float, Counter[str], int]] = deque()
        self.due: Counter[str] = Counter()  # per stage, items due or running at the last look

    def note(self, report: health.Report) -> None:
        now = self.clock()
        finished = Counter(
            {s.name: s.counts["done"] + s.counts["skipped"] + s.counts["dead"] for s in report.stages}
        )
        self.looks.append((now, finished, self.fetcher.requests if self.fetcher else 0))
        while len(self.looks) > 2 and now - self.looks[1][0] >= self.WINDOW:
            self.looks.popleft()
        self.due = Counter({s.name: s.pending_now + s.counts["running"] for s in report.stages})

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    def per_second(self, stage: str | None = None) -> float:
        """Items of ``stage`` finished per second over the window; requests, without a stage."""
        if len(self.looks) < 2:
            return 0.0
        (first, finished_then, requests_then), (last, finished_now, requests_now) = (
            self.looks[0],
            self.looks[-1],
        )
        seconds = max(last - first, 1e-6)  # two looks within one tick of a coarse clock
        if stage is None:
            return (requests_now - requests_then) / seconds
        return (finished_now[stage] - finished_then[stage]) / seconds

    def seconds_left(self) -> float | None:
        """The longest any stage needs for what it has due at the pace it has kept; None when a stage
        with work due has finished nothing lately (no pace to go by)."""
        longest = 0.0
        for stage, due in self.due.items():
            if due:
                rate = self.per_second(stage)
                if rate <= 0:
                    return None
                longest = max(longest, due / rate)
        return longest

    def describe(self) -> str:
        left = self.seconds_left()
        parts = [
            f"{self.fetcher.in_flight if self.fetcher else 0} requests in flight",
            f"{self.per_second():.0f} requests/s",
            f"{self.per_second('scrape'):.1f} pages/s",
            "time left unknown" if left is None else f"about {_duration(left)} left",
        ]
        return " · ".join(parts)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds}s" if seconds < 120 else f"{seconds // 60}m{seconds % 60:02d}s"


def _table(report: health.Report, pace: Pace) -> Table:
    elapsed = max(pace.elapsed, 0.001)
    table = Table(title=f"leadpipe run · {elapsed:.0f}s · {pace.describe()}", title_justify="left")
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


def _line(report: health.Report, pace: Pace) -> str:
    parts = [
        f"{s.name} {s.counts['done'] + s.counts['skipped']}/{sum(s.counts.values())}"
        + (f" ({s.counts['dead']} dead)" if s.counts["dead"] else "")
        for s in report.stages
    ]
    return f"{pace.elapsed:.0f}s " + ", ".join(parts) + f" · {pace.describe()}"


def print_summary(console: Console, summary: Summary, output: Path | None) -> None:
    if summary.businesses:
        outcomes = ", ".join(f"{count} {outcome}" for outcome, count in summary.businesses.most_common())
        console.print(
            f"businesses from map searches: {summary.businesses.total()} ({outcomes})", highlight=False
        )
    if summary.saturated:
        console.print(
            f"saturated: {summary.saturated} map cells still held Google's 60 places at the smallest cell size"
            " (LEADPIPE_PLACES_MIN_CELL_KM): places may be missing there",
            highlight=False,
        )
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


def export_for(
    db: Database, names: list[str] | None, output: Path, fmt: export.Format, per_domain: bool
) -> int:
    """Export the contacts of the domains ``names``, or of every domain (None)."""
    filters = export.Filters(domains=names) if names is not None else export.Filters()
    return export.export(db, output, fmt, per_domain=per_domain, filters=filters)
