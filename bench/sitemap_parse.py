"""Sitemap parse speed: a 50,000-URL urlset fed to `SitemapParser` in 64 KiB chunks, plain and gzipped.

Run: ``uv run python bench/sitemap_parse.py [--urls N] [--rounds R]``. The document is the one the
study benchmarked (loc + lastmod + changefreq + priority, about 188 bytes a URL), made in memory.
Prints the best of R rounds as URLs per second, and the process's peak RSS at the end.
"""

from __future__ import annotations

import argparse
import gzip
import resource
import sys
import time

from leadpipe.extract.sitemap import SitemapParser

CHUNK = 64 * 1024
FREQUENCIES = ("daily", "weekly", "monthly")


def urlset(urls: int) -> bytes:
    """A urlset of distinct URLs with every standard field, ≈188 bytes per <url>."""
    parts = [
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
    ]
    for i in range(urls):
        parts.append(
            b"<url><loc>https://www.example-shop.com/catalog/category-%02d/item-%07d.html</loc>"
            b"<lastmod>2024-05-%02dT10:%02d:00+00:00</lastmod><changefreq>%s</changefreq>"
            b"<priority>0.%d</priority></url>\n"
            % (i % 50, i, i % 28 + 1, i % 60, FREQUENCIES[i % 3].encode(), i % 10)
        )
    parts.append(b"</urlset>\n")
    return b"".join(parts)


def parse(body: bytes) -> tuple[float, int]:
    """Seconds to parse ``body`` fed in CHUNK-sized pieces, and the number of entries."""
    started = time.perf_counter()
    parser = SitemapParser("https://www.example-shop.com/sitemap.xml")
    count = 0
    for at in range(0, len(body), CHUNK):
        count += len(parser.feed(body[at : at + CHUNK]))
    count += len(parser.close())
    elapsed = time.perf_counter() - started
    if parser.errors:
        sys.exit(f"unexpected errors: {parser.errors}")
    return elapsed, count


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--urls", type=int, default=50_000)
    options.add_argument("--rounds", type=int, default=5)
    args = options.parse_args()
    plain = urlset(args.urls)
    packed = gzip.compress(plain, compresslevel=6)
    print(
        f"{args.urls:,} URLs: {len(plain) / args.urls:.0f} B/URL, {len(plain):,} bytes, {len(packed):,} gzipped"
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for name, body in (("plain", plain), ("gzip", packed)):
        best, count = min(parse(body) for _ in range(args.rounds))
        assert count == args.urls, count
        print(f"{name:>5}: {best * 1000:6.0f} ms  {count / best:>9,.0f} URLs/s")
    # ru_maxrss is the peak, in KiB on Linux; "before" is the interpreter plus the two documents.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"peak RSS: {peak:.0f} MiB ({before:.0f} MiB before parsing, so {peak - before:.0f} MiB for the parse)"
    )


if __name__ == "__main__":
    main()
