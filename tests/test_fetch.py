"""The fetcher against real HTTP on loopback: robots, proxies, fallbacks, limits and the address guard."""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from leadpipe.config import Settings
from leadpipe.demo.web import Web
from leadpipe.web.fetch import (
    AddressRefused,
    BadURL,
    Fetcher,
    FetchError,
    FetchTimeout,
    ProtocolError,
    Resolver,
    Response,
    RobotsRefused,
    Throttled,
    is_public_address,
)


def fetcher_for(web: Web, **overrides: Any) -> Fetcher:
    options: dict[str, Any] = {"proxy": web.url, "http_total_timeout_seconds": 5, **overrides}
    return Fetcher(Settings(**options))


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def _get(fetcher: Fetcher, url: str, **options: Any) -> Response:
    try:
        return await fetcher.get(url, **options)
    finally:
        await fetcher.aclose()


def test_a_page_through_the_proxy_with_our_user_agent(web: Web) -> None:
    web.add("acme.test", "/", b"<html>hello</html>")
    response = run(_get(fetcher_for(web), "http://acme.test/"))
    assert (response.status, response.body, response.content_type) == (
        200,
        b"<html>hello</html>",
        "text/html",
    )
    assert web.requests_to("acme.test") == ["/robots.txt", "/"]
    assert any(agent.startswith("leadpipe/") for agent in web.agents)


def test_robots_txt_is_obeyed_for_our_agent(web: Web) -> None:
    web.add("acme.test", "/robots.txt", b"User-agent: *\nDisallow: /private\n", content_type="text/plain")
    web.add("acme.test", "/private/x", b"secret")
    with pytest.raises(FetchError) as refused:
        run(_get(fetcher_for(web), "http://acme.test/private/x"))
    assert isinstance(refused.value, RobotsRefused) and "robots.txt disallows" in str(refused.value)
    assert "/private/x" not in web.requests_to("acme.test")


def test_robots_txt_failing_with_5xx_keeps_us_out_for_now(web: Web) -> None:
    web.add("acme.test", "/robots.txt", b"oops", status=503)
    with pytest.raises(FetchError, match="treated as keep-out"):
        run(_get(fetcher_for(web), "http://acme.test/"))


def test_a_busy_answer_is_the_web_layers_own_throttled_error_with_its_wait(web: Web) -> None:
    web.add("acme.test", "/robots.txt", b"oops", status=503, headers={"Retry-After": "7"})
    web.add("busy.test", "/", b"slow down", status=429)
    with pytest.raises(Throttled) as robots_busy:
        run(_get(fetcher_for(web), "http://acme.test/"))
    assert "treated as keep-out" in str(robots_busy.value)  # what the fetch says, as before
    assert robots_busy.value.reason == "server error: 503 on http://acme.test/robots.txt (Retry-After: 7s)"
    assert robots_busy.value.retry_after == 7
    fetcher = fetcher_for(web, http_busy_retry_seconds=42)
    answer = run(_get(fetcher, "http://busy.test/", obey_robots=False))
    with pytest.raises(Throttled) as page_busy:
        fetcher.raise_if_throttled(answer)
    assert str(page_busy.value) == "rate limited by the site: 429 on http://busy.test/ (no Retry-After)"
    assert page_busy.value.retry_after == 42


