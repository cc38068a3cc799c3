"""The contact extractor, case by case, and the functions around it.

CASES is the corpus: small pages, each with every contact it must give, exactly (values of each kind
as sets, plus the emails flagged as system senders and the phones flagged uncertain). A case lists
only what is there: whatever it does not name must not be found. Decoys sit next to positives on
purpose. Pages default to a German business's contact page; a case's URL or region moves it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadpipe.cli import app
from leadpipe.extract import contacts
from leadpipe.extract.contacts import (
    COLLECT_PER_KIND,
    Found,
    Meta,
    PageContacts,
    extract,
    is_script_shell,
    merge,
    page_meta,
)

URL = "https://www.acme.de/kontakt"


def cloudflare(address: str, key: int = 0x5A) -> str:
    """``address`` as Cloudflare's email protection writes it: a key byte, then each byte XOR the key."""
    return bytes([key, *(byte ^ key for byte in address.encode())]).hex()


def ld(data: object) -> str:
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


@dataclass(frozen=True)
class Case:
    name: str
    html: str
    url: str = URL
    region: str | None = None
    default_region: str = "US"
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    whatsapp: tuple[str, ...] = ()
    socials: tuple[str, ...] = ()
    forms: tuple[str, ...] = ()
    address: dict[str, str] | None = None
    system: tuple[str, ...] = ()
    """Emails among ``emails`` that are flagged as system senders."""
    uncertain: tuple[str, ...] = ()
    """Phones among ``phones`` found in prose without a label."""
    source: str | None = None
    """When set, the source of every contact found."""


BUSINESS = {"@context": "https://schema.org", "@type": "LocalBusiness", "name": "Acme GmbH"}

