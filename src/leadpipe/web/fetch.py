"""Fetching, politely and safely: the one way every stage reaches the web.

A request passes these layers in order, each a small function of its own:

1. the address guard, as each connection is opened: no private, loopback or link-local targets (nor
   IPv6 addresses carrying one) unless the operator allows them. Every connection leadpipe opens itself
   goes to the very addresses the guard looked up, once, and checked, so a second look-up cannot
   answer differently (DNS rebinding). Only the name in a request sent to a proxy
   (``LEADPIPE_PROXY``, or the environment's for its scheme and host) is the proxy's to resolve; an
   address given as such is checked even then;
2. robots.txt, for leadpipe's user agent (cached per origin for a day);
3. politeness: a global and a per-host limit on requests in flight, and an optional per-host delay
   (at least the site's Crawl-delay);
4. HTTP (aiohttp: a connection kept per host between its requests, and a fraction of a pure-Python
   client's work per request, which at dozens in flight is what decides how busy they all are):
   verified TLS, redirects followed by hand so each hop passes layers 1 and 2 again, connect and
   read timeouts and a deadline for the whole response;
5. the body: streamed, its transport compression undone in bounded pieces (``web/decode.py``), counted
   and cut at a cap, so neither a huge file nor a gzip bomb is ever held in memory.

Before the layers, the handover (``web/handover.py``): an answer one stage read whole and handed on
(a small sitemap discovery classified, the home page it read for links) answers the next stage's ask
for the same URL in this process, so the site is asked once.

Nothing here retries on a 429/503: :meth:`Fetcher.raise_if_throttled` raises :class:`Throttled` with
the wait, which the stages make the engine's ``RetryLater`` (`leadpipe.stages.errors`), so no worker
slot waits it out; meanwhile :meth:`Fetcher.slow_down` holds back that host's next requests, no longer
than the longest Crawl-delay honoured.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import io
import ipaddress
import re
import socket
import ssl
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Container
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from multidict import CIMultiDictProxy
from protego import Protego

from leadpipe.config import Settings
from leadpipe.web.decode import BodyDecoder, DecodeError
from leadpipe.web.handover import ENTRY_MAX_BYTES, Handover

Resolver = Callable[[str, int], Awaitable[list[str]]]
Sink = Callable[[bytes], bool]
"""Receives the body chunk by chunk; returns False to stop reading."""

REDIRECTS = (301, 302, 303, 307, 308)
ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309 asks crawlers to read at least 500 KiB
ROBOTS_TTL_SECONDS = 24 * 3600
MAX_CRAWL_DELAY_SECONDS = 10.0
REPLAY_CHUNK_BYTES = 64 * 1024  # a held body goes to a sink in pieces, as it would off the wire
# How long a host's idle connection is kept for its next request. A site's requests come in bursts
# (discovery's steps, then its pages, each a moment after the last), and aiohttp caps only connections
# in use, not idle ones: each host seen in the last few seconds keeps its sockets (aiohttp sweeps them
# every KEEPALIVE_SECONDS, so an idle one lives up to twice that). Short, so that a fast crawl holds
# some hundreds of sockets at most, not the thousands a long keep-alive would.
KEEPALIVE_SECONDS = 2.0
# Python before 3.12.8 (and 3.13.0) can keep a TLS connection open for ever when the server never
# finishes its shutdown (cpython#118960): aiohttp then aborts such a connection itself.
TLS_SHUTDOWN_MAY_HANG = sys.version_info < (3, 12, 8) or (3, 13, 0) <= sys.version_info < (3, 13, 1)

# IPv6 ranges whose last 32 bits are an IPv4 address the packets reach: NAT64's well-known prefix
# (RFC 6052) and the deprecated IPv4-compatible addresses (RFC 4291).
IPV4_IN_LAST_32_BITS = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("::/96"))
# NAT64 for local use (RFC 8215): never global, though Python 3.11's ipaddress counts it as such.
LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


class FetchError(Exception):
    """A request that got no usable answer; the subclass says why."""


class NetworkError(FetchError):
    """The site could not be reached at all: its name, the connection, TLS or the proxy failed.
    ``url`` is the request that failed, which may be a redirect's target rather than the URL asked."""

    url: str | None = None


