"""Sitemaps read as they stream in: bytes in, one `Entry` per page (or child sitemap) out. No I/O.

A `SitemapParser` reads one document of any kind a site serves as a sitemap: an XML urlset or
sitemap index, a plain-text list, an RSS or Atom feed. Feed it the body chunk by chunk as it comes
off the wire; each call returns the records that chunk completed. Memory holds the chunk being read,
the record being built and the set of URLs already emitted, never the document. The stages:

1. gzip, recognised by its magic bytes only: file names and Content-Type headers lie about it. It is
   undone incrementally, layer by layer (a gzipped file served with ``Content-Encoding: gzip`` is
   gzipped twice) and member by member; bytes after the last member are dropped (a cache plugin's
   appended comment). ``max_bytes`` counts decompressed bytes, so a gzip bomb stops at the cap.
2. Charset, from a byte-order mark or the XML declaration, else UTF-8. In UTF-8, bytes that are not
   UTF-8 are read as Windows-1252 rather than replaced, so a mislabelled ``café`` stays ``café``.
3. Sniffing, after leading whitespace: ``<`` means XML and the root element names the kind
   (``<html>`` or ``<!DOCTYPE html>`` is a soft 404), anything else is one URL a line.
4. XML goes through expat with callbacks that build one record at a time, except the long runs
   of plain ``<url>`` records most urlsets are: a regular expression reads those, to the same
   result without a callback for each element (`SitemapParser._fast_records`).

Why expat rather than lxml: neither is much quicker on a large urlset (``bench/sitemap_parse.py``),
so correctness decides.

* Expat reports names as written (``sitemap:loc``) when namespace processing is off. We match local
  names, so a missing, legacy (Google's 0.84), wrong, empty or undeclared namespace does not matter.
* It calls us on every DOCTYPE and entity declaration, so a document declaring entities (billion
  laughs, XXE) is refused before anything is expanded or fetched.
* It never invents structure. At the end of a truncated file, lxml's recover mode closes whatever is
  open and hands back a half-read last record; expat reports exactly the records whose end tag came.
  The repairs are ours, and none of them changes a URL: bare ``&`` is escaped before parsing (lxml's
  recover turns ``?x=1&y=2`` into ``?x=1=2``), control characters are dropped, and after any other
  well-formedness error a fresh parser resumes at the next record.
* Entities are decoded once, by the XML parser. Nothing runs an HTML unescape afterwards, which is
  how another tool turns ``?a=1&amp;copy=2`` into ``?a=1©=2``.
"""

from __future__ import annotations

import codecs
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit
from xml.parsers import expat

MAX_URL_LENGTH = 2048  # the protocol's bound; longer values are not page addresses
CHANGEFREQS = frozenset({"always", "hourly", "daily", "weekly", "monthly", "yearly", "never"})
ENTITIES_REFUSED = "entity declarations refused"  # the error naming a document refused unread

# What each kind of document calls its records, and which children of a record we keep, under
# which key. Keys that two names share (RSS ``pubDate`` and RDF ``dc:date``) keep the first found.
_RECORDS: dict[str, tuple[str, dict[str, str]]] = {
    "urlset": (
        "url",
        {"loc": "loc", "lastmod": "lastmod", "changefreq": "changefreq", "priority": "priority"},
    ),
    "index": ("sitemap", {"loc": "loc", "lastmod": "lastmod"}),
    "rss": ("item", {"link": "loc", "guid": "guid", "pubDate": "lastmod", "date": "lastmod"}),
    # Atom 1.0 says updated/published, 0.3 modified/issued; links come from attributes.
    "atom": (
        "entry",
        {"updated": "lastmod", "modified": "lastmod", "published": "published", "issued": "published"},
    ),
}
# Root element (local name, lowercased) → kind. RSS 1.0 is RDF with items that carry a link.
_ROOTS = {"urlset": "urlset", "sitemapindex": "index", "rss": "rss", "rdf": "rss", "feed": "atom"}
# Children of a record that need more than their text: links (read from attributes), extension
# blocks, and the record's own tag (met inside a record, it means the previous one never closed).
_SPECIAL = {
    "urlset": frozenset({"url", "link", "image", "video", "news"}),
    "index": frozenset({"sitemap"}),
    "rss": frozenset({"item", "link"}),
    "atom": frozenset({"entry", "link"}),
}

_HTTP = ("https://", "http://")
_LEADING = " \t\r\n\f\v\ufeff"  # whitespace and stray byte-order marks before the first tag
_SNIFF_CHARS = 64  # enough text to recognise "<!doctype html"
_LONGEST_LINE = 4 * MAX_URL_LENGTH  # a plain-text line longer than this is dropped without being held
_XML_NOTES = 10  # well-formedness errors listed one by one; the rest are counted
_MAX_NAMES = 1000  # distinct element and attribute names in one document
# Bytes expat rejects anywhere (C0 controls but tab, LF, CR). No UTF-8 sequence contains them.
_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\r")