def test_the_web_layer_and_the_sitemaps_command_load_no_engine() -> None:
    probe = (
        "import sys, leadpipe.web.sitemaps, leadpipe.cli.sitemaps; "
        "print(sorted(m for m in sys.modules if m.startswith(('leadpipe.engine', 'leadpipe.stages'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_https_falls_back_to_http_when_https_cannot_be_reached(web: Web) -> None:
    web.add("acme.test", "/robots.txt", b"Sitemap: /sitemap.xml\n", content_type="text/plain")

    async def scenario() -> Any:
        fetcher = fetcher_for(web)
        try:
            return await fetcher.open_site("acme.test")
        finally:
            await fetcher.aclose()

    site = run(scenario())
    assert site.origin == "http://acme.test"
    assert site.https_problem and "proxy refused" in site.https_problem
    assert site.robots.sitemaps == ["http://acme.test/sitemap.xml"]


def test_a_server_that_never_answers_times_out_within_the_deadline(web: Web) -> None:
    web.add("slow.test", "/", hang=True)
    started = time.monotonic()
    with pytest.raises(FetchError) as failed:
        run(_get(fetcher_for(web, http_total_timeout_seconds=1.0), "http://slow.test/", obey_robots=False))
    assert isinstance(failed.value, FetchTimeout)
    assert time.monotonic() - started < 3


ENDLESS_HEADS = {
    "headers": (b"HTTP/1.1 200 OK\r\n", b"X-Filler: " + b"a" * 100 + b"\r\n"),
    "one header line": (b"HTTP/1.1 200 OK\r\nX-Long: ", b"a" * 65536),
    "status line": (b"", b"H" * 65536),
}


@pytest.mark.parametrize("endless", ENDLESS_HEADS)
def test_an_answer_whose_head_never_ends_is_a_broken_answer_at_once(endless: str) -> None:
    """A server streaming headers for ever: refused at the client's header limits, neither waited
    for until a timeout nor held in memory, and named in a short line."""
    start, repeated = ENDLESS_HEADS[endless]
    server = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        connection, _ = server.accept()
        connection.recv(65536)
        try:
            connection.sendall(start)
            while True:
                connection.sendall(repeated * (65536 // len(repeated)))
        except OSError:
            connection.close()

    threading.Thread(target=answer, daemon=True).start()
    fetcher = Fetcher(Settings(allow_private_networks=True, http_total_timeout_seconds=30))
    url = f"http://127.0.0.1:{server.getsockname()[1]}/"
    started = time.monotonic()
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError, match="broken answer") as broken:
            run(_get(fetcher, url, obey_robots=False))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        server.close()
    assert time.monotonic() - started < 5
    assert peak < 5 * 1024 * 1024
    assert len(str(broken.value)) < 300  # the reason stored on the item, not kilobytes of the answer


def test_a_slow_drip_body_is_bounded_by_the_total_deadline(web: Web) -> None:
    def drip() -> Iterator[bytes]:
        for _ in range(100):
            time.sleep(0.1)
            yield b"x" * 10

    web.add("drip.test", "/", drip)
    started = time.monotonic()
    with pytest.raises(FetchError, match="no complete answer"):
        run(
            _get(
                fetcher_for(web, http_total_timeout_seconds=1.0, http_read_timeout_seconds=5),
                "http://drip.test/",
                obey_robots=False,
            )
        )
    assert time.monotonic() - started < 3


def test_a_redirect_loop_is_named(web: Web) -> None:
    web.add("loop.test", "/a", status=302, headers={"Location": "/b"})
    web.add("loop.test", "/b", status=302, headers={"Location": "/a"})
    with pytest.raises(
        FetchError, match=r"redirect loop: http://loop.test/a → http://loop.test/b → http://loop.test/a"
    ):
        run(_get(fetcher_for(web), "http://loop.test/a"))


def test_redirects_are_followed_and_recorded(web: Web) -> None:
    web.add("old.test", "/", status=301, headers={"Location": "http://new.test/home"})
    web.add("new.test", "/home", b"moved")
    response = run(_get(fetcher_for(web), "http://old.test/"))
    assert response.url == "http://new.test/home" and response.body == b"moved"
    assert response.redirects == ["http://old.test/"]
    assert "/robots.txt" in web.requests_to("new.test")  # each hop asks its own robots.txt


def test_a_body_larger_than_the_cap_is_cut_while_streaming(web: Web) -> None:
    web.add("big.test", "/", lambda: (b"x" * 65536 for _ in range(1600)))  # 100 MiB
    response = run(_get(fetcher_for(web), "http://big.test/", max_bytes=1_000_000, obey_robots=False))
    assert response.truncated and response.size == 1_000_000 and len(response.body) == 1_000_000


# Content-Encoding → zlib's wbits for it: gzip, deflate as the RFC says (zlib's format), raw deflate.
ENCODINGS = {"gzip": 31, "deflate": 15, "raw deflate": -15}


def compressed(data: bytes, wbits: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return packer.compress(data) + packer.flush()


def bomb(wbits: int, mebibytes: int = 1024) -> bytes:
    """A MiB of zeros compressed once, its deflate blocks repeated: 1 GiB in 1 MB, made at once.

    Each repetition starts afresh (a full flush), so the stream decodes to ``mebibytes`` MiB of zeros;
    only its closing checksum covers two of them, and no reader with a cap gets that far.
    """
    zeros = bytes(1 << 20)
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    first = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    again = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    return first + again * (mebibytes - 2) + packer.flush()


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_transport_bomb_is_cut_at_the_cap_without_ever_being_expanded(web: Web, encoding: str) -> None:
    """A library's decoder expands each 64 KiB read whole: tens of megabytes held before any cap."""
    cap = 2_000_000
    header = "deflate" if encoding == "raw deflate" else encoding
    web.add("bomb.test", "/", bomb(ENCODINGS[encoding]), headers={"Content-Encoding": header})
    web.add(
        "bomb.test", "/small", compressed(b"warm", ENCODINGS[encoding]), headers={"Content-Encoding": header}
    )

    async def scenario() -> tuple[Response, int]:
        fetcher = fetcher_for(web)
        try:
            await fetcher.get("http://bomb.test/small", obey_robots=False)  # the client, made untraced
            tracemalloc.start()
            try:
                response = await fetcher.get("http://bomb.test/", max_bytes=cap, obey_robots=False)
                return response, tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        finally:
            await fetcher.aclose()

    response, peak = run(scenario())
    assert response.truncated and response.size == len(response.body) == cap
    assert response.body == bytes(cap)
    assert peak < 3 * cap  # the kept body, joined once, and a piece or two


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_compressed_body_is_decoded_exactly(web: Web, encoding: str) -> None:
    text = "".join(f"<p>Shop {i}: call +1 555 {i:07d}, write shop{i}@example.com</p>\n" for i in range(20000))
    packed = compressed(text.encode(), ENCODINGS[encoding])
    # Small chunks, the first of one byte: deflate's format is told from the first two.
    chunks = [packed[:1]] + [packed[at : at + 4093] for at in range(1, len(packed), 4093)]
    header = "deflate" if encoding == "raw deflate" else encoding
    web.add("zip.test", "/", lambda: iter(chunks), headers={"Content-Encoding": header})
    response = run(_get(fetcher_for(web), "http://zip.test/", obey_robots=False))
    assert response.body.decode() == text and response.size == len(text.encode())
    assert not response.truncated


@pytest.mark.parametrize(
    ("encoding", "body", "reason"),
    [
        pytest.param(
            "gzip",
            gzip.compress(b"<html>hello</html>")[:10] + b"\xff" * 64,  # a gzip header, then garbage
            "the gzip body is corrupt (Error -3",
            id="corrupt gzip",
        ),
        pytest.param(
            "deflate",
            b"\x78\x9c" + b"\xff" * 64,
            "the deflate body is corrupt (Error -3",
            id="corrupt deflate",
        ),
        pytest.param(
            "br",
            b"\x0b\x02\x80hello\x03",
            "the body is compressed with br, which leadpipe cannot read",
            id="br",
        ),
        pytest.param(
            "gzip, gzip",
            gzip.compress(gzip.compress(b"x")),
            "the body is compressed 2 times over (gzip, gzip)",
            id="twice",
        ),
    ],
)
def test_a_body_that_cannot_be_decoded_is_a_protocol_error_saying_why(
    web: Web, encoding: str, body: bytes, reason: str
) -> None:
    web.add("broken.test", "/", body, headers={"Content-Encoding": encoding})
    with pytest.raises(FetchError) as failed:
        run(_get(fetcher_for(web), "http://broken.test/", obey_robots=False))
    assert isinstance(failed.value, ProtocolError)
    assert str(failed.value).startswith(f"broken answer from http://broken.test/: {reason}")


@pytest.mark.parametrize("encoding", ["identity", "none", ""])
def test_a_body_whose_encoding_names_no_compression_is_kept_as_it_is(web: Web, encoding: str) -> None:
    web.add("plain.test", "/", b"<html>hello</html>", headers={"Content-Encoding": encoding})
    response = run(_get(fetcher_for(web), "http://plain.test/", obey_robots=False))
    assert response.body == b"<html>hello</html>"


def test_retry_after_is_read_from_the_answer_and_bounded_by_the_setting(web: Web) -> None:
    web.add("busy.test", "/", b"slow down", status=429, headers={"Retry-After": "120"})
    web.add("greedy.test", "/", b"go away", status=429, headers={"Retry-After": "99999999999999"})
    response = run(_get(fetcher_for(web), "http://busy.test/", obey_robots=False))
    assert response.status == 429 and response.retry_after() == 120
    fetcher = fetcher_for(web, max_retry_after_seconds=3600)
    assert run(_get(fetcher, "http://greedy.test/", obey_robots=False)).retry_after() == 3600


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("-5", 0.0),  # no wait: the caller's own backoff applies
        ("99999999999999", 86400.0),  # the answer that stopped the worker: a day at most
        ("9" * 400, 86400.0),  # past what a float holds
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", 86400.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("inf", None),
        ("nan", None),
        ("1e9", None),
        ("Fri, 31 Dec 99999 23:59:59 GMT", None),
    ],
)
def test_retry_after_reads_seconds_or_a_date_within_zero_and_the_cap(
    header: str | None, seconds: float | None
) -> None:
    headers = CIMultiDictProxy(CIMultiDict({} if header is None else {"Retry-After": header}))
    response = Response("http://busy.test/", 429, headers, retry_after_limit=86400.0)
    assert response.retry_after() == seconds


def test_retry_after_reads_a_date_to_come_as_the_seconds_until_it() -> None:
    in_ten_minutes = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=600), usegmt=True)
    headers = CIMultiDictProxy(CIMultiDict({"Retry-After": in_ten_minutes}))
    waited = Response("http://busy.test/", 503, headers, retry_after_limit=86400.0).retry_after()
    assert waited is not None and 598 <= waited <= 600


