"""The whole pipeline over 1,000 sample sites: how long ``leadpipe run`` takes, and where the time goes.

    uv run python bench/pipeline.py [--sites 1000] [--backends sqlite postgresql] [--no-profile] [--keep DIR]

(The breakdown needs py-spy, which is not one of the project's dependencies: ``uv pip install py-spy``.)

The web: ``sample_sites(N)`` served by :class:`leadpipe.demo.web.Web`, a threaded HTTP server in this
process that is every site's host and also the proxy leadpipe is pointed at (``LEADPIPE_PROXY``), as
in tests/test_run.py. This process does nothing else while a run goes on (it waits, and twice a second
reads /proc and asks PostgreSQL which backends serve the run), so the server's threads have its GIL
to themselves. Whether the web keeps up is shown, not assumed: its CPU time per request, the kernel's
count of listen-queue overflows (SYNs dropped because the server did not accept fast enough, each
costing the client a retransmission a second later), and what leadpipe's event loop did with the wall
time. A loop that is on a CPU, or ready and waiting for one, nearly all the time is not waiting for
the web.

For each database (a fresh SQLite file; a fresh PostgreSQL database, made and dropped as in
bench/engine.py), the command a user would type: ``leadpipe run domains.txt -o contacts.csv``, in a
subprocess of its own, with ``LEADPIPE_EMAIL_DNS_CHECKS=false`` (no network here) and every other
setting at its default. Each database gets two runs, each on a fresh database:

1. The timed run, nothing attached. ``wall`` is from spawning the process to its exit: interpreter
   start, imports, intake, every stage, the export. ``sites/s`` is sites over that; ``pages/s`` is
   the pages scraped (page rows ``done``) over that; ``contacts`` are the export's rows; ``recall`` is
   the share of every site's known emails, phones and social profiles found in the export, as
   tests/test_run.py computes it (precision beside it). While it runs, each of its threads' times
   are read from /proc/PID/task/TID/schedstat: seconds on a CPU, and seconds ready to run but waiting
   for a core. The main thread is the event loop; the rest of its wall time it was blocked, waiting
   for I/O (epoll) or for the GIL.

2. The profiled run: the same command under ``py-spy record --format raw --threads --function`` (100
   samples a second, every thread). Each sample goes to one bucket, decided by the innermost frame
   (the one nearest the top of the stack) that is leadpipe's or one of these libraries':

   * fetch: ``leadpipe.web.fetch``, httpx, httpcore, and anyio (httpx's network layer under asyncio)
   * parse (sitemap parsing): ``leadpipe.extract.sitemap``
   * extract (contact extraction): ``leadpipe.extract.contacts``, selectolax, phonenumbers
   * database: SQLAlchemy, psycopg, sqlite3, and ``leadpipe.db`` (connecting, SQLite's BEGIN)
   * engine: ``leadpipe.engine`` (claiming, scheduling, committing, health)
   * other: any other leadpipe module (the stages' own code, page links, the CLI); module imports
     at start-up; asyncio's event loop itself (I/O callbacks with no leadpipe frame above them).

   Frames of other code (the standard library, lxml's Python parts …) count for the deciding frame
   beneath them: ``asyncio.create_task`` called by the engine is the engine's, ``importlib`` called by
   httpcore is fetch's. So a bucket holds the time spent in its modules and in what they call, less
   what they call of the other buckets or of leadpipe: the SQL the engine runs is database, not
   engine; a stage's handler, called by the engine's worker, is not the engine's. Each bucket's
   hottest functions, and for fetch and database the leadpipe code that called them, are named.

   py-spy counts a thread whenever the OS says it is running or ready to run, so on a busy machine a
   thread that has just woken up and waits for a core counts too. Its samples are therefore weighed
   per thread: each thread's samples share out that thread's real CPU time, read from /proc as in the
   timed run (samples whose innermost frame is an idle thread pool's ``_worker`` loop are dropped
   first). So the buckets add up to the process's CPU time, and the goal "the engine and the
   database together under a fifth of the time" is judged on their share of it. The same buckets
   are shown for the event loop's thread alone, in seconds and as a share of the wall: the loop is
   the one thread every item waits for; the database work runs beside it on the worker's database
   thread, but for SQLite's quick transactions, which run on the loop's thread. py-spy pauses the
   process for each sample, so the profiled run is somewhat slower; its wall time is printed.

The CPU time the PostgreSQL backends serving a run used is shown, and so is the CPU time every other
process on the machine used meanwhile: it takes from the same two cores, and the figures move with it.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from sqlalchemy import func, select

from leadpipe.db.connect import Database
from leadpipe.db.models import pages
from leadpipe.demo.sites import SampleSite, known_contacts, sample_sites, serve
from leadpipe.demo.web import Web

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("LEADPIPE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
WALL_GOAL = 120.0  # seconds for 1,000 sites
SHARE_GOAL = 0.2  # the engine and the database together, of the time
SAMPLE_RATE = 100  # py-spy samples per second
POLL_SECONDS = 0.5
PROFILE_ATTEMPTS = 2  # py-spy now and then gives up on a process at its start
KNOWN_KINDS = ("email", "phone", "social")  # what the sample sites' truth holds
TICK = os.sysconf("SC_CLK_TCK")

BUCKETS = ("fetch", "parse", "extract", "database", "engine", "other")
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("fetch", ("/leadpipe/web/fetch.py", "/httpx/", "/httpcore/", "/anyio/")),
    ("parse", ("/leadpipe/extract/sitemap.py",)),
    ("extract", ("/leadpipe/extract/contacts/", "/selectolax/", "/phonenumbers/")),
    ("database", ("/sqlalchemy/", "/psycopg/", "/sqlite3/", "/leadpipe/db/")),
    ("engine", ("/leadpipe/engine/",)),
)
IDLE_POOL = "_worker (" + str(Path(contextlib.__file__).parent / "concurrent" / "futures" / "thread.py")
THREAD = re.compile(r"^thread \((?P<tid>\d+)\)(?:: (?P<name>.*))?$")
FRAME = re.compile(r"^(?P<function>.*) \((?P<path>.*?)(?::\d+)?\)$")
STANDARD_LIBRARY = re.compile(r"/lib/python3\.\d+/(.*)\.py$")

Tally = defaultdict[str, float]


# -- the machine -------------------------------------------------------------------------------------


def _machine_busy_seconds() -> float:
    """CPU seconds all the machine's cores have spent busy since boot (/proc/stat)."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / TICK  # all but idle and iowait