# The fast path (see `SitemapParser._fast_records`). A field's text: no markup, reference or ``>``
# (so no ``]]>``), no carriage return (expat would rewrite it) and no character XML forbids (nor a
# lone surrogate, which a codec such as UTF-7 can produce).
_WS = "[ \t\n]*"
_FIELD = "([^<>&\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]*)"
_PLAIN_URL = re.compile(
    f"{_WS}<url>{_WS}<loc>{_FIELD}</loc>{_WS}"
    f"(?:<lastmod>{_FIELD}</lastmod>{_WS})?"
    f"(?:<changefreq>{_FIELD}</changefreq>{_WS})?"
    f"(?:<priority>{_FIELD}</priority>{_WS})?"
    "</url>"
)
# An XML declaration and an unprefixed urlset start tag, nothing else (no comment, no DOCTYPE).
_URLSET_HEAD = re.compile(
    r"""[ \t\n]*(?:<\?xml[^<>?]*\?>[ \t\n]*)?<urlset(?:[ \t\n]+[^\s<>/=]+[ \t\n]*=[ \t\n]*(?:"[^"<&]*"|'[^'<&]*'))*[ \t\n]*>"""
)
_FAST_HOLD = 4 * MAX_URL_LENGTH  # a plain record cut by a chunk's end is shorter than this


def _unfinished(rest: str) -> bool:
    """Whether ``rest`` can be the start of a plain record and nothing more: no record in it can have
    ended (``</url>``, ``</url >``, ``<url/>``, a prefixed name, a second start), so holding it back
    until the next chunk loses nothing if the parse stops first. A chunk may end inside an end tag."""
    return rest.count("<url") <= 1 and ":url" not in rest and _RECORD_END.search(rest) is None


_RECORD_END = re.compile(r"</url[ \t\r\n]*>|<url[ \t\r\n]*/>")


class _Stop(Exception):
    """Ends the parse for good; the message is the reason the caller reads in `errors`."""


@dataclass(slots=True)
class Entry:
    """One record of a sitemap: a ``<url>`` or ``<sitemap>``, a text line, an RSS item or Atom entry."""

    loc: str  # absolute, trimmed, resolved against the sitemap URL
    lastmod: str | None = None  # raw W3C/RFC text as given (dates are parsed later, if ever)
    changefreq: str | None = None  # one of CHANGEFREQS, else None
    priority: float | None = None  # 0.0–1.0, else None
    alternates: list[tuple[str, str]] | None = None  # (hreflang, href)
    images: list[dict[str, str]] | None = None  # loc, caption, title, geo_location, license
    videos: list[dict[str, str]] | None = None  # thumbnail_loc, title, description, content_loc, …
    news: dict[str, str] | None = None  # publication_name, publication_language, title, genres, …


