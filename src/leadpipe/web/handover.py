"""Answers one stage read whole that the next stage will ask for: held a short while, handed over once.

Discovery reads a small sitemap whole to know what it is, and a site's home page for its links; a
moment later the import stage asks for that sitemap and the scrape stage for that home page. Within
one worker process the second ask is answered from here, not by the site: one request less to the
site each, and one step less in a site's chain of requests.

Nothing here is a record of anything: an answer not handed over (another worker took the item, its
time ran out, the budget pushed it out) is simply asked of the site again. Only what the fetcher
read whole with a 2xx status is held, each at most ``ENTRY_MAX_BYTES``, all of them at most
``budget`` bytes, each for ``ttl`` seconds, and each is handed over once: a stage's retry asks the
site anew.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Generic, TypeVar

ENTRY_MAX_BYTES = 512 * 1024
BUDGET_BYTES = 32 * 1024 * 1024
TTL_SECONDS = 300.0

Answer = TypeVar("Answer")


class Handover(Generic[Answer]):
    """Answers by the URL that was asked, oldest first out when the budget is spent."""

    def __init__(self, budget: int = BUDGET_BYTES, ttl: float = TTL_SECONDS) -> None:
        self.budget = budget
        self.ttl = ttl
        self.held_bytes = 0
        self._held: OrderedDict[str, tuple[Answer, int, float]] = OrderedDict()

    def hold(self, url: str, answer: Answer, size: int) -> None:
        if size > ENTRY_MAX_BYTES or size > self.budget:
            return
        self._drop(url)
        self._held[url] = (answer, size, time.monotonic() + self.ttl)
        self.held_bytes += size
        now = time.monotonic()
        while self._held:
            oldest, (_, _, until) = next(iter(self._held.items()))
            if self.held_bytes <= self.budget and until > now:
                break
            self._drop(oldest)

    def take(self, url: str) -> Answer | None:
        """The answer held for ``url``, once; None when there is none (or it is too old)."""
        held = self._drop(url)
        if held is None or held[2] <= time.monotonic():
            return None
        return held[0]

    def _drop(self, url: str) -> tuple[Answer, int, float] | None:
        held = self._held.pop(url, None)
        if held is not None:
            self.held_bytes -= held[1]
        return held