def _listen_overflows() -> int:
    """The kernel's count of listen-queue overflows (TcpExt ListenOverflows), machine-wide."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            return int(dict(zip(names.split(), values.split(), strict=True))["ListenOverflows"])
    return 0


def _stat(path: Path) -> list[str] | None:
    """The fields of a /proc stat file after the command name (state first), or None if it is gone."""
    try:
        return path.read_text().rpartition(")")[2].split()
    except OSError:
        return None


def _cpu_seconds(path: Path) -> float | None:
    fields = _stat(path)
    return (int(fields[11]) + int(fields[12])) / TICK if fields else None


def _schedstat(task: Path) -> tuple[float, float] | None:
    """A thread's seconds on a CPU, and its seconds ready to run but waiting for one (schedstat)."""
    try:
        running, waiting, _ = Path(task, "schedstat").read_text().split()
    except (OSError, ValueError):
        return None
    return int(running) / 1e9, int(waiting) / 1e9


def _child_of(parent: int) -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(entry / "stat")
            if fields and int(fields[1]) == parent:
                return int(entry.name)
    return None


class Watch:
    """Polled while a run goes on: the CPU time of each thread of the leadpipe process, and of each
    PostgreSQL backend serving the run's database."""

    def __init__(self, url: str, *, under_py_spy: bool) -> None:
        self.root: int | None = None  # the process started: leadpipe, or py-spy running leadpipe
        self._under_py_spy = under_py_spy
        self.pid: int | None = None  # leadpipe's
        self.threads: dict[int, float] = {}  # thread id → seconds on a CPU
        self.queued: dict[int, float] = {}  # thread id → seconds ready to run but waiting for a core
        self._backends: dict[int, float] = {}
        self._postgres = None if url.startswith("sqlite") else psycopg.connect(url, autocommit=True)

    def poll(self) -> None:
        if self.pid is None and self.root is not None:
            self.pid = _child_of(self.root) if self._under_py_spy else self.root
        if self.pid is not None:
            with contextlib.suppress(OSError):  # it has just exited
                for task in Path(f"/proc/{self.pid}/task").iterdir():
                    times = _schedstat(task)
                    if times is not None:
                        self.threads[int(task.name)], self.queued[int(task.name)] = times
        if self._postgres is not None and not self._postgres.closed:
            try:
                rows = self._postgres.execute(
                    "SELECT pid FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).fetchall()
            except psycopg.Error:  # the server restarted under us: the figure stays a lower bound
                self._postgres.close()
                return
            for (pid,) in rows:
                seconds = _cpu_seconds(Path(f"/proc/{pid}/stat"))
                if seconds is not None:
                    self._backends[pid] = seconds

    @property
    def postgres_seconds(self) -> float | None:
        return sum(self._backends.values()) if self._postgres is not None else None

    def close(self) -> None:
        if self._postgres is not None:
            self._postgres.close()


# -- one run -----------------------------------------------------------------------------------------


@dataclass
class Run:
    """What one ``leadpipe run`` did, and what it cost."""

    wall: float
    exit_code: int
    pages_scraped: int
    contacts: Counter[str]
    recall: float
    precision: float
    requests: int
    web_cpu: float
    leadpipe_pid: int | None
    threads: dict[int, float]  # thread id → CPU seconds, the main thread's id being the process's
    queued: dict[int, float]  # thread id → seconds ready to run but waiting for a core
    postgres_cpu: float | None
    others_cpu: float
    listen_overflows: int
    log: str

    @property
    def leadpipe_cpu(self) -> float:
        return sum(self.threads.values())

    @property
    def loop_cpu(self) -> float:
        return self.threads.get(self.leadpipe_pid or -1, 0.0)

    @property
    def loop_queued(self) -> float:
        return self.queued.get(self.leadpipe_pid or -1, 0.0)


@contextlib.contextmanager
def fresh_database(backend: str, admin_url: str) -> Iterator[str]:
    """bench/engine.py's fresh database (a SQLite file or a PostgreSQL database, newest schema)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # run as a script: make `bench` importable
    from bench.engine import fresh_database as engine_fresh_database

    with engine_fresh_database(backend, admin_url) as url:
        yield url


def exported(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as file:
        return list(csv.DictReader(file))


def pages_scraped(url: str) -> int:
    database = Database(url)
    try:
        with database.engine.connect() as connection:
            return int(connection.execute(select(func.count()).where(pages.c.status == "done")).scalar_one())
    finally:
        database.dispose()


def environment(url: str, web: Web) -> dict[str, str]:
    """This process's environment without any LEADPIPE_ setting, then the run's own."""
    kept = {key: value for key, value in os.environ.items() if not key.startswith("LEADPIPE_")}
    return kept | {
        "LEADPIPE_DATABASE_URL": url,
        "LEADPIPE_PROXY": web.url,
        "LEADPIPE_EMAIL_DNS_CHECKS": "false",
    }


def py_spy() -> str | None:
    """py-spy, from this environment (``uv pip install py-spy``) or else from the PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def command_for(domains: Path, output: Path, spy: Path | None) -> list[str]:
    """``leadpipe run`` as a user types it; under ``py-spy record`` when its output ``spy`` is named."""
    command = [sys.executable, "-m", "leadpipe", "run", str(domains), "--output", str(output)]
    if spy is None:
        return command
    record = ["record", "--format", "raw", "--threads", "--function", "--full-filenames"]
    options = ["--rate", str(SAMPLE_RATE), "--output", str(spy)]
    return [py_spy() or "py-spy", *record, *options, "--", *command]


def wait_for(process: subprocess.Popen[bytes], watch: Watch, log: Path, deadline: float) -> None:
    """Poll ``watch`` until the process ends; past the deadline, kill it (and leadpipe under py-spy)."""
    try:
        while process.poll() is None:
            if time.perf_counter() > deadline:
                tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
                raise SystemExit(f"leadpipe run passed its time limit and was stopped. Its output:\n{tail}")
            watch.poll()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=POLL_SECONDS)
    finally:
        if process.poll() is None:
            if watch.pid is not None and watch.pid != process.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(watch.pid, signal.SIGKILL)  # leadpipe, under py-spy
            process.kill()
            process.wait(timeout=30)