EMAILS = [
    Case(
        "mailto",
        '<a href="mailto:info@acme.de">Schreiben Sie uns</a>',
        emails=("info@acme.de",),
        source="mailto",
    ),
    Case(
        "mailto url-encoded",
        '<a href="mailto:info%40acme.de">Mail</a>',
        emails=("info@acme.de",),
        source="mailto",
    ),
    Case(
        "mailto with subject and body",
        '<a href="mailto:info@acme.de?subject=Anfrage%20Termin&body=Hallo">E-Mail</a>',
        emails=("info@acme.de",),
    ),
    Case("mailto padded", '<a href="mailto:%20 info@acme.de ">Mail</a>', emails=("info@acme.de",)),
    Case(
        "mailto comma list",
        '<a href="mailto:info@acme.de,%20buero@acme.de;jobs@acme.de">Mail</a>',
        emails=("info@acme.de", "buero@acme.de", "jobs@acme.de"),
    ),
    Case("mailto upper case", '<a href="MAILTO:Info@ACME.de">Mail</a>', emails=("info@acme.de",)),
    Case(
        "mailto on an area",
        '<map><area href="mailto:info@acme.de" alt="Mail"></map>',
        emails=("info@acme.de",),
    ),
    Case(
        "mailto with a display name",
        '<a href="mailto:Acme%20GmbH%20%3Cinfo@acme.de%3E">Mail</a>',
        emails=("info@acme.de",),
    ),
    Case(
        "mailto punycode",
        '<a href="mailto:info@xn--mller-kva.de">Mail</a>',
        emails=("info@müller.de",),
    ),
    Case("mailto invalid", '<a href="mailto:info@">Mail</a><a href="mailto:">x</a>'),
    Case(
        "text",
        "<p>Schreiben Sie an info@acme.de, wir antworten rasch.</p>",
        emails=("info@acme.de",),
        source="text",
    ),
    Case(
        "text nodes not glued",
        "<div><span>E-Mail:</span><span>info@acme.de</span><span>Impressum</span></div>",
        emails=("info@acme.de",),
    ),
    Case("text ends a sentence", "<p>Mail: info@acme.de.</p>", emails=("info@acme.de",)),
    Case(
        "text glued to next sentence", "<p>Mail an info@acme.de.Wir freuen uns.</p>", emails=("info@acme.de",)
    ),
    Case("text after a colon", "<p>E-Mail:kontakt@acme.de</p>", emails=("kontakt@acme.de",)),
    Case("numeric entity", "<p>info&#64;acme&#46;de</p>", emails=("info@acme.de",), source="text"),
    Case("named entities", "<p>info&commat;acme&period;de</p>", emails=("info@acme.de",)),
    Case("international domain", "<p>Post: info@müller-bäckerei.de</p>", emails=("info@müller-bäckerei.de",)),
    Case("json escape in text", r"<p>info\u0040acme.de</p>", emails=("info@acme.de",)),
    Case(
        "json data with escaped at",
        '<script type="application/json" id="data">{"shop": {"contact": "info\\u0040acme.de"}}</script>',
        emails=("info@acme.de",),
        source="json",
    ),
    Case(
        "json data string per value",
        '<script type="application/json">{"a": "Fragen?\\ninfo@acme.de", "b": ["sales@acme.de"]}</script>',
        emails=("info@acme.de", "sales@acme.de"),
    ),
    Case(
        "cloudflare data-cfemail",
        f'<a class="__cf_email__" data-cfemail="{cloudflare("info@acme.de")}">[email&#160;protected]</a>',
        emails=("info@acme.de",),
        source="cloudflare",
    ),
    Case(
        "cloudflare link",
        f'<a href="/cdn-cgi/l/email-protection#{cloudflare("buero@acme.de", 0x13)}">E-Mail</a>',
        emails=("buero@acme.de",),
        source="cloudflare",
    ),
    Case(
        "cloudflare utf-8",
        f'<span data-cfemail="{cloudflare("jörg@acme.de")}">[email protected]</span>',
        emails=("jörg@acme.de",),
    ),
    Case(
        "cloudflare garbage",
        f'<span data-cfemail="zz12">x</span><span data-cfemail="{cloudflare("no address")}">y</span>'
        '<span data-cfemail="">z</span>',
    ),
    Case(
        "obfuscated [at] [dot]",
        "<p>info [at] acme [dot] de</p>",
        emails=("info@acme.de",),
        source="deobfuscated",
    ),
    Case("obfuscated (at)", "<p>Mail: info(at)acme.de</p>", emails=("info@acme.de",), source="deobfuscated"),
    Case("obfuscated {at} {dot}", "<p>info{at}acme{dot}de</p>", emails=("info@acme.de",)),
    Case("obfuscated AT DOT", "<p>info AT acme DOT de</p>", emails=("info@acme.de",)),
    Case("obfuscated at dot", "<p>write to info at acme dot co dot uk</p>", emails=("info@acme.co.uk",)),
    Case("obfuscated (ät)", "<p>E-Mail: info (ät) acme.de</p>", emails=("info@acme.de",)),
    Case("obfuscated [punkt]", "<p>info [at] acme [punkt] de</p>", emails=("info@acme.de",)),
    Case(
        "obfuscated [arroba]",
        "<p>Correo: ventas[arroba]acme.es</p>",
        url="https://acme.es/",
        emails=("ventas@acme.es",),
    ),
    Case(
        "obfuscated (chez)",
        "<p>Écrivez à contact (chez) acme.fr</p>",
        url="https://acme.fr/",
        emails=("contact@acme.fr",),
    ),
    Case("obfuscated [@]", "<p>info [@] acme.de</p>", emails=("info@acme.de",)),
    Case("obfuscated dot only", "<p>info@acme[dot]de</p>", emails=("info@acme.de",), source="deobfuscated"),
    Case(
        "obfuscated dotted local part",
        "<p>anna [dot] schmidt [at] acme [dot] de</p>",
        emails=("anna.schmidt@acme.de",),
    ),
    Case("sentence with at", "<p>Meet us at acme.com or at the fair.</p>"),
    Case("sentence with at and dot com", "<p>Shares peaked at the dot com high, then fell.</p>"),
    Case("sentence with (bei)", "<p>Kaffee gibt es (bei) uns. Mehr dazu im Laden.</p>"),
    Case("spoken address", "<p>email me at john at gmail dot com</p>", emails=("john@gmail.com",)),
    Case("sentence with AT", "<p>WE ARE AT HOME.COM TODAY</p>"),
    Case("sentence with (at) and no domain", "<p>Look at the stars (at) night. Then rest.</p>"),
    Case(
        "json-ld email", ld({**BUSINESS, "email": "info@acme.de"}), emails=("info@acme.de",), source="json-ld"
    ),
    Case("json-ld mailto prefix", ld({**BUSINESS, "email": "mailto:info@acme.de"}), emails=("info@acme.de",)),
    Case(
        "json-ld graph with type list",
        ld(
            {
                "@context": "https://schema.org",
                "@graph": [{"@type": ["Organization", "Store"], "email": "shop@acme.de"}],
            }
        ),
        emails=("shop@acme.de",),
    ),
    Case(
        "json-ld contact point",
        ld(
            {
                **BUSINESS,
                "contactPoint": [
                    {"@type": "ContactPoint", "email": "service@acme.de", "telephone": "+49 30 1234567"}
                ],
            }
        ),
        emails=("service@acme.de",),
        phones=("+49301234567",),
        source="json-ld",
    ),
    Case(
        "json-ld top-level list",
        ld([{"@type": "Organization", "email": ["a@acme.de", "b@acme.de"]}, {"@type": "WebSite"}]),
        emails=("a@acme.de", "b@acme.de"),
    ),
    Case(
        "json-ld with a charset",
        '<script type="Application/LD+JSON; charset=utf-8">{"email": "info@acme.de"}</script>',
        emails=("info@acme.de",),
    ),
    Case("json-ld broken", '<script type="application/ld+json">{"email": "info@acme.de",,}</script>'),
    Case(
        "microdata text",
        '<span itemprop="email">info@acme.de</span>',
        emails=("info@acme.de",),
        source="microdata",
    ),
    Case(
        "microdata meta",
        '<meta itemprop="email" content="info@acme.de">',
        emails=("info@acme.de",),
        source="microdata",
    ),
    Case(
        "microdata link",
        '<a itemprop="email" href="mailto:info@acme.de">Mail</a><span itemprop="telephone">+49 30 1234567</span>',
        emails=("info@acme.de",),
        phones=("+49301234567",),
    ),
    Case("css", "<style>/* by dev@agency.de */ .logo{background:url(img/logo@2x.png)}</style><p>Hallo</p>"),
    Case("inline style attribute", '<p style="background:url(logo@2x.png)">Hi</p>'),
    Case("script", '<script>var mail = "info@acme.de"; track("x@acme.de")</script>'),
    Case(
        "image names", '<img src="/img/logo@2x.png" srcset="logo@3x.webp 3x"><p>logo@2x.png icon@2x.jpg</p>'
    ),
    Case(
        "package versions",
        '<link href="https://cdn.jsdelivr.net/npm/bootstrap@5.3.0/dist/css/bootstrap.min.css"><p>bootstrap@5.3.0 jquery@3.7.1</p>',
    ),
    Case(
        "sentry dsn",
        "<p>https://0123456789abcdef0123456789abcdef@o450000.ingest.sentry.io/5500000</p>"
        '<script type="application/json">{"dsn": "https://d41d8cd98f00b204e9800998ecf8427e@sentry.io/12"}</script>',
    ),
    Case(
        "wix sentry",
        '<script type="application/json">{"sentry": "https://605a7baede844d278b89dc95ae0a9123@sentry-next.wixpress.com/68"}</script>',
    ),
    Case("form placeholder", '<input type="email" placeholder="you@example.com" value="name@domain.com">'),
    Case("textarea default", "<textarea>email@example.com</textarea>"),
    Case(
        "template addresses",
        "<p>you@example.com name@domain.com email@example.com info@example.org yourname@yourdomain.com "
        "vorname.nachname@acme.de max.mustermann@acme.de john.doe@acme.de</p>",
    ),
    Case("example address in a link", '<a href="mailto:you@example.com">Mail</a>'),
    Case("html comment", "<!-- alt: alt@acme.de --><p>Willkommen</p>"),
    Case("attributes are not text", '<img alt="info@acme.de" title="x@acme.de" data-note="y@acme.de">'),
    Case("url user", "<p>ftp://user@files.acme.de/pub</p>"),
    Case("handle", "<p>Folgen Sie @acme auf Instagram</p>"),
    Case("no top-level domain", "<p>admin@localhost root@server.local</p>"),
    Case("key-like local part", "<p>5f3a9c1e2b7d4a6f8e0c@errors.acme.io</p>"),
    Case(
        "system noreply",
        "<p>Absender: noreply@acme.de</p>",
        emails=("noreply@acme.de",),
        system=("noreply@acme.de",),
    ),
    Case(
        "system senders",
        '<p>no-reply@acme.de mailer-daemon@acme.de wordpress@acme.de postmaster@acme.de</p><a href="mailto:info@acme.de">x</a>',
        emails=(
            "no-reply@acme.de",
            "mailer-daemon@acme.de",
            "wordpress@acme.de",
            "postmaster@acme.de",
            "info@acme.de",
        ),
        system=("no-reply@acme.de", "mailer-daemon@acme.de", "wordpress@acme.de", "postmaster@acme.de"),
    ),
    Case(
        "same address twice",
        '<a href="mailto:info@acme.de">info@acme.de</a><p>info@acme.de</p>',
        emails=("info@acme.de",),
        source="mailto",
    ),
    Case(
        "dutch page",
        "<p>Neem contact op: info@bakkerij-jansen.nl</p><p>Telefoon: 020 123 4567</p>",
        url="https://bakkerij-jansen.nl/contact",
        emails=("info@bakkerij-jansen.nl",),
        phones=("+31201234567",),
    ),
    Case(
        "italian page",
        "<p>Scriveteci: info [at] trattoria-roma [dot] it</p><p>Tel. 02 1234 5678</p>",
        url="https://www.trattoria-roma.it/contatti",
        emails=("info@trattoria-roma.it",),
        phones=("+390212345678",),
    ),
]

