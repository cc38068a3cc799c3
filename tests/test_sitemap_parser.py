"""The streaming sitemap parser, case by case.

Every document in CASES is parsed three ways: whole, in 7-byte chunks and one byte at a time, and
must give the same URLs, kind, errors and drop counts each time; that is the test of streaming.
Case names point at where a case comes from: the study's USP acceptance list (§1.7 item N), the
cases USP does not cover, the other tools' bugs we reproduced, and the users' complaints (§7).
"""

from __future__ import annotations

import gzip
import time
import tracemalloc
import zlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from leadpipe.extract.sitemap import Entry, SitemapParser, sniff_charset

BASE = "https://shop.example/sitemap.xml"
SITE = "https://shop.example"
DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
URLSET = '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
CHUNKS = (1 << 16, 7, 1)


def parse(
    body: bytes | str, chunk: int = 1 << 16, first: int = 0, **options: Any
) -> tuple[SitemapParser, list[Entry]]:
    """Feed ``body`` in pieces of ``chunk`` bytes (after its ``first`` bytes in one piece), then close;
    return the parser and every entry."""
    data = body.encode() if isinstance(body, str) else body
    parser = SitemapParser(options.pop("url", BASE), **options)
    entries: list[Entry] = parser.feed(data[:first]) if first else []
    for at in range(first, len(data), chunk):
        entries += parser.feed(data[at : at + chunk])
    entries += parser.close()
    return parser, entries


def urlset(*records: str, head: str = DECLARATION + URLSET, tail: str = "</urlset>") -> str:
    return head + "".join(records) + tail


def url(loc: str, extra: str = "") -> str:
    return f"<url><loc>{loc}</loc>{extra}</url>"


def pages(count: int) -> list[str]:
    return [url(f"{SITE}/page_{i}") for i in range(count)]


def on_shop(address: str) -> bool:
    return urlsplit(address).hostname == "shop.example"


@dataclass(frozen=True)
class Case:
    body: bytes | str
    locs: list[str]
    kind: str = "urlset"
    errors: list[str] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    stopped: bool = False
    options: dict[str, Any] = field(default_factory=dict)


A = f"{SITE}/a"
TWO = [A, f"{SITE}/b"]
TWO_URLS = url(TWO[0]) + url(TWO[1])
FIFTY = [f"{SITE}/page_{i}" for i in range(50)]
NEWS = (
    "<news:news><news:publication><news:name>Paper</news:name><news:language>en</news:language>"
    "</news:publication><news:publication_date>2024-01-02</news:publication_date>"
    "<news:title>Title</news:title></news:news>"
)
NEWS_URLSET = urlset(
    *(url(f"{SITE}/story_{i}", NEWS) for i in range(3)),
    head=DECLARATION + URLSET[:-1] + ' xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">',
)
DOC = urlset(TWO_URLS)
ONE_GZIP = gzip.compress(DOC.encode())
BIG_GZIP = gzip.compress(urlset(*pages(1000)).encode())


def billion_laughs() -> str:
    """Nine levels of ten references each: 10⁹ "lol"s, 3 GB, if anything expanded them."""
    declarations = ['<!ENTITY lol0 "lol">']
    for level in range(1, 10):
        declarations.append(f'<!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">')
    return f'<?xml version="1.0"?>\n<!DOCTYPE lolz [{"".join(declarations)}]>\n' + urlset(
        url(f"{SITE}/&lol9;"), head=URLSET
    )


def complete_records(gzipped_prefix: bytes) -> list[str]:
    """The page URLs whose </url> lies in what a gzip prefix decompresses to."""
    text = zlib.decompressobj(31).decompress(gzipped_prefix).decode()
    return [f"{SITE}/page_{i}" for i in range(text.count("</url>"))]


BILLION_LAUGHS = billion_laughs()
NINE_AND_A_BIT = len(DECLARATION + URLSET + "".join(pages(9))) + 20  # a byte cap inside the tenth record
LATIN = urlset(url(f"{SITE}/café"), head='<?xml version="1.0" encoding="ISO-8859-1"?>' + URLSET)
NOT_WELL_FORMED = "malformed XML (not well-formed (invalid token)); skipped to the next <url>"
MISMATCHED = "malformed XML (mismatched tag); skipped to the next <url>"


def corrupt_gzip(data: bytes) -> bytes:
    return data[:2] + b"\x07" + data[3:]  # byte 2 names the compression method; 7 is none


