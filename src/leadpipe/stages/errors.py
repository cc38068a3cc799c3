"""The web's fetch errors in the engine's terms, written once for the discover, import and scrape stages.

A 429 or 5xx (:class:`Throttled`) says nothing about what a site holds: it becomes ``RetryLater``
with the wait the server asked for (the fetcher holds that host back meanwhile), and once the item's
attempts are spent it ends dead with that reason, never as an absence. A refusal a later try would
meet again (robots.txt, the address guard, a redirect loop) is final; each stage records it in its
own way, under the outcome name given here. No answer in time or a cut connection
(``leadpipe.web.fetch.TRANSIENT``) is raised as it is, for the stage's backoff.
"""

from __future__ import annotations

from leadpipe.engine.stage import RetryLater
from leadpipe.web.fetch import AddressRefused, BadURL, FetchError, RobotsRefused, Throttled, TooManyRedirects

# Each refusal a later try would meet again, and the outcome it is recorded as.
REFUSALS: dict[type[FetchError], str] = {
    RobotsRefused: "robots",
    AddressRefused: "private address",
    TooManyRedirects: "redirects",
    BadURL: "bad url",
}
REFUSED = tuple(REFUSALS)


def retry_later(error: Throttled) -> RetryLater:
    """A 429 or 5xx as the engine's ``RetryLater``: the answer and the wait it asked for."""
    return RetryLater(error.reason, error.retry_after)


def refusal_outcome(error: FetchError) -> str | None:
    """The outcome a refusal is recorded as; None for an error that is not a refusal."""
    return next((outcome for refused, outcome in REFUSALS.items() if isinstance(error, refused)), None)