PHONES = [
    Case("tel international", '<a href="tel:+4930123456">Anrufen</a>', phones=("+4930123456",), source="tel"),
    Case("tel national, region from .de", '<a href="tel:030123456">Anrufen</a>', phones=("+4930123456",)),
    Case("tel with separators", '<a href="tel:+49-30-1234-5678">x</a>', phones=("+493012345678",)),
    Case("tel url-encoded", '<a href="tel:%2B49%2030%20123456">x</a>', phones=("+4930123456",)),
    Case("tel with slashes", '<a href="tel://+4930123456">x</a>', phones=("+4930123456",)),
    Case("callto", '<a href="callto:+4930123456">x</a>', phones=("+4930123456",), source="tel"),
    Case("tel invalid", '<a href="tel:123">x</a><a href="tel:">y</a><a href="callto:acme.shop">z</a>'),
    Case(
        "tel extension",
        '<a href="tel:+1-212-555-0123;ext=12">Call</a>',
        url="https://acme.com/",
        phones=("+12125550123;ext=12",),
    ),
    Case("labelled de", "<p>Telefon: 030 12345678</p>", phones=("+493012345678",), source="text"),
    Case(
        "label in node before",
        "<p><strong>Tel.:</strong> <span>030 1234567</span></p>",
        phones=("+49301234567",),
    ),
    Case("label with slash grouping", "<p>Tel. 030 / 123 456 78</p>", phones=("+493012345678",)),
    Case("label fon", "<p>Fon 0170 1234567</p>", phones=("+491701234567",)),
    Case("label mobil", "<p>Mobil: 0170 1234567</p>", phones=("+491701234567",)),
    Case(
        "label fr",
        "<p>Tél. : 01 42 68 53 00</p>",
        url="https://boulangerie-martin.fr/",
        phones=("+33142685300",),
    ),
    Case(
        "label fr mobile",
        "<p>Portable : 06 12 34 56 78</p>",
        url="https://martin.fr/",
        phones=("+33612345678",),
    ),
    Case(
        "label es",
        "<p>Teléfono: 91 123 45 67</p>",
        url="https://www.acme.es/contacto",
        phones=("+34911234567",),
    ),
    Case("label it", "<p>Telefono: 02 1234 5678</p>", url="https://acme.it/", phones=("+390212345678",)),
    Case("label nl", "<p>Telefoon: 020 123 4567</p>", url="https://acme.nl/", phones=("+31201234567",)),
    Case(
        "label gb",
        "<p>Phone: 020 7946 0958</p>",
        url="https://www.acme.co.uk/contact",
        phones=("+442079460958",),
    ),
    Case("label us", "<p>Call us: (212) 555-0123</p>", url="https://acme.com/", phones=("+12125550123",)),
    Case(
        "label br", "<p>Telefone: (11) 3456-7890</p>", url="https://acme.com.br/", phones=("+551134567890",)
    ),
    Case("label ch", "<p>Telefon +41 44 123 45 67</p>", url="https://acme.ch/", phones=("+41441234567",)),
    Case("label at", "<p>Tel: +43 1 2345678</p>", url="https://acme.at/", phones=("+4312345678",)),
    Case("label telephone symbol", "<p>☎ 030 1234567</p>", phones=("+49301234567",)),
    Case("label emoji", "<p>📞 030 1234567</p>", phones=("+49301234567",)),
    Case(
        "prose without label",
        "<p>Rufen Sie uns gerne an unter 030 12345678, wir freuen uns.</p>",
        phones=("+493012345678",),
        uncertain=("+493012345678",),
    ),
    Case(
        "word hotel is no label",
        "<p>Hotel 030 12345678</p>",
        phones=("+493012345678",),
        uncertain=("+493012345678",),
    ),
    Case(
        "extension in text",
        "<p>Phone: (212) 555-0123 ext. 12</p>",
        url="https://acme.com/",
        phones=("+12125550123;ext=12",),
    ),
    Case(
        "region passed in",
        "<p>Tel: 030 12345678</p>",
        url="https://acme.com/",
        region="DE",
        phones=("+493012345678",),
    ),
    Case(
        "region spelled uk",
        "<p>Tel: 020 7946 0958</p>",
        url="https://acme.com/",
        region="uk",
        phones=("+442079460958",),
    ),
    Case(
        "region beats domain",
        "<p>Tel: 020 7946 0958</p>",
        url="https://acme.de/",
        region="GB",
        phones=("+442079460958",),
    ),
    Case(
        "region from the page's address",
        "<p>Tel: 030 12345678</p>"
        + ld({**BUSINESS, "address": {"@type": "PostalAddress", "addressCountry": "DE"}}),
        url="https://acme.com/",
        phones=("+493012345678",),
        address={"addressCountry": "DE"},
    ),
    Case(
        "default region",
        "<p>Tel: 020 7946 0958</p>",
        url="https://acme.com/",
        default_region="GB",
        phones=("+442079460958",),
    ),
    Case("national number in the wrong region", "<p>Tel: 030 12345678</p>", url="https://acme.com/"),
    Case(
        "vanity country domain",
        "<p>Tel: 030 12345678</p><p>Tel: +49 30 1234567</p>",
        url="https://acme.io/",
        phones=("+49301234567",),
    ),
    Case(
        "json-ld telephone",
        ld({**BUSINESS, "telephone": "+49 30 1234567"}),
        phones=("+49301234567",),
        source="json-ld",
    ),
    Case(
        "json-ld national telephone", ld({**BUSINESS, "telephone": "030 1234567"}), phones=("+49301234567",)
    ),
    Case(
        "microdata telephone",
        '<span itemprop="telephone">030 1234567</span>',
        phones=("+49301234567",),
        source="microdata",
    ),
    Case(
        "tel link beats its own text",
        '<a href="tel:+49301234567">030 1234567</a>',
        phones=("+49301234567",),
        source="tel",
    ),
    Case("date and time", "<p>Termin am 12.03.2024 um 14:30 Uhr, 2024-03-12, 12/03/2024</p>"),
    Case("order number", "<p>Bestellnummer: 4711 0815 1234</p><p>Order #123456789</p>"),
    Case("prices", "<p>Preis: 1.299,00 € statt 1.499,00 €</p><p>$1,299.99</p>", url="https://acme.com/"),
    Case("postcode", "<p>Musterstraße 1, 10115 Berlin</p><p>75008 Paris</p>"),
    Case("iban", "<p>IBAN: DE89 3704 0044 0532 0130 00, BIC: COBADEFFXXX</p>"),
    Case("registry numbers", "<p>USt-IdNr.: DE123456789</p><p>HRB 123456 B, Amtsgericht Charlottenburg</p>"),
    Case("tax number labelled", "<p>Steuernummer: 030 123 45678</p>"),
    Case("siret", "<p>SIRET : 732 829 320 00074</p>", url="https://acme.fr/"),
    Case("uk company number", "<p>Company No. 01234567</p>", url="https://acme.co.uk/"),
    Case("fax", "<p>Fax: 030 12345679</p>"),
    Case("phone then fax", "<p>Tel: 030 12345678, Fax: 030 12345679</p>", phones=("+493012345678",)),
    Case("phone and fax in one", "<p>Tel./Fax: 030 12345678</p>", phones=("+493012345678",)),
    Case(
        "numbers in scripts and styles",
        "<script>var tel = '030 12345678';</script><style>.x{width:0301234567px}</style>",
    ),
]

