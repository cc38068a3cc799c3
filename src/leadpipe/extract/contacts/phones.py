"""Phone numbers on a page: in prose (labelled or not; faxes, dates, amounts and registry numbers left
out), in WhatsApp links; read by libphonenumber as E.164, national ones in the business's region."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, unquote, urlsplit

import phonenumbers

from leadpipe.extract.contacts.domains import split_domain
from leadpipe.extract.contacts.text import NODE_BREAK

# Where a phone number may be: seven digits or more in one run of phone punctuation, with a trailing
# extension. libphonenumber reads only these stretches, and only those that are not dates, amounts or
# labelled as something else: reading a number is the slow step, and pages are full of numbers. (The
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


def parse_phone(text: str, region: str | None) -> str | None:
    """One number as E.164 (plus ``;ext=N``), if libphonenumber finds it valid."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return _e164(number) if phonenumbers.is_valid_number(number) else None


def _e164(number: phonenumbers.PhoneNumber) -> str:
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return f"{e164};ext={number.extension}" if number.extension else e164


def phones_in(text: str, region: str, may_check: Callable[[], bool]) -> Iterator[tuple[str, bool]]:
    """(number, labelled) for each phone number in the text; faxes and registry numbers skipped.
    ``may_check`` is asked before each candidate is read by libphonenumber, and may refuse it."""
    for candidate in _PHONE_CANDIDATE.finditer(text):
        start, end = candidate.span()
        if (
            _DATE.fullmatch(candidate.group())
            or _AMOUNT_EDGE.match(text, end)
            or _AMOUNT_EDGE.match(text, start - 2, start)
        ):
            continue
        # The label may sit in a node before: <b>Tel.:</b> 030 123456.
        before = text[max(0, start - 60) : start].replace(NODE_BREAK, " ")
        label = _LABEL_BEFORE.match(before)
        if label and label.group("fax") and not _PHONE_AND.search(before, 0, label.start("fax")):
            continue
        if label and label.group("other"):
            continue
        if not may_check():
            continue
        # Two characters either side: a "+" or "(" that begins the number, and whether the digits are
        # glued to a word (DE123456789 is a VAT number).
        window = text[max(0, start - 2) : end + 2]
        for match in phonenumbers.PhoneNumberMatcher(
            window, region, leniency=phonenumbers.Leniency.STRICT_GROUPING
        ):
            yield _e164(match.number), label is not None


def whatsapp_number(href: str) -> str | None:
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
    return parse_phone("+" + digits, None) if digits else None


# ---- the region for national numbers ---------------------------------------------------------------

# Country domains sold worldwide as generic names: they say nothing about where a business is.
_GENERIC_COUNTRY_DOMAINS = set(
    "ai co io me tv fm ly to cc ws sh ac gg im la so ag gd vc nu tk ml ga cf gq".split()
)


def _country(code: str | None) -> str | None:
    code = (code or "").strip().upper()
    code = "GB" if code == "UK" else code
    return code if code in phonenumbers.SUPPORTED_REGIONS else None


def choose_region(region: str | None, url: str, address: dict[str, str] | None, default: str) -> str:
    """The caller's region, else the domain's country, else the page's address, else the default."""
    host = urlsplit(url).hostname or ""
    top = split_domain(host).suffix.rsplit(".", 1)[-1] if host else ""
    from_domain = None if top in _GENERIC_COUNTRY_DOMAINS or len(top) != 2 else _country(top)
    return (
        _country(region)
        or from_domain
        or _country((address or {}).get("addressCountry"))
        or _country(default)
        or "US"
    )