CASES: dict[str, Case] = {
    # Structure and namespaces (§1.7 items 7, 11; Scrapy's wrong-namespace tests; §7 namespaces)
    "standard urlset": Case(DOC, TWO),
    "no namespace (§1.7 item 11)": Case(urlset(TWO_URLS, head="<urlset>"), TWO),
    "legacy 0.84 namespace": Case(
        urlset(TWO_URLS, head='<urlset xmlns="http://www.google.com/schemas/sitemap/0.84">'), TWO
    ),
    "wrong namespace": Case(urlset(TWO_URLS, head='<urlset xmlns="http://example.com/other">'), TWO),
    'xmlns="" on records': Case(urlset(f'<url xmlns=""><loc>{TWO[0]}</loc></url>'), TWO[:1]),
    "prefixed elements": Case(
        '<s:urlset xmlns:s="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<s:url><s:loc>{TWO[0]}</s:loc></s:url></s:urlset>",
        TWO[:1],
    ),
    "undeclared prefix (trafilatura drops <sitemap:loc>)": Case(
        f"<urlset><sitemap:url><sitemap:loc>{TWO[0]}</sitemap:loc></sitemap:url></urlset>", TWO[:1]
    ),
    "sitemap index": Case(
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{SITE}/s1.xml</loc><lastmod>2024-01-01</lastmod></sitemap>"
        f"<sitemap><loc>{SITE}/s2.xml.gz</loc></sitemap></sitemapindex>",
        [f"{SITE}/s1.xml", f"{SITE}/s2.xml.gz"],
        kind="index",
    ),
    "an index listing itself and robots.txt: following is the caller's call (§1.7 items 20, 21)": Case(
        f"<sitemapindex><sitemap><loc>{BASE}</loc></sitemap><sitemap><loc>/robots.txt</loc></sitemap>"
        "</sitemapindex>",
        [BASE, f"{SITE}/robots.txt"],
        kind="index",
    ),
    "index without namespace, whitespace and relative children (§1.7 item 7)": Case(
        "<sitemapindex><sitemap><loc>\n  /s1.xml  \n</loc></sitemap></sitemapindex>",
        [f"{SITE}/s1.xml"],
        kind="index",
    ),
    "whitespace around <loc> (§1.7 item 7; trafilatura drops it)": Case(
        urlset(url(f"  {TWO[0]}\n"), url(f"\n\t{TWO[1]} ")), TWO
    ),
    "unknown elements and attributes (§1.7 items 7, 11)": Case(
        urlset(url(TWO[0], '<mobile:mobile/><foo bar="1"/><lastmod />'), "<extra>text</extra>", url(TWO[1])),
        TWO,
    ),
    "comments and processing instructions, even inside <loc>": Case(
        urlset(f"<!-- a --><?pi x?><url><loc>{SITE}/<!-- c -->a</loc></url>", url(TWO[1])), TWO
    ),
    "CDATA <loc>": Case(urlset(url(f"<![CDATA[{TWO[0]}]]>")), TWO[:1]),
    "markup inside <loc> keeps all its text": Case(urlset(url(f"{SITE}/<b>a</b>")), TWO[:1]),
    "blank lines and BOM before the declaration (§1.7 item 12, Scrapy, crawler-commons #144)": Case(
        "\ufeff\n\n   " + DOC, TWO
    ),
    "page URL ending .xml is a page (trafilatura calls it a sitemap)": Case(
        urlset(url(f"{SITE}/feed.xml")), [f"{SITE}/feed.xml"]
    ),
    # Ampersands and entities: decoded once, never corrupted
    "bare & kept (Scrapy's recover gives ?x=1=2)": Case(
        urlset(url(f"{SITE}/?x=1&y=2"), url(f"{SITE}/?a=1&b")), [f"{SITE}/?x=1&y=2", f"{SITE}/?a=1&b"]
    ),
    "&amp;copy= stays &copy= (USP's unescape gives ©)": Case(
        urlset(url(f"{SITE}/?a=1&amp;copy=2&amp;not=3")), [f"{SITE}/?a=1&copy=2&not=3"]
    ),
    "&amp;amp; decodes once": Case(urlset(url(f"{SITE}/?a=1&amp;amp;b=2")), [f"{SITE}/?a=1&amp;b=2"]),
    "HTML entity names stay literal": Case(
        urlset(url(f"{SITE}/?a=1&copy;&nbsp;")), [f"{SITE}/?a=1&copy;&nbsp;"]
    ),
    "character references": Case(
        urlset(url(f"{SITE}/?a=1&#38;b=2&#x26;c=&#0;&#xZZ;")), [f"{SITE}/?a=1&b=2&c=&#0;&#xZZ;"]
    ),
    "& inside CDATA is literal": Case(
        urlset(url(f"<![CDATA[{SITE}/?a=1&b=2&amp;]]>")), [f"{SITE}/?a=1&b=2&amp;"]
    ),
    "one bare & at URL 11 of 21 (advertools and USP lose the rest)": Case(
        urlset(*pages(10), url(f"{SITE}/?x=1&y=2"), *pages(20)[10:]),
        [*FIFTY[:10], f"{SITE}/?x=1&y=2", *FIFTY[10:20]],
    ),
    "control characters dropped": Case(urlset(url(f"{SITE}/a\x0b\x01")), TWO[:1]),
    # Well-formedness errors: resume at the next record, keep every URL read whole
    "mismatched end tag": Case(
        urlset(f"<url><loc>{TWO[0]}</loc></urll>", url(TWO[1])), TWO, errors=[MISMATCHED]
    ),
    "bare < inside <loc> loses only that record": Case(
        urlset(url(f"{SITE}/?x=<3"), url(TWO[1])), TWO[1:], errors=[NOT_WELL_FORMED]
    ),
    "HTML markup in a news title": Case(
        urlset(url(TWO[0], "<news:news><news:title>a<br>b</news:title></news:news>"), url(TWO[1])),
        TWO,
        errors=[MISMATCHED],
    ),
    "unclosed <url>": Case(
        urlset(f"<url><loc>{TWO[0]}</loc>", url(TWO[1]), url(f"{SITE}/c")),
        [*TWO, f"{SITE}/c"],
        errors=[MISMATCHED],
    ),
    "junk after the document": Case(DOC + "<!-- cached --> junk <<", TWO),
    "only the first ten errors are listed": Case(
        urlset(*(url(f"{SITE}/page_{i}", "<x></y>") for i in range(15))),
        FIFTY[:15],
        errors=[MISMATCHED] * 10 + ["5 more XML errors"],
    ),
    # Truncation (§1.7 item 13): the complete records, and "truncated"
    "ends mid <news:publicat… (2 of 3)": Case(
        NEWS_URLSET[: NEWS_URLSET.rindex("<news:publication>") + len("<news:publicat")],
        [f"{SITE}/story_0", f"{SITE}/story_1"],
        errors=["truncated"],
    ),
    "no </urlset> (all 50)": Case(urlset(*pages(50), tail=""), FIFTY, errors=["truncated"]),
    "ends mid <loc> (49, last page_48)": Case(
        urlset(*pages(50), tail="")[:-12], FIFTY[:49], errors=["truncated"]
    ),
    "ends in the prolog": Case('<?xml version="1.0"?><urlse', [], kind="unknown", errors=["truncated"]),
    # URLs: resolved, checked, counted when dropped, emitted once
    "relative <loc> resolved against the sitemap URL": Case(
        urlset(url("/a"), url("b"), url("//cdn.shop.example/c")),
        [f"{SITE}/a", f"{SITE}/b", "https://cdn.shop.example/c"],
    ),
    "scheme-less own host": Case(
        urlset(url("shop.example/a"), url("www.shop.example/b")), [f"{SITE}/a", "https://www.shop.example/b"]
    ),
    "relative with no sitemap URL to resolve against": Case(
        urlset(url("/a"), url(TWO[1])), TWO[1:], dropped={"relative": 1}, options={"url": ""}
    ),
    "relative with a malformed sitemap URL": Case(
        urlset(url("/a"), url(TWO[1])), TWO[1:], dropped={"relative": 1}, options={"url": "http://[::1/x"}
    ),
    "not http": Case(
        urlset(url("ftp://shop.example/a"), url("mailto:x@shop.example"), url("javascript:alert(1)")),
        [],
        dropped={"not http": 3},
    ),
    "no host or unparsable": Case(urlset(url("http://?x"), url("http://[::1/x")), [], dropped={"invalid": 2}),
    "over 2048 characters": Case(
        urlset(url(f"{SITE}/{'x' * 2028}"), url(f"{SITE}/{'y' * 2027}")),
        [f"{SITE}/{'y' * 2027}"],
        dropped={"too long": 1},
    ),
    "empty or missing <loc>": Case(
        urlset("<url><loc></loc></url><url><loc> </loc></url><url><lastmod>2024</lastmod></url>"),
        [],
        dropped={"empty": 3},
    ),
    "duplicates within one file emitted once (§1.7 item 10)": Case(
        urlset(url(TWO[0]), url(TWO[1]), url(f" {TWO[0]} "), url(TWO[0])), TWO
    ),
    "upper-case scheme, tabs and newlines inside": Case(
        urlset(url("HTTPS://shop.example/a"), url(f"{SITE}/\n\tb")), [f"{SITE}/a", f"{SITE}/b"]
    ),
    "off-site by the caller's test": Case(
        urlset(url(TWO[0]), url("https://other.example/x"), url("https://other.example/y")),
        TWO[:1],
        dropped={"off-site": 2},
        options={"keep": on_shop},
    ),
    # Caps
    "max_urls keeps the first N": Case(
        urlset(*pages(5)), FIFTY[:3], errors=["more than 3 URLs"], stopped=True, options={"max_urls": 3}
    ),
    "max_urls counts only emitted URLs": Case(
        urlset(url(TWO[0]), url(TWO[0]), url("ftp://x.example/"), url(TWO[1])),
        TWO,
        dropped={"not http": 1},
        options={"max_urls": 2},
    ),
    "max_bytes caps a plain body too": Case(
        urlset(*pages(50)),
        FIFTY[:9],
        errors=[f"more than {NINE_AND_A_BIT} bytes"],
        stopped=True,
        options={"max_bytes": NINE_AND_A_BIT},
    ),
    # Kinds other than a sitemap (§7: HTML served instead of XML)
    "HTML soft 404": Case(
        "<!DOCTYPE html><html><body>Not found</body></html>",
        [],
        kind="html",
        errors=["not a sitemap: HTML page"],
        stopped=True,
    ),
    "HTML after whitespace, no doctype": Case(
        "\n\n  <HTML><head>", [], kind="html", errors=["not a sitemap: HTML page"], stopped=True
    ),
    "XHTML with an XML declaration": Case(
        '<?xml version="1.0"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd"><html xmlns="http://www.w3.org/1999/xhtml">',
        [],
        kind="html",
        errors=["not a sitemap: HTML page"],
        stopped=True,
    ),
    "HTML5 after an XML declaration": Case(
        '<?xml version="1.0"?><!DOCTYPE html><html lang=en><body>',
        [],
        kind="html",
        errors=["not a sitemap: HTML page"],
        stopped=True,
    ),
    "HTML behind a comment": Case(
        "<!-- page --><html><body>", [], kind="html", errors=["not a sitemap: HTML page"], stopped=True
    ),
    "other XML (an S3 error)": Case(
        "<Error><Code>NoSuchKey</Code></Error>",
        [],
        kind="unknown",
        errors=["not a sitemap: <Error> document"],
        stopped=True,
    ),
    "empty body (Scrapy #4211)": Case(
        "", [], kind="unknown", errors=["not a sitemap: empty document"], stopped=True
    ),
    "whitespace body": Case(
        " \n\t\n", [], kind="unknown", errors=["not a sitemap: empty document"], stopped=True
    ),
    "binary body": Case(
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(60),
        [],
        kind="unknown",
        errors=["not a sitemap: binary data"],
        stopped=True,
    ),
    "malformed before the root": Case(
        "<<<not xml>>>" + " " * 64,
        [],
        kind="unknown",
        errors=["not a sitemap: malformed XML (not well-formed (invalid token))"],
        stopped=True,
    ),
    # Plain text (§1.7 item 16)
    "plain text with blank and junk lines": Case(
        f"\ufeff{TWO[0]}\r\n\n  Our pages:\njunk\n<p>\n/rel\nftp://shop.example/f\n{TWO[0]}\n{TWO[1]}",
        [TWO[0], f"{SITE}/rel", TWO[1]],
        kind="text",
        dropped={"not http": 1},
    ),
    "plain text, gzipped, at a .txt.dat URL": Case(
        gzip.compress(f"{TWO[0]}\n{TWO[1]}\n".encode()),
        TWO,
        kind="text",
        options={"url": f"{SITE}/sitemap.txt.dat"},
    ),
    "plain text without a URL (an error page)": Case(
        "Not Found\n\nThe requested URL was not found on this server.\n",
        [],
        kind="unknown",
        errors=["not a sitemap: text without a URL"],
        stopped=True,
    ),
    "plain text whose URLs are all dropped is still a sitemap": Case(
        "ftp://shop.example/a\n", [], kind="text", dropped={"not http": 1}
    ),
    "plain text with an endless line": Case(
        f"{TWO[0]}\n{SITE}/{'x' * 10_000}\n{TWO[1]}", TWO, kind="text", dropped={"too long": 1}
    ),
    # Feeds (§1.7 item 17)
    "RSS 2.0": Case(
        f'<rss version="2.0"><channel><link>{SITE}/</link><item><title>t</title><link>{TWO[0]}</link>'
        f"</item><item><guid>{TWO[1]}</guid></item>"
        '<item><guid isPermaLink="false">tag:shop,2024:1</guid></item></channel></rss>',
        TWO,
        kind="rss",
        dropped={"empty": 1},
    ),
    "RSS 1.0 (RDF)": Case(
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">'
        f"<channel><link>{SITE}/</link></channel><item><link>{TWO[0]}</link></item></rdf:RDF>",
        TWO[:1],
        kind="rss",
    ),
    "Atom 1.0, link variants": Case(
        '<feed xmlns="http://www.w3.org/2005/Atom">'
        f'<entry><link rel="self" href="{SITE}/self"/><link href="{TWO[0]}"/></entry>'
        f'<entry><link rel="edit" href="{SITE}/edit"/><link rel="self" href="{TWO[1]}"/></entry>'
        f'<entry><link rel="edit" href="{SITE}/edit"/></entry></feed>',
        TWO,
        kind="atom",
        dropped={"empty": 1},
    ),
    "Atom 0.3": Case(
        '<feed version="0.3" xmlns="http://purl.org/atom/ns#"><entry>'
        f'<link rel="alternate" type="text/html" href="{TWO[0]}"/></entry></feed>',
        TWO[:1],
        kind="atom",
    ),
    "empty RSS": Case("<rss><channel><title>t</title></channel></rss>", [], kind="rss"),
    "empty Atom": Case('<feed xmlns="http://www.w3.org/2005/Atom"></feed>', [], kind="atom"),
    "empty urlset": Case(urlset(), []),
    # Names: expat keeps each distinct one (ten times its bytes); the record is left open so that
    # the stop, checked after each chunk, comes before its end whatever the chunking.
    "a flood of element names": Case(
        urlset(url(A), f"<url><loc>{TWO[1]}</loc>" + "".join(f"<e{i}/>" for i in range(1000)), tail=""),
        [A],
        errors=["not a sitemap: more than 1000 distinct names"],
        stopped=True,
    ),
    "a flood of attribute names": Case(
        urlset(url(A), "<url><e " + " ".join(f'a{i}=""' for i in range(1000)) + "/>", tail=""),
        [A],
        errors=["not a sitemap: more than 1000 distinct names"],
        stopped=True,
    ),
    # Entities refused (§1.7 item 22, Scrapy #676)
    "billion laughs": Case(
        BILLION_LAUGHS, [], kind="unknown", errors=["entity declarations refused"], stopped=True
    ),
    "XXE": Case(
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        + urlset(url(f"{SITE}/&x;"), head=URLSET),
        [],
        kind="unknown",
        errors=["entity declarations refused"],
        stopped=True,
    ),
    "parameter entity": Case(
        '<!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]>' + urlset(head=URLSET),
        [],
        kind="unknown",
        errors=["entity declarations refused"],
        stopped=True,
    ),
    "external DTD named but never read": Case(
        '<!DOCTYPE urlset SYSTEM "http://127.0.0.1:9/x.dtd">' + urlset(url(f"{SITE}/?a=&x;"), head=URLSET),
        [f"{SITE}/?a=&x;"],
    ),
    # gzip (§1.7 item 15, §7 "gzip mislabelled")
    "gzip without .gz or a gzip type": Case(ONE_GZIP, TWO, options={"url": f"{SITE}/sitemap"}),
    ".gz URL, plain body": Case(DOC, TWO, options={"url": f"{SITE}/sitemap.xml.gz"}),
    "1000-page gzip (§1.7 item 14)": Case(BIG_GZIP, [f"{SITE}/page_{i}" for i in range(1000)]),
    "double gzip": Case(gzip.compress(ONE_GZIP), TWO),
    "triple gzip": Case(gzip.compress(gzip.compress(ONE_GZIP)), TWO),
    "gzip members back to back": Case(
        gzip.compress(DOC[:50].encode()) + gzip.compress(DOC[50:].encode()), TWO
    ),
    "gzip then an uncompressed comment (wpull #484)": Case(ONE_GZIP + b"<!-- cached by a plugin -->\n", TWO),
    "bytes after the gzip stream are not read": Case(
        gzip.compress(f"{TWO[0]}\n{TWO[1]}\n".encode()) + f"{SITE}/not-compressed\n".encode(),
        TWO,
        kind="text",
    ),
    "gzip output an exact multiple of the decompression piece": Case(
        gzip.compress(urlset(url(TWO[0]), tail=" " * 3_000_000).encode()[: 3 << 20]),
        TWO[:1],
        errors=["truncated"],
    ),
    "truncated gzip keeps what was decoded": Case(
        BIG_GZIP[: len(BIG_GZIP) // 2],
        complete_records(BIG_GZIP[: len(BIG_GZIP) // 2]),
        errors=["gzip stream truncated", "truncated"],
    ),
    "corrupt gzip": Case(
        corrupt_gzip(ONE_GZIP), [], kind="unknown", errors=["gzip stream corrupt"], stopped=True
    ),
    # Charsets (§1.4, "not covered": a non-UTF-8 declared encoding)
    "latin-1 declared": Case(LATIN.encode("latin-1"), [f"{SITE}/café"]),
    "latin-1 bytes labelled UTF-8": Case(urlset(url(f"{SITE}/café")).encode("latin-1"), [f"{SITE}/café"]),
    "UTF-16 with BOM": Case(
        (
            "\ufeff" + urlset(url(f"{SITE}/café"), head='<?xml version="1.0" encoding="UTF-16"?><urlset>')
        ).encode("utf-16-le"),
        [f"{SITE}/café"],
    ),
    "UTF-16 label on UTF-8 bytes": Case(
        urlset(url(f"{SITE}/café"), head='<?xml version="1.0" encoding="UTF-16"?><urlset>'), [f"{SITE}/café"]
    ),
    "Shift_JIS declared": Case(
        urlset(url(f"{SITE}/日本"), head='<?xml version="1.0" encoding="Shift_JIS"?><urlset>').encode(
            "shift_jis"
        ),
        [f"{SITE}/日本"],
    ),
    "unknown charset read as UTF-8": Case(
        urlset(url(f"{SITE}/café"), head='<?xml version="1.0" encoding="x-no-such"?><urlset>'),
        [f"{SITE}/café"],
    ),
}


@pytest.mark.parametrize("chunk", CHUNKS, ids=["whole", "7 bytes", "1 byte"])
@pytest.mark.parametrize("name", CASES)
def test_documents(name: str, chunk: int) -> None:
    case = CASES[name]
    parser, entries = parse(case.body, chunk, **case.options)
    assert [entry.loc for entry in entries] == case.locs
    assert (parser.kind, parser.errors, dict(parser.dropped), parser.stopped) == (
        case.kind,
        case.errors,
        case.dropped,
        case.stopped,
    )


IMAGES = (
    "<image:image><image:loc>https://img.example/1.jpg</image:loc><image:caption>A &amp; B</image:caption>"
    "<image:geo_location>Leeds</image:geo_location><image:title>One</image:title>"
    "<image:license>https://img.example/licence</image:license></image:image>"
    "<image:image><image:loc> https://img.example/2.jpg </image:loc></image:image>"
)
VIDEOS = (
    "<video:video><video:thumbnail_loc>https://v.example/t.jpg</video:thumbnail_loc>"
    "<video:title>Grilling</video:title><video:description>Steaks</video:description>"
    "<video:content_loc>https://v.example/v.mp4</video:content_loc>"
    '<video:player_loc allow_embed="yes">https://v.example/p</video:player_loc>'
    "<video:duration>600</video:duration><video:tag>steak</video:tag><video:tag>meat</video:tag></video:video>"
    "<video:video><video:title>Second</video:title></video:video>"
)
FULL_NEWS = (
    "<news:news><news:publication><news:name>The &lt;Daily&gt; Bąž</news:name>"
    "<news:language>pl</news:language></news:publication>"
    "<news:publication_date>2024-01-02T10:00:00+01:00</news:publication_date>"
    "<news:title><![CDATA[Bąž & <b>co</b>]]></news:title><news:keywords>a, b</news:keywords>"
    "<news:genres>PressRelease, Blog</news:genres></news:news>"
)
LINKS = (
    f'<xhtml:link rel="alternate" hreflang="de" href="{SITE}/de/a"/>'
    '<xhtml:link rel="alternate" hreflang="fr" href="/fr/a"/>'
    f'<xhtml:link hreflang="es" href="{SITE}/es/a"/>'
    f'<xhtml:link rel="alternate" href="{SITE}/it/a"/>'
    '<xhtml:link rel="alternate" hreflang="nl"/>'
    f'<xhtml:link rel="canonical" hreflang="en" href="{SITE}/a"/>'
)

FIELDS: dict[str, tuple[str, Entry]] = {
    "all standard fields, trimmed": (
        url(
            A,
            "<lastmod> 2024-05-01T10:00:00+00:00 </lastmod><changefreq> Weekly </changefreq><priority> 0.8 </priority>",
        ),
        Entry(A, "2024-05-01T10:00:00+00:00", "weekly", 0.8),
    ),
    "empty lastmod (§1.7 item 7)": (url(A, "<lastmod />"), Entry(A)),
    "lastmod kept raw, valid or not (§1.7 item 23)": (
        url(A, "<lastmod>2021-06-18T112:13:04</lastmod>"),
        Entry(A, "2021-06-18T112:13:04"),
    ),
    "invalid changefreq and priority (§1.7 item 8)": (
        url(A, "<changefreq>when we feel like it</changefreq><priority>1.1</priority>"),
        Entry(A),
    ),
    "priority bounds": (url(A, "<priority>1</priority>"), Entry(A, priority=1.0)),
    "priority zero": (url(A, "<priority>0.0</priority>"), Entry(A, priority=0.0)),
    "negative priority": (url(A, "<priority>-0.1</priority>"), Entry(A)),
    "word priority": (url(A, "<priority>high</priority>"), Entry(A)),
    "NaN priority": (url(A, "<priority>nan</priority>"), Entry(A)),
    "first value of a repeated field": (
        url(A, "<lastmod>2024</lastmod><lastmod>2023</lastmod>"),
        Entry(A, "2024"),
    ),
    "images (§1.7 item 18)": (
        url(A, IMAGES),
        Entry(
            A,
            images=[
                {
                    "loc": "https://img.example/1.jpg",
                    "caption": "A & B",
                    "geo_location": "Leeds",
                    "title": "One",
                    "license": "https://img.example/licence",
                },
                {"loc": "https://img.example/2.jpg"},
            ],
        ),
    ),
    "videos, two per URL (advertools #87 keeps the last)": (
        url(A, VIDEOS),
        Entry(
            A,
            videos=[
                {
                    "thumbnail_loc": "https://v.example/t.jpg",
                    "title": "Grilling",
                    "description": "Steaks",
                    "content_loc": "https://v.example/v.mp4",
                    "player_loc": "https://v.example/p",
                    "duration": "600",
                    "tag": "steak, meat",
                },
                {"title": "Second"},
            ],
        ),
    ),
    "news with genres (USP loses them), entities, CDATA, UTF-8 (§1.7 item 9)": (
        url(A, FULL_NEWS),
        Entry(
            A,
            news={
                "publication_name": "The <Daily> Bąž",
                "publication_language": "pl",
                "publication_date": "2024-01-02T10:00:00+01:00",
                "title": "Bąž & <b>co</b>",
                "keywords": "a, b",
                "genres": "PressRelease, Blog",
            },
        ),
    ),
    "hreflang alternates; incomplete links ignored (§1.7 item 19)": (
        url(A, LINKS),
        Entry(A, alternates=[("de", f"{SITE}/de/a"), ("fr", f"{SITE}/fr/a")]),
    ),
    "extension data does not leak into the next record": (
        url(A, IMAGES + FULL_NEWS + LINKS) + url(f"{SITE}/b"),
        Entry(f"{SITE}/b"),
    ),
}


@pytest.mark.parametrize("name", FIELDS)
def test_fields(name: str) -> None:
    record, expected = FIELDS[name]
    for chunk in CHUNKS:
        _, entries = parse(urlset(record), chunk)
        assert entries[-1] == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "<sitemapindex><sitemap><loc>/s.xml</loc><lastmod>2024-01-01</lastmod></sitemap></sitemapindex>",
            Entry(f"{SITE}/s.xml", "2024-01-01"),
        ),
        (
            f"<rss><channel><item><link>{A}</link><pubDate>Mon, 01 Jan 2024 00:00:00 GMT</pubDate></item>"
            "</channel></rss>",
            Entry(A, "Mon, 01 Jan 2024 00:00:00 GMT"),
        ),
        (
            f'<feed><entry><published>2023</published><link href="{A}"/><updated>2024</updated></entry></feed>',
            Entry(A, "2024"),
        ),
        (f'<feed><entry><link href="{A}"/><issued>2023</issued></entry></feed>', Entry(A, "2023")),
        (f"{A}\n", Entry(A)),
    ],
    ids=["index lastmod", "RSS pubDate", "Atom updated before published", "Atom 0.3 issued", "text"],
)
def test_dates_in_other_kinds(body: str, expected: Entry) -> None:
    assert parse(body)[1] == [expected]