def run_once(
    url: str, web: Web, sites: Sequence[SampleSite], folder: Path, timeout: float, spy: Path | None
) -> Run:
    """``leadpipe run`` over the sites, on the database at ``url``; under py-spy, writing ``spy``."""
    domains = folder / "domains.txt"
    domains.write_text("".join(f"{site.domain}\n" for site in sites), encoding="utf-8")
    output = folder / "contacts.csv"
    output.unlink(missing_ok=True)
    log = folder / ("profiled.log" if spy else "timed.log")
    requests, overflows = len(web.log), _listen_overflows()
    web_before, busy_before = resource.getrusage(resource.RUSAGE_SELF), _machine_busy_seconds()
    watch = Watch(url, under_py_spy=spy is not None)
    started = time.perf_counter()
    try:
        with log.open("w", encoding="utf-8") as out:
            process = subprocess.Popen(
                command_for(domains, output, spy),
                env=environment(url, web),
                cwd=folder,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            watch.root = process.pid
            wait_for(process, watch, log, started + timeout)
    finally:
        watch.close()
    wall = time.perf_counter() - started
    web_after = resource.getrusage(resource.RUSAGE_SELF)
    web_cpu = web_after.ru_utime + web_after.ru_stime - web_before.ru_utime - web_before.ru_stime
    busy = _machine_busy_seconds() - busy_before
    rows = exported(output)
    # A phone's value without the quote that keeps it text in a spreadsheet (see the README's export).
    found = {
        (row["domain"], row["kind"], row["value"].removeprefix("'"))
        for row in rows
        if row["kind"] in KNOWN_KINDS
    }
    expected = known_contacts(sites)
    ours = web_cpu + sum(watch.threads.values()) + (watch.postgres_seconds or 0.0)
    return Run(
        wall=wall,
        exit_code=process.returncode,
        pages_scraped=pages_scraped(url),
        contacts=Counter(row["kind"] for row in rows),
        recall=len(found & expected) / len(expected),
        precision=len(found & expected) / len(found) if found else 0.0,
        requests=len(web.log) - requests,
        web_cpu=web_cpu,
        leadpipe_pid=watch.pid,
        threads=watch.threads,
        queued=watch.queued,
        postgres_cpu=watch.postgres_seconds,
        others_cpu=max(0.0, busy - ours),  # py-spy's own time, when profiled, is in here
        listen_overflows=_listen_overflows() - overflows,
        log=log.read_text(encoding="utf-8", errors="replace"),
    )


# -- the profile -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Charge:
    """Where one sample goes: its bucket, the function it is charged to, and the leadpipe code that
    called it (the innermost leadpipe frame outside the bucket's modules), if any."""

    bucket: str
    function: str
    caller: str | None


@dataclass
class Profile:
    """A profiled run's CPU seconds, by bucket, by function and by calling code."""

    seconds: Tally = field(default_factory=lambda: defaultdict(float))
    functions: dict[str, Tally] = field(default_factory=lambda: defaultdict(lambda: defaultdict(float)))
    callers: dict[str, Tally] = field(default_factory=lambda: defaultdict(lambda: defaultdict(float)))
    on_loop: Tally = field(default_factory=lambda: defaultdict(float))  # the main thread's, by bucket
    threads: Tally = field(default_factory=lambda: defaultdict(float))  # CPU seconds by thread name
    sampled: float = 0.0  # seconds py-spy saw the threads running or ready to run

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    def share(self, *buckets: str) -> float:
        return sum(self.seconds[bucket] for bucket in buckets) / self.total if self.total else 0.0


def _module(path: str) -> str:
    """A frame's module, shortly: ``leadpipe.stages.discover``, ``asyncio.base_events``, ``httpx``."""
    for marker in ("/site-packages/", "/src/"):
        if marker in path:
            dotted = path.split(marker, 1)[1].removesuffix(".py").replace("/", ".")
            return dotted if dotted.startswith("leadpipe.") else dotted.split(".")[0]
    standard = STANDARD_LIBRARY.search(path)
    return standard[1].replace("/", ".") if standard else path.removeprefix("<frozen ").removesuffix(">")


def _bucket(path: str) -> str | None:
    return next((bucket for bucket, markers in RULES if any(marker in path for marker in markers)), None)


def classify(frames: Sequence[str]) -> Charge:
    """Charge one sample (its frames, outermost first) to the innermost deciding frame's bucket."""
    parsed = [(match["function"], match["path"]) for match in map(FRAME.match, frames) if match]
    if not parsed:
        return Charge("other", "no Python frame (interpreter start and exit)", None)
    if sum(function == "<module>" for function, _ in parsed) > 1:  # the first is leadpipe/__main__.py
        return Charge("other", "importing modules (start-up)", None)
    for function, path in reversed(parsed):
        bucket = _bucket(path) or ("other" if "/leadpipe/" in path else None)
        if bucket is not None:
            callers = (
                f"{_module(where)}:{name}"
                for name, where in reversed(parsed)
                if "/leadpipe/" in where and _bucket(where) != bucket
            )
            return Charge(bucket, f"{_module(path)}:{function}", next(callers, None))
        if function == "BaseEventLoop._run_once":
            return Charge("other", "asyncio's event loop itself", None)
    return Charge("other", f"{_module(parsed[-1][1])} (no leadpipe frame)", None)


def attribute(raw: Path, run: Run) -> Profile:
    """Read py-spy's raw output (``thread (tid): name;frame;…;frame count`` a line) into buckets,
    each thread's samples weighed so that together they make its CPU time (see the docstring)."""
    samples: dict[int, Counter[Charge]] = defaultdict(Counter)
    names: dict[int, str] = {}
    with raw.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            thread, *frames = stack.split(";")
            match = THREAD.match(thread)
            if match is None or not count.isdigit() or (frames and frames[-1].startswith(IDLE_POOL)):
                continue
            samples[int(match["tid"])][classify(frames)] += int(count)
            names[int(match["tid"])] = re.sub(r"_\d+$", "_*", match["name"] or "unnamed")  # pool threads
    profile = Profile()
    for tid, charges in samples.items():
        sampled = charges.total() / SAMPLE_RATE
        profile.sampled += sampled
        weight = run.threads.get(tid, sampled) / sampled  # a thread /proc never saw: as sampled
        profile.threads[names[tid]] += sampled * weight
        for charge, hits in charges.items():
            seconds = hits / SAMPLE_RATE * weight
            profile.seconds[charge.bucket] += seconds
            profile.functions[charge.bucket][charge.function] += seconds
            profile.callers[charge.bucket][charge.caller or "no leadpipe caller"] += seconds
            if tid == run.leadpipe_pid:
                profile.on_loop[charge.bucket] += seconds
    return profile


def profiled_run(
    backend: str, admin_url: str, web: Web, sites: Sequence[SampleSite], folder: Path, timeout: float
) -> tuple[Run, Profile]:
    raw = folder / "profile.txt"
    with fresh_database(backend, admin_url) as url:
        run = run_once(url, web, sites, folder, timeout, raw)
    return run, attribute(raw, run)


# -- the report --------------------------------------------------------------------------------------


def _mark(met: bool) -> str:
    return "met" if met else "NOT MET"


def _top(tally: Tally, total: float, count: int = 4) -> str:
    ranked = sorted(tally.items(), key=lambda item: -item[1])[:count]
    return ", ".join(f"{name} {seconds / total:.1%}" for name, seconds in ranked) or "-"


def report_run(backend: str, sites: int, run: Run, profile: tuple[Run, Profile] | None) -> None:
    kinds = ", ".join(f"{count} {kind}" for kind, count in run.contacts.most_common()) or "none"
    postgres = f", PostgreSQL backends {run.postgres_cpu:.1f}" if run.postgres_cpu is not None else ""
    print(f"\n== {backend}: leadpipe run over {sites:,} sites (exit status {run.exit_code}) ==")
    print(
        f"  wall {run.wall:.1f} s   {sites / run.wall:.1f} sites/s   {run.pages_scraped / run.wall:.1f} pages/s"
    )
    print(f"  pages scraped: {run.pages_scraped:,}   contacts: {sum(run.contacts.values()):,} ({kinds})")
    print(
        f"  recall {run.recall:.1%} of the sites' known emails, phones and profiles (precision {run.precision:.1%})"
    )
    print(
        f"  web: {run.requests:,} requests, {run.web_cpu:.1f} CPU-s ({run.web_cpu / max(run.requests, 1) * 1e6:.0f} µs each),"
        f" listen-queue overflows: {run.listen_overflows}"
    )
    print(
        f"  CPU-s: leadpipe {run.leadpipe_cpu:.1f}{postgres}, web {run.web_cpu:.1f};"
        f" other processes on the machine {run.others_cpu:.1f} (of {2 * run.wall:.0f} on 2 cores)"
    )
    blocked = max(0.0, run.wall - run.loop_cpu - run.loop_queued)
    print(
        f"  leadpipe's event loop (main thread): on a CPU {run.loop_cpu:.1f} s ({run.loop_cpu / run.wall:.0%} of the wall),"
        f" ready but waiting for a core {run.loop_queued:.1f} s ({run.loop_queued / run.wall:.0%}),"
        f" blocked {blocked:.1f} s ({blocked / run.wall:.0%}: waiting for I/O, or for the GIL)"
    )
    if profile is None:
        return
    spied, found = profile
    loop = sum(found.on_loop.values())
    threads = ", ".join(
        f"{name} {seconds:.1f}" for name, seconds in sorted(found.threads.items(), key=lambda item: -item[1])
    )
    print(
        f"  where the time goes (py-spy; the profiled run: wall {spied.wall:.1f} s, {found.sampled:.1f} s sampled"
        f" running or ready, weighed to {found.total:.1f} CPU-s: {threads}):"
    )
    print(
        f"    {'bucket':<9} {'CPU-s':>6} {'share':>6}   {'on the event loop: s':>20} {'of its CPU':>10} {'of the wall':>11}"
    )
    for bucket in BUCKETS:
        on_loop = found.on_loop[bucket]
        print(
            f"    {bucket:<9} {found.seconds[bucket]:6.1f} {found.share(bucket):6.1%}   {on_loop:20.1f}"
            f" {on_loop / loop if loop else 0:10.1%} {on_loop / spied.wall:11.1%}"
        )
    print(f"    {'all':<9} {found.total:6.1f} {1:6.1%}   {loop:20.1f} {1:10.1%} {loop / spied.wall:11.1%}")
    print("  hottest, as shares of all of leadpipe's CPU time:")
    for bucket in BUCKETS:
        print(f"    {bucket}: {_top(found.functions[bucket], found.total)}")
    for bucket in ("fetch", "database"):
        print(f"    {bucket}, by the leadpipe code calling it: {_top(found.callers[bucket], found.total)}")


def goals(backend: str, sites: int, run: Run, profile: tuple[Run, Profile] | None) -> list[str]:
    wall = run.wall * 1000 / sites
    scaled = "" if sites == 1000 else f", scaled from {sites:,} sites"
    lines = [
        f"  {backend}: 1,000 sites in under {WALL_GOAL:g} s: {_mark(wall < WALL_GOAL)} ({wall:.1f} s{scaled})"
    ]
    if profile is None:
        lines.append(
            f"  {backend}: engine and database under a fifth of the time: not measured (--no-profile)"
        )
        return lines
    found = profile[1]
    share = found.share("engine", "database")
    lines.append(
        f"  {backend}: engine and database together under a fifth of the time: {_mark(share < SHARE_GOAL)}"
        f" ({share:.1%}: engine {found.share('engine'):.1%}, database {found.share('database'):.1%})"
    )
    return lines


# -- main --------------------------------------------------------------------------------------------


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--sites", type=int, default=1000, help="sample sites (default 1000)")
    parser.add_argument(
        "--backends", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"]
    )
    parser.add_argument("--no-profile", action="store_true", help="the timed runs only")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds one run may take (default 900)")
    parser.add_argument(
        "--postgres", default=ADMIN_URL, help="a PostgreSQL server's URL, to create databases"
    )
    parser.add_argument("--keep", type=Path, help="copy each run's log and py-spy's raw profile into DIR")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    if not args.no_profile and py_spy() is None:
        raise SystemExit("the breakdown needs py-spy: `uv pip install py-spy` (or pass --no-profile)")
    sites = sample_sites(args.sites)
    web = Web().start()
    serve(web, sites)
    print(f"{args.sites:,} sample sites on {web.url}: the web and its proxy, threads of this process")
    verdicts: list[str] = []
    try:
        for backend in args.backends:
            with tempfile.TemporaryDirectory(prefix="leadpipe-bench-") as scratch:
                folder = Path(scratch)
                with fresh_database(backend, args.postgres) as url:
                    timed = run_once(url, web, sites, folder, args.timeout, None)
                if timed.exit_code != 0:
                    print(f"\n{backend}: the timed run exited with {timed.exit_code}:\n{timed.log[-3000:]}")
                profile = None
                for _ in range(0 if args.no_profile else PROFILE_ATTEMPTS):
                    run, found = profiled_run(backend, args.postgres, web, sites, folder, args.timeout)
                    if run.exit_code == 0 and run.pages_scraped:
                        profile = run, found
                        break
                    print(f"\n{backend}: the profiled run exited with {run.exit_code}:\n{run.log[-2000:]}")
                if args.keep:
                    args.keep.mkdir(parents=True, exist_ok=True)
                    for kept in (*folder.glob("*.log"), *folder.glob("profile.txt")):
                        shutil.copy(kept, args.keep / f"{backend}-{kept.name}")
            report_run(backend, args.sites, timed, profile)
            verdicts += goals(backend, args.sites, timed, profile)
    finally:
        web.stop()
    print("\nGoals")
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()
