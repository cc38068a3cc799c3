"""A hostile web against one worker: its peak memory, and that the ordinary sites still finish.

    uv run python bench/hostile.py [--sites 30] [--bombs 8] [--keep DIR]

One :class:`leadpipe.demo.web.Web` in this process serves every host, and is the proxy leadpipe is
pointed at, as in bench/pipeline.py. Beside ``--sites`` ordinary sample sites (known contacts, every
sitemap shape) it serves:

* ``--bombs`` transport gzip bombs: each site's home and contact pages answer
  ``Content-Encoding: gzip`` with about 1 MB that inflates to 1 GiB of blanks, all at once;
* a home page of 5 MB of distinct e-mail addresses and phone numbers;
* a home page of 100 MB, streamed;
* a site whose sitemap and home page answer 429 with ``Retry-After: 100000000000000``.

The command is the one a user types, ``leadpipe run domains.txt -o contacts.csv``, in a subprocess on
a fresh SQLite file, with every setting at its default but the proxy and ``LEADPIPE_EMAIL_DNS_CHECKS``
(no network here). Its peak resident memory is the kernel's (``wait4``'s ``ru_maxrss``). Then, per
ordinary site: its domain's status and how many of its known contacts the export holds; per hostile
site: what leadpipe recorded about it. The goals: peak RSS under 200 MB, every ordinary site ``done``
with all its contacts, the process alive to its end (exit 0 or 3: 3 says items wait for a retry,
which the rate-limited site's do), and no hostile site with more than the per-domain contact cap.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

from sqlalchemy import func, select

from leadpipe.db.connect import Database
from leadpipe.db.models import contacts, domains, pages
from leadpipe.demo.sites import known_contacts, sample_sites, serve
from leadpipe.demo.web import Web

GOAL_RSS_MB = 200
DEADLINE_SECONDS = 900
BOMB_INFLATED = 1 << 30
BIG_PAGE = 100 * 1024 * 1024
ADDRESSES_PAGE = 5 * 1024 * 1024
ABSURD_RETRY_AFTER = "100000000000000"


def gzip_bomb(inflated: int = BOMB_INFLATED) -> bytes:
    """A gzip member whose body inflates to ``inflated`` bytes of blanks after an HTML opening."""
    squeezer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: the gzip container
    parts = [squeezer.compress(b"<html><body><p>")]
    blanks = b" " * (1 << 20)
    parts += [squeezer.compress(blanks) for _ in range(inflated // len(blanks))]
    parts.append(squeezer.flush())
    return b"".join(parts)


def addresses_page(host: str, size: int = ADDRESSES_PAGE) -> bytes:
    lines = [b"<html><body><h1>Contact</h1>"]
    total, number = 0, 0
    while total < size:
        line = f"<p>person{number}@{host} +1 212 555 {number % 10000:04d}</p>\n".encode()
        lines.append(line)
        total += len(line)
        number += 1
    return b"".join(lines)


def big_page(size: int = BIG_PAGE) -> Iterator[bytes]:
    chunk = b"<p>" + b"lorem ipsum " * 5000 + b"</p>\n"
    yield b"<html><body>"
    for _ in range(size // len(chunk)):
        yield chunk


def serve_hostile(web: Web, bombs: int) -> dict[str, str]:
    """Every hostile host, with what it does."""
    bomb = gzip_bomb()
    hostile = {}
    for number in range(bombs):
        host = f"bomb-{number}.com"
        for path in ("/", "/contact"):
            web.add(host, path, bomb, headers={"Content-Encoding": "gzip"})
        web.add(
            host, "/robots.txt", f"Sitemap: http://{host}/sitemap.xml\n".encode(), content_type="text/plain"
        )
        web.add_xml(
            host,
            "/sitemap.xml",
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<url><loc>http://{host}/contact</loc></url></urlset>",
        )
        hostile[host] = f"gzip bomb ({len(bomb) / 1e6:.1f} MB inflating to {BOMB_INFLATED >> 30} GiB)"
    web.add("addresses.com", "/", addresses_page("addresses.com"))
    hostile["addresses.com"] = f"{ADDRESSES_PAGE >> 20} MB of addresses and phones"
    web.add("huge.com", "/", big_page)
    hostile["huge.com"] = f"a {BIG_PAGE >> 20} MB page"
    absurd = {"Retry-After": ABSURD_RETRY_AFTER}
    web.add(
        "throttled.com",
        "/robots.txt",
        b"Sitemap: http://throttled.com/sitemap.xml\n",
        content_type="text/plain",
    )
    for path in ("/sitemap.xml", "/"):
        web.add("throttled.com", path, b"slow down", status=429, headers=absurd)
    hostile["throttled.com"] = f"429 with Retry-After: {ABSURD_RETRY_AFTER}"
    return hostile


def run(workdir: Path, web: Web, names: list[str]) -> tuple[int, float, float]:
    """``leadpipe run`` as a user types it: (exit status, peak RSS in MB, seconds)."""
    domains_file = workdir / "domains.txt"
    domains_file.write_text("\n".join(names) + "\n")
    environment = {key: value for key, value in os.environ.items() if not key.startswith("LEADPIPE_")}
    environment |= {
        "LEADPIPE_DATABASE_URL": f"sqlite:///{workdir / 'leadpipe.db'}",
        "LEADPIPE_PROXY": web.url,
        "LEADPIPE_EMAIL_DNS_CHECKS": "false",
    }
    command = [
        sys.executable,
        "-m",
        "leadpipe",
        "run",
        str(domains_file),
        "-o",
        str(workdir / "contacts.csv"),
    ]
    started = time.monotonic()
    with (workdir / "run.log").open("wb") as log:
        process = subprocess.Popen(
            command, cwd=workdir, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = started + DEADLINE_SECONDS
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
            time.sleep(0.2)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_maxrss / 1024, time.monotonic() - started


def recorded(url: str) -> tuple[dict[str, dict[str, object]], Counter[str], dict[str, list[str]]]:
    """Per domain: its row; how many contacts it has; the problems recorded on its pages."""
    database = Database(url)
    try:
        with database.engine.connect() as connection:
            rows = {row["name"]: dict(row) for row in connection.execute(select(domains)).mappings()}
            counted = connection.execute(
                select(domains.c.name, func.count())
                .select_from(contacts.join(domains, contacts.c.domain_id == domains.c.id))
                .group_by(domains.c.name)
            )
            per_domain = Counter({name: count for name, count in counted})
            problems: dict[str, list[str]] = defaultdict(list)
            query = select(domains.c.name, pages.c.url, pages.c.status, pages.c.last_error, pages.c.problem)
            for name, page, status, error, problem in connection.execute(
                query.select_from(pages.join(domains, pages.c.domain_id == domains.c.id))
            ):
                said = problem or error
                if said:
                    problems[name].append(f"{page} [{status}]: {said}")
            return rows, per_domain, problems
    finally:
        database.dispose()


def exported(path: Path) -> set[tuple[str, str, str]]:
    if not path.exists():
        return set()
    with path.open(encoding="utf-8") as file:
        # A value without the quote that keeps it text in a spreadsheet (see the README's export).
        return {(row["domain"], row["kind"], row["value"].removeprefix("'")) for row in csv.DictReader(file)}


def clip(text: object, width: int = 110) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sites", type=int, default=30, help="ordinary sample sites")
    parser.add_argument("--bombs", type=int, default=8, help="gzip-bomb sites, fetched at once")
    parser.add_argument("--keep", type=Path, help="keep the database, export and log in this folder")
    options = parser.parse_args(argv)

    sites = sample_sites(options.sites)
    web = Web()
    serve(web, sites)
    hostile = serve_hostile(web, options.bombs)
    web.start()
    with contextlib.ExitStack() as stack:
        if options.keep:
            workdir = options.keep
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="leadpipe-hostile-")))
        try:
            status, peak_mb, seconds = run(workdir, web, [site.domain for site in sites] + list(hostile))
        finally:
            web.stop()
        rows, per_domain, problems = recorded(f"sqlite:///{workdir / 'leadpipe.db'}")
        found = exported(workdir / "contacts.csv")
        log_tail = (workdir / "run.log").read_text(errors="replace").splitlines()[-15:]

    print(
        f"leadpipe run: exit {status} after {seconds:.1f}s; peak RSS {peak_mb:.0f} MB (goal < {GOAL_RSS_MB} MB)"
    )
    print(f"\nordinary sites ({len(sites)}):")
    truth = known_contacts(sites)
    unfinished = []
    for site in sites:
        wanted = {fact for fact in truth if fact[0] == site.domain}
        have = wanted & found
        state = str(rows.get(site.domain, {}).get("status", "missing"))
        if state != "done" or have != wanted:
            unfinished.append(site.domain)
            print(f"  ✗ {site.domain}: {state}, {len(have)}/{len(wanted)} known contacts")
    print(f"  {len(sites) - len(unfinished)} of {len(sites)} done with every known contact exported")

    print("\nhostile sites:")
    cap_broken = []
    for host, what in hostile.items():
        row = rows.get(host, {})
        print(f"  {host}: {what}")
        print(
            f"    domain {row.get('status')} / {row.get('outcome')}: {clip(row.get('problem') or row.get('last_error'))}"
        )
        print(f"    contacts kept: {per_domain[host]}")
        for said in problems.get(host, [])[:2]:
            print(f"    page {clip(said)}")
        if per_domain[host] > 200:
            cap_broken.append(host)

    goals = {
        f"peak RSS under {GOAL_RSS_MB} MB": peak_mb < GOAL_RSS_MB,
        "the process lived to its end (exit 0 or 3)": status in (0, 3),
        "every ordinary site done with all its contacts": not unfinished,
        "no hostile site past 200 contacts": not cap_broken,
    }
    print()
    for goal, met in goals.items():
        print(f"{'✓' if met else '✗'} {goal}")
    if status not in (0, 3):
        print("\nthe run's last lines:\n  " + "\n  ".join(log_tail))
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