class SitemapParser:
    """Parse one sitemap document fed in chunks: ``feed`` each chunk, then ``close``.

    ``url`` is the sitemap's own (final) URL: relative locations resolve against it. ``keep`` says
    whether a resolved URL belongs to the site. Both calls return the entries they completed and
    never raise on bad input (only an exception from ``keep`` itself propagates).

    After the parse: ``kind`` is what the document turned out to be ("urlset", "index", "text",
    "rss", "atom", "html" for a soft 404, "unknown"); ``errors`` lists what went wrong, in words;
    ``dropped`` counts URLs left out by reason: "empty", "relative" (no absolute sitemap URL to
    resolve against), "not http", "invalid" (no host), "too long", "off-site". ``stopped`` is true
    when a cap or a fatal error ended the parse early; further input is then ignored.
    """

    def __init__(
        self,
        url: str,
        *,
        max_bytes: int = 50 * 1024 * 1024,
        max_urls: int | None = 50_000,
        keep: Callable[[str], bool] | None = None,
    ) -> None:
        self.url = url
        self.kind = "unknown"
        self.errors: list[str] = []
        self.dropped: Counter[str] = Counter()
        self.bytes_in = 0
        self.bytes_decoded = 0
        self.stopped = False
        self._max_bytes = max_bytes
        self._max_urls = max_urls
        self._keep = keep
        self._base_scheme, self._base_host = _http_origin(url)
        self._closed = False
        self._out: list[Entry] = []
        # URLs already emitted, by their 64-bit hash: a fifth of the memory of the strings, and two
        # distinct URLs of one 50,000-URL file share a hash about once in ten billion files.
        self._seen: set[int] = set()
        self._emitted = 0
        # Stage 1 and 2: decompression and charset.
        self._gunzip = _Gunzip()
        self._head = b""  # bytes held until the charset is known
        self._decoder: codecs.IncrementalDecoder | None = None
        # Stage 3: where decoded text goes next: "sniff" until the kind is known, then "xml" or "text".
        self._mode = "sniff"
        self._sniffed = ""
        # Plain text.
        self._line = ""
        self._long_line = False
        self._url_lines = 0
        # XML: the parser, its input so far, and how to resume after damage.
        self._ampersands = _BareAmpersands()
        self._fast: bool | None = None  # urlset records read by regular expression; None: not yet decided
        self._fast_tail = ""  # a record that a chunk cut in two, waiting for its end
        self._expat: expat.XMLParserType | None = None
        self._expat_fed = 0  # bytes this parser has consumed before the current Parse call
        self._skipped = b""  # while skipping damage: a tail that may hold the start of a record
        self._xml_done = False  # the root element closed: what follows cannot add records
        self._notes = 0
        self._root = ""  # the root element's name as written, reopened when resuming
        self._record_tag = ""
        self._field_keys: dict[str, str] = {}
        self._special: frozenset[str] = frozenset()
        self._record_start: re.Pattern[bytes] | None = None
        self._names: dict[str, str] = {}  # element name as written → local name
        self._depth = 0  # open elements outside records
        self._root_closed = False
        # The record being built.
        self._in_record = False
        self._inner = 0  # open elements inside the record: 1 = a direct child
        self._text: list[str] = []
        self._fields: dict[str, str] = {}
        self._alternates: list[tuple[str, str]] | None = None
        self._images: list[dict[str, str]] | None = None
        self._videos: list[dict[str, str]] | None = None
        self._news: dict[str, str] | None = None
        self._group: dict[str, str] | None = None  # the open image/video/news block
        self._group_kind = ""
        self._path: list[str] = []  # elements open inside the block, for keys like publication_name

    # ---- public API -------------------------------------------------------------------------

    def feed(self, chunk: bytes) -> list[Entry]:
        """Take the next chunk of the body; return the entries it completed."""
        if self.stopped or self._closed:
            return []
        self.bytes_in += len(chunk)
        try:
            for piece in self._gunzip.feed(chunk):
                self._decoded(piece)
        except _Stop as stop:
            self._stop(str(stop))
        return self._take()

    def close(self) -> list[Entry]:
        """End of body: return the remaining entries and settle ``errors`` (e.g. "truncated")."""
        if self._closed:
            return []
        self._closed = True
        if not self.stopped:
            try:
                for piece in self._gunzip.close():
                    self._decoded(piece)
                if self._gunzip.truncated:
                    self.errors.append("gzip stream truncated")
                self._decoded(b"", final=True)
            except _Stop as stop:
                self._stop(str(stop))
        if self._notes > _XML_NOTES:
            self.errors.append(f"{self._notes - _XML_NOTES} more XML errors")
        self._free_memory()
        return self._take()

    def _take(self) -> list[Entry]:
        out, self._out = self._out, []
        return out

    def _stop(self, reason: str) -> None:
        self.errors.append(reason)
        self.stopped = True
        self._free_memory()

    def _free_memory(self) -> None:
        # The expat parser holds our bound methods: dropping it breaks that cycle, so the memory
        # (the set of seen URLs above all) goes back at once rather than at the next collection.
        self._expat = None
        self._seen = set()
        self._text.clear()

    # ---- stage 2: decompressed bytes → text -------------------------------------------------

    def _decoded(self, data: bytes, final: bool = False) -> None:
        room = self._max_bytes - self.bytes_decoded
        over = len(data) > room
        if over:
            data = data[:room]
        self.bytes_decoded += len(data)
        if self._decoder is None:
            data = self._head + data
            found = sniff_charset(data, final)
            if found is None:
                self._head = data
            else:
                self._head = b""
                codec, bom = found
                fallback = _UTF8_FALLBACK if codec == "utf-8" else "replace"
                self._decoder = codecs.getincrementaldecoder(codec)(fallback)
                data = data[bom:]
        if self._decoder is not None:
            self._read(self._decoder.decode(data, final), final)
        if over:
            raise _Stop(f"more than {self._max_bytes} bytes")

    # ---- stage 3: what kind of document ------------------------------------------------------

    def _read(self, text: str, final: bool) -> None:
        # A plain dispatch rather than a stored bound method, which would tie the parser in a cycle.
        if self._mode == "xml":
            self._xml(text, final)
        elif self._mode == "text":
            self._lines(text, final)
        else:
            self._sniff(text, final)

    def _sniff(self, text: str, final: bool) -> None:
        head = (self._sniffed + text).lstrip(_LEADING)
        if len(head) < _SNIFF_CHARS and not final:
            self._sniffed = head
            return
        self._sniffed = ""
        if not head:
            raise _Stop("not a sitemap: empty document")
        if head[:_SNIFF_CHARS].lower().startswith(("<!doctype html", "<html")):
            self.kind = "html"
            raise _Stop("not a sitemap: HTML page")
        if head.startswith("<"):
            self._expat = self._new_expat()
            self._mode = "xml"
        elif "\x00" in head[:1024]:
            raise _Stop("not a sitemap: binary data")
        else:
            self.kind = "text"
            self._mode = "text"
        self._read(head, final)

    # ---- plain text: one URL a line ------------------------------------------------------------

    def _lines(self, text: str, final: bool) -> None:
        lines = (self._line + text).split("\n")
        self._line = "" if final else lines.pop()
        if self._long_line:  # the rest of a line already dropped as too long
            if lines:
                lines[0] = ""
                self._long_line = False
            else:
                self._line = ""
        if len(self._line) > _LONGEST_LINE:
            if self._line.lstrip().startswith(_HTTP):
                self.dropped["too long"] += 1
            self._line, self._long_line = "", True
        for line in lines:
            line = line.strip()
            # Junk (titles, comments, markup) is skipped: a URL is one word with a scheme or a path.
            if line and ("://" in line or line[0] == "/") and len(line.split()) == 1:
                self._url_lines += 1
                url = self._admit(line)
                if url is not None:
                    self._out.append(Entry(url))
        if final and not self._url_lines:  # an error page in plain text, say
            self.kind = "unknown"
            raise _Stop("not a sitemap: text without a URL")

    # ---- XML ------------------------------------------------------------------------------

    def _xml(self, text: str, final: bool) -> None:
        text = self._ampersands.feed(text, final)
        if self._fast is None:
            text = self._open(text)
        if self._fast:
            text = self._fast_records(text, final)
        if text:
            # A lone surrogate passes as bytes that are not UTF-8: expat calls them damage.
            self._parse(text.encode("utf-8", "surrogatepass").translate(None, _CONTROL_BYTES))
        if final:
            self._finish_xml()

    # ---- the fast path: plain urlset records ----------------------------------------------------

    def _open(self, text: str) -> str:
        """Parse a plain urlset's prolog and root tag; return the rest. Decides whether the fast path
        may read what follows: only when expat has just opened an unprefixed ``<urlset>`` and holds
        nothing half-read."""
        self._fast = False
        head = _URLSET_HEAD.match(text)
        if head is None:
            return text
        self._parse(text[: head.end()].encode().translate(None, _CONTROL_BYTES))
        self._fast = self._root == "urlset" and self._depth == 1 and self._expat is not None
        return text[head.end() :]

    def _fast_records(self, text: str, final: bool) -> str:
        """Emit the records at the start of ``text`` that `_PLAIN_URL` matches whole; return the rest.

        Most sitemaps are long runs of ``<url>`` records with nothing but text in loc, lastmod,
        changefreq and priority. For those, a regular expression reads the same fields as the expat
        callbacks, in one match per record instead of a call per element and per piece of text. The
        text the pattern admits has one meaning in XML (no markup, references, comments or carriage
        returns inside), and a run of such records sits between records of the root, so removing it
        leaves expat's input well-formed and its state unchanged. At the first thing it does not
        match (an extension, a comment, the root's end tag, damage), the rest of the document goes
        to expat.
        """
        text = self._fast_tail + text
        self._fast_tail = ""
        at = 0
        match = _PLAIN_URL.match  # anchored: a search would rescan the text after a mismatch
        while record := match(text, at):
            at = record.end()
            loc, lastmod, changefreq, priority = record.groups()
            self._record(loc, lastmod, changefreq, priority)
        rest = text[at:]
        if not final and len(rest) <= _FAST_HOLD and _unfinished(rest):
            self._fast_tail = rest  # the start of a plain record, its end still to come
            return ""
        self._fast = False
        return rest

    def _new_expat(self) -> expat.XMLParserType:
        # Our bytes are UTF-8 whatever the declaration says: stage 2 decoded them, we re-encoded.
        parser = expat.ParserCreate("UTF-8")
        parser.buffer_text = True
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartDoctypeDeclHandler = self._doctype
        parser.EntityDeclHandler = self._entity
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._text.append
        return parser

    def _parse(self, data: bytes) -> None:
        while data and not self._xml_done:
            parser = self._expat
            if parser is None:  # skipping damage: wait for the next record
                data = self._resume(data)
                continue
            try:
                parser.Parse(data, False)
            except expat.ExpatError as error:
                data = self._damaged(parser, error, data)
            else:
                self._expat_fed += len(data)
                data = b""
                # Expat and its name table keep every distinct element and attribute name: ten
                # times the bytes that spelled them. Sitemaps use dozens; stop a flood early.
                if len(parser.intern) > _MAX_NAMES:
                    raise _Stop(f"not a sitemap: more than {_MAX_NAMES} distinct names")
        if not self._in_record:
            self._text.clear()  # text between records (whitespace, junk) is never needed

    def _damaged(self, parser: expat.XMLParserType, error: expat.ExpatError, data: bytes) -> bytes:
        """Note a well-formedness error and return the input after it, to be skipped to a record."""
        self._expat = None
        if self._root_closed:  # junk after the document: nothing is lost
            self._xml_done = True
            return b""
        reason = expat.ErrorString(error.code)
        if not self._root:
            raise _Stop(f"not a sitemap: malformed XML ({reason})")
        if self._in_record:  # the damage is inside it: keep its URL if that was read whole
            self._close_record(damaged=True)
        self._note(f"malformed XML ({reason}); skipped to the next <{self._record_tag}>")
        at = parser.ErrorByteIndex - self._expat_fed
        return data[at + 1 :] if at >= 0 else data

    def _resume(self, data: bytes) -> bytes:
        """Find the next record's start tag; open a fresh parser there, or hold a tail and wait."""
        assert self._record_start is not None
        data = self._skipped + data
        found = self._record_start.search(data)
        if found is None:
            self._skipped = data[-64:]  # a start tag may straddle two chunks
            return b""
        self._skipped = b""
        self._depth = 0
        self._expat = self._new_expat()
        opening = f"<{self._root}>".encode()
        self._expat.Parse(opening, False)
        self._expat_fed = len(opening)
        return data[found.start() :]

    def _finish_xml(self) -> None:
        parser = self._expat
        if parser is None or self._xml_done:
            return
        try:
            parser.Parse(b"", True)
        except expat.ExpatError:
            if not self._root_closed:
                self.errors.append("truncated")

    def _note(self, message: str) -> None:
        if self._notes < _XML_NOTES:
            self.errors.append(message)
        self._notes += 1

    def _doctype(self, name: str, *_: object) -> None:
        if name.lower() == "html":
            self.kind = "html"
            raise _Stop("not a sitemap: HTML page")

    def _entity(self, *_: object) -> None:
        raise _Stop(ENTITIES_REFUSED)

    def _local(self, name: str) -> str:
        local = self._names[name] = name.rpartition(":")[2]
        return local

    def _on_root(self, name: str, local: str) -> None:
        kind = _ROOTS.get(local.lower())
        if kind is None:
            if local.lower() in ("html", "head", "body"):
                self.kind = "html"
                raise _Stop("not a sitemap: HTML page")
            raise _Stop(f"not a sitemap: <{name}> document")
        self.kind = kind
        self._root = name
        self._record_tag, self._field_keys = _RECORDS[kind]
        self._special = _SPECIAL[kind]
        # The record's start tag under any prefix, for resuming after damage.
        tag = re.escape(self._record_tag.encode())
        self._record_start = re.compile(rb"<(?:[^\s<>:/!?]+:)?" + tag + rb"[\s>/]")

    # The two callbacks below run for every element: they are kept short and branch-light.

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        if self._in_record:
            self._inner += 1
            if self._inner == 1:
                self._text.clear()
                local = self._names.get(name) or self._local(name)
                if local in self._special:
                    self._special_start(local, attrs)
            elif self._group is not None:
                self._text.clear()
                self._path.append(self._names.get(name) or self._local(name))
            # Markup inside a field (<loc>…<b>x</b></loc>) adds its text to the field's, as XML's
            # string value does: clearing here would keep only what follows it.
            return
        self._depth += 1
        local = self._names.get(name) or self._local(name)
        if local == self._record_tag:
            self._open_record()
        elif not self._root:
            self._on_root(name, local)

    def _end(self, name: str) -> None:
        if self._in_record:
            inner = self._inner
            if inner == 0:
                self._depth -= 1
                self._close_record()
                return
            self._inner = inner - 1
            if inner == 1:
                if self._group is not None:
                    self._close_group()
                elif self._text:
                    key = self._field_keys.get(self._names.get(name) or self._local(name))
                    if key is not None:
                        self._fields.setdefault(key, "".join(self._text))
            elif self._group is not None and self._path:
                self._group_value("_".join(self._path), "".join(self._text).strip())
                self._path.pop()
                self._text.clear()  # so that <publication> does not take its last child's text
            return
        self._depth -= 1
        if self._depth == 0 and self._root:
            self._root_closed = True

    def _special_start(self, local: str, attrs: dict[str, str]) -> None:
        if local == self._record_tag:  # the previous record never closed: end it here
            self._inner = 0
            self._close_record(damaged=True)
            self._open_record()
        elif local != "link":
            self._group, self._group_kind, self._path = {}, local, []
        elif self.kind == "urlset":
            self._alternate(attrs)
        else:
            # Atom (or atom:link in RSS): the page is rel="alternate", the default; "self" is often
            # the same page and serves when there is no alternate. edit, enclosure, via… are not it.
            href = (attrs.get("href") or "").strip()
            rel = attrs.get("rel", "alternate").strip().lower()
            if href and rel in ("alternate", "self"):
                self._fields.setdefault("loc" if rel == "alternate" else "self", href)

    def _alternate(self, attrs: dict[str, str]) -> None:
        # xhtml:link rel="alternate" hreflang=… href=…; anything missing one of the three is not one.
        rel = attrs.get("rel", "").strip().lower()
        hreflang = attrs.get("hreflang", "").strip()
        href = attrs.get("href", "").strip()
        if rel == "alternate" and hreflang and href:
            if self._alternates is None:
                self._alternates = []
            self._alternates.append((hreflang, urljoin(self.url, href)))

    def _group_value(self, key: str, value: str) -> None:
        assert self._group is not None
        if value:  # a repeated field (video:tag) keeps every value, comma-separated
            old = self._group.get(key)
            self._group[key] = value if old is None else f"{old}, {value}"

    def _close_group(self) -> None:
        group, kind = self._group, self._group_kind
        self._group = None
        if not group:
            return
        if kind == "image":
            if self._images is None:
                self._images = []
            self._images.append(group)
        elif kind == "video":
            if self._videos is None:
                self._videos = []
            self._videos.append(group)
        elif self._news is None:
            self._news = group

    def _open_record(self) -> None:
        self._in_record = True
        self._inner = 0
        self._text.clear()
        self._fields = {}
        self._alternates = self._images = self._videos = self._news = self._group = None

    def _close_record(self, damaged: bool = False) -> None:
        self._in_record = False
        self._group = None
        fields = self._fields
        raw = fields.get("loc") or fields.get("self") or _http_guid(fields.get("guid"))
        if raw is None and damaged:
            return  # the damage came before the URL: nothing to count
        self._record(
            raw,
            fields.get("lastmod") or fields.get("published"),
            fields.get("changefreq"),
            fields.get("priority"),
            self._alternates,
            self._images,
            self._videos,
            self._news,
        )

    def _record(
        self,
        raw: str | None,
        lastmod: str | None,
        changefreq: str | None,
        priority: str | None,
        alternates: list[tuple[str, str]] | None = None,
        images: list[dict[str, str]] | None = None,
        videos: list[dict[str, str]] | None = None,
        news: dict[str, str] | None = None,
    ) -> None:
        """Emit one record from its fields' raw text, unless its URL is not admitted."""
        url = self._admit(raw)
        if url is None:
            return
        self._out.append(
            Entry(
                url,
                (lastmod.strip() or None) if lastmod else None,
                _changefreq(changefreq),
                _priority(priority),
                alternates,
                images,
                videos,
                news,
            )
        )

    # ---- URLs ---------------------------------------------------------------------------------

    def _admit(self, raw: str | None) -> str | None:
        """The URL to emit for a record's raw location, or None (the reason counted in `dropped`)."""
        text = (raw or "").strip()
        # Most sitemaps hold nothing but clean absolute URLs: check those without parsing them.
        # "[" or "]" (an IPv6 host, maybe malformed) takes the slow path, where urlsplit can vet it.
        fast = (
            text.startswith(_HTTP)
            and text.isprintable()
            and _has_host(text)
            and "[" not in text
            and "]" not in text
        )
        url = text if fast else self._resolve(text)
        if url is None:
            return None
        if len(url) > MAX_URL_LENGTH:
            self.dropped["too long"] += 1
            return None
        key = hash(url)
        if key in self._seen:
            return None
        self._seen.add(key)
        if self._keep is not None and not self._keep(url):
            self.dropped["off-site"] += 1
            return None
        if self._max_urls is not None and self._emitted >= self._max_urls:
            raise _Stop(f"more than {self._max_urls} URLs")
        self._emitted += 1
        return url

    def _resolve(self, url: str) -> str | None:
        """The slow path: relative, scheme-less, odd-case or whitespace-bearing locations."""
        # As browsers do (WHATWG URL): tabs and newlines anywhere in a URL are dropped.
        url = url.replace("\t", "").replace("\n", "").replace("\r", "").strip()
        if not url:
            self.dropped["empty"] += 1
            return None
        if self._base_host:
            first = url.split("/", 1)[0].lower()
            # "www.site.com/page" means the site, not a path under the sitemap's folder.
            if ":" not in first and first.removeprefix("www.") == self._base_host.removeprefix("www."):
                url = f"{self._base_scheme}://{url}"
        try:
            if self._base_host:
                url = urljoin(self.url, url)
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError:
            self.dropped["invalid"] += 1
            return None
        if not parts.scheme:
            self.dropped["relative"] += 1
            return None
        if parts.scheme.lower() not in ("http", "https"):
            self.dropped["not http"] += 1
            return None
        if not host:
            self.dropped["invalid"] += 1
            return None
        return url


