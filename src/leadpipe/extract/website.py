"""From whatever a user or a listing gives as a business's website to the domain leadpipe scrapes.

One normaliser for every input: the registrable domain by the Public Suffix List shipped with
tldextract (no download at run time), ``www.`` and other subdomains dropped, Google redirect links
followed, internationalised names kept in Unicode. Social and directory pages are not the business's
domain: they are recognised and reported as such.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import tldextract

# The snapshot bundled with tldextract; private suffixes (github.io, myshopify.com) count, so two
# shops on one platform are two sites.
_extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)

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


@dataclass(frozen=True)
class Website:
    """What a website value turned out to be: a domain, a profile elsewhere, or nothing usable."""

    domain: str | None = None
    profile_network: str | None = None
    url: str | None = None
    problem: str | None = None


def normalise(value: str | None) -> Website:
    """Normalise a website value; never raises."""
    text = (value or "").strip().strip("<>\"'")
    if not text:
        return Website(problem="no website")
    if "://" not in text and not text.startswith("//"):
        text = "http://" + text
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").rstrip(".").lower()
    except ValueError:
        return Website(problem=f"not a web address: {value!r}")
    if host.endswith("google.com") or host.startswith("google."):
        target = parse_qs(parts.query).get("q") or parse_qs(parts.query).get("url")
        if parts.path == "/url" and target:
            return normalise(target[0])
    if not host or " " in host:
        return Website(problem=f"not a web address: {value!r}")
    try:
        ipaddress.ip_address(host)
        return Website(domain=host, url=text)
    except ValueError:
        pass
    try:
        host = host.encode("idna").decode("idna") if host.startswith("xn--") or ".xn--" in host else host
    except UnicodeError:
        return Website(problem=f"not a valid international name: {value!r}")
    found = _extract(host)
    registrable = found.top_domain_under_public_suffix
    if not registrable:
        # Reserved names (.test, .local, .internal) have no public suffix: their last label acts as one.
        if "." not in host:
            return Website(problem=f"not a web address: {value!r}")
        registrable = ".".join(host.split(".")[-2:])
    if registrable in HOSTED_SITES and host.removeprefix("www.") != registrable:
        registrable = host.removeprefix("www.")
    network = PROFILE_HOSTS.get(registrable)
    if network:
        return Website(profile_network=network, url=text)
    return Website(domain=registrable, url=text)
