"""The contacts on one web page: emails, phones, WhatsApp numbers, social profiles, contact forms and
the postal address; and, per domain, the contacts of several pages merged and ranked.

Pure: HTML and its URL in, facts out; no network, no DNS. Each contact is a :class:`Found` that says
how it was found (``source``) and how sure we are (``confidence``, 0–1). The scale is the same for
every kind: a link made for the purpose (``mailto:``, ``tel:``) is surest, structured data (JSON-LD,
microdata, Cloudflare's encoded addresses) next, plain text after that, and guesses last: a
de-obfuscated address, an address inside a page's JSON data, a phone number in prose with no label.

What is never a contact: anything in CSS or in scripts other than JSON data, attributes other than
the links and data attributes named here (so no form placeholders, no image names), template
addresses (``you@example.com``), and error-reporting keys (Sentry DSNs). System senders
(``noreply@``, ``postmaster@``) are kept but flagged ``"system"``: they are no one to write to.

Phones are stored as E.164 with the extension, if any, after ``;ext=`` (RFC 3966), e.g.
``+4930123456;ext=12``. Numbers are read by libphonenumber, national ones in the business's region:
the one the caller knows, else the country of the domain (``.de``, ``.co.uk``), else the country of
the page's own JSON-LD address, else ``default_region``.

A page can hold hundreds of thousands of addresses. Checking an address or a number is the slow
step, so a page's extraction checks at most ``COLLECT_PER_KIND`` candidates of each kind (emails on
the page's own site have a quota of their own, so a crowd of strangers cannot hide them); past that,
candidates are only counted. The caller may keep just the best few of each kind.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urldefrag, urljoin, urlsplit

import phonenumbers
import tldextract
from email_validator import EmailNotValidError, validate_email
from selectolax.lexbor import LexborHTMLParser, LexborNode

from leadpipe.extract.website import SOCIAL_NETWORKS

# The Public Suffix List snapshot that ships with tldextract: no download at run time.
_psl = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

# ---- the public types ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """One contact on one page.

    ``kind`` is email, phone, whatsapp, social or form; ``source`` is how it was found: mailto, tel,
    link, json-ld, microdata, cloudflare, text, deobfuscated, json (a page's JSON data), or for forms
    the form's maker (wpcf7, gravityforms, wpforms, elementor, hubspot, formspree, typeform, jotform,
    form). ``network`` names a social profile's network. ``flags``: ``"system"`` for an automated
    sender, ``"uncertain"`` for a phone number found in prose without a label.
    """

    value: str
    kind: str
    source: str
    confidence: float
    network: str | None = None
    flags: tuple[str, ...] = ()


@dataclass
class PageContacts:
    """What one page offers; each list best first, emails ranked as :func:`merge` ranks them (the
    site's own first), the rest surest first. ``address`` holds the schema.org PostalAddress fields
    the page states (streetAddress, postalCode, addressLocality, addressRegion, addressCountry).

    ``totals`` counts each kind the page offers, by kind (email, phone …): more than its list holds
    when the lists were cut to the best few, or when the page held more candidates than an
    extraction checks (those are counted as sighted, unchecked)."""

    url: str
    emails: list[Found] = field(default_factory=list)
    phones: list[Found] = field(default_factory=list)
    whatsapp: list[Found] = field(default_factory=list)
    socials: list[Found] = field(default_factory=list)
    contact_forms: list[Found] = field(default_factory=list)
    address: dict[str, str] | None = None
    totals: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Seen:
    """A contact of a domain: its surest sighting, and every page it was seen on."""

    found: Found
    pages: tuple[str, ...]

    @property
    def value(self) -> str:
        return self.found.value


@dataclass
class SiteContacts:
    """A domain's contacts from all its pages, deduplicated and ranked best first."""

    domain: str
    emails: list[Seen] = field(default_factory=list)
    phones: list[Seen] = field(default_factory=list)
    whatsapp: list[Seen] = field(default_factory=list)
    socials: list[Seen] = field(default_factory=list)
    contact_forms: list[Seen] = field(default_factory=list)
    address: dict[str, str] | None = None


@dataclass(frozen=True)
class Meta:
    """What a home page says about the site: its title, description, language and maker."""

    title: str | None
    description: str | None
    language: str | None
    site_builder: str | None


# ---- one page --------------------------------------------------------------------------------------


def extract(
    html: str,
    url: str,
    *,
    region: str | None = None,
    default_region: str = "US",
    max_per_kind: int | None = None,
) -> PageContacts:
    """Every contact on one page, or its best ``max_per_kind`` of each kind. ``region`` is the
    business's country (ISO 3166 alpha-2) when known; ``default_region`` is used for national phone
    numbers when neither it nor the domain tells."""
    tree = LexborHTMLParser(html)
    page = _Page(url, max(COLLECT_PER_KIND, max_per_kind or 0))
    address = None
    for script in tree.css("script"):
        kind = (script.attributes.get("type") or "").split(";")[0].strip().lower()
        if kind == "application/ld+json":
            stated = _read_json_ld(script.text(), page)
            address = address or stated
        elif kind == "application/json":
            _read_json_data(script.text(), page)
        _note_form_script(script, page)
    page.region = _choose_region(region, url, address, default_region)
    page.apply_region()
    for anchor in tree.css("a[href], area[href]"):
        _read_link(anchor.attributes.get("href") or "", page)
    for node in tree.css("[data-cfemail]"):
        page.email(_cloudflare(node.attributes.get("data-cfemail") or ""), "cloudflare")
    _read_microdata(tree, page)
    _read_forms(tree, page)
    tree.strip_tags(list(_NOT_TEXT))
    text = tree.body.text(separator=_NODE_BREAK) if tree.body is not None else ""
    del tree  # a big page's tree is many times its text: free it before the text is scanned
    _read_text(text, page)
    return page.result(address, max_per_kind)


# Candidates of one kind a page's extraction checks (per quota: see _Page.room); enough to rank a
# crowded page's contacts, few enough that a page made of addresses costs little.
COLLECT_PER_KIND = 500

# Elements whose text no visitor reads as text: code, styles, and what a form field holds or suggests.
_NOT_TEXT = ("script", "style", "noscript", "template", "textarea", "select", "svg", "iframe", "object")
# Joins text nodes so that no pattern runs from one into the next: nothing we match contains it.
_NODE_BREAK = "\x00"

_CONFIDENCE = {
    "mailto": 0.95,
    "tel": 0.95,
    "link": 0.9,
    "json-ld": 0.9,
    "microdata": 0.9,
    "cloudflare": 0.9,
    "text": 0.85,
    "deobfuscated": 0.8,
    "json": 0.6,
}
_LABELLED_PHONE = 0.8
_UNLABELLED_PHONE = 0.5
_PLAIN_FORM = 0.7


class _Page:
    """Collects one page's contacts, each value once, keeping its surest sighting."""

    def __init__(self, url: str, collect: int) -> None:
        self.url = url
        self.site = _registrable(urlsplit(url).hostname or "")
        self.region: str | None = None
        self.found: dict[tuple[str, str], Found] = {}
        self.collect = collect
        self.checks: Counter[tuple[str, bool]] = Counter()
        self.unchecked: Counter[str] = Counter()
        # JSON-LD is read before the region is known, so its phone numbers wait for it.
        self.pending_phones: list[tuple[str, str]] = []
        # A page names its address many times (link, text, JSON); validating is slow, so once each.
        self.checked: dict[str, str | None] = {}

    def add(self, found: Found) -> None:
        key = (found.kind, found.value)
        kept = self.found.get(key)
        if kept is None or found.confidence > kept.confidence:
            self.found[key] = found

    def room(self, kind: str, on_site: bool = False) -> bool:
        """Whether another candidate of ``kind`` may be checked; past the bound it is only counted.
        Emails on the page's own site (``on_site``) count against a bound of their own."""
        if self.checks[kind, on_site] < self.collect:
            self.checks[kind, on_site] += 1
            return True
        self.unchecked[kind] += 1
        return False

    def _on_site(self, candidate: str) -> bool:
        """Whether an address, as written, is on the page's own site (a guess made before it is read)."""
        domain = candidate.rpartition("@")[2].strip().strip(".").lower()
        return self.site is not None and (domain == self.site or domain.endswith("." + self.site))

    def email(self, candidate: str | None, source: str) -> None:
        candidate = candidate or ""
        if candidate not in self.checked:
            if not self.room("email", self._on_site(candidate)):
                return
            self.checked[candidate] = _usable_email(candidate)
        address = self.checked[candidate]
        if address:
            flags = ("system",) if _is_system_sender(address) else ()
            self.add(Found(address, "email", source, _CONFIDENCE[source], flags=flags))

    def phone(self, text: str, source: str) -> None:
        if self.region is None:
            self.pending_phones.append((text, source))
            return
        if not self.room("phone"):
            return
        number = _parse_phone(text, self.region)
        if number:
            self.add(Found(number, "phone", source, _CONFIDENCE[source]))

    def apply_region(self) -> None:
        waiting, self.pending_phones = self.pending_phones, []
        for text, source in waiting:
            self.phone(text, source)

    def form(self, value: str, source: str) -> None:
        confidence = _PLAIN_FORM if source == "form" else _CONFIDENCE["link"]
        self.add(Found(urldefrag(value).url, "form", source, confidence))

    def result(self, address: dict[str, str] | None, keep: int | None) -> PageContacts:
        by_kind: dict[str, list[Found]] = {}
        for found in self.found.values():
            by_kind.setdefault(found.kind, []).append(found)
        totals = Counter({kind: len(listed) for kind, listed in by_kind.items()}) + self.unchecked
        for kind, listed in by_kind.items():
            if kind == "email":
                listed.sort(key=lambda item: (_email_group(item, self.site), -item.confidence))
            else:
                listed.sort(key=lambda item: -item.confidence)
            if keep is not None:
                del listed[keep:]
        return PageContacts(
            url=self.url,
            emails=by_kind.get("email", []),
            phones=by_kind.get("phone", []),
            whatsapp=by_kind.get("whatsapp", []),
            socials=by_kind.get("social", []),
            contact_forms=by_kind.get("form", []),
            address=address,
            totals=dict(totals),
        )


# ---- links -----------------------------------------------------------------------------------------


def _read_link(href: str, page: _Page) -> None:
    href = href.strip()
    lowered = href.lower()
    if lowered.startswith("mailto:"):
        # mailto:a@x.de,b@x.de?subject=Hi — percent-encoded, possibly several, possibly padded.
        for candidate in re.split(r"[,;]", unquote(href[7:].split("?", 1)[0])):
            page.email(candidate.rsplit("<", 1)[-1].rstrip("> "), "mailto")  # "Acme <info@acme.de>"
    elif lowered.startswith(("tel:", "callto:")):
        page.phone(unquote(href.split(":", 1)[1]).lstrip("/"), "tel")
    elif "/cdn-cgi/l/email-protection#" in lowered:
        page.email(_cloudflare(href.rsplit("#", 1)[1]), "cloudflare")
    elif (
        ("whatsapp" in lowered or "wa.me/" in lowered)
        and page.room("whatsapp")
        and (number := _whatsapp_number(href))
    ):
        page.add(Found(number, "whatsapp", "link", _CONFIDENCE["link"]))
    elif (
        any(word in lowered for word in _NETWORK_WORDS)
        and page.room("social")
        and (profile := _social_profile(href))
    ):
        page.add(Found(profile[1], "social", "link", _CONFIDENCE["link"], network=profile[0]))


def _cloudflare(encoded: str) -> str | None:
    """Cloudflare's email obfuscation: hex bytes, each XORed with the first one, of a UTF-8 address."""
    try:
        data = bytes.fromhex(encoded.strip())
        return bytes(byte ^ data[0] for byte in data[1:]).decode("utf-8")
    except (ValueError, IndexError):
        return None


def _whatsapp_number(href: str) -> str | None:
    """The number of a wa.me, api.whatsapp.com/send or whatsapp://send link; always international."""
    parts = urlsplit(href if "://" in href else "https://" + href)
    host = (parts.hostname or "").removeprefix("www.")
    if host == "wa.me":
        digits = unquote(parts.path)
    elif host in ("api.whatsapp.com", "web.whatsapp.com", "whatsapp.com", "send") and "send" in href:
        # "send" is the host of a whatsapp://send?phone=… link.
        digits = (parse_qs(parts.query).get("phone") or [""])[0]
    else:
        return None
    digits = re.sub(r"\D", "", digits)
    return _parse_phone("+" + digits, None) if digits else None


# ---- emails ----------------------------------------------------------------------------------------

# A plain address. Unicode letters are allowed (müller.de); the top-level domain is letters only, which
# rules out version numbers (bootstrap@5.3.0). Not preceded by "//": that is a URL's user (a Sentry DSN).
_EMAIL = re.compile(
    r"(?<![\w.%+\-])(?<!//)[\w.%+\-]{1,64}@(?:[^\W_](?:[\w\-]{0,61}[^\W_])?\.){1,8}[^\W\d_]{2,24}(?![\w\-])"
)

# Spelled-out addresses: "info [at] acme [dot] de", "info (ät) acme.de", "info AT acme DOT de".
_AT_WORDS = r"at|ät|@|arroba|chez|bei|presso|chiocciola|apenstaartje|snabel-a|małpa|malpa"
_DOT_WORDS = r"dot|punkt|point|punto|ponto|\."
_BRACKETED = r"\s*[\[({{<]\s*(?:{words})\s*[\])}}>]\s*"
_SPOKEN = r"\s+(?:{words})\s+"
_AT = rf"(?P<at>{_BRACKETED.format(words=_AT_WORDS)}|{_SPOKEN.format(words='at')}|@)"
_DOT = rf"(?:{_BRACKETED.format(words=_DOT_WORDS)}|{_SPOKEN.format(words='dot|punkt|point|punto')}|\.)"
_OBFUSCATED = re.compile(
    rf"(?<![\w.%+\-])(?P<local>[\w%+\-]{{1,64}}(?:{_DOT}[\w%+\-]{{1,64}}){{0,3}}){_AT}"
    rf"(?P<domain>[^\W_][\w\-]{{0,62}}(?:{_DOT}[^\W_][\w\-]{{0,62}}){{1,4}})(?![\w\-])",
    re.IGNORECASE,
)
# A page has a spelled-out address only if it has a bracketed word or a spoken "dot": a cheap test first.
_OBFUSCATION_HINT = re.compile(
    rf"[\[({{<]\s*(?:{_AT_WORDS}|dot|punkt|point|punto|ponto|\.)\s*[\])}}>]|\s(?:dot|punkt|point|punto)\s",
    re.IGNORECASE,
)
_FUNCTION_WORDS = set("the a an our my your his her their its this that these those".split())
_DISGUISED_DOT = re.compile(
    rf"{_BRACKETED.format(words=_DOT_WORDS)}|{_SPOKEN.format(words='dot|punkt|point|punto')}", re.I
)

# Addresses that forms, themes and documentation show as examples.
_PLACEHOLDER_DOMAINS = {
    "domain.com", "yourdomain.com", "your-domain.com", "mydomain.com", "yoursite.com", "yourcompany.com",
    "company.com", "email.com", "mail.com", "website.com", "beispiel.de", "musterfirma.de", "dominio.com",
}  # fmt: skip
_PLACEHOLDER_LOCALS = {
    "you", "your", "yourname", "your.name", "youremail", "your.email", "yourmail", "name", "firstname",
    "firstname.lastname", "first.last", "vorname.nachname", "max.mustermann", "maxmustermann", "john.doe",
    "jane.doe", "johndoe", "user", "username", "nombre", "tunombre", "nom", "prenom.nom", "votre.nom",
    "nome", "mario.rossi", "ihre.email", "deine.email",
}  # fmt: skip
# Error reporting and the site builders' own systems: never the business.
_MACHINE_DOMAINS = {"sentry.io", "sentry-next.wixpress.com", "wixpress.com", "sentry.wixpress.com"}
# Senders no one reads, in the languages of the corpus: "no reply", "ne pas répondre", "não responda" …
_SYSTEM_LOCALS = re.compile(
    r"^(?:no-?reply|do-?not-?reply|mailer-?daemon|postmaster|wordpress|bounces?|ne-?pas-?repondre|"
    r"nicht-?antworten|keine-?antwort|no-?responder|nao-?responda|non-?rispondere|niet-?beantwoorden)\b"
)


def _usable_email(candidate: str) -> str | None:
    """The address, valid and lowercased, or None for anything not a real, reachable-looking one."""
    candidate = candidate.strip().strip(".").replace("\\u0040", "@")
    try:
        address = validate_email(candidate, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None
    local, domain = address.rsplit("@", 1)
    parts = _psl(domain)
    registrable = parts.top_domain_under_public_suffix
    if not parts.suffix or not registrable:
        return None  # not under a real top-level domain: logo@2x.png, a@b.local
    if (
        parts.domain == "example"
        or registrable in _PLACEHOLDER_DOMAINS
        or local in _PLACEHOLDER_LOCALS
        or registrable in _MACHINE_DOMAINS
        or domain in _MACHINE_DOMAINS
        or re.fullmatch(r"[0-9a-f]{16,}", local)  # a key, not a mailbox
    ):
        return None
    return address


def _is_system_sender(address: str) -> bool:
    return bool(_SYSTEM_LOCALS.match(address.split("@", 1)[0]))


def _emails_in(text: str) -> Iterator[str]:
    """Plain addresses in text; a domain glued to the next sentence ("acme.de.Wir") is cut back."""
    if "\\u0040" in text:
        text = text.replace("\\u0040", "@")
    for match in (match for node in _nodes_with(text, "@") for match in _EMAIL.finditer(node)):
        address = match.group()
        local, domain = address.rsplit("@", 1)
        labels = domain.split(".")
        while len(labels) > 2 and not _psl(".".join(labels)).suffix:
            labels.pop()
        yield f"{local}@{'.'.join(labels)}"


def _nodes_with(text: str, needle: str) -> Iterator[str]:
    """The text nodes that hold ``needle``, one at a time: the email pattern is slow to run over a
    whole page, and a list of every node of a big page would cost more than the page."""
    at = text.find(needle)
    while at != -1:
        start = text.rfind(_NODE_BREAK, 0, at) + 1
        end = text.find(_NODE_BREAK, at)
        end = len(text) if end == -1 else end
        yield text[start:end]
        at = text.find(needle, end)


def _spelled_out_emails(text: str) -> Iterator[str]:
    """Spelled-out addresses, looked for only in the text nodes with a hint of one: the full pattern
    is slow to run over a whole page."""
    read_up_to = 0
    for hint in _OBFUSCATION_HINT.finditer(text):
        if hint.start() < read_up_to:
            continue
        start = text.rfind(_NODE_BREAK, 0, hint.start()) + 1
        end = text.find(_NODE_BREAK, hint.end())
        read_up_to = len(text) if end == -1 else end
        yield from _spelled_out_in(text[start:read_up_to])


def _spelled_out_in(node: str) -> Iterator[str]:
    for match in _OBFUSCATED.finditer(node):
        at = match.group("at").strip()
        local, domain = match.group("local"), match.group("domain")
        disguised_dot = bool(_DISGUISED_DOT.search(local) or _DISGUISED_DOT.search(domain))
        # A plain "@" with plain dots is an ordinary address; a bare "at" needs a spelled-out dot too,
        # or "meet us at acme.com" would become an address, and no article or pronoun on either side
        # ("shares peaked at the dot com high").
        spoken_at = at.lower() == "at"
        if not disguised_dot and (at == "@" or spoken_at):
            continue
        if spoken_at and {local.lower(), domain.split()[0].lower()} & _FUNCTION_WORDS:
            continue
        yield f"{_DISGUISED_DOT.sub('.', local)}@{_DISGUISED_DOT.sub('.', domain)}"


# ---- phones ----------------------------------------------------------------------------------------

# Where a phone number may be: seven digits or more in one run of phone punctuation, with a trailing
# extension. libphonenumber reads only these stretches, and only those that are not dates, amounts or
# labelled as something else: it is by far the slowest step, and pages are full of numbers. (The
# pattern starts with a digit so that the regex engine can skip ahead to digits quickly.)
_PHONE_CANDIDATE = re.compile(
    r"\d(?:[\s./()\-\u00a0]{0,3}\d){6,}(?:\s*(?:ext|extension|x|poste|durchwahl|#)\.?\s*\d{1,6})?",
    re.IGNORECASE,
)
_AMOUNT_EDGE = re.compile(r"[.,]\d")  # 1.250.000,00: the digits go on past a decimal mark
_DATE = re.compile(r"\d{1,2}([./-])\d{1,2}\1(?:19|20)\d\d|(?:19|20)\d\d([./-])\d{1,2}\2\d{1,2}")
_PHONE_WORDS = (
    "tel tel. telefon telefonnummer telephone téléphone tél tél. teléfono telefono telefone telefoon tlf "
    "fon phone ph ph. mobil mobile handy cell cellulare celular móvil movil portable gsm hotline whatsapp "
    "contact call ring anrufen appelez appelez-nous llámanos llame chiamaci chiama bel bellen ligue"
).split()
_FAX_WORDS = "fax telefax téléfax".split()
_NOT_PHONE_WORDS = (
    "iban bic swift ust ust-id ust-idnr vat tva btw iva p.iva cif nif nie siret siren rcs hrb hra "
    "handelsregister registernummer steuernummer st.-nr steuer-nr order bestellung bestellnummer rechnung "
    "invoice kundennummer artikelnummer art.-nr sku ean gtin isbn ref kvk ein cnpj cpf abn company"
).split()


def _words(words: list[str]) -> str:
    return "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))


# The nearest label before a number (the greedy ".*" skips earlier ones), then no digit up to it.
_LABEL_BEFORE = re.compile(
    rf".*(?:(?<!\w)(?:(?P<phone>{_words(_PHONE_WORDS)})|(?P<fax>{_words(_FAX_WORDS)})|"
    rf"(?P<other>{_words(_NOT_PHONE_WORDS)}))(?!\w)|(?P<symbol>[☎☏✆📞📱]))\D{{0,24}}$",
    re.IGNORECASE | re.DOTALL,
)
# "Tel./Fax: 030 123456" is a phone that takes faxes too.
_PHONE_AND = re.compile(rf"(?<!\w)(?:{_words(_PHONE_WORDS)})\W{{1,3}}$", re.IGNORECASE)


def _parse_phone(text: str, region: str | None) -> str | None:
    """One number as E.164 (plus ``;ext=N``), if libphonenumber finds it valid."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return _e164(number) if phonenumbers.is_valid_number(number) else None


def _e164(number: phonenumbers.PhoneNumber) -> str:
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return f"{e164};ext={number.extension}" if number.extension else e164


def _phones_in(text: str, region: str, room: Callable[[], bool]) -> Iterator[tuple[str, bool]]:
    """(number, labelled) for each phone number in the text; faxes and registry numbers skipped.
    ``room`` is asked before each candidate is read by libphonenumber, and may refuse it."""
    for candidate in _PHONE_CANDIDATE.finditer(text):
        start, end = candidate.span()
        if (
            _DATE.fullmatch(candidate.group())
            or _AMOUNT_EDGE.match(text, end)
            or _AMOUNT_EDGE.match(text, start - 2, start)
        ):
            continue
        # The label may sit in a node before: <b>Tel.:</b> 030 123456.
        before = text[max(0, start - 60) : start].replace(_NODE_BREAK, " ")
        label = _LABEL_BEFORE.match(before)
        if label and label.group("fax") and not _PHONE_AND.search(before, 0, label.start("fax")):
            continue
        if label and label.group("other"):
            continue
        if not room():
            continue
        # Two characters either side: a "+" or "(" that begins the number, and whether the digits are
        # glued to a word (DE123456789 is a VAT number).
        window = text[max(0, start - 2) : end + 2]
        for match in phonenumbers.PhoneNumberMatcher(
            window, region, leniency=phonenumbers.Leniency.STRICT_GROUPING
        ):
            yield _e164(match.number), label is not None


# ---- social profiles -------------------------------------------------------------------------------

_NETWORK_WORDS = "facebook fb.com instagram linkedin twitter x.com youtube tiktok pinterest".split()
_NETWORKS = SOCIAL_NETWORKS
# First path segments that are the network's own pages, or sharing, tracking and single posts.
_RESERVED = {
    "facebook": set(
        "sharer sharer.php share share.php dialog plugins tr policies policy.php help login login.php "
        "privacy legal terms hashtag watch groups events marketplace gaming ads business photo photo.php "
        "photos story.php permalink.php reel reels videos video.php home.php search l.php messages "
        "settings about careers stories media public directory recover fundraisers watchparty".split()
    ),
    "instagram": set(
        "p reel reels tv explore stories accounts about legal developer direct web press".split()
    ),
    "x": set(
        "intent share home search hashtag i explore settings login logout signup privacy tos messages "
        "notifications compose widgets about download jobs en".split()
    ),
    "pinterest": set(
        "pin search ideas _ explore business today categories login settings oauth discover".split()
    ),
}
_POST_SEGMENTS = set("posts photos videos reel reels p tv status statuses video photo".split())
_HANDLE = {
    "facebook": re.compile(r"[\w.\-]{1,80}"),
    "instagram": re.compile(r"[\w.]{1,30}"),
    "x": re.compile(r"\w{1,15}"),
    "pinterest": re.compile(r"\w{3,30}"),
}


def _social_profile(url: str) -> tuple[str, str] | None:
    """(network, canonical profile URL) for a link to a profile on a network we know; else None.

    Canonical: https, the network's main host, the profile's root path, no query, no trailing slash,
    lowercased except where the network tells case apart (YouTube channel ids).
    """
    try:
        parts = urlsplit(url.strip() if "//" in url else "https://" + url.strip())
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return None
    if parts.scheme not in ("http", "https", ""):
        return None
    names = _psl(host)
    network = (
        "pinterest" if names.domain == "pinterest" else _NETWORKS.get(names.top_domain_under_public_suffix)
    )
    segments = [unquote(segment) for segment in parts.path.split("/") if segment]
    if network is None or not segments:
        return None
    path = _profile_path(network, segments, parts.query)
    host = "x.com" if network == "x" else f"{network}.com"
    return (network, f"https://{host}/{path}") if path else None


def _profile_path(network: str, segments: list[str], query: str) -> str | None:
    first = segments[0].lower()
    second = segments[1].lower() if len(segments) > 1 else ""
    if network == "linkedin":
        return f"{first}/{second}" if first in ("company", "in", "school", "showcase") and second else None
    if network == "youtube":
        if first == "channel" and len(segments) > 1:
            return f"channel/{segments[1]}"  # channel ids are case-sensitive
        if first in ("c", "user") and second:
            return f"{first}/{second}"
        return first if first.startswith("@") and len(first) > 1 else None
    if network == "tiktok":
        return first if first.startswith("@") and len(first) > 1 and not second else None
    if network == "facebook" and first == "profile.php":
        profile_id = (parse_qs(query).get("id") or [""])[0]
        return f"profile.php?id={profile_id}" if profile_id.isdigit() else None
    if network == "facebook" and first == "pages" and second:
        return segments[-1].lower()  # /pages/Name/123 (the id) or /pages/category/Kind/Name
    if network == "facebook" and first == "pg" and second:
        return second
    if first in _RESERVED[network] or second in _POST_SEGMENTS or not _HANDLE[network].fullmatch(first):
        return None
    return first


# ---- contact forms ---------------------------------------------------------------------------------

# Classes or ids the form plugins and builders put on their forms (the first that matches names it).
_FORM_MAKERS = (
    ("wpcf7", "wpcf7"),
    ("gform", "gravityforms"),
    ("wpforms", "wpforms"),
    ("elementor-form", "elementor"),
    ("hs-form", "hubspot"),
)
_MESSAGE_FIELD = re.compile(
    r"message|nachricht|mensaje|mensagem|messaggio|bericht|comment|anliegen|enquiry", re.I
)


def _read_forms(tree: LexborHTMLParser, page: _Page) -> None:
    for form in tree.css("form"):
        marks = f"{form.attributes.get('class') or ''} {form.attributes.get('id') or ''}".lower()
        parent = form.parent
        if parent is not None:
            marks += " " + (parent.attributes.get("class") or "").lower()
        action = urljoin(page.url, form.attributes.get("action") or "")
        maker = next((name for mark, name in _FORM_MAKERS if mark in marks), None)
        if "formspree.io" in action:
            page.form(action.split("?")[0], "formspree")
        elif maker:
            page.form(page.url, maker)
        elif _is_contact_form(form, action):
            elsewhere = urlsplit(action).hostname != urlsplit(page.url).hostname
            page.form(action if elsewhere else page.url, "form")
    for frame in tree.css("iframe[src]"):
        _read_form_embed(frame.attributes.get("src") or "", page)
    for widget in tree.css("[data-tf-widget], [data-tf-popup], [data-tf-live]"):
        attributes = widget.attributes
        form_id = (
            attributes.get("data-tf-widget")
            or attributes.get("data-tf-popup")
            or attributes.get("data-tf-live")
        )
        if form_id:
            page.form(f"https://form.typeform.com/to/{form_id}", "typeform")
    if tree.css_first(".hs-form-frame, .hbspt-form"):
        page.form(page.url, "hubspot")


def _is_contact_form(form: LexborNode, action: str) -> bool:
    """A hand-made contact form: somewhere to write a message, and not a login or comment form."""
    if "wp-comments-post" in action or (form.attributes.get("id") or "") == "commentform":
        return False
    if form.css_first("input[type=password]"):
        return False
    if form.css_first("textarea"):
        return True
    names = " ".join(field.attributes.get("name") or "" for field in form.css("input"))
    return bool(_MESSAGE_FIELD.search(names)) and bool(form.css_first("input[type=email]"))


def _read_form_embed(src: str, page: _Page) -> None:
    src = urljoin(page.url, src.strip())
    host = urlsplit(src).hostname or ""
    if host.endswith("typeform.com") and "/to/" in src:
        page.form(src.split("?")[0], "typeform")
    elif host.endswith("jotform.com") and (form_id := re.search(r"/(\d{9,})", src)):
        page.form(f"https://form.jotform.com/{form_id.group(1)}", "jotform")
    elif host.endswith("hsforms.com"):
        page.form(src.split("?")[0], "hubspot")


def _note_form_script(script: LexborNode, page: _Page) -> None:
    """Forms that arrive by script: HubSpot's embed, Jotform's and Typeform's loaders."""
    src = script.attributes.get("src") or ""
    if src:
        if "hsforms.net/forms" in src:
            page.form(page.url, "hubspot")
        else:
            _read_form_embed(src, page)
    elif "hbspt.forms.create" in (script.text() or ""):
        page.form(page.url, "hubspot")


# ---- structured data: JSON-LD, JSON data, microdata ---------------------------------------------

_ADDRESS_FIELDS = ("streetAddress", "postalCode", "addressLocality", "addressRegion", "addressCountry")


def _load_json(text: str) -> Any:
    try:
        return json.loads(text, strict=False)  # strict=False: raw newlines in strings are common
    except ValueError:
        return None


def _objects(value: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in ``value``, outermost first, in document order (so @graph and nesting)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(reversed(item.values()))
        elif isinstance(item, list):
            stack.extend(reversed(item))


def _texts(value: Any) -> Iterable[str]:
    """A JSON property's value as strings: one string, or the strings of a list."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _read_json_ld(text: str, page: _Page) -> dict[str, str] | None:
    """Emails, phones and profiles of a JSON-LD block; returns the first postal address in it."""
    address = None
    for item in _objects(_load_json(text)):
        for email in _texts(item.get("email")):
            page.email(email.removeprefix("mailto:"), "json-ld")
        for phone in _texts(item.get("telephone")):
            page.phone(phone.removeprefix("tel:"), "json-ld")
        for link in _texts(item.get("sameAs")):
            profile = _social_profile(link)
            if profile:
                page.add(Found(profile[1], "social", "json-ld", _CONFIDENCE["json-ld"], network=profile[0]))
        if address is None and isinstance(item.get("address"), dict):
            address = _postal_address(item["address"])
        if address is None and "PostalAddress" in _texts(item.get("@type")):
            address = _postal_address(item)
    return address


def _postal_address(item: dict[str, Any]) -> dict[str, str] | None:
    found: dict[str, str] = {}
    for name in _ADDRESS_FIELDS:
        value = item.get(name)
        if isinstance(value, dict):  # addressCountry may be a Country with a name
            value = value.get("name")
        if isinstance(value, str | int) and str(value).strip():
            found[name] = " ".join(str(value).split())
    return found or None


def _read_json_data(text: str, page: _Page) -> None:
    """Addresses in a page's JSON data (what a script will show): each string value on its own."""
    if "@" not in text and "\\u0040" not in text:
        return
    stack = [_load_json(text)]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            for email in _emails_in(item):
                page.email(email, "json")
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _read_microdata(tree: LexborHTMLParser, page: _Page) -> None:
    for node in tree.css("[itemprop~=email], [itemprop~=telephone]"):
        attributes = node.attributes
        value = attributes.get("content") or attributes.get("href") or node.text()
        value = re.sub(r"^(?:mailto|tel):", "", value.strip(), flags=re.I)
        if "email" in (attributes.get("itemprop") or "").split():
            page.email(unquote(value), "microdata")
        else:
            page.phone(unquote(value), "microdata")


# ---- visible text ----------------------------------------------------------------------------------


def _read_text(text: str, page: _Page) -> None:
    for email in _emails_in(text):
        page.email(email, "text")
    for email in _spelled_out_emails(text):
        page.email(email, "deobfuscated")
    for number, labelled in _phones_in(text, page.region or "US", lambda: page.room("phone")):
        flags = () if labelled else ("uncertain",)
        page.add(
            Found(number, "phone", "text", _LABELLED_PHONE if labelled else _UNLABELLED_PHONE, flags=flags)
        )


# ---- the region for national numbers ---------------------------------------------------------------

# Country domains sold worldwide as generic names: they say nothing about where a business is.
_GENERIC_COUNTRY_DOMAINS = set(
    "ai co io me tv fm ly to cc ws sh ac gg im la so ag gd vc nu tk ml ga cf gq".split()
)


def _country(code: str | None) -> str | None:
    code = (code or "").strip().upper()
    code = "GB" if code == "UK" else code
    return code if code in phonenumbers.SUPPORTED_REGIONS else None


def _choose_region(region: str | None, url: str, address: dict[str, str] | None, default: str) -> str:
    """The caller's region, else the domain's country, else the page's address, else the default."""
    host = urlsplit(url).hostname or ""
    top = _psl(host).suffix.rsplit(".", 1)[-1] if host else ""
    from_domain = None if top in _GENERIC_COUNTRY_DOMAINS or len(top) != 2 else _country(top)
    return (
        _country(region)
        or from_domain
        or _country((address or {}).get("addressCountry"))
        or _country(default)
        or "US"
    )


# ---- several pages of one domain -------------------------------------------------------------------

# Mailbox providers anyone can sign up to: an address there is the business's, but less surely so.
_FREE_MAIL_DOMAINS = set(
    "gmail.com googlemail.com outlook.com hotmail.com live.com msn.com icloud.com me.com mac.com aol.com "
    "yahoo.com ymail.com gmx.de gmx.net gmx.at gmx.ch gmx.com web.de t-online.de freenet.de arcor.de "
    "posteo.de mailbox.org online.de proton.me protonmail.com orange.fr wanadoo.fr free.fr sfr.fr "
    "laposte.net libero.it virgilio.it tiscali.it alice.it tin.it btinternet.com sky.com talktalk.net "
    "ziggo.nl kpnmail.nl hetnet.nl telefonica.net movistar.es uol.com.br bol.com.br terra.com.br "
    "comcast.net att.net verizon.net sbcglobal.net bluewin.ch zoho.com yandex.ru mail.ru qq.com 163.com".split()
)
# Providers with a domain per country (yahoo.de, hotmail.co.uk, outlook.fr).
_FREE_MAIL_NAMES = {"gmail", "hotmail", "outlook", "live", "yahoo", "gmx", "aol"}


def is_free_mail(domain: str) -> bool:
    """Whether ``domain`` is a mailbox provider anyone can sign up to (gmail.com, yahoo.fr, web.de)."""
    return domain in _FREE_MAIL_DOMAINS or _psl(domain).domain in _FREE_MAIL_NAMES


def merge(pages: list[PageContacts], domain: str) -> SiteContacts:
    """One domain's contacts from several of its pages: each value once, with its surest sighting and
    every page it was on. Emails on the domain itself come first, then free mailboxes, then others;
    system senders last. Within a rank, surer first, then seen on more pages."""
    site = _registrable(domain) or domain.lower()
    merged = SiteContacts(domain=site)
    for name in ("emails", "phones", "whatsapp", "socials", "contact_forms"):
        best: dict[str, Found] = {}
        where: dict[str, list[str]] = {}
        for page in pages:
            for found in getattr(page, name):
                if found.value not in best or found.confidence > best[found.value].confidence:
                    best[found.value] = found
                urls = where.setdefault(found.value, [])
                if page.url not in urls:
                    urls.append(page.url)
        seen = [Seen(best[value], tuple(urls)) for value, urls in where.items()]
        rank = (lambda item: _email_rank(item, site)) if name == "emails" else _rank
        getattr(merged, name).extend(sorted(seen, key=rank))
    merged.address = next((page.address for page in pages if page.address), None)
    return merged


def _rank(item: Seen) -> tuple[int, float, int]:
    return (0, -item.found.confidence, -len(item.pages))


def _email_rank(item: Seen, site: str) -> tuple[int, float, int]:
    return (_email_group(item.found, site), -item.found.confidence, -len(item.pages))


def _email_group(found: Found, site: str | None) -> int:
    """0 on the site's own domain, 1 a free mailbox, 2 elsewhere, 3 a system sender."""
    if "system" in found.flags:
        return 3
    domain = found.value.rsplit("@", 1)[1]
    if site is not None and _psl(domain).top_domain_under_public_suffix == site:
        return 0
    if is_free_mail(domain):
        return 1
    return 2


def _registrable(host: str) -> str | None:
    return _psl(host.strip().lower()).top_domain_under_public_suffix or None


# ---- page metadata ---------------------------------------------------------------------------------

# (builder, words in its generator meta tag, strings in its asset URLs or markup), checked in order.
_BUILDERS = (
    ("wordpress", ("wordpress",), ("/wp-content/", "/wp-includes/")),
    ("joomla", ("joomla",), ("/media/jui/", "/components/com_", "/media/system/js/")),
    ("drupal", ("drupal",), ("/sites/default/files/", "drupal-settings-json", "/core/misc/drupal")),
    ("typo3", ("typo3",), ("/typo3temp/", "/typo3conf/")),
    ("wix", ("wix.com",), ("static.wixstatic.com", "parastorage.com")),
    ("squarespace", ("squarespace",), ("static1.squarespace.com", "squarespace-cdn.com")),
    ("shopify", ("shopify",), ("cdn.shopify.com", "myshopify.com")),
    ("webflow", ("webflow",), ("website-files.com", "data-wf-site")),
    ("jimdo", ("jimdo",), ("jimstatic.com", "jimcdn.com")),
    ("godaddy", ("go daddy", "godaddy", "starfield"), ("img1.wsimg.com", "godaddysites.com")),
    ("weebly", ("weebly",), ("editmysite.com", "weeblycloud.com")),
    ("ghost", ("ghost",), ("ghost-portal",)),
    ("hubspot", ("hubspot",), ("hs-sites.com", "hubspotusercontent")),
)


def page_meta(html: str) -> Meta:
    """A page's title, description, language (as the page declares it) and site builder, if known."""
    tree = LexborHTMLParser(html)

    def meta(*names: str) -> str | None:
        for name in names:
            node = tree.css_first(f'meta[name="{name}" i], meta[property="{name}" i]')
            content = " ".join((node.attributes.get("content") or "").split()) if node else ""
            if content:
                return content
        return None

    title_node = tree.css_first("title")
    title = " ".join(title_node.text().split()) if title_node else ""
    root = tree.css_first("html")
    language = (root.attributes.get("lang") or "").strip() if root else ""
    # Page builders add a generator tag of their own next to the CMS's (Elementor beside WordPress).
    generators = " ".join(
        (node.attributes.get("content") or "").lower() for node in tree.css('meta[name="generator" i]')
    )
    return Meta(
        title=title or meta("og:title"),
        description=meta("description", "og:description"),
        language=language or meta("og:locale"),
        site_builder=_site_builder(generators, html.lower()),
    )


def _site_builder(generator: str, html: str) -> str | None:
    for name, generator_words, _ in _BUILDERS:
        if any(word in generator for word in generator_words):
            return name
    for name, _, markers in _BUILDERS:
        if any(marker in html for marker in markers):
            return name
    return None


def is_script_shell(html: str) -> bool:
    """Whether the page is a script's empty mount point (React, Vue, Angular …): it has scripts and
    almost no text of its own, so its contacts appear only once a browser runs it."""
    tree = LexborHTMLParser(html)
    if not tree.css_first("script") or tree.body is None:
        return False
    tree.strip_tags(list(_NOT_TEXT))
    return len("".join(tree.body.text().split())) < 80
