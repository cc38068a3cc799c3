"""The sitemap study's benchmark (shared/reference/sitemaps.md §8), leadpipe beside its peers.

    uv run python bench/sitemaps.py [--repeat N] [--tools …] [--backends …] [--no-import]

The site: ``robots.txt`` → ``sitemap_index.xml`` → 20 urlsets of 50,000 URLs each; the 10 odd ones
gzipped as ``.xml.gz`` and served as ``application/gzip`` with no Content-Encoding. Every ``<url>`` has
loc (≈72 characters), a full-datetime lastmod, changefreq and priority: ≈194 bytes a URL, 194 MB of
XML, 106 MB on the wire. It is written to a temporary folder, then served from memory on 127.0.0.1
by a threaded HTTP/1.1 server in this process (keep-alive, TCP_NODELAY, each body sent in one
``sendall``, a TLS handshake refused at once so that an https probe fails fast, as on a host without
TLS). The ``download`` row shows what fetching costs: the server is not what is measured.

Each tool runs in a subprocess of its own, started and measured the same way by a small launcher
process (see ``LAUNCHER``) that spawns it, waits for it and reads ``getrusage(RUSAGE_CHILDREN)``:
wall time from spawn to exit (interpreter start and imports count for every tool), CPU time (user +
system) and peak RSS (``ru_maxrss``). Every tool first runs once on a small site (2 × 1,000 URLs) so
that bytecode caches exist; then ``--repeat`` rounds, the median by wall time shown.

* leadpipe: the ``leadpipe sitemaps http://127.0.0.1:PORT/ --json`` command, its output to a file
  whose page lines are counted (1,000,000 asserted, as for every tool);
* USP: ``usp.tree.sitemap_tree_for_homepage`` then iterating ``all_pages()``;
* Scrapy: a ``SitemapSpider`` from robots.txt, run by ``CrawlerProcess``; its ``sitemap_filter``
  counts each urlset entry (a dict of loc, lastmod, changefreq, priority) and yields none, so no page
  is requested. This is the row the goal compares with. ``scrapy.utils.sitemap.Sitemap`` is also
  measured, over bodies fetched with ``http.client`` one after another (gunzipped by magic bytes,
  as SitemapSpider does);
* expat: the physical limit, ``http.client`` + ``zlib`` + ``pyexpat``, a start-tag handler counting
  ``<loc>`` (text collected in the index only);
* download: the same fetches, no parsing.

Then the full import, on a fresh SQLite file and on a fresh PostgreSQL database: one domain row, then
``leadpipe worker --until-idle --stage discover --stage import``; timed from spawn until every
sitemap file is finished (polled every 0.1 s), then checked: every urlset imported with 50,000 URLs,
1,000,000 sitemap pages. ``LEADPIPE_DOMAIN_MAX_PAGES`` is raised above the site's size.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import http.client
import importlib
import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.parsers import expat

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the project's virtual environment: its python and `leadpipe`
ADMIN_URL = os.environ.get("LEADPIPE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")

FILES = 20
URLS_PER_FILE = 50_000
CHUNK = 64 * 1024

USP_GOAL = 4.0  # leadpipe URLs/s over USP's
SCRAPY_GOAL = 1.5  # leadpipe URLs/s over Scrapy SitemapSpider's
RSS_GOAL_MIB = 64.0  # leadpipe's peak RSS
IMPORT_GOAL = 2.0  # full import time over leadpipe's parse-only time, per database

TOOLS = ("leadpipe", "usp", "scrapy", "scrapy-sitemap", "expat", "download")
LABELS = {
    "leadpipe": "leadpipe sitemaps --json",
    "usp": "USP sitemap_tree_for_homepage + all_pages()",
    "scrapy": "Scrapy SitemapSpider (CrawlerProcess)",
    "scrapy-sitemap": "scrapy.utils.sitemap.Sitemap, HTTP bodies",
    "expat": "bare expat: fetch + gunzip + count <loc>",
    "download": "download only (no parse)",
}
PEERS = ("usp", "scrapy", "scrapy-sitemap")  # these need `uv run --group bench`

# -- the site ----------------------------------------------------------------------------------------

DEPARTMENTS = ("kitchen", "garden-tools", "home-office", "outdoor", "bathroom", "lighting", "storage")
WORDS = ("blue", "oak", "linen", "classic", "steel", "summer", "vintage", "deluxe", "slim", "organic")
FREQUENCIES = ("daily", "weekly", "monthly")


@dataclass(frozen=True)
class Document:
    body: bytes
    content_type: str


@dataclass(frozen=True)
class Site:
    origin: str
    documents: dict[str, Document]  # path → what is served there
    urls: int
    xml_bytes: int  # the urlsets, uncompressed
    wire_bytes: int  # what a client downloads: robots, index and urlsets as served

    @property
    def loc_length(self) -> float:
        return (self.xml_bytes / self.urls - len(RECORD_MARKUP)) if self.urls else 0.0


RECORD_MARKUP = (
    "<url><loc></loc><lastmod>2024-05-17T10:23:45+00:00</lastmod><changefreq>weekly</changefreq>"
    "<priority>0.5</priority></url>\n"
)


def urlset(origin: str, number: int, urls: int) -> bytes:
    """Child ``number`` (1-based): distinct URLs with every standard field."""
    chance = random.Random(number)
    parts = [
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
    ]
    for i in range(urls):
        serial = (number - 1) * urls + i
        department = DEPARTMENTS[serial % len(DEPARTMENTS)]
        words = "-".join(chance.choice(WORDS) for _ in range(3))
        loc = f"{origin}/catalog/{department}/{words}-{serial:07d}.html"
        lastmod = (
            f"2024-{chance.randint(1, 12):02d}-{chance.randint(1, 28):02d}T"
            f"{chance.randint(0, 23):02d}:{chance.randint(0, 59):02d}:{chance.randint(0, 59):02d}+00:00"
        )
        parts.append(
            f"<url><loc>{loc}</loc><lastmod>{lastmod}</lastmod>"
            f"<changefreq>{FREQUENCIES[serial % 3]}</changefreq>"
            f"<priority>0.{serial % 10}</priority></url>\n".encode()
        )
    parts.append(b"</urlset>\n")
    return b"".join(parts)


def make_site(folder: Path, origin: str, files: int, urls_per_file: int) -> Site:
    """Write the site to ``folder`` (as the study's gen.py did) and return it, held in memory."""
    documents: dict[str, Document] = {}
    xml_bytes = 0
    children = []
    for number in range(1, files + 1):
        body = urlset(origin, number, urls_per_file)
        xml_bytes += len(body)
        if number % 2:
            path, body, kind = f"/sitemap-{number:02d}.xml.gz", gzip.compress(body, 6), "application/gzip"
        else:
            path, kind = f"/sitemap-{number:02d}.xml", "application/xml"
        documents[path] = Document(body, kind)
        children.append(path)
    entries = "".join(
        f"<sitemap><loc>{origin}{path}</loc><lastmod>2024-06-01T00:00:00+00:00</lastmod></sitemap>\n"
        for path in children
    )
    documents["/sitemap_index.xml"] = Document(
        (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{entries}</sitemapindex>\n'
        ).encode(),
        "application/xml",
    )
    documents["/robots.txt"] = Document(
        f"User-agent: *\nAllow: /\n\nSitemap: {origin}/sitemap_index.xml\n".encode(), "text/plain"
    )
    for path, document in documents.items():
        (folder / path.lstrip("/")).write_bytes(document.body)
    wire = sum(len(document.body) for document in documents.values())
    return Site(origin, documents, files * urls_per_file, xml_bytes, wire)


# -- serving it --------------------------------------------------------------------------------------

NOT_FOUND = b"<html><body>Not Found</body></html>"
TLS_HANDSHAKE = b"\x16"  # the first byte of a TLS record carrying a ClientHello


class SiteServer(ThreadingHTTPServer):
    """Serves one site's documents from memory on loopback, a thread per connection."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, port: int = 0) -> None:
        self.documents: dict[str, Document] = {}
        self.requests = 0
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up early (a discovery probe reads one chunk of a urlset) are expected.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # TCP_NODELAY: headers and body are two writes
    server: SiteServer

    def handle(self) -> None:
        # An https attempt on this plain-HTTP port would wait for a request line that never comes;
        # hang up at once, as a host without TLS refuses the connection.
        with contextlib.suppress(OSError):
            if self.connection.recv(1, socket.MSG_PEEK) == TLS_HANDSHAKE:
                return
        super().handle()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests += 1
        document = self.server.documents.get(urlsplit(self.path).path)
        status, body, kind = (
            (200, document.body, document.content_type) if document else (404, NOT_FOUND, "text/html")
        )
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)  # one sendall of the whole body, the GIL released
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


@contextlib.contextmanager
def serving() -> Iterator[SiteServer]:
    server = SiteServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# -- the tools, each run in a child process ----------------------------------------------------------


class Client:
    """One keep-alive HTTP/1.1 connection to the site; bodies streamed in CHUNK-sized reads."""

    def __init__(self, origin: str) -> None:
        parts = urlsplit(origin)
        self._connection = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=30)

    def chunks(self, url: str) -> Iterator[bytes]:
        self._connection.request("GET", urlsplit(url).path)
        response = self._connection.getresponse()
        if response.status != 200:
            response.read()
            raise SystemExit(f"{url} answered HTTP {response.status}")
        while chunk := response.read(CHUNK):
            yield chunk

    def body(self, url: str) -> bytes:
        return b"".join(self.chunks(url))

    def close(self) -> None:
        self._connection.close()


def robots_sitemaps(client: Client, origin: str) -> list[str]:
    text = client.body(f"{origin}/robots.txt").decode()
    return [
        line.split(":", 1)[1].strip() for line in text.splitlines() if line.lower().startswith("sitemap:")
    ]


def gunzipped(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The body, gunzipped as it streams when it starts with gzip's magic bytes."""
    inflater: Any = None
    for number, chunk in enumerate(chunks):
        if number == 0 and chunk.startswith(b"\x1f\x8b"):
            inflater = zlib.decompressobj(wbits=31)
        yield inflater.decompress(chunk) if inflater is not None else chunk
    if inflater is not None:
        yield inflater.flush()


def expat_read(chunks: Iterator[bytes]) -> tuple[int, list[str]]:
    """One document through expat: its ``<loc>`` count, and the locations if it is an index."""
    locs = 0
    children: list[str] = []
    text: list[str] = []
    parser = expat.ParserCreate()
    parser.buffer_text = True

    def start(name: str, attrs: Any) -> None:
        nonlocal locs
        if name == "loc":
            locs += 1
            text.clear()

    def end(name: str) -> None:
        if name == "loc":
            children.append("".join(text).strip())

    def root(name: str, attrs: Any) -> None:
        # The root says what this is: an index keeps its <loc> text, a urlset only counts.
        parser.StartElementHandler = start
        if name.endswith("sitemapindex"):
            parser.CharacterDataHandler = text.append
            parser.EndElementHandler = end

    parser.StartElementHandler = root
    for data in gunzipped(chunks):
        parser.Parse(data, False)
    parser.Parse(b"", True)
    return locs, children


def run_expat(origin: str) -> int:
    """robots.txt → index → urlsets: fetch, gunzip, expat with the least Python per element."""
    client = Client(origin)
    queue = deque(robots_sitemaps(client, origin))
    urls = 0
    while queue:
        locs, children = expat_read(client.chunks(queue.popleft()))
        if children:
            queue.extend(children)
        else:
            urls += locs
    client.close()
    return urls


def run_download(origin: str) -> int:
    """The same fetches as ``run_expat`` (the index parsed once for its children), bodies discarded."""
    client = Client(origin)
    index = robots_sitemaps(client, origin)[0]
    body = client.body(index).decode()
    children = [part.split("</loc>", 1)[0] for part in body.split("<loc>")[1:]]
    size = 0
    for url in children:
        for chunk in client.chunks(url):
            size += len(chunk)
    client.close()
    return 0


def run_usp(origin: str) -> int:
    tree = importlib.import_module("usp.tree").sitemap_tree_for_homepage(f"{origin}/")
    return sum(1 for _ in tree.all_pages())


def run_scrapy(origin: str) -> int:
    """A SitemapSpider from robots.txt that counts urlset entries in ``sitemap_filter``."""
    crawler = importlib.import_module("scrapy.crawler")
    spiders = importlib.import_module("scrapy.spiders")
    counted = 0

    def sitemap_filter(self: Any, entries: Any) -> Iterator[dict[str, Any]]:
        nonlocal counted
        if entries.type != "urlset":
            yield from entries  # index entries: followed as usual
            return
        for _ in entries:
            counted += 1  # a page: counted, and not requested

    spider = type(
        "CountingSitemapSpider",
        (spiders.SitemapSpider,),
        {"name": "count", "sitemap_urls": [f"{origin}/robots.txt"], "sitemap_filter": sitemap_filter},
    )
    process = crawler.CrawlerProcess(
        settings={"LOG_LEVEL": "WARNING", "TELNETCONSOLE_ENABLED": False, "ROBOTSTXT_OBEY": False}
    )
    process.crawl(spider)
    process.start()
    return counted


def run_scrapy_sitemap(origin: str) -> int:
    """``scrapy.utils.sitemap.Sitemap`` over each whole body, fetched one after another."""
    sitemap_class = importlib.import_module("scrapy.utils.sitemap").Sitemap
    client = Client(origin)
    queue = deque(robots_sitemaps(client, origin))
    urls = 0
    while queue:
        document = sitemap_class(b"".join(gunzipped(client.chunks(queue.popleft()))))
        if document.type == "sitemapindex":
            queue.extend(entry["loc"] for entry in document)
        else:
            urls += sum(1 for _ in document)
    client.close()
    return urls


RUNNERS: dict[str, Callable[[str], int]] = {
    "usp": run_usp,
    "scrapy": run_scrapy,
    "scrapy-sitemap": run_scrapy_sitemap,
    "expat": run_expat,
    "download": run_download,
}


def child(tool: str, origin: str) -> None:
    """In the child process: run one tool, print the number of page URLs it found."""
    print(RUNNERS[tool](origin), flush=True)


# -- measuring a child process -----------------------------------------------------------------------

# Runs one command and reports its exit code, wall time and peak RSS. It is a process of its own because
# Linux carries the parent's peak RSS over into a spawned child's ru_maxrss (exec records the old
# address space's high-water mark, and a vfork child's old address space is its parent's): spawned from
# this process, which holds the whole site in memory, every tool would show at least this process's peak.
# The launcher is a bare interpreter (-S, four small modules), so the floor it leaves is ≈10 MiB.
LAUNCHER = """
import json, os, resource, sys, time
timeout, out, err, *command = sys.argv[1:]
flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
actions = [
    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
    (os.POSIX_SPAWN_OPEN, 1, out, flags, 0o644),
    (os.POSIX_SPAWN_OPEN, 2, err, flags, 0o644),
]
started = time.perf_counter()
pid = os.posix_spawn(command[0], command, os.environ, file_actions=actions)
timed_out = False
while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    if time.perf_counter() - started > float(timeout):
        timed_out = True
        os.kill(pid, 9)
        _, status = os.waitpid(pid, 0)
        break
    time.sleep(0.005)
wall = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the one child, now ended
cpu = usage.ru_utime + usage.ru_stime
code = os.waitstatus_to_exitcode(status)
print(json.dumps({"code": code, "wall": wall, "cpu": cpu, "peak_kib": usage.ru_maxrss, "timed_out": timed_out}))
"""


@dataclass(frozen=True)
class Exit:
    code: int
    wall: float  # seconds from spawn to exit
    cpu: float  # user + system seconds
    peak_mib: float  # the child's peak RSS (its own and its waited-for descendants')


def run_measured(
    command: Sequence[str],
    *,
    env: dict[str, str],
    stdout: Path,
    stderr: Path,
    timeout: float,
    watch: Callable[[], None] | None = None,
) -> Exit:
    """Run ``command`` through the launcher (killed after ``timeout`` s), calling ``watch`` every 10 ms."""
    launcher = [sys.executable, "-S", "-c", LAUNCHER, str(timeout), str(stdout), str(stderr), *command]
    process = subprocess.Popen(
        launcher, env=env, cwd=ROOT, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.perf_counter() + timeout + 30
    try:
        while process.poll() is None:
            if time.perf_counter() > deadline:
                raise SystemExit(f"{command[0]}: the launcher did not end in time")
            if watch is not None:
                watch()
            time.sleep(0.01)
        assert process.stdout is not None
        report = json.loads(process.stdout.read())
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)  # the launcher's session: it and the command it runs
            process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()
    if report["timed_out"]:
        raise SystemExit(f"{' '.join(command[:3])} … ran over its {timeout:g} s")
    return Exit(int(report["code"]), float(report["wall"]), float(report["cpu"]), report["peak_kib"] / 1024)


def child_environment(**extra: str) -> dict[str, str]:
    """This environment without leadpipe settings or proxies, plus ``extra``."""
    # Bytecode is cached, as in any installed environment (this workplace sets PYTHONDONTWRITEBYTECODE,
    # which would make every run compile each module it imports: 1–2 s per process).
    dropped = ("LEADPIPE_", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "PYTHONDONTWRITEBYTECODE")
    environment = {key: value for key, value in os.environ.items() if not key.upper().startswith(dropped)}
    return environment | {"PYTHONUNBUFFERED": "1"} | extra


@dataclass(frozen=True)
class Run:
    tool: str
    urls: int
    wall: float  # spawn to exit
    cpu: float  # user + system
    peak_mib: float

    @property
    def rate(self) -> float:
        return self.urls / self.wall if self.wall > 0 else 0.0

    @property
    def cpu_rate(self) -> float:
        return self.urls / self.cpu if self.cpu > 0 else 0.0


def count_page_lines(path: Path) -> int:
    """Page lines of ``leadpipe sitemaps --json`` output (the other lines describe sitemap files)."""
    pages = 0
    with path.open("rb") as lines:
        for line in lines:
            if line.startswith(b'{"url": '):
                pages += 1
    return pages


def run_tool(tool: str, site: Site, work: Path, timeout: float) -> Run:
    out, err = work / f"{tool}.out", work / f"{tool}.err"
    environment = child_environment(
        TMPDIR=str(work),  # USP's pickles go here, and are deleted with it
        LEADPIPE_ALLOW_PRIVATE_NETWORKS="true",  # 127.0.0.1 is a private address
        LEADPIPE_LOG_LEVEL="WARNING",
    )
    if tool == "leadpipe":
        command = [str(BIN / "leadpipe"), "sitemaps", f"{site.origin}/", "--json"]
    else:
        command = [sys.executable, str(Path(__file__).resolve()), "--child", tool, site.origin]
    done = run_measured(command, env=environment, stdout=out, stderr=err, timeout=timeout)
    if done.code != 0:
        raise SystemExit(f"{tool} exited with {done.code}:\n{err.read_text()[-3000:]}")
    urls = count_page_lines(out) if tool == "leadpipe" else int(out.read_text().split()[-1])
    expected = 0 if tool == "download" else site.urls
    if urls != expected:
        raise SystemExit(f"{tool} found {urls:,} URLs, not {expected:,}")
    out.unlink()
    return Run(tool, urls, done.wall, done.cpu, done.peak_mib)


# -- the full import ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    backend: str
    seconds: float  # spawn to every sitemap file finished
    worker_wall: float  # spawn to the worker's exit
    cpu: float  # the worker's user + system seconds (the database server's are not counted)
    peak_mib: float
    pages: int


class Watch:
    """Reads the import's progress from the database: is every sitemap file finished?"""

    def __init__(self, url: str) -> None:
        self._url = url
        self._pg: Any = None
        self._lite: sqlite3.Connection | None = None
        if url.startswith("sqlite:///"):
            self._lite = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, timeout=60)
        else:
            psycopg = importlib.import_module("psycopg")
            self._pg = psycopg.connect(url, autocommit=True)
        self.finished_at: float | None = None
        self._last = 0.0

    def _one(self, query: str) -> tuple[Any, ...]:
        if self._lite is not None:
            row: tuple[Any, ...] = self._lite.execute(query).fetchone()
        else:
            row = self._pg.execute(query).fetchone()
        return row

    def done(self) -> bool:
        """The domain's discovery finished, and every sitemap file it found is finished too."""
        domain_done, files, unfinished = self._one(
            "SELECT (SELECT count(*) FROM domains WHERE status NOT IN ('pending', 'running')),"
            " (SELECT count(*) FROM sitemap_files),"
            " (SELECT count(*) FROM sitemap_files WHERE status IN ('pending', 'running'))"
        )
        return bool(domain_done) and files > 0 and unfinished == 0

    def poll(self) -> None:
        """Called while the worker runs: note when the import finished (checked every 0.1 s)."""
        moment = time.perf_counter()
        if self.finished_at is None and moment - self._last >= 0.1:
            self._last = moment
            if self.done():
                self.finished_at = moment

    def files(self) -> list[tuple[Any, ...]]:
        if self._lite is not None:
            return self._lite.execute(
                "SELECT kind, status, outcome, url_count, problem FROM sitemap_files"
            ).fetchall()
        rows: list[tuple[Any, ...]] = self._pg.execute(
            "SELECT kind, status, outcome, url_count, problem FROM sitemap_files"
        ).fetchall()
        return rows

    def pages(self) -> int:
        return int(self._one("SELECT count(*) FROM pages WHERE found_by = 'sitemap'")[0])

    def add_domain(self, name: str) -> None:
        query = "INSERT INTO domains (name) VALUES ('{}')".format(name.replace("'", "''"))
        if self._lite is not None:
            self._lite.execute(query)
        else:
            self._pg.execute(query)

    def close(self) -> None:
        if self._lite is not None:
            self._lite.close()
        if self._pg is not None:
            self._pg.close()