@pytest.mark.parametrize(
    ("head", "final", "expected"),
    [
        (b"\xef\xbb\xbf<?xml", False, ("utf-8", 3)),
        (b"\xff\xfe<\x00", False, ("utf-16-le", 2)),
        (b"\xfe\xff\x00<", False, ("utf-16-be", 2)),
        (b"<\x00?\x00x\x00", False, ("utf-16-le", 0)),
        (b"\xef\xbb", False, None),
        (b"  <?xml version='1.0' enc", False, None),
        (b"  <?xml version='1.0' encoding='latin1'?>", False, ("iso8859-1", 0)),
        (b'<?xml version="1.0" encoding="windows-1252" ?>', False, ("cp1252", 0)),
        (b'<?xml version="1.0" encoding="UTF-16"?>', False, ("utf-8", 0)),
        (b'<?xml version="1.0" encoding="base64"?>', False, ("utf-8", 0)),
        (b'<?xml version="1.0"?>', False, ("utf-8", 0)),
        (b"<urlset>", False, ("utf-8", 0)),
        (b"https://a.example/", False, ("utf-8", 0)),
        (b"<?xm", True, ("utf-8", 0)),
        (b"<?xml" + b" " * 2000, False, ("utf-8", 0)),
    ],
)
def test_sniff_charset(head: bytes, final: bool, expected: tuple[str, int] | None) -> None:
    assert sniff_charset(head, final) == expected