# ---- stage 1: gzip ------------------------------------------------------------------------------

_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_LAYERS = 3  # gzip inside gzip inside gzip is already absurd; deeper is called binary
_PIECE = 1 << 16  # decompressed output comes in pieces of at most this size, as network chunks do


class _Gunzip:
    """Undoes gzip wherever a stream starts with its magic bytes, incrementally.

    One instance per layer: its output goes through the next layer, which sniffs again. Within a
    layer, gzip members follow one another; anything else after the last member is dropped.
    """

    def __init__(self, depth: int = 0) -> None:
        self._depth = depth
        self._head = b""  # the first bytes of a layer or member, until the magic can be checked
        self._inflater: zlib._Decompress | None = None
        self._gzip = False  # this layer turned out to be gzip
        self._plain = False  # this layer turned out not to be: bytes pass through
        self._ignoring = False  # after the last member: ignore the rest
        self._inner: _Gunzip | None = None

    @property
    def truncated(self) -> bool:
        """Whether a gzip stream ended without its end-of-stream marker (on close)."""
        inner = self._inner is not None and self._inner.truncated
        return self._inflater is not None or inner

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data and not self._ignoring:
            if self._plain:
                yield data
                return
            if self._inflater is None:
                data = self._head + data
                if len(data) < len(_GZIP_MAGIC):
                    self._head = data
                    return
                self._head = b""
                if data.startswith(_GZIP_MAGIC) and self._depth < _GZIP_LAYERS:
                    self._inflater = zlib.decompressobj(wbits=31)  # 31: gzip header and trailer
                    self._gzip = True
                elif self._gzip:
                    self._ignoring = True
                    return
                else:
                    self._plain = True
                    continue
            yield from self._inflate(data)
            data = b""
            if self._inflater is not None and self._inflater.eof:
                data = self._inflater.unused_data  # the next member, or trailing bytes
                self._inflater = None

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        assert self._inflater is not None
        while True:
            try:
                out = self._inflater.decompress(data, _PIECE)
            except zlib.error as error:
                raise _Stop("gzip stream corrupt") from error
            data = self._inflater.unconsumed_tail
            if out:
                yield from self._next_layer(out)
            # Stopped by the piece size, zlib may hold output even with all input taken: drain it,
            # or a stream whose end is in this chunk would look truncated.
            if self._inflater.eof or not (out or data):
                return

    def _next_layer(self, data: bytes) -> Iterator[bytes]:
        if self._inner is None:
            self._inner = _Gunzip(self._depth + 1)
        yield from self._inner.feed(data)

    def close(self) -> Iterator[bytes]:
        """Flush at the end of input: what a truncated stream decoded so far, or a lone byte."""
        if self._inflater is not None:
            try:
                rest = self._inflater.flush()
            except zlib.error:
                rest = b""
            if rest:
                yield from self._next_layer(rest)
        elif self._head and not self._gzip:
            yield self._head
        if self._inner is not None:
            yield from self._inner.close()