WHATSAPP = [
    Case(
        "wa.me",
        '<a href="https://wa.me/491701234567">WhatsApp</a>',
        whatsapp=("+491701234567",),
        source="link",
    ),
    Case(
        "wa.me with plus",
        '<a href="https://wa.me/%2B491701234567?text=Hallo">WhatsApp</a>',
        whatsapp=("+491701234567",),
    ),
    Case(
        "api.whatsapp.com",
        '<a href="https://api.whatsapp.com/send?phone=491701234567&text=Hi">Chat</a>',
        whatsapp=("+491701234567",),
    ),
    Case(
        "whatsapp scheme", '<a href="whatsapp://send?phone=+34612345678">Chat</a>', whatsapp=("+34612345678",)
    ),
    Case("whatsapp business link", '<a href="https://wa.me/message/ABCDEF123">Chat</a>'),
    Case("whatsapp group", '<a href="https://chat.whatsapp.com/AbCdEf">Gruppe</a>'),
    Case("whatsapp label in text is a phone", "<p>WhatsApp: 0170 1234567</p>", phones=("+491701234567",)),
]

SOCIALS = [
    Case(
        "facebook page",
        '<a href="https://www.facebook.com/AcmeGmbH/?ref=bookmarks">Facebook</a>',
        socials=("https://facebook.com/acmegmbh",),
        source="link",
    ),
    Case(
        "facebook mobile",
        '<a href="https://m.facebook.com/acme.berlin">fb</a>',
        socials=("https://facebook.com/acme.berlin",),
    ),
    Case(
        "facebook subpage",
        '<a href="https://de-de.facebook.com/AcmeGmbH/about/">fb</a>',
        socials=("https://facebook.com/acmegmbh",),
    ),
    Case(
        "facebook numeric profile",
        '<a href="https://www.facebook.com/profile.php?id=100064512345678&amp;sk=about">fb</a>',
        socials=("https://facebook.com/profile.php?id=100064512345678",),
    ),
    Case(
        "facebook old page",
        '<a href="https://www.facebook.com/pages/Acme-GmbH/123456789012345">fb</a>',
        socials=("https://facebook.com/123456789012345",),
    ),
    Case(
        "facebook share and plugins",
        '<a href="https://www.facebook.com/sharer/sharer.php?u=https%3A%2F%2Facme.de">Teilen</a>'
        '<a href="https://www.facebook.com/share.php?u=x">x</a>'
        '<a href="https://www.facebook.com/plugins/page.php?href=acme">y</a>'
        '<a href="https://www.facebook.com/dialog/share?app_id=1">z</a>',
    ),
    Case(
        "facebook own pages",
        '<a href="https://www.facebook.com/policies/cookies/">a</a><a href="https://www.facebook.com/help/">b</a>'
        '<a href="https://www.facebook.com/login/">c</a><a href="https://facebook.com/privacy/explanation">d</a>',
    ),
    Case(
        "facebook posts and tracking",
        '<a href="https://www.facebook.com/AcmeGmbH/posts/123456">a</a><a href="https://www.facebook.com/tr?id=1&ev=PageView">b</a>'
        '<a href="https://www.facebook.com/hashtag/berlin">c</a><a href="https://www.facebook.com/watch/?v=1">d</a>'
        '<a href="https://www.facebook.com/AcmeGmbH/videos/987">e</a><a href="https://www.facebook.com/events/55/">f</a>',
    ),
    Case(
        "instagram",
        '<a href="https://www.instagram.com/Acme.Berlin/">Insta</a>',
        socials=("https://instagram.com/acme.berlin",),
    ),
    Case(
        "instagram posts",
        '<a href="https://www.instagram.com/p/CxYz123/">a</a><a href="https://www.instagram.com/reel/Cabc/">b</a>'
        '<a href="https://www.instagram.com/explore/tags/berlin/">c</a><a href="https://instagram.com/accounts/login">d</a>',
    ),
    Case(
        "linkedin company",
        '<a href="https://de.linkedin.com/company/Acme-GmbH/about/?trk=x">in</a>',
        socials=("https://linkedin.com/company/acme-gmbh",),
    ),
    Case(
        "linkedin person",
        '<a href="https://www.linkedin.com/in/Max-Muster-12ab34/">in</a>',
        socials=("https://linkedin.com/in/max-muster-12ab34",),
    ),
    Case(
        "linkedin share and posts",
        '<a href="https://www.linkedin.com/shareArticle?mini=true&url=x">a</a><a href="https://www.linkedin.com/sharing/share-offsite/?url=x">b</a>'
        '<a href="https://www.linkedin.com/posts/acme_activity-123">c</a><a href="https://www.linkedin.com/feed/hashtag/berlin">d</a>',
    ),
    Case(
        "twitter", '<a href="https://twitter.com/AcmeGmbH">Twitter</a>', socials=("https://x.com/acmegmbh",)
    ),
    Case(
        "x",
        '<a href="https://x.com/acme_gmbh/">X</a><a href="https://mobile.twitter.com/acme_gmbh">t</a>',
        socials=("https://x.com/acme_gmbh",),
    ),
    Case(
        "x intents and statuses",
        '<a href="https://twitter.com/intent/tweet?text=x">a</a><a href="https://twitter.com/share?url=x">b</a>'
        '<a href="https://twitter.com/AcmeGmbH/status/1234567890">c</a><a href="https://x.com/hashtag/berlin">d</a>'
        '<a href="https://twitter.com/i/web/status/1">e</a><a href="https://platform.twitter.com/widgets.js">f</a>',
    ),
    Case(
        "youtube channel keeps case",
        '<a href="https://www.youtube.com/channel/UCabcDEF123_xyz">YT</a>',
        socials=("https://youtube.com/channel/UCabcDEF123_xyz",),
    ),
    Case(
        "youtube handle and names",
        '<a href="https://m.youtube.com/@AcmeBerlin/videos">a</a><a href="https://www.youtube.com/c/AcmeTV">b</a><a href="https://www.youtube.com/user/AcmeGmbH">c</a>',
        socials=(
            "https://youtube.com/@acmeberlin",
            "https://youtube.com/c/acmetv",
            "https://youtube.com/user/acmegmbh",
        ),
    ),
    Case(
        "youtube videos",
        '<a href="https://www.youtube.com/watch?v=dQw4w9WgXcQ">a</a><a href="https://youtu.be/dQw4w9WgXcQ">b</a>'
        '<a href="https://www.youtube.com/embed/dQw4w9WgXcQ">c</a><a href="https://www.youtube.com/shorts/abc">d</a>',
    ),
    Case(
        "tiktok",
        '<a href="https://www.tiktok.com/@Acme.Berlin?lang=de">TikTok</a>',
        socials=("https://tiktok.com/@acme.berlin",),
    ),
    Case(
        "tiktok videos and tags",
        '<a href="https://www.tiktok.com/@acme/video/7234567890">a</a><a href="https://www.tiktok.com/tag/berlin">b</a>',
    ),
    Case(
        "pinterest country domain",
        '<a href="https://www.pinterest.de/AcmeBerlin/">Pin</a>',
        socials=("https://pinterest.com/acmeberlin",),
    ),
    Case(
        "pinterest pins and buttons",
        '<a href="https://www.pinterest.com/pin/create/button/?url=x">a</a><a href="https://pinterest.com/pin/12345/">b</a>',
    ),
    Case(
        "json-ld sameAs",
        ld(
            {
                **BUSINESS,
                "sameAs": [
                    "https://www.facebook.com/AcmeGmbH",
                    "https://www.instagram.com/acme.berlin/",
                    "https://acme-blog.de/",
                ],
            }
        ),
        socials=("https://facebook.com/acmegmbh", "https://instagram.com/acme.berlin"),
        source="json-ld",
    ),
    Case(
        "json-ld sameAs string",
        ld({**BUSINESS, "sameAs": "https://twitter.com/acme"}),
        socials=("https://x.com/acme",),
    ),
    Case(
        "not a network",
        '<a href="https://facebook-fans.de/acme">a</a><a href="/instagram-feed/">b</a><a href="javascript:share(\'facebook\')">c</a>',
    ),
]