def run_import(backend: str, site: Site, work: Path, admin_url: str, timeout: float) -> Import:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # run as a script: make `bench` importable
    from bench.engine import fresh_database

    with fresh_database(backend, admin_url) as url:
        watch = Watch(url)
        try:
            domain = urlsplit(site.origin).netloc  # 127.0.0.1:PORT, as `leadpipe sitemaps` takes it
            watch.add_domain(domain)
            environment = child_environment(
                LEADPIPE_DATABASE_URL=url,
                LEADPIPE_ALLOW_PRIVATE_NETWORKS="true",
                LEADPIPE_DOMAIN_MAX_PAGES=str(2 * site.urls + 10),
                LEADPIPE_POLL_SECONDS="0.1",
                LEADPIPE_LOG_LEVEL="WARNING",
            )
            command = [
                *(str(BIN / "leadpipe"), "worker", "--until-idle"),
                *("--stage", "discover", "--stage", "import"),
            ]
            started = time.perf_counter()
            done = run_measured(
                command,
                env=environment,
                stdout=work / f"import-{backend}.out",
                stderr=work / f"import-{backend}.err",
                timeout=timeout,
                watch=watch.poll,
            )
            if done.code != 0:
                log = (work / f"import-{backend}.err").read_text()[-3000:]
                raise SystemExit(f"the {backend} worker exited with {done.code}:\n{log}")
            if watch.finished_at is None and watch.done():
                watch.finished_at = started + done.wall
            if watch.finished_at is None:
                raise SystemExit(f"{backend}: the worker exited before every sitemap file was finished")
            files = watch.files()
            urlsets = [row for row in files if row[0] == "urlset"]
            bad = [row for row in urlsets if row[2] != "imported" or row[3] != URLS_PER_FILE]
            pages = watch.pages()
        finally:
            watch.close()
    if len(urlsets) != site.urls // URLS_PER_FILE or bad:
        raise SystemExit(f"{backend}: {len(urlsets)} urlsets, not imported in full: {bad[:3]}")
    if pages != site.urls:
        raise SystemExit(f"{backend}: {pages:,} sitemap pages, not {site.urls:,}")
    return Import(backend, watch.finished_at - started, done.wall, done.cpu, done.peak_mib, pages)


