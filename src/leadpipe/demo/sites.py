"""Sample business sites with known contacts: the demo's web, the end-to-end tests' and the benchmarks'.

Each site has a shape (how its sitemaps are found, or that it has none, or a broken one) and a way of
writing its contacts (mailto, plain text, obfuscated, Cloudflare-encoded, JSON-LD …), with decoys
beside them (share buttons, template addresses, retina image names). What a site really offers is
kept on it, so a test can check what leadpipe found against the truth.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass, field

import phonenumbers

from leadpipe.demo.web import Web

__all__ = ["SampleSite", "known_contacts", "sample_sites", "serve"]

SHAPES = ("index", "sitemap", "wordpress", "text", "no_sitemap", "soft_404", "gzip_unlabelled", "json_ld")
STYLES = ("mailto", "text", "obfuscated", "cloudflare", "json_ld")

# Per country: top-level domain, the contact page's path and link text, a phone number pattern, a city.
COUNTRIES = {
    "DE": (".de", "/kontakt", "Kontakt", "+4930{:08d}", "Berlin"),
    "FR": (".fr", "/contact", "Contact", "+3314268{:04d}", "Paris"),
    "GB": (".co.uk", "/contact-us", "Contact us", "+44207946{:04d}", "London"),
    "US": (".com", "/contact", "Contact", "+1212736{:04d}", "New York"),
    "ES": (".es", "/contacto", "Contacto", "+349112{:05d}", "Madrid"),
    "IT": (".it", "/contatti", "Contatti", "+39066988{:04d}", "Roma"),
    "NL": (".nl", "/contact", "Contact", "+312012{:05d}", "Amsterdam"),
}
TRADES = ("bakery", "dental", "plumbing", "law", "florist", "garage", "yoga", "optician", "roofing", "cafe")
DECOYS = """
<div class="share"><a href="https://www.facebook.com/sharer/sharer.php?u=https://{domain}/">Share</a>
<a href="https://twitter.com/intent/tweet?url=https://{domain}/">Tweet</a></div>
<img src="/img/logo@2x.png" alt="logo"><form><input type="email" placeholder="you@example.com"></form>
<script>Sentry.init({{dsn: "https://0123456789abcdef@o123.ingest.sentry.io/42"}});</script>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/bootstrap@5.3.0/dist/css/bootstrap.min.css">
"""


@dataclass
class SampleSite:
    """One business site and the contacts it really offers."""

    domain: str
    name: str
    country: str
    shape: str
    style: str
    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    socials: set[str] = field(default_factory=set)

    @property
    def contact_path(self) -> str:
        return COUNTRIES[self.country][1]

    @property
    def trade(self) -> str:
        return self.domain.split("-", 1)[0]

    @property
    def city(self) -> str:
        return COUNTRIES[self.country][4]


def known_contacts(sites: Iterable[SampleSite]) -> set[tuple[str, str, str]]:
    """Every (domain, kind, value) the sites really offer: what an export is checked against."""
    return {
        (site.domain, kind, value)
        for site in sites
        for kind, values in (("email", site.emails), ("phone", site.phones), ("social", site.socials))
        for value in values
    }


def sample_sites(count: int, seed: int = 7) -> list[SampleSite]:
    """``count`` sites of every shape and style, the same ones for the same seed."""
    chooser = random.Random(seed)
    countries = list(COUNTRIES)
    sites = []
    for number in range(count):
        country = countries[number % len(countries)]
        tld, _, _, phone_pattern, city = COUNTRIES[country]
        trade = TRADES[number % len(TRADES)]
        slug = f"{trade}-{city.lower().replace(' ', '')}-{number}"
        domain = slug + tld
        site = SampleSite(
            domain=domain,
            name=f"{city} {trade.title()} No. {number}",
            country=country,
            shape=SHAPES[number % len(SHAPES)],
            style=STYLES[(number // len(SHAPES)) % len(STYLES)],
        )
        phone = phone_pattern.format(chooser.randrange(10**4 if "{:04d}" in phone_pattern else 10**5))
        if country == "DE":
            phone = phone_pattern.format(chooser.randrange(2 * 10**7, 9 * 10**7))
        assert phonenumbers.is_valid_number(phonenumbers.parse(phone)), phone
        site.phones.add(phone)
        site.emails.add(f"{('info', 'hello', 'office', 'kontakt')[number % 4]}@{domain}")
        site.socials.add(f"https://facebook.com/{slug}")
        if number % 3 == 0:
            site.socials.add(f"https://instagram.com/{slug.replace('-', '_')}")
        sites.append(site)
    return sites


def _national(phone: str) -> str:
    return phonenumbers.format_number(phonenumbers.parse(phone), phonenumbers.PhoneNumberFormat.NATIONAL)


def _cloudflare(address: str, key: int = 0x5A) -> str:
    return f"{key:02x}" + "".join(f"{ord(char) ^ key:02x}" for char in address)


def _email_html(site: SampleSite) -> str:
    (address,) = site.emails
    local, host = address.split("@")
    if site.style == "mailto":
        return f'<p>E-mail: <a href="mailto:{address}?subject=Anfrage">{address}</a></p>'
    if site.style == "text":
        return f"<p>Write to us at {address} any time.</p>"
    if site.style == "obfuscated":
        dotted = host.replace(".", " [dot] ")
        return f"<p>E-mail: {local} [at] {dotted}</p>"
    if site.style == "cloudflare":
        code = _cloudflare(address)
        return f'<p>E-mail: <a href="/cdn-cgi/l/email-protection#{code}"><span class="__cf_email__" data-cfemail="{code}">[email&#160;protected]</span></a></p>'
    return ""  # json_ld: the address is in the structured data only


def _json_ld(site: SampleSite) -> str:
    (address,) = site.emails
    (phone,) = site.phones
    data = {
        "@context": "https://schema.org",
        "@type": "LocalBusiness",
        "name": site.name,
        "email": f"mailto:{address}",
        "telephone": phone,
        "address": {
            "@type": "PostalAddress",
            "streetAddress": "Main Street 1",
            "addressCountry": site.country,
        },
    }
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


def _page(site: SampleSite, title: str, body: str) -> bytes:
    socials = "".join(f'<a href="{url}/">{url.split("/")[2]}</a> ' for url in sorted(site.socials))
    nav = f'<a href="/">Home</a> <a href="{site.contact_path}">{COUNTRIES[site.country][2]}</a> <a href="/about">About</a>'
    structured = _json_ld(site) if site.style == "json_ld" or site.shape == "json_ld" else ""
    return (
        f"<!doctype html><html lang='{site.country.lower()}'><head><title>{title} · {site.name}</title>"
        f'<meta name="description" content="{site.name}">{structured}</head><body><nav>{nav}</nav>'
        f"<main>{body}</main><footer>{socials}{DECOYS.format(domain=site.domain)}</footer></body></html>"
    ).encode()


def _contact_page(site: SampleSite) -> bytes:
    (phone,) = site.phones
    phone_html = (
        f'<p>Tel.: <a href="tel:{phone}">{_national(phone)}</a></p>'
        if site.style in ("mailto", "cloudflare")
        else f"<p>Telefon / Phone: {_national(phone)}</p>"
        if site.style != "json_ld"
        else ""
    )
    return _page(site, "Contact", f"<h1>Contact</h1>{_email_html(site)}{phone_html}<p>Open Mon–Fri 9–17.</p>")


def serve(web: Web, sites: list[SampleSite]) -> None:
    """Put every site on the web, each in its shape."""
    for site in sites:
        host = site.domain
        base = f"http://{host}"
        paths = ["/", site.contact_path, "/about", "/blog/news-1", "/services"]
        web.add(host, "/", _page(site, "Home", "<h1>Welcome</h1><p>Family business since 1980.</p>"))
        web.add(host, site.contact_path, _contact_page(site))
        web.add(host, "/about", _page(site, "About", "<h1>About us</h1><p>Our story.</p>"))
        web.add(host, "/blog/news-1", _page(site, "News", "<p>Summer opening hours.</p>"))
        web.add(host, "/services", _page(site, "Services", "<p>What we do.</p>"))
        urlset = (
            '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            + "".join(f"<url><loc>{base}{path}</loc><lastmod>2025-01-15</lastmod></url>" for path in paths)
            + "</urlset>"
        )
        if site.shape in ("index", "json_ld"):
            web.add(
                host,
                "/robots.txt",
                f"User-agent: *\nSitemap: {base}/sitemap_index.xml\n".encode(),
                content_type="text/plain",
            )
            index = (
                '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                f"<sitemap><loc>{base}/pages.xml.gz</loc></sitemap></sitemapindex>"
            )
            web.add_xml(host, "/sitemap_index.xml", index)
            web.add_xml(host, "/pages.xml.gz", urlset, gzipped=True)
        elif site.shape == "sitemap":
            web.add_xml(host, "/sitemap.xml", urlset)
        elif site.shape == "wordpress":
            web.add(host, "/robots.txt", b"User-agent: *\nDisallow: /wp-admin/\n", content_type="text/plain")
            web.add_xml(host, "/wp-sitemap.xml", urlset)
        elif site.shape == "text":
            web.add(
                host,
                "/sitemap.txt",
                "\n".join(base + path for path in paths).encode(),
                content_type="text/plain",
            )
        elif site.shape == "soft_404":
            web.add(host, "/robots.txt", f"Sitemap: {base}/sitemap.xml\n".encode(), content_type="text/plain")
            web.add(host, "/sitemap.xml", b"<!DOCTYPE html><html><body>Page not found</body></html>")
        elif site.shape == "gzip_unlabelled":
            web.add(
                host, "/robots.txt", f"Sitemap: {base}/sitemap-data\n".encode(), content_type="text/plain"
            )
            web.add(
                host, "/sitemap-data", gzip.compress(urlset.encode()), content_type="application/octet-stream"
            )
        # no_sitemap: nothing more; the home page's links are the way in.