# ---- stage 2: charset ------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_DECLARATION_WINDOW = 1024  # an XML declaration ends within this many bytes or is not one
_DECLARED_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z][A-Za-z0-9._:-]*)["']""")


def sniff_charset(head: bytes, final: bool) -> tuple[str, int] | None:
    """The codec for a document starting with ``head`` and the length of its byte-order mark.

    None means "send more bytes": a byte-order mark or XML declaration may still be arriving.
    """
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec, len(bom)
    if not final and len(head) < 3 and any(bom.startswith(head) for bom, _ in _BOMS):
        return None
    # UTF-16 without a byte-order mark still shows "<?" as 3C 00 3F 00 or 00 3C 00 3F.
    if head.startswith(b"<\x00?\x00"):
        return "utf-16-le", 0
    if head.startswith(b"\x00<\x00?"):
        return "utf-16-be", 0
    start = head.lstrip(b" \t\r\n")
    if start.startswith(b"<?xml"):
        end = start.find(b"?>")
        if end >= 0:
            return _declared_codec(start[:end]), 0
    elif not b"<?xml".startswith(start[:5]):
        return "utf-8", 0
    return ("utf-8", 0) if final or len(head) >= _DECLARATION_WINDOW else None


def _declared_codec(declaration: bytes) -> str:
    found = _DECLARED_ENCODING.search(declaration)
    if found is None:
        return "utf-8"
    name = found.group(1).decode("ascii")
    try:
        # We read the declaration as ASCII, so only a charset that reads it the same can be right:
        # this rules out a UTF-16 label on an 8-bit file, and non-text codecs such as base64.
        if b"<?xml".decode(name) != "<?xml":
            return "utf-8"
        return codecs.lookup(name).name
    except (LookupError, UnicodeDecodeError):
        return "utf-8"


