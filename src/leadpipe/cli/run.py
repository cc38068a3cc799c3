"""``leadpipe run``: intake, every stage in this process until nothing is due, then the export.

Progress comes from the database, like everything else: a live table per stage on a terminal, a
plain line every few seconds elsewhere. Stopping (Ctrl-C) lets in-flight items finish; running the
same command again carries on from there.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table
from sqlalchemy import func, select

from leadpipe import export as exporting
from leadpipe import intake
from leadpipe.config import Settings
from leadpipe.db.connect import Database
from leadpipe.db.models import businesses, contacts, domains, pages, sitemap_files
from leadpipe.engine import health
from leadpipe.engine.stage import Pipeline
from leadpipe.engine.worker import Worker

EXIT_DEAD = 2
EXIT_WAITING = 3


@dataclass
class Summary:
    """What a run did, read back from the database."""

    domains: int = 0
    with_sitemaps: int = 0
    pages: int = 0
    contacts: Counter[str] = field(default_factory=Counter)
    domain_outcomes: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    not_final: list[str] = field(default_factory=list)
    dead: int = 0
    waiting: int = 0
    exported: int = 0
    seconds: float = 0.0


def input_domains(db: Database, settings: Settings, found: intake.Intake) -> list[str]:
    """The domains this input stands for: those it names, and those its businesses resolved to."""
    rows = found.rows(intake.Added(), allow_private=settings.allow_private_networks)
    if found.kind == "domains":
        return list(dict.fromkeys(row["name"] for row in rows))
    keys = list(dict.fromkeys(row["source_key"] for row in rows))
    names: dict[str, None] = {}
    linked = select(domains.c.name).join(businesses, businesses.c.domain_id == domains.c.id)
    with db.engine.connect() as connection:
        for start in range(0, len(keys), 1000):
            chosen = linked.where(businesses.c.source_key.in_(keys[start : start + 1000]))
            names.update(dict.fromkeys(connection.execute(chosen).scalars()))
    return list(names)


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
                live.update(_table(await asyncio.to_thread(_progress, db, pipeline, settings), started))
                await asyncio.wait([running], timeout=1.0)
            live.update(_table(await asyncio.to_thread(_progress, db, pipeline, settings), started))
    else:
        while not running.done():
            await asyncio.wait([running], timeout=5.0)
            report = await asyncio.to_thread(_progress, db, pipeline, settings)
            console.print(_line(report, started), highlight=False)
    return await running


def _progress(db: Database, pipeline: Pipeline, settings: Settings) -> health.Report:
    return health.check(db, pipeline, settings, downstream=False)


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


def summarise(db: Database, pipeline: Pipeline, settings: Settings, names: list[str]) -> Summary:
    summary = Summary()
    report = health.check(db, pipeline, settings)
    with db.engine.connect() as connection:
        ours = domains.c.name.in_(names)
        summary.domains = len(names)
        summary.domain_outcomes = Counter(
            dict(
                connection.execute(
                    select(domains.c.outcome, func.count()).where(ours).group_by(domains.c.outcome)
                ).all()
            )
        )
        summary.with_sitemaps = summary.domain_outcomes.get("sitemaps", 0)
        ids = select(domains.c.id).where(ours).scalar_subquery()
        summary.pages = connection.execute(
            select(func.count()).where(pages.c.domain_id.in_(ids))
        ).scalar_one()
        summary.contacts = Counter(
            dict(
                connection.execute(
                    select(contacts.c.kind, func.count())
                    .where(contacts.c.domain_id.in_(ids))
                    .group_by(contacts.c.kind)
                ).all()
            )
        )
        for table in (domains, sitemap_files, pages):
            dead = (
                select(table.c.last_error, func.count())
                .where(table.c.status == "dead")
                .group_by(table.c.last_error)
            )
            for error, count in connection.execute(dead):
                summary.failures[f"{table.name}: {error}"] += count
    for stage in report.stages:
        summary.dead += stage.counts["dead"]
        summary.waiting += stage.pending_later + stage.pending_now + stage.counts["running"]
        if stage.pending_later:
            summary.not_final.append(f"{stage.name}: {stage.pending_later} items wait for a retry later")
        if stage.counts["awaiting"]:
            summary.not_final.append(
                f"{stage.name}: {stage.counts['awaiting']} items await a person (`leadpipe select {stage.name} …`)"
            )
        if stage.paused:
            summary.not_final.append(f"{stage.name}: paused: {stage.paused}")
    return summary


def exit_code(summary: Summary) -> int:
    if summary.dead:
        return EXIT_DEAD
    if summary.waiting:
        return EXIT_WAITING
    return 0


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


def export_for(db: Database, names: list[str], output: Path, fmt: exporting.Format, per_domain: bool) -> int:
    return exporting.export(db, output, fmt, per_domain=per_domain, filters=exporting.Filters(domains=names))