class NameNotResolved(NetworkError):
    """The host name has no address."""


class ConnectionFailed(NetworkError):
    """No connection could be opened to the host."""


class TLSFailed(NetworkError):
    """TLS failed, an untrusted certificate included (verification is never turned off)."""


class ProxyRefused(NetworkError):
    """The proxy refused the request."""


class FetchTimeout(FetchError):
    """No complete answer in time: no connection, a stalled read, or the whole response's deadline."""


class ProtocolError(FetchError):
    """A broken answer: a cut connection, malformed HTTP, or a body that cannot be decoded."""


class AddressRefused(FetchError):
    """The address guard refused a private, loopback or link-local target."""


class RobotsRefused(FetchError):
    """robots.txt keeps leadpipe's user agent out of the URL."""


class TooManyRedirects(FetchError):
    """More redirects than allowed, or a redirect loop."""


class BadURL(FetchError):
    """A URL that cannot be fetched: malformed (a bad host or port), or not http(s)."""


class Throttled(FetchError):
    """The site answered 429 or 5xx (a robots.txt's such answer included): it says nothing about what
    the site holds. ``retry_after`` is the wait in seconds: the server's Retry-After, else the
    configured ``http_busy_retry_seconds``; ``reason`` names the answer and the wait."""

    def __init__(
        self, response: Response, retry_after: float, *, asked: bool, message: str | None = None
    ) -> None:
        what = "rate limited by the site" if response.status == 429 else "server error"
        wait = f"Retry-After: {retry_after:g}s" if asked else "no Retry-After"
        self.reason = f"{what}: {response.status} on {response.url} ({wait})"
        super().__init__(message or self.reason)
        self.response = response
        self.retry_after = retry_after


# No answer in time, or a connection cut mid-answer: the next try may well get one.
TRANSIENT = (FetchTimeout, ProtocolError)
# What makes ``open_site`` try http after https: https itself could not be reached (a name that does
# not resolve would not resolve for http either).
HTTPS_UNREACHABLE = (ConnectionFailed, TLSFailed, ProxyRefused, *TRANSIENT)


@dataclass
class Response:
    url: str
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes = b""
    size: int = 0
    truncated: bool = False
    seconds: float = 0.0
    redirects: list[str] = field(default_factory=list)
    retry_after_limit: float = field(
        default=Settings.model_fields["max_retry_after_seconds"].default, kw_only=True, repr=False
    )
    """The longest :meth:`retry_after` says: the fetcher's ``max_retry_after_seconds``."""

    @property
    def is_redirect(self) -> bool:
        return self.status in REDIRECTS and "location" in self.headers

    @property
    def content_type(self) -> str:
        return str(self.headers.get("content-type", "")).split(";")[0].strip().lower()

    def retry_after(self) -> float | None:
        """Seconds a 429 or 503 asks us to wait, if it says (see :func:`parse_retry_after`)."""
        return parse_retry_after(self.headers.get("retry-after"), self.retry_after_limit)


_DELAY_SECONDS = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def parse_retry_after(value: str | None, limit: float) -> float | None:
    """A Retry-After header's wait in seconds, between 0 and ``limit``; None when it says nothing
    usable. Seconds or an HTTP date; fractions are read, and a negative or past value is no wait. The
    value is the server's to choose: ``99999999999999`` or the year 9999 waits ``limit``, no longer.
    """
    value = (value or "").strip()
    if _DELAY_SECONDS.fullmatch(value):
        seconds = float(value)  # a string of digits is at most inf here, never nan
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), limit)


