"""Rendering a page in headless Chromium, for pages whose contacts only a browser's scripts write.

Off unless ``LEADPIPE_RENDER_JS`` is set. The browser only runs the page's scripts; it never reaches the
web itself. Every request it makes is answered by the :class:`~leadpipe.web.fetch.Fetcher`, so a render
obeys the fetcher's rules without a second copy of them:

- the proxy setting, the address guard (at every redirect hop too), the per-host limits and the size
  cap are the fetcher's own;
- documents (the page itself, a frame, a script's navigation) must be allowed by robots.txt, which the
  fetcher has cached since it fetched the page; the page's scripts, data and styles are read as part of
  the page, as any browser would;
- only GET requests are made: a page's POSTs (forms, analytics) could change something on the site;
- pictures, video and fonts are never fetched, and WebSockets and every scheme but http(s) are refused:
  contacts need none of them.

Playwright cannot intercept a redirect's next hop (it lets the browser follow it unseen), which is why
the fetcher, and not the browser, follows redirects. What Playwright cannot intercept at all must find
no way out: Chromium is started with a host resolver that resolves nothing and a proxy that does not
exist, which every connection of its network stack must take, loopback included (Chromium otherwise
sends loopback directly). WebRTC opens its sockets outside the network stack, past both, so it is
confined to proxied traffic: it sends no UDP (that proxy carries none), and its TCP meets the proxy.

Chromium is the system's (``LEADPIPE_CHROMIUM_PATH``): Playwright never downloads a browser. A worker has
one browser, started at its first render and closed with the worker (``aclose``); each render gets a
fresh browser context, so nothing passes from one site to another. A render is bounded in time
(``LEADPIPE_RENDER_TIMEOUT_SECONDS``), and a worker renders at most ``LEADPIPE_RENDER_MAX_PAGES`` at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from leadpipe.config import Settings
from leadpipe.web.fetch import Fetcher, FetchError, Response

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright, Request, Route, WebSocketRoute

# Playwright itself is imported where it is used: it is a large import, and every command loads this
# module through the scrape stage, while few ever render a page.

log = logging.getLogger("leadpipe.render")

CHROMIUM_FLAGS = [
    # As the machine notes give them: without the background-networking flags Chromium keeps calling
    # Google's services, which a closed network refuses.
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # The fetcher answers every request, so Chromium itself needs no network (see the module notes).
    # ".invalid" never resolves (RFC 6761), and the resolver rules below refuse it too.
    "--proxy-server=http://nowhere.invalid:9",
    "--proxy-bypass-list=<-loopback>",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
]
UNNEEDED = ("image", "media", "font")
RESOURCE_MAX_BYTES = 10 * 1024 * 1024  # a script bundle can be large; past this, the page goes without
RENDER_MAX_CHARS = 5 * 1024 * 1024
# A browser's first start on a new machine builds its font caches: it took over 30 s here once.
LAUNCH_MS = 120_000
DROPPED_HEADERS = ("content-encoding", "content-length", "transfer-encoding", "connection", "keep-alive")


class RenderError(Exception):
    """A page that could not be rendered: refused by the address guard, a failed load, or time up."""


class Renderer:
    """One per worker process, beside the :class:`Fetcher` that answers its browser's requests."""

    def __init__(self, settings: Settings, fetcher: Fetcher) -> None:
        self.settings = settings
        self.fetcher = fetcher
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._starting = asyncio.Lock()
        self._pages = asyncio.Semaphore(settings.render_max_pages)

    @property
    def started(self) -> bool:
        return self._browser is not None

    async def render(self, url: str) -> str:
        """The page's HTML once its scripts have run: after the load event and, time allowing, once its
        network has gone quiet (scripts often fetch their content only after the load event)."""
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import TimeoutError as PlaywrightTimeoutError

        try:
            await self.fetcher.check_address(url)
        except FetchError as error:
            raise RenderError(str(error)) from None
        browser = await self._started_browser()
        timeout = self.settings.render_timeout_seconds
        in_flight: set[asyncio.Task[Response]] = set()
        async with self._pages:
            context = await browser.new_context(
                user_agent=self.settings.user_agent,
                service_workers="block",  # a service worker's requests would not reach the handler
                accept_downloads=False,
            )
            try:
                await context.route("**/*", lambda route, request: self._answer(route, request, in_flight))
                await context.route_web_socket("**/*", _refuse_socket)
                page = await context.new_page()
                started = time.monotonic()
                # asyncio's deadline, not only Playwright's: a script in an endless loop would block
                # page.content(), which has no timeout of its own.
                async with asyncio.timeout(timeout):
                    await page.goto(url, wait_until="load", timeout=0)
                    # Leave a quarter of the time for reading the page once the wait is over.
                    quiet_ms = (0.75 * timeout - (time.monotonic() - started)) * 1000
                    if quiet_ms > 0:
                        with contextlib.suppress(PlaywrightTimeoutError):
                            await page.wait_for_load_state("networkidle", timeout=quiet_ms)
                    html = await page.content()
            except TimeoutError:
                raise RenderError(f"{url} did not render within {timeout:g}s") from None
            except PlaywrightError as error:
                raise RenderError(f"{url} did not render: {error.message.splitlines()[0]}") from None
            finally:
                for fetch in in_flight:
                    fetch.cancel()  # nobody waits for these answers any more
                with contextlib.suppress(PlaywrightError):
                    await context.close()
        return html[:RENDER_MAX_CHARS]

    async def aclose(self) -> None:
        if self._browser is not None:
            from playwright.async_api import Error as PlaywrightError

            with contextlib.suppress(PlaywrightError):
                await self._browser.close()
            self._browser = None
        if self._playwright is not None:
            await self._playwright.stop()
            self._playwright = None

    async def _started_browser(self) -> Browser:
        """The worker's browser, started now if this is the first render or the browser has died."""
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import async_playwright

        async with self._starting:
            if self._browser is None or not self._browser.is_connected():
                if self._playwright is None:
                    self._playwright = await async_playwright().start()
                try:
                    self._browser = await self._playwright.chromium.launch(
                        executable_path=self.settings.chromium_path, args=CHROMIUM_FLAGS, timeout=LAUNCH_MS
                    )
                except PlaywrightError as error:
                    # Not a RenderError: no page can be rendered, so the item should fail and be retried
                    # (and end dead, where `leadpipe status` shows it) rather than be marked done.
                    raise RuntimeError(
                        f"Chromium did not start from {self.settings.chromium_path}: "
                        f"{error.message.splitlines()[0]}"
                    ) from None
            return self._browser

    async def _answer(self, route: Route, request: Request, in_flight: set[asyncio.Task[Response]]) -> None:
        """Answer one of the browser's requests with the fetcher's response, or refuse it."""
        from playwright.async_api import Error as PlaywrightError

        refusal = _refusal(request)
        if refusal is None:
            # A task of our own, so the render can cancel it when it ends, without cancelling
            # Playwright's handler task (which reports a cancellation as an error).
            fetch = asyncio.create_task(
                self.fetcher.get(
                    request.url,
                    max_bytes=RESOURCE_MAX_BYTES,
                    obey_robots=request.is_navigation_request(),
                )
            )
            in_flight.add(fetch)
            fetch.add_done_callback(in_flight.discard)
            await asyncio.wait([fetch])
            if fetch.cancelled():
                return  # the render is over, and its browser context with it
            error = fetch.exception()
            if error is None:
                response = fetch.result()
                if not response.truncated:
                    headers = {k: v for k, v in response.headers.items() if k.lower() not in DROPPED_HEADERS}
                    with contextlib.suppress(PlaywrightError):  # the page may be gone already
                        await route.fulfill(status=response.status, headers=headers, body=response.body)
                    return
                refusal = f"larger than {RESOURCE_MAX_BYTES} bytes"
            elif isinstance(error, FetchError):
                refusal = str(error)
            else:
                raise error
        log.debug("render: not loading %s (%s)", request.url, refusal)
        with contextlib.suppress(PlaywrightError):
            await route.abort("blockedbyclient")


def _refusal(request: Request) -> str | None:
    """Why the browser may not have this URL at all, if so."""
    if not request.url.startswith(("http://", "https://")):
        return "not an http(s) URL"
    if request.method != "GET":
        return f"a {request.method} request"
    if request.resource_type in UNNEEDED:
        return "not needed to read contacts"
    return None


async def _refuse_socket(socket: WebSocketRoute) -> None:
    await socket.close()