def _windows_1252(error: UnicodeError) -> tuple[str, int]:
    # UTF-8 that is not: most often a Windows or Latin-1 file labelled (or defaulted to) UTF-8.
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return error.object[error.start : error.end].decode("cp1252", "replace"), error.end


_UTF8_FALLBACK = "leadpipe.sitemap.windows-1252"
codecs.register_error(_UTF8_FALLBACK, _windows_1252)


# ---- XML repairs -------------------------------------------------------------------------------

_XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})
_REFERENCE = 10  # "&#x10FFFF;" is the longest reference XML knows
_CDATA_OPEN, _CDATA_CLOSE = "<![CDATA[", "]]>"


class _BareAmpersands:
    """Escapes each ``&`` that does not start an XML reference, so that it stays a character.

    Sitemaps often carry ``?a=1&b=2`` unescaped, which ends a strict parse and which recovering
    parsers mangle. HTML names (``&copy;``, ``&nbsp;``) are undefined in XML: they are escaped too,
    so the URL reads as written. CDATA sections are left alone, since ``&`` is literal there. The
    last few characters of each chunk wait for the next, which may finish a reference or a marker.
    """

    def __init__(self) -> None:
        self._tail = ""
        self._in_cdata = False

    def feed(self, text: str, final: bool) -> str:
        text = self._tail + text
        if not self._in_cdata and "&" not in text and _CDATA_OPEN not in text:
            self._tail = "" if final else text[-_REFERENCE:]
            return text if final else text[:-_REFERENCE]
        # Below `limit` every "&" has its possible reference, and every marker its whole length.
        limit = len(text) if final else len(text) - _REFERENCE
        out: list[str] = []
        pos = 0
        while pos < limit:
            if self._in_cdata:
                end = text.find(_CDATA_CLOSE, pos)
                if end < 0 or end >= limit:
                    out.append(text[pos:limit])
                    pos = limit
                else:
                    out.append(text[pos : end + len(_CDATA_CLOSE)])
                    pos = end + len(_CDATA_CLOSE)
                    self._in_cdata = False
                continue
            start = text.find(_CDATA_OPEN, pos)  # if found at all, the marker is whole
            stop = limit if start < 0 else start
            amp = text.find("&", pos, stop)
            while amp >= 0:
                out.append(text[pos:amp])
                semicolon = text.find(";", amp + 1, amp + 1 + _REFERENCE)
                out.append("&" if semicolon > 0 and _is_reference(text[amp + 1 : semicolon]) else "&amp;")
                pos = amp + 1
                amp = text.find("&", pos, stop)
            out.append(text[pos:stop])
            pos = stop
            if start >= 0:
                out.append(_CDATA_OPEN)
                pos = start + len(_CDATA_OPEN)
                self._in_cdata = True
        self._tail = text[pos:]
        return "".join(out)