@dataclass
class Robots:
    """An origin's robots.txt: its rules for us, its Sitemap lines and its Crawl-delay."""

    status: int | None
    rules: Protego | None
    sitemaps: list[str]
    fetched_at: float

    def allows(self, url: str, agent: str) -> bool:
        return self.rules is None or bool(self.rules.can_fetch(url, agent))


@dataclass
class Site:
    """A domain as leadpipe reaches it: its origin, its robots.txt, and why https failed, if it did."""

    origin: str
    robots: Robots
    https_problem: str | None = None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def same_origin(url: str, other: str) -> bool:
    """Whether two URLs have one scheme, host and port (a default port written or not)."""
    first, second = urlsplit(url), urlsplit(other)
    defaults = {"http": 80, "https": 443}
    try:
        return (first.scheme, first.hostname, first.port or defaults.get(first.scheme)) == (
            second.scheme,
            second.hostname,
            second.port or defaults.get(second.scheme),
        )
    except ValueError:  # a port that is not a number
        return False


def is_public_address(address: str) -> bool:
    """Whether ``address`` is on the public internet, and so is any IPv4 address it carries (IPv4-mapped,
    6to4, Teredo, NAT64, IPv4-compatible): such an IPv6 address reaches that IPv4 host."""
    ip = ipaddress.ip_address(address)
    if not ip.is_global:
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        return True
    if ip in LOCAL_NAT64:
        return False
    carried = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
    if any(ip in network for network in IPV4_IN_LAST_32_BITS):
        carried.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return all(ipv4.is_global for ipv4 in carried if ipv4 is not None)


def _address_of(host: str) -> str | None:
    """The IP address ``host`` is written as, if it is one; in every form a resolver reads as an
    address (``127.1``, ``2130706433``, ``0x7f000001``), which a proxy would connect to as given."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        return str(ipaddress.IPv4Address(socket.inet_aton(host)))
    except OSError:
        return None


def _is_address(host: str) -> bool:
    return _address_of(host) is not None


def _checked_url(url: str) -> str:
    """``url`` if leadpipe can fetch it: http(s), with a host and a valid port; else BadURL."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (reading it checks it)
    except ValueError as error:
        raise BadURL(f"not a usable URL: {url!r} ({error})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadURL(f"not an http(s) URL: {url!r}")
    return url


def _joined(base: str, link: str) -> str | None:
    """``link`` resolved against ``base``; None when it is malformed."""
    try:
        return urljoin(base, link)
    except ValueError:
        return None


async def _system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class _GuardedResolver(AbstractResolver):
    """The resolver of leadpipe's own connections: aiohttp connects to the addresses ``addresses``
    looked up and checked for the host, and to no other (no cache of its own, no second look-up).
    aiohttp still gives the name to TLS (SNI, certificate) and to the Host header."""

    def __init__(self, addresses: Resolver) -> None:
        self._addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in await self._addresses(host, port)
        ]

    async def close(self) -> None:
        pass


class Timings:
    """How long answers took, by status class ("2xx" … "5xx", "error" for none): counts in buckets,
    for ``/metrics`` to read as a histogram."""

    BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

    def __init__(self) -> None:
        self.buckets: dict[str, list[int]] = {}  # per class, answers at or under each bucket's bound
        self.counts: Counter[str] = Counter()
        self.sums: dict[str, float] = {}

    def note(self, kind: str, seconds: float) -> None:
        counts = self.buckets.setdefault(kind, [0] * len(self.BUCKETS))
        for position, bound in enumerate(self.BUCKETS):
            if seconds <= bound:
                counts[position] += 1
        self.counts[kind] += 1
        self.sums[kind] = self.sums.get(kind, 0.0) + seconds


