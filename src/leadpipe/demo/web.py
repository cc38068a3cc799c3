"""A web of sites on loopback: one HTTP server that serves many hosts by name and is also their proxy.

Tests point leadpipe at it with the proxy setting, so ``http://acme.test/robots.txt`` reaches this
server as an absolute-form request, exactly as a real forward proxy receives it. Requests to
``https://`` through it (CONNECT) are refused, like a site without TLS.

It can stand in for the real web's latency: ``delay`` holds every answer back (a CONNECT's refusal
and a 404 included), ``host_delays`` some hosts more. It counts the requests it is answering, in
all and per host, and keeps the most it saw at once (``peak_in_flight``, ``host_peaks``), so a
crawler's politeness per host can be checked from the outside.
"""

from __future__ import annotations

import contextlib
import gzip
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

__all__ = ["Body", "Route", "Web"]

Body = bytes | Callable[[], Iterator[bytes]]


@dataclass
class Route:
    body: Body = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before the status line
    hang: bool = False  # never answer (until the server stops)


class Web:
    """Sites by host name, each a table of paths; every request is logged."""

    def __init__(self, delay: float = 0.0, host_delays: dict[str, float] | None = None) -> None:
        self.delay = delay
        self.host_delays = dict(host_delays or {})
        self.in_flight = 0
        self.peak_in_flight = 0
        self.host_peaks: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()  # per host, requests answered in full (or given up)
        self._host_in_flight: Counter[str] = Counter()
        self._counting = threading.Lock()
        self.routes: dict[str, dict[str, Route]] = {}
        self._first: dict[tuple[str, str], list[Route]] = {}  # answers given once each, before the route
        self._first_lock = threading.Lock()
        self.log: list[tuple[str, str]] = []  # (host, path) of each GET
        self.tunnels: list[str] = []  # the host of each CONNECT, refused
        self.agents: set[str] = set()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    def add(
        self,
        host: str,
        path: str,
        body: Body = b"",
        *,
        status: int = 200,
        content_type: str | None = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
        **options: float | bool,
    ) -> None:
        all_headers = dict(headers or {})
        if content_type and "Content-Type" not in all_headers:
            all_headers["Content-Type"] = content_type
        self.routes.setdefault(host, {})[path] = Route(body, status, all_headers, **options)  # type: ignore[arg-type]

    def add_first(
        self,
        host: str,
        path: str,
        body: Body = b"",
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        """One answer, given to the next request for ``path`` only, before its usual route (a 429, then
        the file); several queue up in order."""
        self._first.setdefault((host, path), []).append(Route(body, status, dict(headers or {})))

    def _take_first(self, host: str, path: str) -> Route | None:
        with self._first_lock:
            queued = self._first.get((host, path))
            return queued.pop(0) if queued else None

    def add_xml(
        self, host: str, path: str, xml: str | bytes, *, gzipped: bool = False, **options: object
    ) -> None:
        data = xml.encode() if isinstance(xml, str) else xml
        if gzipped:
            data = gzip.compress(data)
        content_type = "application/gzip" if gzipped else "application/xml"
        self.add(host, path, data, content_type=content_type, **options)  # type: ignore[arg-type]

    @contextlib.contextmanager
    def _answering(self, host: str) -> Iterator[Callable[[], None]]:
        """Counts a request in flight while it is answered, and holds its answer back by the delay.
        The handler calls what it is given just before the answer's last bytes go out: once the
        client has them it may send its next request, which must not be counted beside this one."""
        with self._counting:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            self._host_in_flight[host] += 1
            self.host_peaks[host] = max(self.host_peaks[host], self._host_in_flight[host])
        counted = True

        def answered() -> None:
            nonlocal counted
            if counted:
                counted = False
                with self._counting:
                    self.in_flight -= 1
                    self._host_in_flight[host] -= 1
                    self.answered[host] += 1

        try:
            wait = self.host_delays.get(host, self.delay)
            if wait:
                time.sleep(wait)
            yield answered
        finally:
            answered()

    def answered_but(self, host: str) -> int:
        """Requests answered so far to every host but ``host`` (read under the lock: the handler
        threads add hosts meanwhile)."""
        with self._counting:
            return self.answered.total() - self.answered[host]

    def requests_to(self, host: str) -> list[str]:
        return [path for logged_host, path in self.log if logged_host == host]

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Web:
        web = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_CONNECT(self) -> None:
                host = self.path.rsplit(":", 1)[0].lower()
                web.tunnels.append(host)
                with web._answering(host) as answered:
                    answered()
                    self.send_error(502, "no TLS here")

            def do_GET(self) -> None:
                target = urlsplit(self.path)
                host = (target.hostname or self.headers.get("Host", "").split(":")[0]).lower()
                with web._answering(host) as answered:
                    self._answer(host, target.path or "/", target.query, answered)

            def _answer(self, host: str, path: str, query: str, answered: Callable[[], None]) -> None:
                full = path + (f"?{query}" if query else "")
                web.log.append((host, full))
                web.agents.add(self.headers.get("User-Agent", ""))
                site = web.routes.get(host, {})
                route = (
                    web._take_first(host, full)
                    or site.get(full)
                    or site.get(path)
                    or Route(b"<html><body>Not Found</body></html>", 404)
                )
                if route.hang:
                    web._stopping.wait(120)
                    return
                if route.delay:
                    time.sleep(route.delay)
                self.send_response(route.status)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                if callable(route.body):
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    try:
                        for chunk in route.body():
                            if chunk:
                                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        answered()
                        self.wfile.write(b"0\r\n\r\n")
                    except (BrokenPipeError, ConnectionResetError):
                        self.close_connection = True
                    return
                self.send_header("Content-Length", str(len(route.body)))
                answered()  # before the headers: with an empty body, they are the whole answer
                self.end_headers()
                try:
                    self.wfile.write(route.body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class _QuietServer(ThreadingHTTPServer):
    """Clients that hang up early (a cap reached, a deadline passed) are expected here, not errors.

    The listen backlog is socketserver's default of 5 otherwise: a crawler opening dozens of
    connections at once overflows it, the kernel drops their SYNs, and each dropped one costs the
    client a retransmission a second or more later, so the web would seem slow when it is not.
    """

    request_queue_size = 1024

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)  # type: ignore[arg-type]