def test_one_host_gets_at_most_its_share_of_requests_at_once(web: Web) -> None:
    for i in range(4):
        web.add("one.test", f"/{i}", b"ok", delay=0.3)

    async def scenario() -> float:
        fetcher = fetcher_for(web, http_per_host=1)
        started = time.monotonic()
        try:
            await asyncio.gather(*(fetcher.get(f"http://one.test/{i}", obey_robots=False) for i in range(4)))
        finally:
            await fetcher.aclose()
        return time.monotonic() - started

    assert run(scenario()) >= 1.2


def test_a_domain_resolving_to_loopback_is_refused_with_a_clear_reason() -> None:
    async def to_loopback(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    fetcher = Fetcher(Settings(), resolver=to_loopback)
    with pytest.raises(FetchError) as refused:
        run(_get(fetcher, "http://intranet.example.com/"))
    assert isinstance(refused.value, AddressRefused)
    assert str(refused.value).startswith(
        "refused: intranet.example.com resolves to 127.0.0.1, a private or local address"
    )


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/", "http://[::1]:9/", "http://localhost:9/"])
def test_loopback_targets_are_refused_without_a_connection(url: str) -> None:
    with pytest.raises(FetchError) as refused:
        run(_get(Fetcher(Settings()), url))
    assert isinstance(refused.value, AddressRefused)


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.8",
        "192.168.1.1",
        "172.16.5.4",
        "169.254.169.254",
        "100.64.0.1",
        "fd00::1",
        "64:ff9b::a9fe:a9fe",
    ],
)
def test_names_resolving_to_private_ranges_are_refused(address: str) -> None:
    """The resolver is replaced, so nothing is ever sent towards these addresses."""

    async def resolver(host: str, port: int) -> list[str]:
        return ["93.184.216.34", address]

    with pytest.raises(FetchError) as refused:
        run(_get(Fetcher(Settings(), resolver=resolver), "http://shop.example.com/"))
    assert isinstance(refused.value, AddressRefused) and address in str(refused.value)