FORMS = [
    Case(
        "contact form 7",
        '<div class="wpcf7" id="wpcf7-f12-p34-o1"><form action="/kontakt/#wpcf7-f12-p34-o1" method="post" class="wpcf7-form init">'
        '<input type="text" name="your-name"><input type="email" name="your-email"><textarea name="your-message"></textarea></form></div>',
        forms=(URL,),
        source="wpcf7",
    ),
    Case(
        "gravity forms",
        '<div class="gform_wrapper"><form method="post" id="gform_1" action="/contact/"><input name="input_1"></form></div>',
        forms=(URL,),
        source="gravityforms",
    ),
    Case(
        "wpforms",
        '<div class="wpforms-container"><form id="wpforms-form-42" class="wpforms-form" method="post"><input name="wpforms[fields][1]"></form></div>',
        forms=(URL,),
        source="wpforms",
    ),
    Case(
        "elementor",
        '<form class="elementor-form" method="post" name="Kontakt"><input type="hidden" name="form_id" value="a1"></form>',
        forms=(URL,),
        source="elementor",
    ),
    Case(
        "hubspot embed",
        '<script charset="utf-8" type="text/javascript" src="//js-eu1.hsforms.net/forms/embed/v2.js"></script>'
        '<script>hbspt.forms.create({region: "eu1", portalId: "123", formId: "abc-def"});</script>',
        forms=(URL,),
        source="hubspot",
    ),
    Case(
        "hubspot frame",
        '<div class="hs-form-frame" data-region="na1" data-form-id="x" data-portal-id="1"></div>',
        forms=(URL,),
    ),
    Case(
        "hubspot tracking only",
        '<script id="hs-script-loader" async src="//js.hs-scripts.com/123456.js"></script>',
    ),
    Case(
        "formspree",
        '<form action="https://formspree.io/f/xyzabcd" method="POST"><input type="email" name="email"><button>Send</button></form>',
        forms=("https://formspree.io/f/xyzabcd",),
        source="formspree",
    ),
    Case(
        "typeform iframe",
        '<iframe src="https://form.typeform.com/to/AbC123?typeform-embed=embed-widget" width="100%"></iframe>',
        forms=("https://form.typeform.com/to/AbC123",),
        source="typeform",
    ),
    Case(
        "typeform widget",
        '<div data-tf-widget="XyZ789" style="height:500px"></div><script src="//embed.typeform.com/next/embed.js"></script>',
        forms=("https://form.typeform.com/to/XyZ789",),
    ),
    Case(
        "jotform iframe",
        '<iframe id="JotFormIFrame-241234567890123" src="https://form.jotform.com/241234567890123"></iframe>',
        forms=("https://form.jotform.com/241234567890123",),
        source="jotform",
    ),
    Case(
        "jotform script",
        '<script type="text/javascript" src="https://form.jotform.com/jsform/241234567890123"></script>',
        forms=("https://form.jotform.com/241234567890123",),
    ),
    Case(
        "plain form",
        '<form method="post" action="/senden.php"><input type="text" name="name"><input type="email" name="email">'
        '<textarea name="nachricht"></textarea><button>Senden</button></form>',
        forms=(URL,),
        source="form",
    ),
    Case(
        "plain form without textarea",
        '<form method="post"><input type="email" name="email"><input type="text" name="message"></form>',
        forms=(URL,),
    ),
    Case(
        "form posting elsewhere",
        '<form action="https://forms.agentur-web.de/submit?id=9" method="post"><textarea name="msg"></textarea></form>',
        forms=("https://forms.agentur-web.de/submit?id=9",),
    ),
    Case(
        "page url fragment dropped",
        '<form><textarea name="m"></textarea></form>',
        url=URL + "#formular",
        forms=(URL,),
    ),
    Case(
        "newsletter form",
        '<form action="/newsletter" method="post"><input type="email" name="email"><button>Abonnieren</button></form>',
    ),
    Case("search form", '<form role="search" action="/"><input type="search" name="s"></form>'),
    Case(
        "login form",
        '<form action="/login" method="post"><input name="user"><input type="password" name="pw"><textarea></textarea></form>',
    ),
    Case(
        "comment form",
        '<form action="https://www.acme.de/wp-comments-post.php" method="post" id="commentform"><textarea name="comment"></textarea>'
        '<input type="email" name="email"></form>',
    ),
]

