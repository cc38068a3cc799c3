"""Rendering script shells in a real headless Chromium, against sites on loopback served as the proxy.

The tests that start a browser are skipped when the system Chromium is missing (``.ci/run`` installs
it); the test with rendering off runs everywhere, since it must not need a browser.
"""

from __future__ import annotations

import asyncio
import socketserver
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import insert, select

from leadpipe.config import Settings
from leadpipe.db.connect import Database
from leadpipe.db.models import contacts, domains, pages
from leadpipe.demo.web import Web
from leadpipe.engine.stage import Pipeline
from leadpipe.stages import PIPELINE as REAL
from leadpipe.stages import discover, scrape, sitemap_import
from leadpipe.web.fetch import Fetcher
from leadpipe.web.render import Renderer, RenderError
from tests.helpers import run_until_idle

CHROMIUM = Settings().chromium_path
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason=f"no Chromium at {CHROMIUM}: install Debian's (apt-get install chromium), as .ci/run does",
)
PIPELINE = Pipeline(
    [replace(discover.STAGE, max_attempts=1), sitemap_import.STAGE, scrape.STAGE], resources=REAL.resources
)
SITE = "react-baeckerei.de"
SITEMAP = (
    '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    f"<url><loc>http://{SITE}/kontakt</loc></url></urlset>"
)
HOME = b"<html><body><h1>Backstube</h1><p>Frisches Brot jeden Morgen.</p></body></html>"
# An empty mount point: the contacts arrive only when the script has fetched them and written the links,
# so neither the HTML as fetched nor the script itself holds an address.
SHELL = b"""<!doctype html><html><head><title>Kontakt</title>
<script type="module" src="/assets/app.js"></script></head><body><div id="root"></div></body></html>"""
APP = b"""fetch("/api/kontakt.json").then((answer) => answer.json()).then((kontakt) => {
  document.getElementById("root").innerHTML =
    `<h1>Kontakt</h1><a href="mailto:${kontakt.mail}">Mail</a> <a href="tel:${kontakt.tel}">Anrufen</a>`;
});"""
DATA = b'{"mail": "hallo@react-baeckerei.de", "tel": "+49301234567"}'


@pytest.fixture
def web() -> Iterator[Web]:
    server = Web().start()
    server.add_xml(SITE, "/sitemap.xml", SITEMAP)
    server.add(SITE, "/", HOME)
    server.add(SITE, "/kontakt", SHELL)
    server.add(SITE, "/assets/app.js", APP, content_type="text/javascript")
    server.add(SITE, "/api/kontakt.json", DATA, content_type="application/json")
    yield server
    server.stop()


def tuned(settings: Settings, web: Web, **changes: Any) -> Settings:
    return Settings(
        **{
            **settings.model_dump(),
            "proxy": web.url,
            "http_total_timeout_seconds": 30,
            # Generous: a browser starting on a loaded 2-core machine can take many seconds.
            "render_timeout_seconds": 60,
            "default_region": "DE",
            **changes,
        }
    )


def run(db: Database, settings: Settings, resources: dict[str, Any]) -> None:
    with db.begin() as connection:
        connection.execute(insert(domains), [{"name": SITE}])
    run_until_idle(db, settings, PIPELINE, resources=resources)


def contact_page(db: Database) -> Any:
    with db.engine.connect() as connection:
        return connection.execute(select(pages).where(pages.c.url == f"http://{SITE}/kontakt")).one()


def found(db: Database) -> dict[tuple[str, str], str | None]:
    with db.engine.connect() as connection:
        rows = connection.execute(select(contacts.c.kind, contacts.c.value, contacts.c.found_by)).all()
    return {(row.kind, row.value): row.found_by for row in rows}


@needs_chromium
def test_with_rendering_on_a_script_shell_s_contacts_are_found(
    db: Database, settings: Settings, web: Web
) -> None:
    on = tuned(settings, web, render_js=True)
    resources = REAL.resources(on)
    run(db, on, resources)
    page = contact_page(db)
    assert (page.status, page.outcome) == ("done", "contacts_found"), page.last_error
    assert page.problem.startswith("rendered in headless Chromium")
    assert found(db) == {("email", "hallo@react-baeckerei.de"): "mailto", ("phone", "+49301234567"): "tel"}
    assert not resources["renderer"].started  # the worker closed the browser when it stopped