def test_no_cookie_a_site_sets_is_kept_or_sent_back() -> None:
    cookies: list[str | None] = []

    class CookieSetter(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            cookies.append(self.headers["Cookie"])
            self.send_response(200)
            self.send_header("Set-Cookie", "session=abc; Path=/")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), CookieSetter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://shop.test:{server.server_address[1]}"  # a name: cookies of an address are never kept

    async def twice() -> None:
        fetcher = Fetcher(Settings(allow_private_networks=True), resolver=answering(["127.0.0.1"]))
        try:
            for path in ("/a", "/b"):
                await fetcher.get(base + path, obey_robots=False)
        finally:
            await fetcher.aclose()

    try:
        run(twice())
    finally:
        server.shutdown()
        server.server_close()
    assert cookies == [None, None]


def test_loopback_is_allowed_when_the_operator_allows_it(web: Web) -> None:
    web.add("127.0.0.1", "/", b"local")
    response = run(_get(Fetcher(Settings(allow_private_networks=True)), web.url + "/", obey_robots=False))
    assert response.body == b"local"


PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def proxy_environment(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    """Exactly these proxy variables, in both spellings."""
    for name in PROXY_VARIABLES:
        for spelling in (name, name.lower()):
            monkeypatch.delenv(spelling, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


def answering(*answers: list[str]) -> Resolver:
    """A resolver giving these answers in turn, the last one from then on."""
    remaining = list(answers)

    async def resolver(host: str, port: int) -> list[str]:
        return remaining.pop(0) if len(remaining) > 1 else remaining[0]

    return resolver


def port_of(web: Web) -> int:
    return int(web.url.rsplit(":", 1)[1])


@pytest.mark.parametrize(
    "variables",
    [
        {"NO_PROXY": "x.invalid"},
        {"HTTPS_PROXY": "http://127.0.0.1:9"},  # for https only: an http:// URL goes direct
        {"HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": "intranet.test"},
    ],
)
def test_the_guard_holds_for_every_direct_connection_whatever_proxy_variables_say(
    web: Web, monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]
) -> None:
    web.add("intranet.test", "/", b"internal")
    proxy_environment(monkeypatch, **variables)
    fetcher = Fetcher(Settings(http_total_timeout_seconds=5), resolver=answering(["127.0.0.1"]))
    with pytest.raises(FetchError) as refused:
        run(_get(fetcher, f"http://intranet.test:{port_of(web)}/", obey_robots=False))
    assert isinstance(refused.value, AddressRefused)
    assert web.log == []


def test_a_private_address_is_refused_even_when_a_proxy_would_take_it(web: Web) -> None:
    with pytest.raises(FetchError) as refused:
        run(_get(fetcher_for(web), f"{web.url}/", obey_robots=False))  # the proxy would connect to it
    assert isinstance(refused.value, AddressRefused)
    assert web.log == []


def test_a_request_the_environment_sends_to_a_proxy_is_the_proxys_to_resolve(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    web.add("acme.test", "/", b"through the proxy")
    proxy_environment(monkeypatch, HTTP_PROXY=web.url)
    fetcher = Fetcher(Settings(http_total_timeout_seconds=5), resolver=answering(["127.0.0.1"]))
    response = run(_get(fetcher, "http://acme.test/", obey_robots=False))
    assert response.body == b"through the proxy" and web.requests_to("acme.test") == ["/"]


@pytest.mark.parametrize("addresses", [["127.0.0.1"], ["127.0.0.2", "127.0.0.1"]])  # nothing on .2
def test_a_name_is_connected_to_at_an_address_the_resolver_gave(web: Web, addresses: list[str]) -> None:
    web.add("shop.test", "/", b"the shop")
    fetcher = Fetcher(
        Settings(allow_private_networks=True, http_total_timeout_seconds=5), resolver=answering(addresses)
    )
    response = run(_get(fetcher, f"http://shop.test:{port_of(web)}/", obey_robots=False))
    assert response.body == b"the shop"
    assert web.requests_to("shop.test") == ["/"]  # the Host header still names the site


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command for a certificate")
def test_https_to_a_resolved_address_still_speaks_to_and_verifies_the_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1".split(),
            *"-subj /CN=shop.test -addext subjectAltName=DNS:shop.test".split(),
            *["-keyout", str(key), "-out", str(cert)],
        ],
        check=True,
        capture_output=True,
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the only certificate trusted now
    server_names: list[str | None] = []
    hosts: list[str | None] = []
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    tls.sni_callback = lambda connection, name, context: server_names.append(name)

    class Shop(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hosts.append(self.headers["Host"])
            self.send_response(200)
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"shop")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Shop)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        fetcher = Fetcher(
            Settings(allow_private_networks=True, http_total_timeout_seconds=5),
            resolver=answering(["127.0.0.1"]),
        )
        url = f"https://shop.test:{server.server_address[1]}/"
        response = run(_get(fetcher, url, obey_robots=False))
    finally:
        server.shutdown()
        server.server_close()
    assert response.body == b"shop"
    assert server_names == ["shop.test"] and hosts == [f"shop.test:{server.server_address[1]}"]


