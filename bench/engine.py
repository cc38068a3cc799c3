"""How fast the engine claims and completes items, beside a bare SQL loop doing the same.

    uv run python bench/engine.py [--items 20000] [--batch 100] [--profile DIR]

For each backend (PostgreSQL, SQLite) and each number of worker processes (1, 4), on a fresh
database brought to leadpipe's schema by its migrations and seeded with ``--items`` pending domains:

* engine: ``leadpipe worker --until-idle`` processes running ``bench/noop.py``, one no-op stage
  (its handler returns ``Result(outcome="ok")`` and reads no field, so its claim returns each item's
  id and attempt, as the bare loop's returns ids and tokens) whose batch size and slots are ``--batch``;
* bare: processes running this script's bare loop: raw psycopg 3 or sqlite3, no ORM, one claim
  transaction (a MATERIALIZED CTE with FOR UPDATE SKIP LOCKED on PostgreSQL, BEGIN IMMEDIATE and
  UPDATE … RETURNING on SQLite) then one fenced completion of the whole batch, until nothing is left.

The processes of a run start together: each says it is ready once its imports are done (an engine
worker when it loads ``bench.noop``), and waits for the parent's go. Both sides are then timed
the same way, by the database's own stamps: ``items/s`` is the items over the time from the first
claim (the earliest ``started_at``) to the last completion (the latest ``finished_at``), so starting
and stopping processes is not counted. ``wall s`` is the run as the parent sees it, from the go until
it sees no item pending or running (polling every 20 ms): it adds the engine's own start (schema check,
worker registration). Every run is checked: every item ``done``, each claimed exactly once.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pstats
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("LEADPIPE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ("postgresql", "sqlite")
RATIO_GOAL = 1.5
POSTGRES_GOAL = 2000.0  # items/s, PostgreSQL with 4 workers
LEASE_SECONDS = 60  # the stage's default lease
ENGINE_WORKER = [sys.executable, "-m", "leadpipe", "worker", "--until-idle"]  # the `leadpipe` command
START_DIR = "BENCH_START_DIR"  # where the processes of a run say they are ready and wait for "go"

# -- the bare loop -----------------------------------------------------------------------------------

PG_CLAIM = """
WITH chosen AS MATERIALIZED (
    SELECT id FROM domains
    WHERE status = 'pending' AND run_after <= now()
    ORDER BY priority, run_after, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE domains SET
    status = 'running',
    attempts = domains.attempts + 1,
    lease_owner = %(owner)s,
    lease_token = %(token)s,
    lease_expires_at = now() + make_interval(secs => %(lease)s),
    started_at = now(),
    updated_at = now()
FROM chosen
WHERE domains.id = chosen.id
RETURNING domains.id, domains.lease_token
"""

PG_COMPLETE = """
UPDATE domains SET
    status = 'done',
    outcome = 'ok',
    finished_at = now(),
    updated_at = now(),
    lease_owner = NULL,
    lease_token = NULL,
    lease_expires_at = NULL,
    last_error = NULL
WHERE id = ANY(%(ids)s) AND lease_token = %(token)s AND status = 'running'
"""

SQLITE_CLAIM = """
UPDATE domains SET
    status = 'running',
    attempts = attempts + 1,
    lease_owner = :owner,
    lease_token = :token,
    lease_expires_at = :expires,
    started_at = :now,
    updated_at = :now
WHERE id IN (
    SELECT id FROM domains
    WHERE status = 'pending' AND run_after <= :now
    ORDER BY priority, run_after, id
    LIMIT :limit
)
RETURNING id, lease_token
"""

SQLITE_COMPLETE = """
UPDATE domains SET
    status = 'done',
    outcome = 'ok',
    finished_at = ?,
    updated_at = ?,
    lease_owner = NULL,
    lease_token = NULL,
    lease_expires_at = NULL,
    last_error = NULL
WHERE id IN ({ids}) AND lease_token = ? AND status = 'running'
"""


def _sqlite_stamp(seconds: float = 0.0) -> str:
    """A timestamp as leadpipe stores it in SQLite (SQLAlchemy's format, UTC, no zone)."""
    return datetime.fromtimestamp(time.time() + seconds, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def bare_postgres(url: str, batch: int, owner: str) -> int:
    """Claim and complete batches until none is left; returns how many items held their lease."""
    completed = 0
    with psycopg.connect(url) as connection:
        while True:
            token = str(uuid.uuid4())
            claim = {"limit": batch, "owner": owner, "token": token, "lease": LEASE_SECONDS}
            ids = [row[0] for row in connection.execute(PG_CLAIM, claim).fetchall()]
            connection.commit()
            if not ids:
                return completed
            completed += connection.execute(PG_COMPLETE, {"ids": ids, "token": token}).rowcount
            connection.commit()


def bare_sqlite(path: str, batch: int, owner: str) -> int:
    """The same on SQLite, with leadpipe's connection settings (WAL, BEGIN IMMEDIATE)."""
    completed = 0
    connection = sqlite3.connect(path, timeout=60, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=60000", "foreign_keys=ON"):
        connection.execute(f"PRAGMA {pragma}")
    try:
        while True:
            token = str(uuid.uuid4())
            claim = {
                "limit": batch,
                "owner": owner,
                "token": token,
                "now": _sqlite_stamp(),
                "expires": _sqlite_stamp(LEASE_SECONDS),
            }
            connection.execute("BEGIN IMMEDIATE")
            ids = [row[0] for row in connection.execute(SQLITE_CLAIM, claim).fetchall()]
            connection.execute("COMMIT")
            if not ids:
                return completed
            moment = _sqlite_stamp()
            statement = SQLITE_COMPLETE.format(ids=", ".join("?" * len(ids)))
            connection.execute("BEGIN IMMEDIATE")
            completed += connection.execute(statement, [moment, moment, *ids, token]).rowcount
            connection.execute("COMMIT")
    finally:
        connection.close()


def wait_for_start() -> None:
    """Say this process is ready, then wait for the benchmark's go, so that all start together.

    A bare worker calls it first thing; an engine worker when it imports ``bench.noop``, after
    Python, SQLAlchemy and leadpipe are loaded. Without ``BENCH_START_DIR`` set, it returns at once.
    """
    folder = os.environ.get(START_DIR)
    if not folder:
        return
    Path(folder, f"ready-{os.getpid()}").touch()
    while not Path(folder, "go").exists():
        time.sleep(0.002)


def bare_worker(url: str, batch: int) -> None:
    wait_for_start()
    owner = f"bare-{os.getpid()}"
    if url.startswith("sqlite:///"):
        bare_sqlite(url.removeprefix("sqlite:///"), batch, owner)
    else:
        bare_postgres(url, batch, owner)


# -- databases ---------------------------------------------------------------------------------------


def _pg_url(admin_url: str, name: str) -> str:
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


@contextlib.contextmanager
def fresh_database(backend: str, admin_url: str) -> Iterator[str]:
    """A new, empty database at leadpipe's newest schema, dropped afterwards; yields its URL."""
    from leadpipe.db.connect import Database  # here, so a bare worker need not import SQLAlchemy

    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="leadpipe-bench-") as folder:
            url = f"sqlite:///{folder}/bench.db"
            database = Database(url)
            database.upgrade()
            database.dispose()
            yield url
        return
    name = f"leadpipe_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _pg_url(admin_url, name)
    try:
        database = Database(url)
        database.upgrade()
        database.dispose()
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Probe:
    """A raw connection to the benchmark database: seeds it, watches it, reads the result."""

    def __init__(self, url: str) -> None:
        self._pg: psycopg.Connection[tuple[Any, ...]] | None = None
        self._lite: sqlite3.Connection | None = None
        if url.startswith("sqlite:///"):
            self._lite = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, timeout=60)
        else:
            self._pg = psycopg.connect(url, autocommit=True)

    def close(self) -> None:
        if self._pg is not None:
            self._pg.close()
        if self._lite is not None:
            self._lite.close()

    def _one(self, query: str) -> tuple[Any, ...]:
        if self._lite is not None:
            row: tuple[Any, ...] = self._lite.execute(query).fetchone()
            return row
        assert self._pg is not None
        found = self._pg.execute(query.encode()).fetchone()
        assert found is not None
        return found

    def seed(self, items: int) -> None:
        names = [f"bench-{number}.example" for number in range(items)]
        if self._lite is not None:
            self._lite.execute("BEGIN IMMEDIATE")
            self._lite.executemany("INSERT INTO domains (name) VALUES (?)", [(name,) for name in names])
            self._lite.execute("COMMIT")
            self._lite.execute("ANALYZE")
            return
        assert self._pg is not None
        with self._pg.cursor() as cursor, cursor.copy("COPY domains (name) FROM STDIN") as copy:
            for name in names:
                copy.write_row((name,))
        self._pg.execute("VACUUM ANALYZE domains")

    def busy(self) -> bool:
        """Whether any item is still pending or running (each looked up in its partial index: cheap)."""
        found = self._one(
            "SELECT EXISTS (SELECT 1 FROM domains WHERE status = 'pending')"
            " OR EXISTS (SELECT 1 FROM domains WHERE status = 'running')"
        )
        return bool(found[0])

    def result(self) -> tuple[float, int, int, int]:
        """Seconds from the first claim to the last completion; items, items done, attempts made."""
        first, last, items, done, attempts = self._one(
            "SELECT min(started_at), max(finished_at), count(*),"
            " sum(CASE WHEN status = 'done' THEN 1 ELSE 0 END), coalesce(sum(attempts), 0) FROM domains"
        )
        if first is None or last is None:
            return 0.0, int(items), int(done or 0), int(attempts)
        if isinstance(first, str):  # SQLite keeps timestamps as text
            first, last = datetime.fromisoformat(first), datetime.fromisoformat(last)
        return (last - first).total_seconds(), int(items), int(done or 0), int(attempts)


# -- running one side of one configuration ------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    backend: str
    workers: int
    batch: int
    items: int


@dataclass(frozen=True)
class Measure:
    items: int
    seconds: float  # first claim to last completion, by the database's stamps
    wall: float  # the go to seeing no item pending or running

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else float("inf")


def _environment(url: str, config: Config, concurrency: int, poll: float) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("LEADPIPE_")}
    path = environment.get("PYTHONPATH")
    environment |= {
        "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT),
        "LEADPIPE_DATABASE_URL": url,
        "LEADPIPE_PIPELINE": "bench.noop:PIPELINE",
        "LEADPIPE_POLL_SECONDS": str(poll),
        "LEADPIPE_LOG_LEVEL": "WARNING",
        "BENCH_BATCH": str(config.batch),
        "BENCH_CONCURRENCY": str(concurrency),
    }
    return environment


def run_side(
    side: str,
    config: Config,
    admin_url: str,
    *,
    concurrency: int,
    poll: float,
    logs: Path,
    profile: Path | None,
) -> Measure:
    """Seed a fresh database, run ``config.workers`` processes of ``side`` on it, measure them."""
    with fresh_database(config.backend, admin_url) as url:
        probe = Probe(url)
        try:
            probe.seed(config.items)
            environment = _environment(url, config, concurrency, poll)
            if side == "bare":
                script = str(Path(__file__).resolve())
                command = [sys.executable, script, "--bare-worker", url, "--batch", str(config.batch)]
            else:
                command = ENGINE_WORKER
                if profile is not None:
                    environment["BENCH_PROFILE"] = str(profile / f"{config.backend}-{config.workers}w")
            commands = [command] * config.workers
            wall = _run_processes(commands, environment, probe, logs / f"{side}-{config.backend}")
            seconds, items, done, attempts = probe.result()
        finally:
            probe.close()
    where = f"{side} {config.backend} × {config.workers}"
    if done != items or items != config.items:
        raise SystemExit(f"{where}: {done} of {items} items done")
    if attempts != items:
        raise SystemExit(f"{where}: {attempts} attempts for {items} items: some item was claimed twice")
    return Measure(items, seconds, wall)


def _run_processes(
    commands: Sequence[list[str]], environment: dict[str, str], probe: Probe, logs: Path
) -> float:
    """Start the processes, let them go together once all are ready, and return the seconds from
    then until every item is done; wait for them to exit."""
    outputs = [open(f"{logs}-{number}.log", "w") for number in range(len(commands))]  # noqa: SIM115
    starting = Path(tempfile.mkdtemp(prefix="start-", dir=logs.parent))
    environment = environment | {START_DIR: str(starting)}
    processes = [
        subprocess.Popen(command, env=environment, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
        for command, output in zip(commands, outputs, strict=True)
    ]
    try:
        while len(list(starting.glob("ready-*"))) < len(processes):
            if any(process.poll() is not None for process in processes):
                break  # one died starting: the check below says how
            time.sleep(0.005)
        (starting / "go").touch()
        start = time.perf_counter()
        wall = 0.0
        while probe.busy():
            if all(process.poll() is not None for process in processes):
                break  # they stopped short: the check after the run says how
            time.sleep(0.02)
        else:
            wall = time.perf_counter() - start
        for process in processes:
            process.wait(timeout=120)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        for output in outputs:
            output.close()
    failed = [number for number, process in enumerate(processes) if process.returncode != 0]
    if failed:
        text = Path(f"{logs}-{failed[0]}.log").read_text()[-3000:]
        raise SystemExit(f"worker process {failed[0]} exited with {processes[failed[0]].returncode}:\n{text}")
    return wall


# -- the report --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    config: Config
    engine: Measure
    bare: Measure

    @property
    def ratio(self) -> float:
        return self.bare.rate / self.engine.rate


def _median(measures: list[Measure]) -> Measure:
    """The run of median rate (the upper one of an even number)."""
    ordered = sorted(measures, key=lambda measure: measure.rate)
    return ordered[len(ordered) // 2]


def _mark(met: bool) -> str:
    return "met" if met else "NOT MET"


def report(rows: list[Row], args: argparse.Namespace) -> None:
    headings = (
        "backend",
        "workers",
        "batch",
        "engine items/s",
        "bare items/s",
        "ratio (bare/engine)",
        f"≤ {RATIO_GOAL:g}×",
        "engine wall s",
        "bare wall s",
    )
    lines = [
        (
            row.config.backend,
            str(row.config.workers),
            str(row.config.batch),
            f"{row.engine.rate:,.0f}",
            f"{row.bare.rate:,.0f}",
            f"{row.ratio:.2f}",
            _mark(row.ratio <= RATIO_GOAL),
            f"{row.engine.wall:.2f}",
            f"{row.bare.wall:.2f}",
        )
        for row in rows
    ]
    widths = [max(len(cell) for cell in column) for column in zip(headings, *lines, strict=True)]
    print()
    print(
        f"{args.items:,} items per run; concurrency {args.concurrency or args.batch} per worker; "
        f"median of {args.repeat} run(s); items/s = items / (last finished_at − first started_at)"
    )
    for cells in (headings, tuple("-" * width for width in widths), *lines):
        print("  ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True)))
    print()
    print("Goals")
    within = all(row.ratio <= RATIO_GOAL for row in rows)
    print(f"  the engine within {RATIO_GOAL:g}× of the bare loop, every configuration: {_mark(within)}")
    for row in rows:
        if row.ratio > RATIO_GOAL:
            print(f"    {row.config.backend} × {row.config.workers}: bare/engine {row.ratio:.2f}")
    postgres4 = [row for row in rows if row.config.backend == "postgresql" and row.config.workers == 4]
    if postgres4:
        rate = postgres4[0].engine.rate
        verdict = f"{_mark(rate >= POSTGRES_GOAL)} ({rate:,.0f} items/s)"
    else:
        verdict = "not measured (run postgresql with 4 workers)"
    print(f"  at least {POSTGRES_GOAL:,.0f} items/s on PostgreSQL with 4 workers: {verdict}")
    if args.profile:
        print("  (figures measured under cProfile: slower than without it)")


def print_profiles(folder: Path, limit: int = 25) -> None:
    """The hottest functions of each profiled engine run, all its worker processes together."""
    runs: dict[str, list[Path]] = {}
    for path in sorted(folder.glob("*.prof")):
        runs.setdefault(path.stem.rpartition("-")[0], []).append(path)
    for run, paths in runs.items():
        stats = pstats.Stats(*(str(path) for path in paths), stream=sys.stdout)
        print(f"\n== profile: engine {run}, {len(paths)} process(es), event loop and database threads ==")
        stats.sort_stats("tottime").print_stats(limit)
        print(f"== profile: engine {run}, leadpipe's functions by cumulative time ==")
        stats.sort_stats("cumulative").print_stats("leadpipe/engine", limit)


# -- main --------------------------------------------------------------------------------------------


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--items", type=int, default=20_000, help="items per run (default 20000)")
    parser.add_argument("--batch", type=int, default=100, help="items per claim (default 100)")
    parser.add_argument(
        "--concurrency", type=int, default=None, help="engine slots per worker (default: --batch)"
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4], help="process counts (default 1 4)")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--repeat", type=int, default=1, help="runs per side; the median is shown")
    parser.add_argument("--poll", type=float, default=0.05, help="the engine's LEADPIPE_POLL_SECONDS")
    parser.add_argument(
        "--postgres", default=ADMIN_URL, help="a PostgreSQL server's URL, to create databases"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="profile the engine's workers (cProfile, every thread) into DIR; print the hottest functions",
    )
    parser.add_argument("--bare-worker", metavar="URL", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    if args.bare_worker:
        bare_worker(args.bare_worker, args.batch)
        return
    concurrency = args.concurrency or args.batch
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="leadpipe-bench-logs-") as folder:
        logs = Path(folder)
        for backend in args.backends:
            for workers in args.workers:
                config = Config(backend, workers, args.batch, args.items)
                sides: dict[str, list[Measure]] = {"engine": [], "bare": []}
                for _ in range(args.repeat):
                    for side, measures in sides.items():
                        profile = args.profile if side == "engine" else None
                        measure = run_side(
                            side,
                            config,
                            args.postgres,
                            concurrency=concurrency,
                            poll=args.poll,
                            logs=logs,
                            profile=profile,
                        )
                        measures.append(measure)
                        print(
                            f"{backend:>10} × {workers} {side:>6}: {measure.rate:8,.0f} items/s "
                            f"({measure.seconds:.2f}s claiming, {measure.wall:.2f}s wall)",
                            flush=True,
                        )
                rows.append(Row(config, _median(sides["engine"]), _median(sides["bare"])))
    report(rows, args)
    if args.profile:
        print_profiles(args.profile)


if __name__ == "__main__":
    main()