def test_entries_arrive_while_the_body_streams() -> None:
    body = urlset(*pages(1000)).encode()
    parser = SitemapParser(BASE)
    first = parser.feed(body[: len(body) // 2])
    assert 400 < len(first) < 600
    assert first[0].loc == f"{SITE}/page_0"
    rest = parser.feed(body[len(body) // 2 :]) + parser.close()
    assert len(first) + len(rest) == 1000


def test_duplicates_are_per_file() -> None:
    # §1.7 item 10: a page in two sibling sitemaps is kept in both; only one file's repeats go.
    assert parse(DOC)[1] == parse(DOC, url=f"{SITE}/other-sitemap.xml")[1] == [Entry(TWO[0]), Entry(TWO[1])]


def test_a_stopped_parser_ignores_input() -> None:
    parser = SitemapParser(BASE, max_urls=1)
    assert [e.loc for e in parser.feed(urlset(*pages(3)).encode())] == [f"{SITE}/page_0"]
    assert parser.stopped
    seen = parser.bytes_in
    assert parser.feed(urlset(*pages(3)).encode()) == []
    assert parser.bytes_in == seen
    assert parser.close() == []
    assert parser.close() == []
    assert parser.errors == ["more than 1 URLs"]


def test_byte_counters() -> None:
    parser, _ = parse(ONE_GZIP)
    assert (parser.bytes_in, parser.bytes_decoded) == (len(ONE_GZIP), len(DOC))


def test_gzip_output_is_never_held_back() -> None:
    # Decompressing in bounded pieces, zlib can keep output back after taking all the input it was
    # given; after each chunk, everything those bytes decode to must have come out.
    body = gzip.compress(urlset(tail=" " * (40 << 20) + "</urlset>").encode(), 9)
    parser = SitemapParser(BASE)
    reference = zlib.decompressobj(31)
    expected = 0
    for at in range(0, len(body), 1017):
        parser.feed(body[at : at + 1017])
        expected += len(reference.decompress(body[at : at + 1017]))
        assert parser.bytes_decoded == expected
    parser.close()
    assert parser.errors == []


def test_gzip_bomb_stops_at_the_cap_quickly() -> None:
    # About 1 GiB of spaces inside <urlset>, in about 1 MB: one compressed MiB repeated. Each block
    # ends in a full flush, which makes it self-contained, so copies can be chained. The stream's
    # trailer is never reached: the parser must stop long before.
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = packer.compress(b'<?xml version="1.0"?><urlset>') + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(b" " * (1 << 20)) + packer.flush(zlib.Z_FULL_FLUSH)
    bomb = head + block * 1024
    assert len(bomb) < 2_000_000
    started = time.perf_counter()
    parser, entries = parse(bomb, 1 << 16)
    assert time.perf_counter() - started < 5
    assert entries == []
    assert parser.errors == [f"more than {50 * 1024 * 1024} bytes"]
    assert parser.stopped
    assert parser.bytes_decoded == 50 * 1024 * 1024
    assert parser.bytes_in < 200_000  # stopped within the first few chunks


def test_billion_laughs_is_refused_quickly() -> None:
    started = time.perf_counter()
    parser, entries = parse(BILLION_LAUGHS)
    assert time.perf_counter() - started < 1
    assert (entries, parser.errors) == ([], ["entity declarations refused"])


@pytest.mark.parametrize(
    ("body", "urls"),
    [
        (urlset(*(url(f"{SITE}/page_{i}", f"<!-- {'p' * 2000} -->") for i in range(5000))).encode(), 5000),
        (urlset(tail=" " * 10_000_000 + "</urlset>").encode(), 0),
        (f"{TWO[0]}\n{SITE}/{'x' * 10_000_000}\n{TWO[1]}\n".encode(), 2),
        (urlset(url(A, "".join(f"<e{i}/>" for i in range(100_000)))).encode(), 0),
    ],
    ids=[
        "records padded with comments",
        "whitespace and no records",
        "an endless text line",
        "100,000 names",
    ],
)
def test_memory_stays_flat_on_a_large_document(body: bytes, urls: int) -> None:
    # Large bodies read in 64 KiB chunks. What the parser holds is a chunk, a record and the URLs
    # seen (≈0.6 MB at most here), never the document.
    parser = SitemapParser(BASE)
    count = 0
    tracemalloc.start()
    try:
        for at in range(0, len(body), 1 << 16):
            count += len(parser.feed(body[at : at + (1 << 16)]))
        count += len(parser.close())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == urls
    assert peak < 3_000_000


def test_a_stray_bracket_in_a_loc_drops_that_url_only() -> None:
    """``]`` in a host made urlsplit raise inside the caller's site test and lost the whole file."""
    parser = SitemapParser("http://ex.com/sitemap.xml", keep=lambda url: urlsplit(url).hostname == "ex.com")
    document = (
        b"<urlset><url><loc>http://ex.com]/b</loc></url><url><loc>http://ex.com/ok</loc></url></urlset>"
    )
    entries = parser.feed(document) + parser.close()
    assert [entry.loc for entry in entries] == ["http://ex.com/ok"]
    assert parser.dropped["invalid"] == 1


# Plain urlset records are read by a regular expression, everything else by expat: the two must
# agree. Each document below starts with plain records (read fast) and then meets one variant.
PLAIN = [
    url(f"{SITE}/p/{i}", "<lastmod>2024-05-01T10:00:00+00:00</lastmod><changefreq>weekly</changefreq>")
    for i in range(40)
]
VARIANTS = {
    "all four fields": url(
        A, "<lastmod>2024</lastmod><changefreq>daily</changefreq><priority>0.8</priority>"
    ),
    "loc only, spaced": f"\n\t<url>\n  <loc>  {A}  </loc>\n</url>\n",
    "empty fields": url("", "<lastmod></lastmod><changefreq></changefreq><priority></priority>"),
    "odd values": url(A, "<changefreq> Weekly </changefreq><priority>1.5</priority>"),
    "lastmod and priority": url(A, "<lastmod> 2024-01-01 </lastmod><priority>nan</priority>"),
    "relative, off-site and repeated": url("/rel") + url("https://other.example/x") + PLAIN[0],
    "escaped ampersand": url(f"{SITE}/a?x=1&amp;y=2") + url(A),
    "bare ampersand": url(f"{SITE}/a?x=1&y=2") + url(A),
    "carriage returns": f"<url>\r\n<loc>{A}\r\n</loc>\r\n</url>\r\n" + url(f"{SITE}/b"),
    "a greater-than sign": url(f"{SITE}/a>b") + url(A),
    "a control character": url(f"{SITE}/a\x01b") + url(A),
    "fields out of order": f"<url><priority>0.5</priority><loc>{A}</loc></url>" + url(f"{SITE}/b"),
    "an extension": url(A, IMAGES) + url(f"{SITE}/b"),
    "a comment between records": "<!-- <url><loc>https://shop.example/hidden</loc></url> -->" + url(A),
    "a CDATA loc": f"<url><loc><![CDATA[{SITE}/a?x=1&y=2]]></loc></url>" + url(A),
    "non-ASCII": url(f"{SITE}/straße/café") + url(A),
    "too long": url(f"{SITE}/{'x' * 3000}") + url(A),
    "an unclosed record": f"<url><loc>{A}</loc>" + url(f"{SITE}/b"),
    "a prefixed record": f'<s:url xmlns:s="x"><s:loc>{A}</s:loc></s:url>' + url(f"{SITE}/b"),
    "a self-closing record": "<url/>" + url(A),
    "an end tag with a space": f"<url><loc>{A}</loc></url >" + url(f"{SITE}/b"),
}
ENDINGS = {
    "closed": "</urlset>",
    "junk after": "</urlset>\n<!-- cache 0.1s -->garbage",
    "truncated": f"<url><loc>{A}",
}


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_plain_records_read_fast_agree_with_expat(variant: str, ending: str) -> None:
    records = [*PLAIN, VARIANTS[variant], *PLAIN[20:]]
    fast_head, expat_head = DECLARATION + URLSET, DECLARATION + "<!-- expat only -->" + URLSET
    slow = parse(urlset(*records, head=expat_head, tail=ENDINGS[ending]), keep=on_shop)
    for chunk in (1 << 16, 100, 7, 1):
        # The urlset's start tag in the first piece, so that the fast path is taken; then the records
        # cut at every possible place.
        document = urlset(*records, head=fast_head, tail=ENDINGS[ending])
        parser, entries = parse(document, chunk, first=len(fast_head) + 20, keep=on_shop)
        assert entries == slow[1]
        assert (parser.kind, parser.errors, parser.dropped) == (slow[0].kind, slow[0].errors, slow[0].dropped)
    assert len(slow[1]) >= len(PLAIN)


@pytest.mark.parametrize(
    ("head", "fast"),
    [
        (DECLARATION + URLSET, True),
        (f"\n{URLSET}", True),
        ("<urlset>", True),
        (DECLARATION + "<!-- expat only -->" + URLSET, False),
        ('<!DOCTYPE urlset SYSTEM "x">' + URLSET, False),
        ('<s:urlset xmlns:s="http://www.sitemaps.org/schemas/sitemap/0.9">', False),
        ("<sitemapindex>", False),
    ],
)
def test_only_plain_urlsets_take_the_fast_path(head: str, fast: bool) -> None:
    """What makes the comparison above meaningful: its documents do take the fast path."""
    parser = SitemapParser(BASE)
    parser.feed((head + "".join(PLAIN)).encode())
    assert parser._fast is fast


@pytest.mark.parametrize("variant", ["an end tag with a space", "a self-closing record", "all four fields"])
def test_a_cap_reached_anywhere_stops_both_readings_at_the_same_record(variant: str) -> None:
    """The fast path holds back the start of a record until its end comes: a stop in between must
    lose nothing that expat, reading the same bytes, would have given."""
    records = [*PLAIN[:5], VARIANTS[variant], *PLAIN[5:10]]
    comment = "<!-- expat only -->"
    fast = urlset(*records, head=DECLARATION + URLSET).encode()
    slow = urlset(*records, head=DECLARATION + comment + URLSET).encode()
    start = len(DECLARATION + URLSET + "".join(PLAIN[:5]))
    for cap in range(start - 20, start + len(VARIANTS[variant]) + 20):
        # Whole, so that the first chunk holds the urlset's start tag and the fast path is taken.
        expected = parse(slow, 1 << 16, max_bytes=cap + len(comment), keep=on_shop)
        parser, entries = parse(fast, 1 << 16, max_bytes=cap, keep=on_shop)
        assert entries == expected[1]
        assert parser.dropped == expected[0].dropped
        cap_named = [error.replace(str(cap + len(comment)), str(cap)) for error in expected[0].errors]
        assert parser.errors == cap_named  # "more than N bytes": each its own cap


def test_a_lone_surrogate_from_a_declared_codec_is_damage_not_a_crash() -> None:
    document = (
        '<?xml version="1.0" encoding="utf-7"?><urlset>'
        f"<url><loc>{SITE}/a+2AA-</loc></url><url><loc>{SITE}/b</loc></url></urlset>"
    )
    for head in ("", "<!-- expat only -->"):
        parser, entries = parse(document.replace("<urlset>", head + "<urlset>"))
        assert [entry.loc for entry in entries] == [f"{SITE}/b"]
        assert parser.errors and "malformed XML" in parser.errors[0]


@pytest.mark.parametrize("chunk", [1, 7, 100])
def test_the_fast_path_is_kept_whatever_the_chunks_cut(chunk: int) -> None:
    """A chunk may end anywhere in a record, its end tag included, without sending the rest of a
    large urlset to the slower expat reading."""
    head = DECLARATION + URLSET
    document = urlset(*PLAIN, head=head).encode()
    parser = SitemapParser(BASE)
    count = len(parser.feed(document[: len(head) + 20]))
    records_end = len(document) - len("</urlset>")
    for at in range(len(head) + 20, records_end, chunk):
        count += len(parser.feed(document[at : min(at + chunk, records_end)]))
        assert parser._fast
    assert count + len(parser.feed(b"</urlset>") + parser.close()) == len(PLAIN)