def test_a_name_rebound_to_loopback_after_the_check_is_refused_at_the_connection(web: Web) -> None:
    """A hostile DNS server answers a public address to the check, then loopback: the connection must
    go where the answer it uses was checked, never to a second answer."""
    web.add("rebind.test", "/", b"internal")
    url = f"http://rebind.test:{port_of(web)}/"

    async def scenario() -> None:
        fetcher = Fetcher(
            Settings(http_total_timeout_seconds=5), resolver=answering(["93.184.216.34"], ["127.0.0.1"])
        )
        try:
            await fetcher.check_address(url)  # as the renderer does before it opens the page
            await fetcher.get(url, obey_robots=False)
        finally:
            await fetcher.aclose()

    with pytest.raises(FetchError) as refused:
        run(scenario())
    assert isinstance(refused.value, AddressRefused) and "127.0.0.1" in str(refused.value)
    assert web.log == []


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b:1::808:808",  # local-use NAT64
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "::127.0.0.1",  # IPv4-compatible
        "::ffff:10.0.0.1",  # IPv4-mapped
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
        "127.0.0.1",
        "fe80::1%eth0",
    ],
)
def test_addresses_that_reach_a_private_host_are_not_public(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "2002:808:808::", "64:ff9b::808:808", "::ffff:8.8.8.8", "2606:4700::1111"]
)
def test_public_addresses_are_public(address: str) -> None:
    assert is_public_address(address)


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f000001", "0177.0.0.1"])
def test_an_address_in_any_form_a_resolver_reads_is_refused_even_through_a_proxy(web: Web, host: str) -> None:
    """``127.1`` is an address to the proxy's resolver, not a name: it would connect to loopback."""
    with pytest.raises(AddressRefused):
        run(_get(fetcher_for(web), f"http://{host}:{port_of(web)}/", obey_robots=False))
    assert web.log == []


