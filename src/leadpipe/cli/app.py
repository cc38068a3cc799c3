"""The ``leadpipe`` command line."""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from leadpipe import logs
from leadpipe.cli.runner import run_engine
from leadpipe.config import Settings

__all__ = ["app", "main"]

# The database, the engine, the web and the extractors are imported by the commands that use them,
# so `leadpipe sitemaps` and `--help` do not load what they never use.
if TYPE_CHECKING:
    from leadpipe import export, intake
    from leadpipe.db.connect import Database
    from leadpipe.engine import curation, health
    from leadpipe.engine.stage import Pipeline, Stage


app = typer.Typer(
    help="Turn local businesses into verified contact leads. Every unit of work is a database row: "
    "stop at any time, run again, and nothing is lost or done twice.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
keys_app = typer.Typer(help="API keys for the HTTP API and the dashboard.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
# Off a terminal (a pipe, a CI log) Rich would wrap at 80 columns; keep report lines whole there.
out = Console() if sys.stdout.isatty() else Console(width=160)
err = Console(stderr=True)
log = logging.getLogger("leadpipe.cli")

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: LEADPIPE_DATABASE_URL, else sqlite:///leadpipe.db)"),
]
StageArgument = Annotated[str, typer.Argument(help="The stage, as `leadpipe status` names it.")]
IdsOption = Annotated[list[int] | None, typer.Option("--id", help="An item's id (repeatable).")]
WhereOption = Annotated[
    list[str] | None,
    typer.Option("--where", help="column=value or column!=value on the stage's records (repeatable, ANDed)."),
]
AllOption = Annotated[bool, typer.Option("--all", help="Every item of the stage.")]


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"leadpipe: {logs.redact(message)}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def opened(url: str | None) -> Iterator[tuple[Settings, Database, Pipeline]]:
    """Settings, a database with its schema up to date, and the pipeline, or one clear error line."""
    from leadpipe.db.connect import Database, DatabaseError
    from leadpipe.stages import load_pipeline

    try:
        settings = Settings() if url is None else Settings(database_url=url)
    except ValidationError as error:
        fail(f"bad configuration: {error.errors()[0]['loc'][0]}: {error.errors()[0]['msg']}")
    logs.configure(settings)
    try:
        pipeline = load_pipeline(settings.pipeline)
        db = Database(settings.database_url)
        db.ensure_schema()
    except (DatabaseError, ValueError) as error:
        fail(str(error))
    try:
        yield settings, db, pipeline
    except DatabaseError as error:
        fail(str(error))
    finally:
        db.dispose()


def _stage(pipeline: Pipeline, name: str) -> Stage:
    try:
        return pipeline[name]
    except KeyError as error:
        fail(str(error.args[0]))


OutputOption = Annotated[Path, typer.Option("--output", "-o", help="Where the export goes.")]
FormatOption = Annotated[
    str | None, typer.Option("--format", help="csv, jsonl or xlsx (default: from the file's ending).")
]
PerDomainOption = Annotated[
    bool, typer.Option("--per-domain", help="One row per domain: best email, phone and profiles in columns.")
]


def _format(output: Path, given: str | None) -> export.Format:
    chosen = (given or output.suffix.lstrip(".") or "csv").lower()
    if chosen not in ("csv", "jsonl", "xlsx"):
        fail(f"unknown format {chosen!r}: use csv, jsonl or xlsx")
    return chosen  # type: ignore[return-value]


@app.command()
def run(
    input: Annotated[
        Path | None,
        typer.Argument(
            help="A text file of domains or URLs, or a CSV of businesses; without one, the work the"
            " database holds (a `leadpipe search`, say) and an export of everything."
        ),
    ] = None,
    output: OutputOption = Path("contacts.csv"),
    fmt: FormatOption = None,
    per_domain: PerDomainOption = False,
    refresh: Annotated[bool, typer.Option("--refresh", help="Fetch known domains again.")] = False,
    max_wait: Annotated[
        float, typer.Option("--max-wait", help="Stop once nothing is due within this many seconds.")
    ] = 60.0,
    db: DbOption = None,
) -> None:
    """The main job: add the input, run every stage here until done, write the export.

    Exit status: 0 when every item is final (or awaits a person), 2 when items are dead, 3 when items
    still wait for a retry, 1 for an unreadable input. Run it again to carry on after a stop.
    """
    from leadpipe import intake
    from leadpipe.cli import run as run_command
    from leadpipe.cli.summary import exit_code, input_domains, summarise
    from leadpipe.engine.worker import WorkerFailed

    chosen_format = _format(output, fmt)
    found = None
    if input is not None:
        try:
            found = intake.read(input)
        except intake.IntakeError as error:
            fail(str(error))
    started = time.monotonic()
    with opened(db) as (settings, database, pipeline):
        if found is not None:
            _print_intake(found, _add(database, pipeline, settings, found, refresh))
        try:
            run_engine(run_command.work(database, pipeline, settings, out, max_wait=max_wait))
        except WorkerFailed as error:
            fail(f"{error} (run the same command again to carry on; see the log above)")
        names = input_domains(database, settings, found)
        summary = summarise(database, pipeline, settings, names)
        chosen = names if found is not None else None
        summary.exported = run_command.export_for(database, chosen, output, chosen_format, per_domain)
    summary.seconds = time.monotonic() - started
    run_command.print_summary(out, summary, output)
    raise typer.Exit(exit_code(summary))


@app.command()
def search(
    query: Annotated[str, typer.Argument(help='What to look for, as in Google Maps: "dentist", "bakery".')],
    in_: Annotated[
        str | None,
        typer.Option("--in", help="An area by name (a city, a district): one Text Search finds it."),
    ] = None,
    bbox: Annotated[str | None, typer.Option("--bbox", help="An area as S,W,N,E in degrees.")] = None,
    near: Annotated[
        str | None, typer.Option("--near", help="The centre of a circle, LAT,LNG in degrees.")
    ] = None,
    radius_km: Annotated[
        float | None, typer.Option("--radius-km", min=0.05, max=500, help="The circle's radius, with --near.")
    ] = None,
    type_: Annotated[
        str | None,
        typer.Option("--type", help="Only places of this Google type (dentist, bakery, plumber …)."),
    ] = None,
    language: Annotated[
        str | None, typer.Option("--language", help="The answers' language (en, de …).")
    ] = None,
    region: Annotated[
        str | None, typer.Option("--region", help="A two-letter region code to bias by (DE, US …).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and what it may cost at worst; add nothing.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Add a Google Maps search over an area (Google Places API, LEADPIPE_GOOGLE_PLACES_API_KEY).

    The area is cut into cells, each searched as work of the `search` stage: `leadpipe run` (or
    workers) does it, and each business found goes on to its website's contacts.
    """
    from leadpipe.cli import search as search_command

    if region is not None and (len(region) != 2 or not region.isalpha()):
        fail(f"--region takes a two-letter code such as DE or US, not {region!r}")
    with opened(db) as (settings, database, pipeline):
        try:
            area = search_command.area_from(
                settings,
                name=in_,
                bbox=search_command.parse_bbox(bbox) if bbox is not None else None,
                near=search_command.parse_point(near) if near is not None else None,
                radius_km=radius_km,
                language=language,
                region=region,
            )
            chosen = search_command.plan(settings, area)
        except ValueError as error:
            fail(str(error))
        for line in chosen.lines():
            out.print(line, markup=False, highlight=False, soft_wrap=True)
        if dry_run:
            return
        search_id = search_command.add(
            database, pipeline, settings, query, chosen, included_type=type_, language=language, region=region
        )
    out.print(
        f"added search #{search_id}: {len(chosen.cells)} cells; `leadpipe run -o leads.csv` works them"
        " (or `leadpipe worker`)",
        markup=False,
        highlight=False,
    )


@app.command("export")
def export_(
    output: OutputOption = Path("contacts.csv"),
    fmt: FormatOption = None,
    per_domain: PerDomainOption = False,
    kind: Annotated[
        list[str] | None, typer.Option("--kind", help="email, phone, whatsapp, social or form (repeatable).")
    ] = None,
    validation: Annotated[
        list[str] | None,
        typer.Option(
            "--validation", help="deliverable, risky, undeliverable, unknown or unchecked (repeatable)."
        ),
    ] = None,
    domain: Annotated[
        list[str] | None, typer.Option("--domain", help="Only this domain (repeatable).")
    ] = None,
    db: DbOption = None,
) -> None:
    """Write the contacts in the database to a file."""
    from leadpipe import export

    chosen_format = _format(output, fmt)
    filters = export.Filters(kinds=kind or (), validations=validation or (), domains=domain or ())
    with opened(db) as (_, database, _):
        count = export.export(database, output, chosen_format, per_domain=per_domain, filters=filters)
    out.print(f"wrote {count} rows to {output}", highlight=False)


@app.command("demo")
def demo_(
    sites: Annotated[int, typer.Option(min=1, max=500, help="How many sample sites.")] = 8,
    db: Annotated[
        str | None, typer.Option("--db", help="Keep the results in this database (default: a temporary one).")
    ] = None,
) -> None:
    """See leadpipe work in a minute: sample business sites on loopback, the whole pipeline, the contacts found."""
    from leadpipe.cli import demo as demo_command

    logs.configure(Settings(log_level="WARNING"))
    raise typer.Exit(demo_command.demo(out, sites, db))


@app.command()
def add(
    input: Annotated[Path, typer.Argument(help="A text file of domains or URLs, or a CSV of businesses.")],
    refresh: Annotated[bool, typer.Option("--refresh", help="Queue known domains again.")] = False,
    db: DbOption = None,
) -> None:
    """Add domains or businesses without processing them; workers (`leadpipe worker`) do the work."""
    from leadpipe import intake

    try:
        found = intake.read(input)
    except intake.IntakeError as error:
        fail(str(error))
    with opened(db) as (settings, database, pipeline):
        _print_intake(found, _add(database, pipeline, settings, found, refresh))


def _add(
    db: Database, pipeline: Pipeline, settings: Settings, found: intake.Intake, refresh: bool
) -> intake.Added:
    from leadpipe import intake

    try:
        return intake.add(db, pipeline, settings, found, refresh=refresh)
    except intake.IntakeError as error:
        fail(str(error))


def _print_intake(found: intake.Intake, added: intake.Added) -> None:
    noun = "domains" if found.kind == "domains" else "businesses"
    line = f"{added.new} new {noun}, {added.known} already known"
    if added.repeated:
        line += f", {added.repeated} named again in the input"
    if added.refreshed:
        line += f" ({added.refreshed} queued again)"
    out.print(line, highlight=False)
    for note in added.notes:
        err.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
    if added.notes_count > len(added.notes):
        err.print(f"note: {added.notes_count - len(added.notes)} more lines like these", highlight=False)
    for problem in added.skipped:
        err.print(f"skipped {problem}", markup=False, highlight=False, soft_wrap=True)
    if added.skipped_count > len(added.skipped):
        err.print(f"skipped {added.skipped_count - len(added.skipped)} more lines", highlight=False)


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Create the schema, or bring it to the newest migration."""
    with opened(db) as (_, database, _):
        database.upgrade()
        out.print(
            f"schema at revision {database.schema_revision()} on {database.display_url}",
            markup=False,  # "[redacted]" is not Rich markup
            highlight=False,
        )


@app.command()
def worker(
    stage: Annotated[
        list[str] | None, typer.Option("--stage", help="Serve only this stage (repeatable); default: all.")
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="Items in flight per stage (default: each stage's own).")
    ] = None,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Exit once no work is due, instead of waiting for more.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Process work until stopped (Ctrl-C or SIGTERM finish what is in flight, then exit).

    Run as many as you like, on this machine or others sharing one PostgreSQL.
    """
    from leadpipe.engine.worker import Worker, WorkerFailed

    with opened(db) as (settings, database, pipeline):
        for name in stage or []:
            _stage(pipeline, name)
        runner = Worker(database, pipeline, settings, stages=stage, concurrency=concurrency)
        try:
            counts = run_engine(runner.run(until_idle=until_idle))
        except WorkerFailed as error:
            fail(f"{error} (its items were handed back; see the log above)")
        summary = ", ".join(f"{key} {value}" for key, value in sorted(counts.items()) if value)
        log.info("worker %s stopped: %s", runner.id, summary or "nothing done")


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 when anything is wrong (for cron and CI).")
    ] = False,
    db: DbOption = None,
) -> None:
    """What waits, runs and finished in each stage, who serves it, and what is wrong."""
    from leadpipe.engine import health

    with opened(db) as (settings, database, pipeline):
        report = health.check(database, pipeline, settings)
    if as_json:
        out.print_json(json.dumps(report.to_dict(), default=str))
    else:
        _print_report(report)
    if check and not report.ok:
        raise typer.Exit(1)


@app.command()
def doctor(db: DbOption = None) -> None:
    """Check everything and say what to do: dead and missing workers, stages without a consumer or
    stalled, expired leases, missing downstream records, error-rate jumps, paused stages. Exit 1 on
    any error."""
    from leadpipe.engine import health

    with opened(db) as (settings, database, pipeline):
        problems = health.doctor(database, pipeline, settings)
    styles = {"error": "bold red", "warning": "yellow", "notice": "cyan"}
    for problem in problems:
        where = f"{problem.stage}: " if problem.stage else ""
        out.print(f"[{styles[problem.level]}]{problem.level}[/] {where}", end="")
        out.print(problem.message, markup=False, highlight=False, soft_wrap=True)
    if not problems:
        out.print("[green]all clear[/]: every stage with work has a live worker completing it")
    if any(problem.level == "error" for problem in problems):
        raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="The port to listen on.")] = 8000,
    no_workers: Annotated[
        bool, typer.Option("--no-workers", help="Serve the API and dashboard only; workers run elsewhere.")
    ] = False,
    db: DbOption = None,
) -> None:
    """The HTTP API (/api/v1, its schema at /api/v1/openapi.json), the dashboard, /healthz, /readyz and
    /metrics; with the stage workers in the same process unless --no-workers. Needs an API key
    (`leadpipe keys create`) for everything but the health checks."""
    from leadpipe.cli.serve import serve as serve_forever

    with opened(db) as (settings, database, pipeline):
        out.print(
            f"serving http://{host}:{port}/ (API: /api/v1/docs) on {database.display_url}", markup=False
        )
        run_engine(serve_forever(settings, database, pipeline, host, port, workers=not no_workers))


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="Who or what uses it.")],
    scope: Annotated[
        str, typer.Option("--scope", help="read (look only) or admin (change things too).")
    ] = "read",
    db: DbOption = None,
) -> None:
    """Make an API key; it is shown once, here, and kept only as a hash."""
    from leadpipe.server import keys

    with opened(db) as (_, database, _):
        try:
            secret = keys.create(database, name, scope)
        except keys.KeyError_ as error:
            fail(str(error))
    print(secret)  # plain, for a script to capture; never logged
    err.print(f"key {name!r} ({scope}) made: keep it now, it cannot be shown again", markup=False)


@keys_app.command("list")
def keys_list(db: DbOption = None) -> None:
    """Every key: name, scope, its first characters, when made, last used and revoked."""
    from leadpipe.server import keys

    with opened(db) as (_, database, _):
        rows = keys.listed(database)
    table = Table(title="API keys", title_justify="left")
    for heading in ("name", "scope", "starts with", "created", "last used", "revoked"):
        table.add_column(heading)
    for row in rows:
        table.add_row(
            row["name"], row["scope"], row["prefix"] + "…",
            *(f"{row[field]:%Y-%m-%d %H:%M}" if row[field] else "-" for field in ("created_at", "last_used_at", "revoked_at")),
        )  # fmt: skip
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="The key's name.")], db: DbOption = None) -> None:
    """Revoke a key: it, and every dashboard session made with it, stop working at once."""
    from leadpipe.server import keys

    with opened(db) as (_, database, _):
        if not keys.revoke(database, name):
            fail(f"no key in use is named {name!r}")
    out.print(f"key {name!r} revoked", markup=False)


def _print_report(report: health.Report) -> None:
    from leadpipe.engine.health import duration

    table = Table(title="leadpipe stages", title_justify="left")
    for heading in (
        "stage",
        "awaiting",
        "ready",
        "later",
        "running",
        "done",
        "dead",
        "skipped",
        "oldest ready",
        "done 5m",
        "workers",
    ):
        table.add_column(heading, justify="left" if heading == "stage" else "right")
    for stage in report.stages:
        counts = stage.counts
        oldest = stage.oldest_eligible_seconds
        table.add_row(
            stage.name + (" (paused)" if stage.paused else ""),
            str(counts["awaiting"]),
            str(stage.pending_now),
            str(stage.pending_later),
            str(counts["running"]),
            str(counts["done"]),
            str(counts["dead"]),
            str(counts["skipped"]),
            "-" if oldest is None else duration(oldest),
            str(stage.completed_recently),
            str(stage.live_workers),
        )
    out.print(table)
    dead = f", dead: {len(report.dead_workers)}" if report.dead_workers else ""
    out.print(f"live workers: {len(report.workers)}{dead}")
    styles = {"error": "bold red", "warning": "yellow", "notice": "cyan"}
    for problem in report.problems:
        where = f"{problem.stage}: " if problem.stage else ""
        out.print(f"[{styles[problem.level]}]{problem.level}[/] {where}", end="")
        out.print(problem.message, markup=False, highlight=False)
    if not report.problems:
        out.print("[green]all clear[/]")


def _curate(
    stage_name: str,
    ids: list[int] | None,
    where: list[str] | None,
    everything: bool,
    db: str | None,
    decide: Callable[..., curation.Changed],
    **extra: bool,
) -> None:
    from leadpipe.engine import curation

    with opened(db) as (_, database, pipeline):
        stage = _stage(pipeline, stage_name)
        try:
            chosen = curation.where_clause(stage.table, ids or [], where or [], everything)
        except curation.CurationError as error:
            fail(str(error))
        with database.begin() as connection:
            changed = decide(database, connection, stage, chosen, **extra)
    out.print(f"{stage_name}: {changed}")


@app.command("select")
def select_(
    stage: StageArgument,
    id: IdsOption = None,
    where: WhereOption = None,
    all_: AllOption = False,
    refresh: Annotated[bool, typer.Option("--refresh", help="Queue finished items again too.")] = False,
    db: DbOption = None,
) -> None:
    """Select items for a stage: those awaiting a person are queued, once."""
    from leadpipe.engine.curation import select_items

    _curate(stage, id, where, all_, db, select_items, refresh=refresh)


@app.command()
def reject(
    stage: StageArgument,
    id: IdsOption = None,
    where: WhereOption = None,
    all_: AllOption = False,
    db: DbOption = None,
) -> None:
    """Reject items: those not yet started leave the queue, recorded as skipped."""
    from leadpipe.engine.curation import reject_items

    _curate(stage, id, where, all_, db, reject_items)


@app.command()
def unselect(
    stage: StageArgument,
    id: IdsOption = None,
    where: WhereOption = None,
    all_: AllOption = False,
    db: DbOption = None,
) -> None:
    """Undo a selection: items not yet started go back to awaiting a person."""
    from leadpipe.engine.curation import unselect_items

    _curate(stage, id, where, all_, db, unselect_items)


@app.command()
def pause(
    stage: StageArgument,
    reason: Annotated[
        str, typer.Option("--reason", help="Why; `leadpipe status` shows it.")
    ] = "paused by hand",
    db: DbOption = None,
) -> None:
    """Pause a stage: its items wait, nothing is claimed or burnt, until `leadpipe resume`."""
    from leadpipe.engine.pause import pause_stage

    with opened(db) as (_, database, pipeline):
        chosen = _stage(pipeline, stage)
        with database.begin() as connection:
            paused = pause_stage(
                connection, chosen.name, reason, by=f"{getpass.getuser()}@{socket.gethostname()}"
            )
    out.print(f"{stage}: paused ({reason})" if paused else f"{stage}: was paused already")


@app.command()
def resume(stage: StageArgument, db: DbOption = None) -> None:
    """Resume a paused stage."""
    from leadpipe.engine.pause import resume_stage

    with opened(db) as (_, database, pipeline):
        chosen = _stage(pipeline, stage)
        with database.begin() as connection:
            resumed = resume_stage(connection, chosen.name)
    out.print(f"{stage}: resumed" if resumed else f"{stage}: was not paused")


@app.command()
def requeue(
    stage: StageArgument,
    dead: Annotated[bool, typer.Option("--dead", help="Every dead item of the stage.")] = False,
    id: IdsOption = None,
    db: DbOption = None,
) -> None:
    """Send dead (or finished) items back to the queue with a fresh count of attempts."""
    from sqlalchemy import false, or_

    from leadpipe.engine import queue

    if not dead and not id:
        fail("name the items: --dead, or --id N")
    with opened(db) as (_, database, pipeline):
        table = _stage(pipeline, stage).table
        named = [table.c.status == "dead"] if dead else []
        if id:
            named.append(table.c.id.in_(id))
        with database.begin() as connection:
            count = queue.requeue(database, connection, table, or_(false(), *named))
    out.print(f"{stage}: {count} items queued again")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


@app.command()
def sitemaps(
    target: Annotated[
        str,
        typer.Argument(help="A domain (acme.com) or a URL; a sitemap URL is read as that site's sitemap."),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON lines: one per sitemap file, one per page URL.")
    ] = False,
    max_wait: Annotated[
        float | None,
        typer.Option(
            "--max-wait",
            min=0,
            help="Seconds to wait in all for a site that answers 429 or 5xx with Retry-After "
            "(default: LEADPIPE_SITEMAPS_MAX_WAIT_SECONDS, 30).",
        ),
    ] = None,
) -> None:
    """Discover and parse one site's sitemaps now, without a database: the sitemap tree and its page URLs.

    Exit status: 0 when the site was read, 1 when it or one of its sitemaps could not be read (no
    answer, no answer in time), 3 when it asks to wait longer than --max-wait: try again later.
    """
    from leadpipe.cli import sitemaps as sitemap_report
    from leadpipe.web.fetch import FetchError

    try:
        settings = Settings()
    except ValidationError as error:
        fail(f"bad configuration: {error.errors()[0]['loc'][0]}: {error.errors()[0]['msg']}")
    logs.configure(settings)
    try:
        domain, hint = sitemap_report.target(target)
    except sitemap_report.TargetError as error:
        fail(str(error))
    patience = settings.sitemaps_max_wait_seconds if max_wait is None else max_wait
    try:
        found, urls = asyncio.run(
            sitemap_report.run(domain, hint, settings, sys.stdout, as_json=as_json, max_wait=patience)
        )
    except FetchError as error:
        fail(str(error))
    except sitemap_report.GaveUp as error:
        fail(str(error), code=3)
    for problem in found.problems:
        err.print(f"note: {problem}", markup=False, highlight=False, soft_wrap=True)
    if not as_json:
        err.print(f"{len(found.sitemaps)} sitemap files, {urls} page URLs", highlight=False)


@app.command()
def extract(
    target: Annotated[str, typer.Argument(help="An HTML file, or a page's URL.")],
    region: Annotated[
        str | None, typer.Option("--region", help="The business's country (DE, GB …) for national numbers.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The contacts as one JSON object.")] = False,
) -> None:
    """Show the contacts the extractor finds on one page, without a database."""
    from leadpipe.cli import extract as page_report
    from leadpipe.web.fetch import FetchError

    try:
        asyncio.run(page_report.run(target, region, as_json, sys.stdout))
    except (page_report.TargetError, FetchError) as error:
        fail(str(error))
