"""What a run of every stage came to, read back from the database, for `leadpipe run` and `leadpipe demo`.

The queries only: the commands print the progress and the summary themselves.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select

from leadpipe import intake
from leadpipe.config import Settings
from leadpipe.db.connect import Database
from leadpipe.db.models import businesses, contacts, domains, pages, search_cells, sitemap_files
from leadpipe.engine import health
from leadpipe.engine.stage import Pipeline

__all__ = [
    "EXIT_DEAD",
    "EXIT_WAITING",
    "Summary",
    "exit_code",
    "input_domains",
    "progress",
    "summarise",
]

EXIT_DEAD = 2
EXIT_WAITING = 3


@dataclass
class Summary:
    """What a run did, read back from the database."""

    businesses: Counter[str] = field(default_factory=Counter)  # found by map searches, by outcome
    saturated: int = 0  # map cells full at the smallest size: places may be missing there
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


def input_domains(db: Database, settings: Settings, found: intake.Intake | None) -> list[str]:
    """The domains this input stands for: those it names, and those its businesses resolved to;
    without an input, every domain the database holds."""
    if found is None:
        with db.engine.connect() as connection:
            return list(connection.execute(select(domains.c.name).order_by(domains.c.id)).scalars())
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


def progress(db: Database, pipeline: Pipeline, settings: Settings) -> health.Report:
    """Each stage's counts, without the checks of what waits downstream: a run shows this as it goes."""
    return health.check(db, pipeline, settings, downstream=False)


def summarise(db: Database, pipeline: Pipeline, settings: Settings, names: list[str]) -> Summary:
    """What became of the domains ``names``, and what in the whole pipeline is not final yet."""
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
        outcome = func.coalesce(businesses.c.outcome, businesses.c.status)
        found = select(outcome, func.count()).where(businesses.c.search_id.is_not(None)).group_by(outcome)
        summary.businesses = Counter(dict(connection.execute(found).all()))
        summary.saturated = connection.execute(
            select(func.count()).where(search_cells.c.outcome == "saturated")
        ).scalar_one()
        for table in (search_cells, domains, sitemap_files, pages):
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
    """The command's exit status: dead items first, then items that still wait."""
    if summary.dead:
        return EXIT_DEAD
    if summary.waiting:
        return EXIT_WAITING
    return 0