ADDRESSES = [
    Case(
        "postal address",
        ld(
            {
                **BUSINESS,
                "address": {
                    "@type": "PostalAddress",
                    "streetAddress": "Musterstraße 1",
                    "postalCode": "10115",
                    "addressLocality": "Berlin",
                    "addressRegion": "Berlin",
                    "addressCountry": "DE",
                },
            }
        ),
        address={
            "streetAddress": "Musterstraße 1",
            "postalCode": "10115",
            "addressLocality": "Berlin",
            "addressRegion": "Berlin",
            "addressCountry": "DE",
        },
    ),
    Case(
        "address with a country object",
        ld(
            {
                **BUSINESS,
                "address": {
                    "@type": "PostalAddress",
                    "streetAddress": " Rue de Rivoli  12 ",
                    "addressCountry": {"@type": "Country", "name": "FR"},
                },
            }
        ),
        url="https://acme.fr/",
        address={"streetAddress": "Rue de Rivoli 12", "addressCountry": "FR"},
    ),
    Case(
        "address without a type",
        ld(
            {
                **BUSINESS,
                "address": {
                    "streetAddress": "Calle Mayor 5",
                    "postalCode": 28013,
                    "addressLocality": "Madrid",
                },
            }
        ),
        url="https://acme.es/",
        address={"streetAddress": "Calle Mayor 5", "postalCode": "28013", "addressLocality": "Madrid"},
    ),
    Case(
        "address in a graph",
        ld(
            {
                "@context": "https://schema.org",
                "@graph": [{"@type": "WebPage"}, {"@type": "PostalAddress", "addressLocality": "Amsterdam"}],
            }
        ),
        url="https://acme.nl/",
        address={"addressLocality": "Amsterdam"},
    ),
    Case("address as text", ld({**BUSINESS, "address": "Musterstraße 1, 10115 Berlin"})),
    Case(
        "first address wins",
        ld({**BUSINESS, "address": {"addressLocality": "Köln"}})
        + ld({"address": {"addressLocality": "Bonn"}}),
        address={"addressLocality": "Köln"},
    ),
]

ODD_PAGES = [
    Case("empty", ""),
    Case("not html", "<<<>>> &&& @@@ <a href=>"),
    Case("only text", "Kontakt: info@acme.de", emails=("info@acme.de",)),
    Case(
        "unclosed tags",
        '<div><p>info@acme.de<a href="tel:+4930123456">x',
        emails=("info@acme.de",),
        phones=("+4930123456",),
    ),
    Case("file url", "<p>Tel: (212) 555-0123</p>", url="file:///tmp/page.html", phones=("+12125550123",)),
]

CASES = EMAILS + PHONES + WHATSAPP + SOCIALS + FORMS + ADDRESSES + ODD_PAGES


def test_the_corpus_is_large_and_named_once() -> None:
    names = [case.name for case in CASES]
    assert len(names) >= 120
    assert len(set(names)) == len(names)


def values(found: list[Found]) -> set[str]:
    return {item.value for item in found}


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_corpus(case: Case) -> None:
    html = case.html if "<html" in case.html else f"<html><body>{case.html}</body></html>"
    page = extract(html, case.url, region=case.region, default_region=case.default_region)
    every = page.emails + page.phones + page.whatsapp + page.socials + page.contact_forms
    assert len(every) == len({(item.kind, item.value) for item in every}), "a value found twice"
    assert values(page.emails) == set(case.emails)
    assert values(page.phones) == set(case.phones)
    assert values(page.whatsapp) == set(case.whatsapp)
    assert values(page.socials) == set(case.socials)
    assert values(page.contact_forms) == set(case.forms)
    assert page.address == case.address
    assert {e.value for e in page.emails if "system" in e.flags} == set(case.system)
    assert {p.value for p in page.phones if "uncertain" in p.flags} == set(case.uncertain)
    if case.source:
        assert {item.source for item in every} == {case.source}
    assert all(0 < item.confidence <= 1 for item in every)


