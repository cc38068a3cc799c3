"""Links on an HTML page: where it points, what the link says, and which links name sitemaps."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser


@dataclass(frozen=True)
class Link:
    url: str
    text: str


def normalise_url(url: str) -> str | None:
    """An absolute http(s) URL without its fragment, host lowercased, default port dropped; else None."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    netloc = host if port in (None, 80 if parts.scheme == "http" else 443) else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def read_links(html: str, base_url: str) -> tuple[list[Link], list[str]]:
    """The page's links (every ``<a href>``, resolved against ``<base href>`` when there is one, once
    each), and those that name a sitemap: ``<link rel="sitemap">`` and links whose address or text
    names one (XML or text). The page is parsed once: a big page's tree costs many times its size."""
    tree = LexborHTMLParser(html)
    base = tree.css_first("base[href]")
    base_url = urljoin(base_url, base.attributes.get("href") or "") if base else base_url
    links: dict[str, Link] = {}
    for anchor in tree.css("a[href]"):
        url = normalise_url(urljoin(base_url, anchor.attributes.get("href") or ""))
        if url and url not in links:
            text = " ".join((anchor.text(separator=" ") or anchor.attributes.get("title") or "").split())
            links[url] = Link(url, text[:200])
    sitemaps = [
        urljoin(base_url, node.attributes.get("href") or "")
        for node in tree.css("link[href]")
        if "sitemap" in (node.attributes.get("rel") or "").lower().split()
    ]
    for url in links:
        path = urlsplit(url).path.lower()
        if "sitemap" in path and path.endswith((".xml", ".xml.gz", ".txt")):
            sitemaps.append(url)
    return list(links.values()), list(dict.fromkeys(url for url in sitemaps if normalise_url(url)))
