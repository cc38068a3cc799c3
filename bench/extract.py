"""Contact extraction speed: pages per second on one core, on realistic 50–200 KB pages.

Run: ``uv run python bench/extract.py [--rounds R]``. The corpus is made in memory from the site
builder fixtures in tests/pages/: each page's ``<main>`` is repeated until the page reaches 50, 100,
150 and 200 KB, so every size keeps the page's head, scripts, JSON data, footer and banners. Each
round extracts every page once in this one process (one core); the best round counts. Prints pages
per second against the goal, and the process's peak RSS at the end.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from leadpipe.extract.contacts import extract

FIXTURES = Path(__file__).parent.parent / "tests" / "pages"
SIZES_KB = (50, 100, 150, 200)
GOAL = 200  # pages per second per core


def inflate(html: str, size: int) -> str:
    """``html`` with its <main> element repeated until the page is about ``size`` bytes."""
    start, end = html.index("<main"), html.index("</main>") + len("</main>")
    main, rest = html[start:end], len(html) - (end - start)
    copies = max(1, round((size - rest) / len(main)))
    return html[:start] + main * copies + html[end:]


def corpus() -> list[tuple[str, str]]:
    """(html, url) for every fixture at every size."""
    pages = []
    for path in sorted(FIXTURES.glob("*.html")):
        html = path.read_text(encoding="utf-8")
        for size in SIZES_KB:
            pages.append((inflate(html, size * 1024), f"https://www.example-{path.stem}.de/kontakt"))
    return pages


def one_round(pages: list[tuple[str, str]]) -> float:
    started = time.perf_counter()
    for html, url in pages:
        extract(html, url)
    return time.perf_counter() - started


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--rounds", type=int, default=5)
    args = options.parse_args()
    pages = corpus()
    total = sum(len(html.encode()) for html, _ in pages)
    print(
        f"{len(pages)} pages from {len(pages) // len(SIZES_KB)} fixtures, {total / len(pages) / 1024:.0f} KB average"
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    best = min(one_round(pages) for _ in range(args.rounds))
    rate = len(pages) / best
    print(
        f"best of {args.rounds}: {best * 1000:.0f} ms, {rate:,.0f} pages/s on one core, {total / best / 2**20:.1f} MiB/s"
    )
    print(f"goal {GOAL} pages/s/core: {'met' if rate >= GOAL else 'NOT met'}")
    # ru_maxrss is the peak, in KiB on Linux; "before" is the interpreter plus the corpus.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MiB ({before:.0f} MiB before extracting)")


if __name__ == "__main__":
    main()