def test_with_rendering_off_a_script_shell_stays_one_and_no_browser_starts(
    db: Database, settings: Settings, web: Web
) -> None:
    off = tuned(settings, web)
    resources = REAL.resources(off)
    assert "renderer" not in resources
    run(db, off, resources)
    page = contact_page(db)
    assert (page.status, page.outcome) == ("done", "script_shell")
    assert page.problem == "the page is an empty script shell: its contacts need a browser to render"
    assert found(db) == {}
    assert "/assets/app.js" not in web.requests_to(SITE)  # nothing ran the page's script


def render(settings: Settings, *urls: str) -> list[str | RenderError]:
    """Render the URLs at once with one worker's fetcher and renderer; a failure is returned, not raised."""

    async def go() -> list[str | RenderError]:
        fetcher = Fetcher(settings)
        renderer = Renderer(settings, fetcher)

        async def one(url: str) -> str | RenderError:
            try:
                return await renderer.render(url)
            except RenderError as error:
                return error

        try:
            return list(await asyncio.gather(*(one(url) for url in urls)))
        finally:
            await renderer.aclose()
            await fetcher.aclose()

    return asyncio.run(go())


@needs_chromium
@pytest.mark.parametrize("allowed", [False, True])
def test_a_page_s_requests_pass_the_address_guard_at_every_hop_and_documents_obey_robots(
    web: Web, allowed: bool
) -> None:
    port = web.url.rsplit(":", 1)[1]
    web.add("shop.example", "/robots.txt", b"User-agent: *\nDisallow: /members/\n", content_type="text/plain")
    web.add(
        "shop.example",
        "/",
        f"""<html><body><div id="root"></div><iframe src="/members/area"></iframe><script>
        fetch("http://127.0.0.1:{port}/direct").catch(() => {{}});
        fetch("/hop").catch(() => {{}});
        fetch("/post", {{method: "POST", body: "x"}}).catch(() => {{}});
        document.getElementById("root").textContent = "ran";
        </script></body></html>""".encode(),
    )
    # Two redirect hops, the second to a private address: the browser would follow them unseen.
    web.add("shop.example", "/hop", status=302, headers={"Location": "http://cdn.example/hop"})
    web.add("cdn.example", "/hop", status=302, headers={"Location": f"http://127.0.0.1:{port}/via-redirect"})
    settings = Settings(proxy=SecretStr(web.url), allow_private_networks=allowed)
    [html] = render(settings, "http://shop.example/")
    assert isinstance(html, str) and '<div id="root">ran</div>' in html
    assert "/members/area" not in web.requests_to("shop.example")
    assert "/post" not in web.requests_to("shop.example")  # a page's POSTs are never sent
    assert "/hop" in web.requests_to("cdn.example")
    expected = ["/direct", "/via-redirect"] if allowed else []
    assert sorted(web.requests_to("127.0.0.1")) == expected


@needs_chromium
def test_a_render_stops_at_its_timeout(web: Web) -> None:
    web.add("loop.example", "/", b"<html><body><script>setTimeout(() => { while (true) {} }, 50)</script>")
    web.add("hang.example", "/", b"<html><body><script src='/never.js'></script></body></html>")
    web.add("hang.example", "/never.js", hang=True)
    started = time.monotonic()
    results = render(
        Settings(proxy=SecretStr(web.url), render_timeout_seconds=2),
        "http://loop.example/",
        "http://hang.example/",
    )
    assert [str(result) for result in results] == [
        "http://loop.example/ did not render within 2s",
        "http://hang.example/ did not render within 2s",
    ]
    assert time.monotonic() - started < 10


