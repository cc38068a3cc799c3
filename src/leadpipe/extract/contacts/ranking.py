"""Ranking contacts: one domain's contacts merged from its pages, best first; an email's rank by where
its domain is (the site's own, a free mailbox, elsewhere; a system sender last)."""

from __future__ import annotations

from leadpipe.extract.contacts.domains import registrable, split_domain
from leadpipe.extract.contacts.results import Found, PageContacts, Seen, SiteContacts

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
    return domain in _FREE_MAIL_DOMAINS or split_domain(domain).domain in _FREE_MAIL_NAMES


def merge(pages: list[PageContacts], domain: str) -> SiteContacts:
    """One domain's contacts from several of its pages: each value once, with its surest sighting and
    every page it was on. Emails on the domain itself come first, then free mailboxes, then others;
    system senders last. Within a rank, surer first, then seen on more pages."""
    site = registrable(domain) or domain.lower()
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
    return (email_group(item.found, site), -item.found.confidence, -len(item.pages))


def email_group(found: Found, site: str | None) -> int:
    """0 on the site's own domain, 1 a free mailbox, 2 elsewhere, 3 a system sender."""
    if "system" in found.flags:
        return 3
    domain = found.value.rsplit("@", 1)[1]
    if site is not None and split_domain(domain).top_domain_under_public_suffix == site:
        return 0
    if is_free_mail(domain):
        return 1
    return 2