class Fetcher:
    """One per worker process; shares connections, host slots and robots.txt across handlers."""

    def __init__(self, settings: Settings, *, resolver: Resolver | None = None) -> None:
        self.settings = settings
        self.resolver = resolver or _system_resolver
        self._sessions: dict[bool, aiohttp.ClientSession] = {}  # by whether a proxy takes the request
        # Read once, as the fetcher is made: reading the environment costs more than a request's
        # own work here.
        self._environment_proxies = urllib.request.getproxies_environment()
        self._all = asyncio.Semaphore(settings.http_concurrency)
        self.in_flight = 0  # requests sent and not yet answered in full
        self.requests = 0  # requests answered (or failed), since the fetcher was made
        self.timings = Timings()
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._next_at: dict[str, float] = {}
        self._robots: dict[str, Robots] = {}
        self._robots_locks: dict[str, asyncio.Lock] = {}
        self.handover: Handover[Response] = Handover()

    def _session(self, proxied: bool) -> aiohttp.ClientSession:
        """The session for requests sent to a proxy, or for leadpipe's own connections (whose
        resolver is the address guard). A proxy's own address is the operator's choice, not checked."""
        session = self._sessions.get(proxied)
        if session is None:
            connector = aiohttp.TCPConnector(
                limit=0,  # the politeness layer holds requests to http_concurrency
                use_dns_cache=False,
                resolver=None if proxied else _GuardedResolver(self._checked_addresses),
                keepalive_timeout=KEEPALIVE_SECONDS,
                # Made now, not at aiohttp's import, so SSL_CERT_FILE and SSL_CERT_DIR are read as set.
                ssl=ssl.create_default_context(),
                enable_cleanup_closed=TLS_SHUTDOWN_MAY_HANG,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": self.settings.user_agent, "Accept-Encoding": "gzip, deflate"},
                timeout=aiohttp.ClientTimeout(
                    total=None,  # the whole response's deadline is get()'s
                    connect=self.settings.http_connect_timeout_seconds,
                    sock_read=self.settings.http_read_timeout_seconds,
                ),
                auto_decompress=False,  # web/decode.py undoes it, in bounded pieces
                trust_env=False,  # the environment's proxies are read by _proxy_for
                # No cookies kept: a site's Set-Cookie neither follows leadpipe to its next request nor
                # piles up in memory over a long crawl.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
            self._sessions[proxied] = session
        return session

    async def aclose(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()

    async def open_site(self, domain: str) -> Site:
        """How to reach ``domain``: https first, http when https cannot be reached at all (an untrusted
        certificate included, recorded as such; verification is never turned off)."""
        https_problem = None
        for scheme in ("https", "http"):
            origin = f"{scheme}://{domain}"
            try:
                return Site(origin, await self.robots(origin), https_problem)
            except FetchError as error:
                if scheme == "https" and isinstance(error, HTTPS_UNREACHABLE):
                    https_problem = str(error)
                    continue
                raise
        raise AssertionError("unreachable")

    # -- layer 1: the address guard ---------------------------------------------------------------

    def _proxy_for(self, url: str) -> str | None:
        """The proxy ``url`` is sent to: ``LEADPIPE_PROXY`` for every URL, else the environment's (as
        the fetcher found it) for its scheme, or ALL_PROXY, unless NO_PROXY names its host; None to
        connect directly."""
        if self.settings.proxy is not None:
            return self.settings.proxy.get_secret_value()
        parts = urlsplit(url)
        proxy = self._environment_proxies.get(parts.scheme) or self._environment_proxies.get("all")
        bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]  # not in typeshed
        if proxy is None or bypass(parts.netloc, self._environment_proxies):
            return None
        return proxy

    async def check_address(self, url: str) -> None:
        """Refuse now a URL the guard would refuse, before work is spent on it: one naming an address
        (a proxy would connect to it as given), or a name leadpipe would connect to itself. A name a
        proxy takes is the proxy's to resolve."""
        parts = urlsplit(_checked_url(url))
        if self.settings.allow_private_networks:
            return
        host = parts.hostname or ""
        if _is_address(host) or self._proxy_for(url) is None:
            await self._checked_addresses(host, parts.port or (443 if parts.scheme == "https" else 80))

    async def _checked_addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for ``host``: looked up once, each refused unless it is public
        or the operator allows private networks."""
        address = _address_of(host)
        if address is not None:
            addresses = [address]
        else:
            try:
                addresses = await self.resolver(host, port)
            except (OSError, UnicodeError) as error:
                raise NameNotResolved(f"{host} does not resolve ({error})") from None
            if not addresses:
                raise NameNotResolved(f"{host} does not resolve (no address)")
        if not self.settings.allow_private_networks:
            for address in addresses:
                if not is_public_address(address):
                    raise AddressRefused(
                        f"refused: {host} resolves to {address}, a private or local address "
                        "(set LEADPIPE_ALLOW_PRIVATE_NETWORKS=true to allow)",
                    )
        return addresses

    # -- layer 2: robots.txt ----------------------------------------------------------------------

    async def robots(self, origin: str) -> Robots:
        """The origin's robots.txt, fetched once a day. A 4xx means no rules; a 5xx or no answer
        means keep out for now (RFC 9309), raised as :class:`Throttled`."""
        cached = self._robots.get(origin)
        if cached and time.monotonic() - cached.fetched_at < ROBOTS_TTL_SECONDS:
            return cached
        lock = self._robots_locks.setdefault(origin, asyncio.Lock())
        async with lock:
            cached = self._robots.get(origin)
            if cached and time.monotonic() - cached.fetched_at < ROBOTS_TTL_SECONDS:
                return cached
            response = await self.get(f"{origin}/robots.txt", max_bytes=ROBOTS_MAX_BYTES, obey_robots=False)
            self.raise_if_throttled(
                response,
                f"robots.txt answered HTTP {response.status}: treated as keep-out for now (RFC 9309)",
            )
            rules = None
            sitemaps: list[str] = []
            if 200 <= response.status < 300:
                text = response.body.decode("utf-8-sig", errors="replace")
                rules = Protego.parse(text)
                base = response.url
                joined = (_joined(base, line.strip()) for line in rules.sitemaps)
                sitemaps = list(dict.fromkeys(url for url in joined if url))  # a malformed line is left out
            robots = Robots(response.status, rules, sitemaps, time.monotonic())
            self._robots[origin] = robots
            return robots

    async def _check_robots(self, url: str) -> float:
        """Refuse a URL robots.txt keeps us out of; returns the site's Crawl-delay."""
        robots = await self.robots(_origin(url))
        if not robots.allows(url, self.settings.user_agent):
            raise RobotsRefused(f"robots.txt disallows {url} for {self.settings.user_agent}")
        delay = robots.rules.crawl_delay(self.settings.user_agent) if robots.rules else None
        return min(float(delay or 0.0), MAX_CRAWL_DELAY_SECONDS)

    # -- layer 3: politeness ----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _slot(self, host: str, delay: float) -> AsyncIterator[None]:
        per_host = self._hosts.setdefault(host, asyncio.Semaphore(self.settings.http_per_host))
        async with per_host, self._all:
            wait = self._next_at.get(host, 0.0) - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            gap = max(delay, self.settings.http_host_delay_seconds)
            self._next_at[host] = time.monotonic() + gap
            self.in_flight += 1
            try:
                yield
            finally:
                self.in_flight -= 1
                self.requests += 1

    def slow_down(self, host: str, seconds: float) -> None:
        """Send nothing more to ``host`` for ``seconds`` (a 429's Retry-After), at most the longest
        Crawl-delay honoured, so no request holds its slot for longer."""
        until = time.monotonic() + min(seconds, MAX_CRAWL_DELAY_SECONDS)
        self._next_at[host] = max(self._next_at.get(host, 0.0), until)

    def raise_if_throttled(self, response: Response, message: str | None = None) -> None:
        """Raise :class:`Throttled` when ``response`` is a 429 or 5xx, with the server's Retry-After,
        else the configured wait; the host is left alone meanwhile (:meth:`slow_down`)."""
        if not (response.status == 429 or response.status >= 500):
            return
        asked = response.retry_after()
        seconds = self.settings.http_busy_retry_seconds if asked is None else asked
        self.slow_down(urlsplit(response.url).hostname or "", seconds)
        raise Throttled(response, seconds, asked=asked is not None, message=message)

    # -- layers 4 and 5: HTTP and the body --------------------------------------------------------

    async def get(
        self,
        url: str,
        *,
        max_bytes: int = 5 * 1024 * 1024,
        sink: Sink | None = None,
        obey_robots: bool = True,
        stop_at: Container[str] = (),
        hand_on: bool = False,
    ) -> Response:
        """GET ``url``; the body is kept (up to ``max_bytes``) or handed to ``sink`` as it arrives.

        A redirect to a URL in ``stop_at`` is not followed: the 3xx response is returned as it is.
        With ``hand_on``, an answer read whole (a 2xx, not cut, its sink never saying stop) is held
        for the next ask of the same URL in this process (`leadpipe.web.handover`), which is answered
        with it instead of by the site; an ask naming ``stop_at`` always goes to the site.
        """
        held = None if stop_at else self.handover.take(url)
        if held is not None and held.size <= max_bytes:
            if hand_on:
                self.handover.hold(url, held, held.size)
            return _replayed(held, sink)
        copy = _Copy(sink) if hand_on and sink is not None else None
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.settings.http_total_timeout_seconds):
                response = await self._follow(url, max_bytes, copy or sink, obey_robots, stop_at)
        except TimeoutError:
            raise FetchTimeout(
                f"no complete answer from {url} within {self.settings.http_total_timeout_seconds:g}s",
            ) from None
        response.seconds = time.monotonic() - started
        if hand_on and 200 <= response.status < 300 and not response.truncated:
            if copy is None:
                self.handover.hold(url, replace(response), response.size)
            elif copy.whole:
                self.handover.hold(url, replace(response, body=copy.body.getvalue()), response.size)
        return response

    async def _follow(
        self, url: str, max_bytes: int, sink: Sink | None, obey_robots: bool, stop_at: Container[str]
    ) -> Response:
        seen = [url]
        while True:
            host = urlsplit(_checked_url(url)).hostname or ""
            if _is_address(host):  # refused even when a proxy takes it: it would connect to it as given
                await self.check_address(url)
            delay = await self._check_robots(url) if obey_robots and self.settings.obey_robots else 0.0
            try:
                async with self._slot(host, delay):
                    sent = time.monotonic()
                    try:
                        response = await self._request(url, max_bytes, sink)
                    except FetchError:
                        self.timings.note("error", time.monotonic() - sent)
                        raise
                    self.timings.note(f"{response.status // 100}xx", time.monotonic() - sent)
            except NetworkError as error:
                error.url = url
                raise
            if not response.is_redirect:
                response.redirects = seen[:-1]
                return response
            location = response.headers["location"].strip()
            target = _joined(url, location)
            if target is None:
                raise BadURL(f"{url} redirects to a malformed URL: {location!r}")
            url = target
            if url in stop_at:
                response.redirects = seen
                return response
            if url in seen:
                raise TooManyRedirects("redirect loop: " + " → ".join([*seen, url]))
            if len(seen) > self.settings.http_max_redirects:
                raise TooManyRedirects(
                    f"more than {self.settings.http_max_redirects} redirects from {seen[0]}"
                )
            seen.append(url)

    async def _request(self, url: str, max_bytes: int, sink: Sink | None) -> Response:
        proxy = self._proxy_for(url)
        try:
            async with self._session(proxy is not None).get(url, proxy=proxy, allow_redirects=False) as raw:
                response = Response(
                    url, raw.status, raw.headers, retry_after_limit=self.settings.max_retry_after_seconds
                )
                if not response.is_redirect:
                    response.body = await _read(raw, response, max_bytes, sink)
                return response
        except aiohttp.ClientHttpProxyError as error:
            raise ProxyRefused(
                f"the proxy refused {url}: HTTP {error.status} {_brief(error.message)}"
            ) from None
        except aiohttp.ClientProxyConnectionError as error:
            raise ProxyRefused(f"the proxy for {url} could not be reached: {error.os_error}") from None
        except aiohttp.ClientConnectorCertificateError as error:
            reason = getattr(error.certificate_error, "verify_message", None) or error.certificate_error
            raise TLSFailed(f"{url}: certificate not trusted ({reason})") from None
        except aiohttp.ClientSSLError as error:
            raise TLSFailed(
                f"{url}: TLS failed ({getattr(error.os_error, 'reason', None) or error})"
            ) from None
        except aiohttp.ClientConnectorDNSError:
            raise NameNotResolved(f"{urlsplit(url).hostname} does not resolve") from None
        except aiohttp.ClientConnectorError as error:
            raise ConnectionFailed(f"could not connect to {url}: {error.os_error or error}") from None
        except aiohttp.ConnectionTimeoutError:
            raise FetchTimeout(f"could not connect to {url} in time") from None
        except TimeoutError:  # aiohttp's own read timeout; get()'s deadline is outside this call
            raise FetchTimeout(f"{url} stopped answering") from None
        except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError, ValueError) as error:
            raise BadURL(f"not a usable URL: {url!r} ({error})") from None
        except aiohttp.ClientResponseError as error:  # an answer aiohttp could not parse
            raise ProtocolError(f"broken answer from {url}: {_brief(error.message)}") from None
        except (aiohttp.ClientError, DecodeError) as error:
            raise ProtocolError(f"broken answer from {url}: {error or type(error).__name__}") from None


