"""Answers that say nothing about what a site holds: a 429 or 5xx, no answer in time, a cut connection.

None of them is an absence. The stages (discover, import, scrape) and ``leadpipe sitemaps`` turn a
429 or 5xx into the engine's ``RetryLater`` here, and only here: the server's Retry-After is honoured
(both by the retry and by the fetcher's pacing of that host), and once the item's attempts are spent
it ends dead with this reason. A transient failure (no answer in time, a cut connection) is raised
as it is, for the stage's backoff.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from leadpipe.engine.stage import RetryLater
from leadpipe.web.fetch import Fetcher, FetchError, Response

TRANSIENT = frozenset({"timeout", "protocol"})


def is_transient(error: FetchError) -> bool:
    """No answer in time, or a connection cut mid-answer: the next try may well get one."""
    return error.kind in TRANSIENT


def raise_if_busy(fetcher: Fetcher, answer: Response | FetchError) -> None:
    """Raise ``RetryLater`` when ``answer`` is a 429 or 5xx (a robots.txt's one included), with the
    server's Retry-After, else the configured wait; the fetcher leaves that host alone meanwhile."""
    response = answer.response if isinstance(answer, FetchError) else answer
    if response is None or not (response.status == 429 or response.status >= 500):
        return
    asked = response.retry_after()
    seconds = fetcher.settings.http_busy_retry_seconds if asked is None else asked
    fetcher.slow_down(urlsplit(response.url).hostname or "", seconds)
    what = "rate limited by the site" if response.status == 429 else "server error"
    wait = "no Retry-After" if asked is None else f"Retry-After: {asked:g}s"
    raise RetryLater(f"{what}: {response.status} on {response.url} ({wait})", seconds)