# -- the report --------------------------------------------------------------------------------------


def _mark(met: bool) -> str:
    return "met" if met else "NOT MET"


def _median(runs: list[Run]) -> Run:
    ordered = sorted(runs, key=lambda run: run.wall)
    return ordered[len(ordered) // 2]


def table(headings: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(cell) for cell in column) for column in zip(headings, *rows, strict=True)]
    for number, cells in enumerate((headings, tuple("-" * width for width in widths), *rows)):
        line = "  ".join(
            cell.ljust(width) if index == 0 else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        print(line.rstrip() if number else line)


def report(site: Site, runs: dict[str, list[Run]], imports: list[Import]) -> None:
    print()
    print(
        f"{site.urls:,} URLs in {len(site.documents) - 2} urlsets (half gzipped) under one index; "
        f"{site.xml_bytes / 1e6:.1f} MB of XML, {site.xml_bytes / max(site.urls, 1):.0f} B/URL, "
        f"loc ≈{site.loc_length:.0f} chars; {site.wire_bytes / 1e6:.1f} MB on the wire"
    )
    print("wall s: spawn to exit, interpreter start and imports included; the median run's figures.")
    print("CPU s: the process's user + system time. Peak RSS: ru_maxrss of RUSAGE_CHILDREN.")
    medians = {tool: _median(measured) for tool, measured in runs.items()}
    rows = [
        (
            LABELS[tool],
            ", ".join(f"{r.wall:.2f}" for r in runs[tool]),
            f"{run.wall:.2f}",
            f"{run.rate:,.0f}" if run.urls else "-",
            f"{run.cpu:.2f}",
            f"{run.cpu_rate:,.0f}" if run.urls else "-",
            f"{run.peak_mib:.0f}",
        )
        for tool, run in medians.items()
    ]
    table(("tool", "wall s (runs)", "wall s", "URLs/s", "CPU s", "URLs/CPU s", "peak RSS MiB"), rows)
    print()
    print("Goals")
    lead = medians.get("leadpipe")
    if lead is None:
        print("  (leadpipe not run)")
        return
    for peer, goal in (("usp", USP_GOAL), ("scrapy", SCRAPY_GOAL)):
        other = medians.get(peer)
        if other is None:
            print(f"  leadpipe URLs/s ≥ {goal:g}× {peer}'s: not measured")
            continue
        ratio = lead.rate / other.rate
        print(
            f"  leadpipe URLs/s ≥ {goal:g}× {LABELS[peer]}: {ratio:.2f}× {_mark(ratio >= goal)}"
            f"  (by CPU time: {lead.cpu_rate / other.cpu_rate:.2f}×)"
        )
    print(
        f"  leadpipe peak RSS < {RSS_GOAL_MIB:g} MiB: {lead.peak_mib:.0f} MiB {_mark(lead.peak_mib < RSS_GOAL_MIB)}"
    )
    bare = medians.get("expat")
    if bare is not None:
        print(f"  (the bare expat loop: {bare.rate / lead.rate:.1f}× leadpipe's URLs/s)")
    if imports:
        print()
        print(
            f"Full import (discover + import stages, one worker), against leadpipe's parse-only {lead.wall:.2f} s"
        )
        table(
            (
                "database",
                "import s",
                "worker exit s",
                "worker CPU s",
                "pages",
                "peak RSS MiB",
                "× parse",
                f"< {IMPORT_GOAL:g}×",
            ),
            [
                (
                    result.backend,
                    f"{result.seconds:.2f}",
                    f"{result.worker_wall:.2f}",
                    f"{result.cpu:.2f}",
                    f"{result.pages:,}",
                    f"{result.peak_mib:.0f}",
                    f"{result.seconds / lead.wall:.2f}",
                    _mark(result.seconds / lead.wall < IMPORT_GOAL),
                )
                for result in imports
            ],
        )


# -- main --------------------------------------------------------------------------------------------


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS), help="default: all")
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool; the median is shown")
    parser.add_argument(
        "--backends", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"]
    )
    parser.add_argument("--no-import", action="store_true", help="skip the full import")
    parser.add_argument("--files", type=int, default=FILES, help=argparse.SUPPRESS)  # smaller, for trying
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed to each process")
    parser.add_argument(
        "--postgres", default=ADMIN_URL, help="a PostgreSQL server's URL, to create databases"
    )
    parser.add_argument("--child", nargs=2, metavar=("TOOL", "ORIGIN"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def ensure_peers(tools: Sequence[str]) -> None:
    """Install the bench group (USP, Scrapy) into the environment if a peer is to run."""
    if not any(tool in PEERS for tool in tools):
        return
    check = [sys.executable, "-c", "import usp, scrapy"]
    if subprocess.run(check, capture_output=True, timeout=120).returncode == 0:
        return
    print("installing the bench dependency group (uv run --group bench) …", flush=True)
    subprocess.run(["uv", "run", "--group", "bench", *check], cwd=ROOT, check=True, timeout=600)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    if args.child:
        child(*args.child)
        return
    ensure_peers(args.tools)
    runs: dict[str, list[Run]] = {}
    imports: list[Import] = []
    with (
        tempfile.TemporaryDirectory(prefix="leadpipe-bench-sitemaps-") as folder,
        serving() as server,
        serving() as small_server,
    ):
        work = Path(folder)
        started = time.perf_counter()
        site = make_site(work, server.origin, args.files, URLS_PER_FILE)
        server.documents = site.documents
        print(f"site generated in {time.perf_counter() - started:.1f} s, served at {site.origin}", flush=True)
        # Each tool once on a small site first, so that no measured run compiles or caches anything.
        (work / "small").mkdir()
        small = make_site(work / "small", small_server.origin, 2, 1_000)
        small_server.documents = small.documents
        for tool in args.tools:
            run_tool(tool, small, work, args.timeout)
        for round_number in range(args.repeat):
            for tool in args.tools:
                run = run_tool(tool, site, work, args.timeout)
                runs.setdefault(tool, []).append(run)
                print(
                    f"  [{round_number + 1}/{args.repeat}] {tool:>14}: {run.wall:6.2f} s wall,"
                    f" {run.cpu:6.2f} s CPU, {run.peak_mib:4.0f} MiB peak",
                    flush=True,
                )
        if not args.no_import:
            for backend in args.backends:
                result = run_import(backend, site, work, args.postgres, args.timeout)
                imports.append(result)
                print(
                    f"  import {backend:>10}: {result.seconds:6.2f} s to the last file"
                    f" (worker exit {result.worker_wall:.2f} s, {result.cpu:.2f} s CPU), {result.peak_mib:.0f} MiB peak",
                    flush=True,
                )
    report(site, runs, imports)


if __name__ == "__main__":
    main()
