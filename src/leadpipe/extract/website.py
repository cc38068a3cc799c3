"""From whatever a user or a listing gives as a business's website to the domain leadpipe scrapes.

One normaliser for every input: the registrable domain by the Public Suffix List shipped with
tldextract (no download at run time), ``www.`` and other subdomains dropped, Google redirect links
followed, internationalised names kept in Unicode. Social and directory pages are not the business's
domain: they are recognised and reported as such. A name must keep to DNS's lengths, be valid IDNA and
end in a known public suffix; an IP address or a private name only where private networks are allowed.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import idna

if TYPE_CHECKING:
    import tldextract


@functools.cache
def _suffixes() -> tldextract.TLDExtract:
    """The snapshot bundled with tldextract; private suffixes (github.io, myshopify.com) count, so two
    shops on one platform are two sites. Imported when a name is first looked up: tldextract brings
    requests with it, which a command given an IP address (``leadpipe sitemaps``) never needs."""
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)


# Social networks by host: a link there is a profile (extract.contacts), and a "website" there is not
# the business's own site.
SOCIAL_NETWORKS = {
    "facebook.com": "facebook",
    "fb.com": "facebook",
    "instagram.com": "instagram",
    "linkedin.com": "linkedin",
    "twitter.com": "x",
    "x.com": "x",
    "youtube.com": "youtube",
    "tiktok.com": "tiktok",
    "pinterest.com": "pinterest",
}
# Hosts whose pages are a business's profile elsewhere, not its own website.
PROFILE_HOSTS = {
    **SOCIAL_NETWORKS,
    "fb.me": "facebook",
    "linktr.ee": "linktree",
    "yelp.com": "yelp",
    "tripadvisor.com": "tripadvisor",
    "google.com": "google",
    "goo.gl": "google",
    "g.page": "google",
    "business.site": "google",
    "wa.me": "whatsapp",
    "booking.com": "booking",
    "yellowpages.com": "yellowpages",
    "gelbeseiten.de": "gelbeseiten",
    "pagesjaunes.fr": "pagesjaunes",
}

# Site builders whose customers' sites are subdomains, missing from the Public Suffix List: there the
# subdomain is the business's site, not the builder's.
HOSTED_SITES = {
    "jimdosite.com", "jimdo.com", "weebly.com", "godaddysites.com", "wordpress.com", "site123.me",
    "strikingly.com", "mystrikingly.com", "ueniweb.com", "webnode.page", "websites.co.in",
}  # fmt: skip


# What a sitemap's URL ends in (before any query): such a URL given for a domain is its sitemap hint.
SITEMAP_SUFFIXES = (".xml", ".xml.gz", ".txt", ".gz")

# Labels of letters, digits and inner hyphens, joined by dots.
_HOST_NAME = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")


@dataclass(frozen=True)
class Website:
    """What a website value turned out to be: a domain, a profile elsewhere, or nothing usable."""

    domain: str | None = None
    profile_network: str | None = None
    url: str | None = None
    problem: str | None = None

    @property
    def reason(self) -> str:
        """Why the value is not a domain, in one line."""
        if self.profile_network:
            return f"a {self.profile_network} page, not a website"
        return self.problem or "no website"


def sitemap_hint(value: str) -> str | None:
    """``value`` itself when it is the URL of a sitemap, to read first for its domain; else None."""
    return value if "://" in value and value.split("?")[0].lower().endswith(SITEMAP_SUFFIXES) else None


def normalise(value: str | None, *, allow_private: bool = False) -> Website:
    """Normalise a website value; never raises.

    An IP address, or a name under no known public suffix (``.internal``, ``.test``), is a website only
    with ``allow_private`` (private networks allowed): such sites are not on the public web.
    """
    text = (value or "").strip().strip("<>\"'")
    if not text:
        return Website(problem="no website")
    if "://" not in text and not text.startswith("//"):
        text = "http://" + text
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").rstrip(".").lower()
    except ValueError:
        return Website(problem=f"not a web address: {_shown(value)}")
    if host.endswith("google.com") or host.startswith("google."):
        target = parse_qs(parts.query).get("q") or parse_qs(parts.query).get("url")
        if parts.path == "/url" and target:
            return normalise(target[0], allow_private=allow_private)
    if not host or " " in host:
        return Website(problem=f"not a web address: {_shown(value)}")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if not allow_private:
            return Website(
                problem=f"an IP address, not a domain name: {_shown(value)}"
                " (allowed with LEADPIPE_ALLOW_PRIVATE_NETWORKS)"
            )
        return Website(domain=host if address.version == 4 else f"[{host}]", url=text)
    problem = _length_problem(host)
    if problem:
        return Website(problem=f"{problem}: {_shown(value)}")
    try:
        host = host.encode("idna").decode("idna") if host.startswith("xn--") or ".xn--" in host else host
    except UnicodeError:
        return Website(problem=f"not a valid international name: {_shown(value)}")
    found = _suffixes()(host)
    registrable = found.top_domain_under_public_suffix
    if not registrable:
        if "." not in host:
            return Website(problem=f"not a web address: {_shown(value)}")
        if found.suffix and not found.domain:
            return Website(problem=f"a public suffix, not a domain: {_shown(value)}")
        if not allow_private:
            return Website(
                problem=f"no known public suffix (top-level domain): {_shown(value)}"
                " (private names are allowed with LEADPIPE_ALLOW_PRIVATE_NETWORKS)"
            )
        # Reserved names (.test, .local, .internal) have no public suffix: their last label acts as one.
        registrable = ".".join(host.split(".")[-2:])
    if not _is_valid_name(registrable):
        return Website(problem=f"not a valid domain name: {_shown(value)}")
    if registrable in HOSTED_SITES and host.removeprefix("www.") != registrable:
        registrable = host.removeprefix("www.")
    network = PROFILE_HOSTS.get(registrable)
    if network:
        return Website(profile_network=network, url=text)
    return Website(domain=registrable, url=text)


def _length_problem(host: str) -> str | None:
    """What breaks DNS's limits in a host name (RFC 1035: labels of 1 to 63 octets, 253 in all)."""
    labels = [
        label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii")
        for label in host.split(".")
    ]
    if not all(labels):
        return "an empty label in the name"
    if any(len(label) > 63 for label in labels):
        return "a label longer than 63 characters"
    if sum(map(len, labels)) + len(labels) - 1 > 253:
        return "a name longer than 253 characters"
    return None


def _is_valid_name(name: str) -> bool:
    """Letters, digits and inner hyphens (RFC 1123), or a valid international name (IDNA 2008)."""
    if name.isascii():  # most names: a pattern says all, the idna package is for international names
        return _HOST_NAME.fullmatch(name) is not None
    try:
        idna.encode(name, uts46=True)
    except idna.IDNAError:
        return False
    return True


def _shown(value: str | None, limit: int = 60) -> str:
    """A value as a message shows it: quoted, and cut short when long."""
    text = value or ""
    return repr(text if len(text) <= limit else text[:limit] + "…")
