"""``leadpipe run`` against a web whose every answer takes 150 ms: how well the waiting is overlapped.

    uv run python bench/latency.py [--sites 400] [--delay 0.15] [--before DIR]

On loopback an answer comes back in microseconds; on the real web it takes 100-500 ms, and a run's
time is set by how many requests it keeps in flight. The web here is the demo's sample sites
(``leadpipe.demo.sites``), grown to a few hundred of every shape, a fifth of them with a blog of
extra pages in their sitemap (so the scrape's page budget and early stop matter), served by
:class:`leadpipe.demo.web.Web` with ``delay`` before every answer (a refused https attempt and a 404
included), a few hosts three times slower, and one host that never answers at all.

The command is the one a user types, ``leadpipe run domains.txt -o contacts.csv`` on a fresh SQLite
file, every setting at its default but the proxy (the web) and e-mail DNS checks (no network here),
after one ``leadpipe --help`` that leaves Python's bytecode cache warm, as on a user's machine.

It prints:

* requests made, per site, and by kind: robots.txt, probes of well-known sitemap paths (and of those,
  the ones made although robots.txt had named sitemaps), the sitemap files, pages, and https attempts
  that the site refused (each then tried over http);
* the wall time, the bound (requests x delay / ``LEADPIPE_HTTP_CONCURRENCY``, the least time those
  requests need with every slot busy) and their ratio. The never-answering host holds the run until
  its read timeout, a setting, whatever the crawler does, so the ratio is taken at the moment the
  last answering site's last request was answered, and the run's own end is printed beside it;
* requests in flight: the peak, and the mean and peak of each second as a strip, and the most any
  one host saw at once (at most ``LEADPIPE_HTTP_PER_HOST``, or politeness is broken). The web counts
  a request until its handler thread has finished with it, a moment after the client has its answer
  and may have sent its next one, so the peak of all hosts can read one over the limit;
* the start-up: when the first request reached the web (Python's imports, the database, the intake),
  and the ratio of the rest of the run alone;
* the web's floor: how long a bare client (aiohttp, as leadpipe's), doing nothing between requests,
  takes for as many requests through the same kind of web, as many at a time, as many in a row to
  each host as the run made per site; the web is Python threads on this machine's two cores, so
  part of every ratio is its own;
* recall: the share of the sites' known emails, phones and social profiles in the export.

``--before DIR`` runs a second checkout's leadpipe (its own ``.venv``) first, on a fresh web and
database of its own, so two versions are measured side by side in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from leadpipe.config import Settings
from leadpipe.demo.sites import SampleSite, known_contacts, sample_sites, serve
from leadpipe.demo.web import Web
from leadpipe.web.sitemaps import KNOWN_PATHS

KNOWN_KINDS = ("email", "phone", "social")
SILENT_HOST = "never-answers.com"
SITEMAP_NAMES = ("sitemap", ".xml")  # the sample sites' sitemap files, by their paths
SHAPES_NAMING_SITEMAPS = ("index", "json_ld", "gzip_unlabelled")  # their robots.txt names a real one
BLOG_POSTS = 30
SLOW_FACTOR = 3
SAMPLE_SECONDS = 0.05
GOAL = 1.3


@dataclass
class Outcome:
    label: str
    wall: float
    work_done: float  # when the last answering site's last request was answered
    first_request: float  # when the web saw the first request: the command's start-up before it
    exit_code: int
    requests: Counter[str]
    wasted_probes: int
    cpu: dict[str, float]  # seconds on a CPU over the run, by process
    in_flight: list[int] = field(default_factory=list)  # sampled every SAMPLE_SECONDS
    peak: int = 0
    host_peak: int = 0
    recall: float = 0.0
    precision: float = 0.0
    log: str = ""


def build_web(sites: list[SampleSite], delay: float) -> Web:
    slow = {site.domain: delay * SLOW_FACTOR for site in sites[5::100]}
    web = Web(delay=delay, host_delays=slow)
    serve(web, sites)
    for site in sites[3::5]:
        if site.shape == "sitemap":  # a blog: pages beyond the budget and the early stop
            _add_blog(web, site)
    web.add(SILENT_HOST, "/robots.txt", hang=True)
    web.add(SILENT_HOST, "/", hang=True)
    return web


def _add_blog(web: Web, site: SampleSite) -> None:
    base = f"http://{site.domain}"
    posts = [f"/blog/post-{number}" for number in range(BLOG_POSTS)]
    paths = ["/", site.contact_path, "/about", *posts]
    for path in posts:
        web.add(site.domain, path, f"<html><body><h1>{path}</h1><p>News.</p></body></html>".encode())
    urlset = "".join(f"<url><loc>{base}{path}</loc></url>" for path in paths)
    web.add_xml(
        site.domain,
        "/sitemap.xml",
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urlset}</urlset>',
    )


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def _named_in_robots(web: Web) -> dict[str, set[str]]:
    """Per host, the paths its robots.txt names as sitemaps."""
    named: dict[str, set[str]] = {}
    for host, routes in web.routes.items():
        robots = routes.get("/robots.txt")
        if robots is not None and isinstance(robots.body, bytes):
            for line in robots.body.decode().splitlines():
                if line.lower().startswith("sitemap:"):
                    named.setdefault(host, set()).add(urlsplit(line.split(":", 1)[1].strip()).path)
    return named


def kind_of(path: str) -> str:
    if path == "/robots.txt":
        return "robots.txt"
    if path in KNOWN_PATHS:
        return "probes"
    if any(name in path for name in SITEMAP_NAMES):
        return "sitemaps"
    return "pages"


def run(label: str, python: str, sites: list[SampleSite], delay: float, folder: Path) -> Outcome:
    web = build_web(sites, delay).start()
    try:
        return _run(label, python, web, sites, folder)
    finally:
        web.stop()


def _run(label: str, python: str, web: Web, sites: list[SampleSite], folder: Path) -> Outcome:
    folder.mkdir(parents=True)
    domains = folder / "domains.txt"
    domains.write_text("".join(f"{name}\n" for name in [SILENT_HOST, *(s.domain for s in sites)]))
    output = folder / "contacts.csv"
    # A user's Python keeps the bytecode it compiles; this machine's environment may say not to, and
    # then every run would compile leadpipe and its libraries afresh (a second, here) before it starts.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("LEADPIPE_") and key != "PYTHONDONTWRITEBYTECODE"
    }
    subprocess.run([python, "-m", "leadpipe", "--help"], env=env, stdout=subprocess.DEVNULL, check=True)
    env |= {
        "LEADPIPE_DATABASE_URL": f"sqlite:///{folder / 'leadpipe.db'}",
        "LEADPIPE_PROXY": web.url,
        "LEADPIPE_EMAIL_DNS_CHECKS": "false",
    }
    samples: list[int] = []
    answered_at = [0.0]
    first_at: list[float] = []
    stop = threading.Event()
    started = time.perf_counter()

    def sample() -> None:
        answered = 0
        while not stop.wait(SAMPLE_SECONDS):
            samples.append(web.in_flight)
            if not first_at and (web.log or web.tunnels):
                first_at.append(time.perf_counter() - started)
            count = web.answered_but(SILENT_HOST)
            if count != answered:
                answered, answered_at[0] = count, time.perf_counter() - started

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    log = folder / "run.log"
    children, own = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
    with log.open("w") as out:
        command = [python, "-m", "leadpipe", "run", str(domains), "--output", str(output)]
        code = subprocess.run(command, env=env, cwd=folder, stdout=out, stderr=subprocess.STDOUT).returncode
    wall = time.perf_counter() - started
    cpu = {
        "leadpipe": _cpu(resource.getrusage(resource.RUSAGE_CHILDREN)) - _cpu(children),
        "the web": _cpu(resource.getrusage(resource.RUSAGE_SELF)) - _cpu(own),
    }
    stop.set()
    sampler.join()

    named = _named_in_robots(web)
    requests: Counter[str] = Counter(
        "sitemaps" if path in named.get(host, ()) else kind_of(path)
        for host, path in web.log
        if host != SILENT_HOST
    )
    requests["https refused"] = sum(1 for host in web.tunnels if host != SILENT_HOST)
    naming = {site.domain for site in sites if site.shape in SHAPES_NAMING_SITEMAPS}
    wasted = sum(
        1 for host, path in web.log if host in naming and path in KNOWN_PATHS and path not in named[host]
    )
    first = first_at[0] if first_at else wall
    outcome = Outcome(label, wall, answered_at[0], first, code, requests, wasted, cpu, samples)
    outcome.peak = web.peak_in_flight
    outcome.host_peak = max(count for host, count in web.host_peaks.items() if host != SILENT_HOST)
    outcome.log = log.read_text(errors="replace")
    found = set()
    if output.exists():
        with output.open(encoding="utf-8") as file:
            found = {
                (row["domain"], row["kind"], row["value"].removeprefix("'"))
                for row in csv.DictReader(file)
                if row["kind"] in KNOWN_KINDS
            }
    expected = known_contacts(sites)
    outcome.recall = len(found & expected) / len(expected)
    outcome.precision = len(found & expected) / len(found) if found else 0.0
    return outcome


def floor(web: Web, requests: int, concurrency: int, per_site: int) -> float:
    """Seconds a bare client (aiohttp, as leadpipe's fetcher), in a process of its own, takes for
    ``requests`` GETs through this web, ``concurrency`` at a time, ``per_site`` in a row to each host:
    what the web itself allows, with no crawler's work between requests."""
    options = [web.url, str(requests), str(concurrency), str(per_site)]
    command = [sys.executable, __file__, "--floor-client", *options]
    return float(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


async def _floor_client(proxy: str, requests: int, concurrency: int, per_site: int) -> float:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def sequence(number: int) -> None:
            for step, request in enumerate(range(number, requests, concurrency)):
                url = f"http://floor-{number}-{step // per_site}.test/{request}"
                async with session.get(url, proxy=proxy) as response:
                    await response.read()

        started = time.perf_counter()
        await asyncio.gather(*(sequence(number) for number in range(concurrency)))
        return time.perf_counter() - started


def strip(samples: list[int], per_second: int) -> str:
    """Requests in flight, second by second: the mean and the peak of each."""
    seconds = [samples[i : i + per_second] for i in range(0, len(samples), per_second)]
    return " ".join(f"{statistics.mean(s):.0f}/{max(s)}" for s in seconds if s)


def report(outcome: Outcome, sites: int, delay: float, settings: Settings) -> float:
    total = sum(outcome.requests.values())
    bound = total * delay / settings.http_concurrency
    ratio = outcome.work_done / bound
    web = Web(delay=delay).start()
    try:
        bare = floor(web, total, settings.http_concurrency, round(total / sites))
    finally:
        web.stop()
    kinds = ", ".join(f"{kind} {count:,}" for kind, count in sorted(outcome.requests.items()))
    print(f"\n== {outcome.label}")
    print(f"requests      {total:,} ({total / sites:.1f} per site): {kinds}")
    print(f"              probes although robots.txt named a sitemap: {outcome.wasted_probes:,}")
    print(
        f"time          answering sites done at {outcome.work_done:.1f} s; the run ended at "
        f"{outcome.wall:.1f} s (exit {outcome.exit_code}; the never-answering host waits out its timeout)"
    )
    print(
        f"bound         {total:,} x {delay * 1000:.0f} ms / {settings.http_concurrency} = {bound:.1f} s;"
        f" ratio {ratio:.2f} (goal <= {GOAL}) {'met' if ratio <= GOAL else 'NOT met'}"
    )
    print(
        f"the web's floor: a bare client makes as many requests, as many at a time, in {bare:.1f} s"
        f" (ratio {bare / bound:.2f}): this much of the ratio is the loopback web's own"
    )
    crawl = outcome.work_done - outcome.first_request
    print(
        f"start-up      the first request reached the web at {outcome.first_request:.2f} s (ratio"
        f" {outcome.first_request / bound:.2f}); from there to the end, {crawl:.1f} s (ratio {crawl / bound:.2f})"
    )
    print(
        f"in flight     peak {outcome.peak} of {settings.http_concurrency}; per host at most "
        f"{outcome.host_peak} (limit {settings.http_per_host})"
        f" {'held' if outcome.host_peak <= settings.http_per_host else 'BROKEN'}"
    )
    cpu = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in outcome.cpu.items())
    print(f"CPU           {cpu} (of {outcome.wall:.1f} s on {os.cpu_count()} cores)")
    print(f"per second    mean/peak: {strip(outcome.in_flight, round(1 / SAMPLE_SECONDS))}")
    print(f"recall        {outcome.recall:.1%} (precision {outcome.precision:.1%})")
    if outcome.recall == 0:
        print(outcome.log[-3000:])
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sites", type=int, default=400)
    parser.add_argument("--delay", type=float, default=0.15, help="seconds before every answer")
    parser.add_argument("--before", type=Path, help="another checkout to run first, side by side")
    parser.add_argument("--floor-client", nargs=4, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.floor_client:
        proxy, requests, concurrency, per_site = arguments.floor_client
        print(asyncio.run(_floor_client(proxy, int(requests), int(concurrency), int(per_site))))
        return
    for name in [name for name in os.environ if name.startswith("LEADPIPE_")]:
        del os.environ[name]  # the runs get none of them: the figures are for the defaults
    settings = Settings()
    sites = sample_sites(arguments.sites)
    print(
        f"{arguments.sites} sites and one that never answers; every answer after {arguments.delay * 1000:.0f} ms,"
        f" {len(sites[5::100])} hosts after {arguments.delay * SLOW_FACTOR * 1000:.0f} ms"
    )
    runs = []
    if arguments.before is not None:
        runs.append((f"before: {arguments.before}", str(arguments.before / ".venv" / "bin" / "python")))
    runs.append(("this checkout", sys.executable))
    with tempfile.TemporaryDirectory(prefix="leadpipe-latency-") as scratch:
        for number, (label, python) in enumerate(runs):
            outcome = run(label, python, sites, arguments.delay, Path(scratch) / str(number))
            report(outcome, len(sites), arguments.delay, settings)


if __name__ == "__main__":
    main()