class _Copy:
    """A sink that keeps a copy of what it is given, while that fits a handover entry."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.body = io.BytesIO()
        self.whole = True  # every chunk so far is in the copy, and the sink never said stop

    def __call__(self, chunk: bytes) -> bool:
        if self.whole and self.body.tell() + len(chunk) <= ENTRY_MAX_BYTES:
            self.body.write(chunk)
        else:
            self.whole = False
        going = self.sink(chunk)
        self.whole = self.whole and going
        return going


def _replayed(held: Response, sink: Sink | None) -> Response:
    """A held answer as a new one: its body kept, or handed to ``sink`` until it says stop."""
    if sink is None:
        return replace(held, redirects=list(held.redirects))
    response = replace(held, body=b"", size=0, redirects=list(held.redirects))
    for start in range(0, len(held.body), REPLAY_CHUNK_BYTES):
        chunk = held.body[start : start + REPLAY_CHUNK_BYTES]
        response.size += len(chunk)
        if not sink(chunk):
            break
    return response


def _brief(text: str, limit: int = 200) -> str:
    """A server-made message (which may quote kilobytes of its answer) on one short line."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


async def _read(raw: aiohttp.ClientResponse, response: Response, max_bytes: int, sink: Sink | None) -> bytes:
    """Read the body as it arrives, its Content-Encoding undone by leadpipe's own bounded decoder,
    until ``max_bytes`` (then ``response.truncated``) or until ``sink`` says stop. Returns what is
    kept: nothing when a sink takes the body. A buffer that grows in place hands its bytes over without
    a copy, where a list of chunks joined at the end holds the body twice."""
    body = io.BytesIO()
    decoder = BodyDecoder(raw.headers.get("content-encoding", ""))
    async for data in raw.content.iter_any():
        for chunk in decoder.decode(data):
            room = max_bytes - response.size
            if len(chunk) > room:
                chunk = chunk[:room]
                response.truncated = True
            response.size += len(chunk)
            if sink is None:
                body.write(chunk)
            elif not sink(chunk):
                return body.getvalue()
            if response.truncated:
                return body.getvalue()
    return body.getvalue()
