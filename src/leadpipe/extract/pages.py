"""What a page probably is, from its URL path (and, for links on a home page, its anchor text).

The rules are data: each category lists words, in several languages, that mark it. A page gets the
first category whose word appears as a whole word of its path or anchor text, and the category's
priority, so the contact stage scrapes the pages most likely to hold contacts first.
"""

from __future__ import annotations

import re
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
_LOOKUP = {word: category for category, (_, words) in CATEGORIES.items() for word in words}
_ORDER = {category: index for index, category in enumerate(CATEGORIES)}


def _words(text: str) -> list[str]:
    """Whole words and their hyphenated runs: "/de/ueber-uns.html" → ueber-uns, ueber, uns, de, html."""
    found: list[str] = []
    for run in _WORD.findall(text.lower()):
        found.append(run)
        if "-" in run:
            parts = run.split("-")
            found.extend(parts)
            found.extend("-".join(parts[i : i + 2]) for i in range(len(parts) - 1))
    return found


def categorise(url: str, anchor: str | None = None) -> tuple[str, int]:
    """The page's category and claim priority."""
    path = unquote(urlsplit(url).path)
    if path in ("", "/") or re.fullmatch(r"/(index\.\w+|home|[a-z]{2}(-[a-z]{2})?)/?", path.lower()):
        return "home", HOME_PRIORITY
    best: str | None = None
    # Anchor words are joined with hyphens so phrases ("get in touch", "über uns") match like slugs.
    for word in _words(path) + (_words("-".join(anchor.split())) if anchor else []):
        category = _LOOKUP.get(word)
        if category and (best is None or _ORDER[category] < _ORDER[best]):
            best = category
    if best is None:
        return "other", OTHER_PRIORITY
    return best, CATEGORIES[best][0]