@needs_chromium
@pytest.mark.parametrize("limit", [1, 3])
def test_a_worker_renders_at_most_its_page_limit_at_once(web: Web, limit: int) -> None:
    lock = threading.Lock()
    loading = {"now": 0, "most": 0}

    def slow_script() -> Iterator[bytes]:
        with lock:
            loading["now"] += 1
            loading["most"] = max(loading["most"], loading["now"])
        time.sleep(0.6)
        with lock:
            loading["now"] -= 1
        yield b"document.body.dataset.ready = 'yes';"

    hosts = [f"site-{number}.example" for number in range(3)]
    for host in hosts:
        web.add(host, "/", b"<html><body><script src='/slow.js'></script></body></html>")
        web.add(host, "/slow.js", slow_script, content_type="text/javascript")
    results = render(
        Settings(proxy=SecretStr(web.url), render_max_pages=limit), *(f"http://{host}/" for host in hosts)
    )
    assert all(isinstance(html, str) and 'data-ready="yes"' in html for html in results)
    assert loading["most"] == 1 if limit == 1 else loading["most"] > 1


class Listener:
    """A TCP and a UDP socket on one loopback port, noting each connection and datagram that reaches them.

    A connection is noted as soon as it is accepted, before anything is read: one that sends nothing
    (a preconnect, a refused handshake) counts too.
    """

    def __init__(self) -> None:
        self.reached: list[str] = []
        reached = self.reached

        class Tcp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                reached.append("a TCP connection")

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                reached.append(f"a UDP datagram: {self.request[0][:32]!r}")

        self.tcp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Tcp)
        self.port = self.tcp.server_address[1]
        self.udp = socketserver.ThreadingUDPServer(("127.0.0.1", self.port), Udp)
        for server in (self.tcp, self.udp):
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def close(self) -> None:
        for server in (self.tcp, self.udp):
            server.shutdown()
            server.server_close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    listening = Listener()
    yield listening
    listening.close()


# Every way a page's script can open a connection of its own, at the listener; then the page's contacts.
# WebRTC asks a STUN server (UDP) and a TURN server (TCP), and a second peer is given the listener as the
# remote candidate, so it sends its connectivity checks there (UDP and TCP).
PROBE = """const target = "127.0.0.1:PORT";
fetch(`http://${target}/fetch`).catch(() => {});
try { new WebSocket(`ws://${target}/socket`); } catch {}
document.body.insertAdjacentHTML("beforeend", `<img src="http://${target}/img"><iframe src="http://${target}/frame"></iframe>`);
async function webrtc() {
  const offerer = new RTCPeerConnection({iceServers: [
    {urls: `stun:${target}`}, {urls: `turn:${target}?transport=tcp`, username: "u", credential: "p"},
  ]});
  offerer.createDataChannel("probe");
  const offer = await offerer.createOffer();
  await offerer.setLocalDescription(offer);
  const answerer = new RTCPeerConnection();
  await answerer.setRemoteDescription(offer);
  await answerer.setLocalDescription(await answerer.createAnswer());
  for (const candidate of [
    "candidate:1 1 udp 2122260223 127.0.0.1 PORT typ host",
    "candidate:2 1 tcp 1518280447 127.0.0.1 PORT typ host tcptype passive",
  ]) await answerer.addIceCandidate({candidate, sdpMid: "0"});
}
webrtc().finally(() => fetch("/api/kontakt.json").then((answer) => answer.json()).then((kontakt) => {
  document.getElementById("root").innerHTML = `<a href="mailto:${kontakt.mail}">Mail</a>`;
}));"""


@needs_chromium
def test_a_rendered_page_s_scripts_reach_no_address_the_guard_refuses(web: Web, listener: Listener) -> None:
    web.add(SITE, "/probe", b'<html><body><div id="root"></div><script src="/assets/probe.js"></script>')
    web.add(SITE, "/assets/probe.js", PROBE.replace("PORT", str(listener.port)).encode())
    [html] = render(Settings(proxy=SecretStr(web.url)), f"http://{SITE}/probe")
    assert isinstance(html, str) and 'href="mailto:hallo@react-baeckerei.de"' in html
    assert listener.reached == []  # neither directly (WebRTC, a missed request) ...
    assert web.requests_to("127.0.0.1") == []  # ... nor through the fetcher
