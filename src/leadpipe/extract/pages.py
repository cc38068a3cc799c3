"""What a page probably is, from its URL path (and, for links on a home page, its anchor text).

The rules are data: each category lists words, in several languages, that mark it. A page gets the
first category whose word appears as a whole word of its path or anchor text, and the category's
priority, so the contact stage scrapes the pages most likely to hold contacts first.
"""

from __future__ import annotations

import re
from itertools import pairwise, repeat
from urllib.parse import unquote, urlsplit

# Lower priority numbers are claimed first (as for every engine item). Order matters: the first
# category that matches wins, so "contact" beats "about" for /about/contact.
CATEGORIES: dict[str, tuple[int, list[str]]] = {
    "contact": (
        10,
        (
            "contact contacts contact-us contactus kontakt kontaktformular contacto contactenos "
            "contactar contato fale-conosco contatti contattaci nous-contacter contactez-nous "
            "contactez neem-contact kontakta kontakty yhteystiedot get-in-touch reach-us enquiry "
            "enquiries inquiry anfahrt location locations find-us"
        ).split(),
    ),
    "legal": (
        20,
        (
            "impressum imprint legal legal-notice mentions-legales mentions aviso-legal note-legali "
            "colofon disclaimer privacy datenschutz terms"
        ).split(),
    ),
    "about": (
        30,
        (
            "about about-us aboutus uber-uns ueber-uns über-uns wir quienes-somos sobre-nosotros "
            "sobre a-propos qui-sommes-nous chi-siamo over-ons company unternehmen empresa our-story "
            "story history"
        ).split(),
    ),
    "team": (
        40,
        (
            "team our-team staff people mitarbeiter equipo equipe équipe squadra leadership "
            "management founders partners attorneys lawyers doctors"
        ).split(),
    ),
    "careers": (
        70,
        (
            "careers career jobs job karriere stellenangebote empleo trabaja-con-nosotros emplois "
            "lavora-con-noi vacatures hiring"
        ).split(),
    ),
    "services": (
        80,
        (
            "services service leistungen servicios prestations servizi diensten what-we-do solutions "
            "angebot pricing prices preise tarifs"
        ).split(),
    ),
    "blog": (
        150,
        (
            "blog news aktuelles noticias actualites actualités notizie nieuws press presse articles "
            "article post posts tag category author"
        ).split(),
    ),
    "product": (
        160,
        (
            "product products produkt produkte producto productos produit produits shop store cart "
            "collections"
        ).split(),
    ),
}
HOME_PRIORITY = 5
OTHER_PRIORITY = 100

_WORD = re.compile(r"[^\W_]+(?:-[^\W_]+)*", re.UNICODE)
_ASCII_WORD = re.compile(r"[a-z0-9]++(?:-[a-z0-9]++)*+")  # the same runs, in lowercased ASCII text
_ORDER = {category: index for index, category in enumerate(CATEGORIES)}
_NAMES = list(CATEGORIES)
_NONE = len(CATEGORIES)  # the rank of text with no category word
_RANK = {word: _ORDER[category] for category, (_, words) in CATEGORIES.items() for word in words}
# A pair of parts ("ueber-uns" in "/ueber-uns-team") can only be a word if its first part starts one.
_PAIR_STARTS = frozenset(word.split("-")[0] for word in _RANK if word.count("-") == 1)
# No word can be in text none of whose parts is a word or starts one: most paths, told by set lookups
# of their parts, without trying each word.
_FIRST_PARTS = frozenset(word.split("-")[0] for word in _RANK)
_ASCII_PARTS = re.compile(r"[^a-z0-9]+")
_HOME = re.compile(r"/(index\.\w+|home|[a-z]{2}(-[a-z]{2})?)/?")
# The path of a plain absolute http(s) URL, as urlsplit finds it: after the authority, up to the query
# or fragment. Only for printable ASCII and an authority without brackets, where urlsplit removes
# nothing and raises nothing; any other URL goes through urlsplit itself.
_HTTP_PATH = re.compile(r"https?://[^/?#\[\]]*+(?![\[\]])([^?#]*)")


def _rank(text: str) -> int:
    """The lowest category index among the words of lowercased ``text`` (``_NONE`` for none).

    The words are the runs of letters and digits joined by hyphens, each part of a hyphenated run,
    and each pair of adjacent parts: "/de/ueber-uns-team.html" → de, ueber-uns-team, ueber, uns,
    team, ueber-uns, uns-team, html.
    """
    if text.isascii():
        if _FIRST_PARTS.isdisjoint(_ASCII_PARTS.split(text)):
            return _NONE
        runs = _ASCII_WORD.findall(text)
    else:
        runs = _WORD.findall(text)
    if not runs:
        return _NONE
    parts = "-".join(runs).split("-")  # every part of every run (a plain run is its own part)
    rank = min(min(map(_RANK.get, runs, repeat(_NONE))), min(map(_RANK.get, parts, repeat(_NONE))))
    if not _PAIR_STARTS.isdisjoint(parts):
        for run in runs:
            pieces = run.split("-")
            for pair in map("-".join, pairwise(pieces)):
                rank = min(rank, _RANK.get(pair, _NONE))
    return rank


def _path(url: str) -> str:
    if url.isascii() and url.isprintable():
        found = _HTTP_PATH.match(url)
        if found is not None:
            return found.group(1)
    return urlsplit(url).path


def categorise(url: str, anchor: str | None = None) -> tuple[str, int]:
    """The page's category and claim priority."""
    path = unquote(_path(url)).lower()
    if path in ("", "/") or _HOME.fullmatch(path):
        return "home", HOME_PRIORITY
    # The first category (in CATEGORIES order) that any word matches.
    rank = _rank(path)
    if anchor:
        # Anchor words are joined with hyphens so phrases ("get in touch", "über uns") match like slugs.
        rank = min(rank, _rank("-".join(anchor.split()).lower()))
    if rank == _NONE:
        return "other", OTHER_PRIORITY
    best = _NAMES[rank]
    return best, CATEGORIES[best][0]