def _is_reference(name: str) -> bool:
    """Whether ``&name;`` is a reference XML itself defines (no DTD): five names or a valid character."""
    if name in _XML_ENTITIES:
        return True
    if name.startswith("#x"):
        digits, base = name[2:], 16
    elif name.startswith("#"):
        digits, base = name[1:], 10
    else:
        return False
    if not digits or not digits.isascii() or not digits.isalnum():
        return False
    try:
        code = int(digits, base)
    except ValueError:
        return False
    # XML's Char production: a reference to anything else is itself a fatal error.
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


# ---- field values ------------------------------------------------------------------------------


def _http_origin(url: str) -> tuple[str, str]:
    """Scheme and host of an absolute http(s) URL, else two empty strings."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "", ""
    if parts.scheme not in ("http", "https") or not host:
        return "", ""
    return parts.scheme, host


def _has_host(url: str) -> bool:
    # "http://" or "https://" followed by something that is not the start of a path, query or fragment.
    after = url[8:9] if url[4] == "s" else url[7:8]
    return after not in ("", "/", "?", "#", "\\")


def _changefreq(text: str | None) -> str | None:
    if text is None:
        return None
    value = text.strip().lower()
    return value if value in CHANGEFREQS else None


def _priority(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0.0 <= value <= 1.0 else None  # NaN fails both comparisons


def _http_guid(guid: str | None) -> str | None:
    # An RSS guid is often the page's permalink, but may be any identifier.
    value = (guid or "").strip()
    return value if value.lower().startswith(_HTTP) else None