def test_kinds_networks_and_order() -> None:
    page = extract(
        '<html><body><p>info@acme.de</p><a href="mailto:chef@acme.de">x</a><p>Tel 030 1234567 oder 030 7654321</p>'
        '<a href="https://instagram.com/acme">i</a></body></html>',
        URL,
    )
    assert [e.value for e in page.emails] == ["chef@acme.de", "info@acme.de"]  # surest first
    assert {e.kind for e in page.emails} == {"email"} and {p.kind for p in page.phones} == {"phone"}
    assert page.socials == [Found("https://instagram.com/acme", "social", "link", 0.9, network="instagram")]
    labelled, unlabelled = page.phones
    assert labelled.confidence > unlabelled.confidence and unlabelled.flags == ("uncertain",)


# ---- crowded pages ----------------------------------------------------------------------------------


def test_a_page_made_of_addresses_gives_its_best_few_quickly() -> None:
    strangers = " ".join(f"sender{i}@bulk{i % 7}.com" for i in range(262_140))
    html = f"<html><body><p>{strangers} kontakt@acme.de</p></body></html>"
    assert len(html) > 5 * 2**20
    started = time.process_time()
    page = extract(html, URL, max_per_kind=50)
    assert time.process_time() - started < 5  # checking every address took over ten times that
    assert len(page.emails) == 50
    assert page.emails[0].value == "kontakt@acme.de"  # the site's own, though a crowd came first
    assert page.totals["email"] == 262_141


def test_a_crowded_page_keeps_the_best_of_each_kind() -> None:
    numbers = "".join(f'<a href="tel:+49301234{i:03d}">call</a>' for i in range(400))
    profiles = "".join(f'<a href="https://facebook.com/shop{i}">fb</a>' for i in range(400))
    page = extract(
        f"<html><body>{numbers}{profiles}<a href='mailto:info@acme.de'>mail</a> chef@acme.de</body></html>",
        URL,
        max_per_kind=50,
    )
    assert (len(page.phones), len(page.socials)) == (50, 50)
    assert page.totals == {"phone": 400, "social": 400, "email": 2}
    assert [e.value for e in page.emails] == [
        "info@acme.de",
        "chef@acme.de",
    ]  # under the cap: all, surest first


# ---- merging a domain's pages ---------------------------------------------------------------------


def found(
    value: str, kind: str = "email", source: str = "text", confidence: float = 0.85, *flags: str
) -> Found:
    return Found(value, kind, source, confidence, flags=flags)


def test_merge_dedupes_keeps_pages_and_the_surest_sighting() -> None:
    home = PageContacts(
        "https://acme.de/",
        emails=[found("info@acme.de")],
        phones=[found("+4930123456", "phone", "text", 0.5, "uncertain")],
        socials=[Found("https://facebook.com/acme", "social", "link", 0.9, network="facebook")],
    )
    contact = PageContacts(
        "https://acme.de/kontakt",
        emails=[found("info@acme.de", "email", "mailto", 0.95)],
        phones=[found("+4930123456", "phone", "tel", 0.95)],
        socials=[Found("https://facebook.com/acme", "social", "link", 0.9, network="facebook")],
        contact_forms=[found("https://acme.de/kontakt", "form", "wpcf7", 0.9)],
        address={"addressLocality": "Berlin"},
    )
    site = merge([home, contact, contact], "www.acme.de")
    assert site.domain == "acme.de"
    (email,) = site.emails
    assert email.value == "info@acme.de" and email.found.source == "mailto"
    assert email.pages == ("https://acme.de/", "https://acme.de/kontakt")
    (phone,) = site.phones
    assert phone.found.source == "tel" and phone.found.flags == ()
    assert [s.pages for s in site.socials] == [("https://acme.de/", "https://acme.de/kontakt")]
    assert [f.value for f in site.contact_forms] == ["https://acme.de/kontakt"]
    assert site.address == {"addressLocality": "Berlin"}
    assert site.whatsapp == []


def test_merge_ranks_own_domain_then_free_mail_then_others() -> None:
    page = PageContacts(
        "https://acme.de/",
        emails=[
            found("partner@agentur.de", "email", "mailto", 0.95),
            found("noreply@acme.de", "email", "text", 0.85, "system"),
            found("acme.berlin@gmail.com"),
            found("acme@yahoo.co.uk"),
            found("buero@web.de"),
            found("info@mail.acme.de", "email", "text", 0.85),
            found("chef@acme.de", "email", "deobfuscated", 0.8),
        ],
    )
    other = PageContacts("https://acme.de/team", emails=[found("buero@web.de")])
    ranked = [seen.value for seen in merge([page, other], "acme.de").emails]
    assert ranked == [
        "info@mail.acme.de",
        "chef@acme.de",
        "buero@web.de",  # on two pages
        "acme.berlin@gmail.com",
        "acme@yahoo.co.uk",
        "partner@agentur.de",
        "noreply@acme.de",
    ]


def test_merge_of_nothing() -> None:
    site = merge([], "acme.de")
    assert (site.emails, site.phones, site.address) == ([], [], None)


# ---- page metadata and script shells --------------------------------------------------------------

BUILDER_PAGES = {
    "wordpress": '<meta name="generator" content="WordPress 6.5.2">',
    "wix": '<meta name="generator" content="Wix.com Website Builder">',
    "squarespace": '<link rel="stylesheet" href="https://static1.squarespace.com/static/versioned-site-css/x.css">',
    "shopify": '<script src="//cdn.shopify.com/s/files/1/theme.js"></script>',
    "webflow": '<html data-wf-page="1" data-wf-site="2"><meta name="generator" content="Webflow">',
    "jimdo": '<link href="https://assets.jimstatic.com/web.css" rel="stylesheet">',
    "joomla": '<meta name="generator" content="Joomla! - Open Source Content Management">',
    "drupal": '<meta name="Generator" content="Drupal 10 (https://www.drupal.org)">',
    "godaddy": '<meta name="generator" content="Starfield Technologies; Go Daddy Website Builder 8.0.0000">',
    "typo3": '<meta name="generator" content="TYPO3 CMS">',
    "weebly": '<script src="https://cdn2.editmysite.com/js/site/main.js"></script>',
}