@pytest.mark.parametrize(
    "url",
    ["ftp://files.test/sitemap.xml", "http://shop.test:99999/", "http://[::1/x", "mailto:info@shop.test"],
)
def test_a_url_that_cannot_be_fetched_is_the_web_layers_own_error(web: Web, url: str) -> None:
    with pytest.raises(BadURL):
        run(_get(fetcher_for(web), url, obey_robots=False))


@pytest.mark.parametrize(
    ("location", "error"),
    [
        ("ftp://files.test/", BadURL),
        ("http://shop.test:99999/", BadURL),
        ("http://[::1/x", BadURL),  # a Location that is no URL at all
    ],
)
def test_a_redirect_to_a_url_that_cannot_be_fetched_is_refused_with_the_reason(
    web: Web, location: str, error: type[FetchError]
) -> None:
    web.add("shop.test", "/old", b"", status=301, headers={"Location": location})
    with pytest.raises(error):
        run(_get(fetcher_for(web), "http://shop.test/old", obey_robots=False))


def test_a_malformed_sitemap_line_in_robots_txt_is_left_out_and_the_rest_read(web: Web) -> None:
    robots = b"User-agent: *\nSitemap: http://[::1/x\nSitemap: /sitemap.xml\n"
    web.add("shop.test", "/robots.txt", robots, content_type="text/plain")

    async def open_site() -> list[str]:
        fetcher = fetcher_for(web)
        try:
            return (await fetcher.open_site("shop.test")).robots.sitemaps
        finally:
            await fetcher.aclose()

    assert run(open_site()) == ["http://shop.test/sitemap.xml"]