@pytest.mark.parametrize("builder", BUILDER_PAGES)
def test_site_builder(builder: str) -> None:
    assert (
        page_meta(f"<html><head>{BUILDER_PAGES[builder]}</head><body></body></html>").site_builder == builder
    )


def test_wordpress_by_its_asset_paths() -> None:
    html = '<html><head><link rel="stylesheet" href="/wp-content/themes/astra/style.css"></head></html>'
    assert page_meta(html).site_builder == "wordpress"


def test_page_meta() -> None:
    html = (
        '<html lang="de-DE"><head><title>\n  Bäckerei Müller – Berlin </title>'
        '<meta name="description" content="Frische  Brötchen seit 1920."></head><body>x</body></html>'
    )
    assert page_meta(html) == Meta("Bäckerei Müller – Berlin", "Frische Brötchen seit 1920.", "de-DE", None)
    fallbacks = (
        '<html><head><meta property="og:title" content="Acme"><meta property="og:description" content="Shop">'
        '<meta property="og:locale" content="fr_FR"></head></html>'
    )
    assert page_meta(fallbacks) == Meta("Acme", "Shop", "fr_FR", None)
    assert page_meta("") == Meta(None, None, None, None)


@pytest.mark.parametrize(
    ("html", "shell"),
    [
        ('<html><body><div id="root"></div><script src="/static/js/main.js"></script></body></html>', True),
        (
            '<html><body><noscript>You need to enable JavaScript to run this app.</noscript><div id="__next">Loading…</div>'
            '<script id="__NEXT_DATA__" type="application/json">{"props": {"text": "lots of text in data"}}</script></body></html>',
            True,
        ),
        (
            '<html><body><app-root></app-root><script src="main.js"></script><style>body{}</style></body></html>',
            True,
        ),
        (
            "<html><body><p>"
            + "Willkommen bei Acme, Ihrem Bäcker in Berlin. " * 5
            + "</p><script>x()</script></body></html>",
            False,
        ),
        ("<html><body></body></html>", False),  # empty, but no script to run
        ("", False),
    ],
)
def test_is_script_shell(html: str, shell: bool) -> None:
    assert is_script_shell(html) is shell


# ---- the command ----------------------------------------------------------------------------------

CLI_PAGE = (
    '<html lang="de"><head><title>Acme</title><meta name="generator" content="WordPress 6.5"></head><body>'
    '<a href="mailto:info@acme.de">Mail</a> <p>noreply@acme.de</p> <p>Tel.: 030 1234567</p>'
    '<a href="https://www.facebook.com/AcmeGmbH/">fb</a> <a href="https://wa.me/491701234567">wa</a>'
    '<div class="wpcf7"><form class="wpcf7-form" action="/kontakt/"><textarea></textarea></form></div>'
    + ld(
        {
            **BUSINESS,
            "address": {
                "@type": "PostalAddress",
                "streetAddress": "Musterstraße 1",
                "addressLocality": "Berlin",
            },
        }
    )
    + "</body></html>"
)


def test_cli_json(tmp_path: Path) -> None:
    page = tmp_path / "kontakt.html"
    page.write_text(CLI_PAGE, encoding="utf-8")
    result = CliRunner().invoke(app, ["extract", str(page), "--region", "DE", "--json"])
    assert result.exit_code == 0, result.output
    url = page.resolve().as_uri()
    assert json.loads(result.stdout) == {
        "url": url,
        "emails": [{"value": "info@acme.de", "source": "mailto", "confidence": 0.95}],
        "phones": [{"value": "+49301234567", "source": "text", "confidence": 0.8}],
        "socials": [{"value": "https://facebook.com/acmegmbh", "network": "facebook"}],
        "contact_forms": [url],
        "address": {"streetAddress": "Musterstraße 1", "addressLocality": "Berlin"},
    }


def test_cli_plain(tmp_path: Path) -> None:
    page = tmp_path / "kontakt.html"
    page.write_text(CLI_PAGE, encoding="utf-8")
    result = CliRunner().invoke(app, ["extract", str(page), "--region", "DE"])
    assert result.exit_code == 0, result.output
    for line in (
        "site builder: wordpress",
        "info@acme.de  (mailto, 0.95)",
        "noreply@acme.de  (text, 0.85; system sender, not a lead)",
        "+49301234567  (text, 0.8)",
        "+491701234567  (link, 0.9)",
        "facebook  https://facebook.com/acmegmbh  (link, 0.9)",
        "Musterstraße 1, Berlin",
    ):
        assert line in result.stdout


def test_cli_without_region_reads_national_numbers_as_the_default(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<p>Tel.: 030 1234567</p>", encoding="utf-8")
    result = CliRunner().invoke(app, ["extract", str(page), "--json"])
    assert json.loads(result.stdout)["phones"] == []
    empty = CliRunner().invoke(app, ["extract", str(page)])
    assert "no contacts found" in empty.stdout


def test_cli_says_what_a_crowded_page_had_beyond_what_was_checked(tmp_path: Path) -> None:
    page = tmp_path / "list.html"
    crowd = " ".join(f"member{i}@verein{i % 3}.de" for i in range(COLLECT_PER_KIND + 40))
    page.write_text(f"<html><body><p>{crowd}</p></body></html>", encoding="utf-8")
    result = CliRunner().invoke(app, ["extract", str(page)])
    assert result.exit_code == 0, result.output
    assert f"  40 more emails seen, not checked (a page's first {COLLECT_PER_KIND} are)" in result.stdout


def test_cli_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["extract", str(tmp_path / "missing.html")])
    assert result.exit_code == 1
    assert "cannot read" in result.stderr and "missing.html" in result.stderr


def test_the_package_exports_the_extractors_public_names() -> None:
    """What callers import from ``leadpipe.extract.contacts``, pinned: the modules inside the package
    may move, the names callers use stay where they are, and nothing private is exported."""
    public = (
        "COLLECT_PER_KIND Found Meta PageContacts Seen SiteContacts "
        "extract is_free_mail is_script_shell merge page_meta"
    )
    assert sorted(contacts.__all__) == sorted(public.split())
    assert all(getattr(contacts, name) is not None for name in contacts.__all__)
