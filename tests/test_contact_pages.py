"""The contact extractor on whole pages in the styles of the big site builders (tests/pages/).

Each page carries what real sites carry around their contacts: navigation, inline CSS, JSON data,
tracking pixels, cookie banners, share buttons, registry and bank numbers, placeholders. Each test
names every contact the page really offers, and the decoys that must not come out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from leadpipe.extract.contacts import extract, is_script_shell, merge, page_meta

PAGES = Path(__file__).parent / "pages"


@dataclass(frozen=True)
class Page:
    file: str
    url: str
    builder: str
    emails: set[str]
    phones: set[str]
    whatsapp: set[str]
    socials: set[str]
    forms: set[str]
    address: dict[str, str] | None
    decoys: set[str]
    """Strings on the page that look like contacts and are none, or are not the business's to offer."""
    system: set[str] = field(default_factory=set)
    uncertain: set[str] = field(default_factory=set)


SITES = [
    Page(
        "wordpress_cf7.html",
        "https://www.baeckerei-sonnenschein.de/kontakt/",
        "wordpress",
        emails={
            "info@baeckerei-sonnenschein.de",
            "bestellung@baeckerei-sonnenschein.de",  # "bestellung [at] … [punkt] de"
            "wordpress@baeckerei-sonnenschein.de",
            "datenschutz@pixelwerk-agentur.de",  # the web agency's, in the cookie box: found, ranked last
        },
        system={"wordpress@baeckerei-sonnenschein.de"},
        phones={"+493012345678"},
        whatsapp=set(),
        socials={
            "https://facebook.com/baeckereisonnenschein",
            "https://instagram.com/baeckerei.sonnenschein",
        },
        forms={"https://www.baeckerei-sonnenschein.de/kontakt/"},
        address={
            "streetAddress": "Kastanienallee 12",
            "postalCode": "10435",
            "addressLocality": "Berlin",
            "addressCountry": "DE",
        },
        decoys={
            "max@mustermann.de",  # placeholder
            "name@domain.com",  # textarea default
            "support@wpastra.com",  # theme script
            "+493012345679",  # the fax
            "+4947110815",  # order number in the textarea
        },
    ),
    Page(
        "wordpress_elementor.html",
        "https://dupont-architectes.fr/contact/",
        "wordpress",
        emails={
            "contact@dupont-architectes.fr",
            "ne-pas-repondre@dupont-architectes.fr",
            "dpo@studio-web-lyon.fr",
        },
        system={"ne-pas-repondre@dupont-architectes.fr"},
        phones={"+33142685300", "+33612345678"},
        uncertain={"+33612345678"},  # an icon list item with no word before it
        whatsapp=set(),
        socials={
            "https://linkedin.com/company/dupont-architectes",
            "https://instagram.com/dupont.architectes",
            "https://pinterest.com/dupontarchitectes",
        },
        forms={"https://dupont-architectes.fr/contact/"},
        address={
            "streetAddress": "18 rue des Archives",
            "postalCode": "75004",
            "addressLocality": "Paris",
            "addressRegion": "Île-de-France",
            "addressCountry": "FR",
        },
        decoys={"votre.nom@exemple.fr", "https://facebook.com/policies", "+33812345678"},
    ),
    Page(
        "wix.html",
        "https://www.sunriseyogaaustin.com/contact",
        "wix",
        emails={"hello@sunriseyogaaustin.com", "events@sunriseyogaaustin.com"},
        phones={"+15125550142"},
        whatsapp=set(),
        socials={
            "https://facebook.com/sunriseyogaaustin",
            "https://instagram.com/sunriseyoga.atx",
            "https://youtube.com/@sunriseyogaatx",
        },
        forms={"https://www.sunriseyogaaustin.com/contact"},
        address={
            "streetAddress": "1234 South Congress Ave, Suite 200",
            "postalCode": "78704",
            "addressLocality": "Austin",
            "addressRegion": "TX",
            "addressCountry": "US",
        },
        decoys={
            "jane.doe@example.com",
            "noreply@wix.com",
            "owner.login@sunriseyogaaustin.com",  # in a script
            "605a7baede844d278b89dc95ae0a9123@sentry-next.wixpress.com",
            "8c4075d5481d476e945486754f783364@sentry.wixpress.com",
            "react@18.2.0",
        },
    ),
    Page(
        "squarespace.html",
        "https://www.hartleyjoinery.co.uk/contact",
        "squarespace",
        emails={
            "hello@hartleyjoinery.co.uk",
            "accounts@hartleyjoinery.co.uk",
        },  # "accounts AT … DOT co DOT uk"
        phones={"+441132445566", "+447911123456"},
        whatsapp=set(),
        socials={"https://instagram.com/hartleyjoinery", "https://pinterest.com/hartleyjoinery"},
        forms={"https://www.hartleyjoinery.co.uk/contact"},  # the newsletter block is no contact form
        address=None,  # its JSON-LD address is one string, not a PostalAddress
        decoys={"accounts.admin@hartleyjoinery.co.uk", "+448123456", "+4412345678"},
    ),
    Page(
        "shopify.html",
        "https://www.demolen-koffie.nl/pages/contact",
        "shopify",
        emails={"klantenservice@demolen-koffie.nl", "no-reply@demolen-koffie.nl"},
        system={"no-reply@demolen-koffie.nl"},
        phones={"+31301234567"},
        whatsapp={"+31612345678"},
        socials={
            "https://instagram.com/demolenkoffie",
            "https://facebook.com/demolenkoffie",
            "https://tiktok.com/@demolenkoffie",
        },
        forms={"https://www.demolen-koffie.nl/pages/contact"},
        address=None,
        decoys={"support@shopify.com", "+3112345678", "+31123456789"},
    ),
    Page(
        "webflow.html",
        "https://www.estudiolima.com.br/contato",
        "webflow",
        emails={"contato@estudiolima.com.br", "imprensa@estudiolima.com.br"},  # "imprensa (arroba) …"
        phones={"+551134567890", "+5511987654321"},  # the WhatsApp number is written out under its label too
        whatsapp={"+5511987654321"},
        socials={
            "https://instagram.com/estudiolima.arq",
            "https://linkedin.com/company/estudio-lima-arquitetura",
            "https://youtube.com/@estudiolimaarq",
        },
        forms={"https://www.estudiolima.com.br/contato", "https://form.typeform.com/to/Lm4Qx9Zp"},
        address={
            "streetAddress": "Rua Oscar Freire, 1200 - sala 54",
            "postalCode": "01426-001",
            "addressLocality": "São Paulo",
            "addressRegion": "SP",
            "addressCountry": "BR",
        },
        decoys={"voce@exemplo.com.br", "socio.fundador@estudiolima.com.br", "+551234567800"},
    ),
]


@pytest.mark.parametrize("site", SITES, ids=[site.file for site in SITES])
def test_page(site: Page) -> None:
    html = (PAGES / site.file).read_text(encoding="utf-8")
    assert 20_000 <= len(html.encode()) <= 200_000
    page = extract(html, site.url)
    assert {e.value for e in page.emails} == site.emails
    assert {e.value for e in page.emails if "system" in e.flags} == site.system
    assert {p.value for p in page.phones} == site.phones
    assert {p.value for p in page.phones if "uncertain" in p.flags} == site.uncertain
    assert {w.value for w in page.whatsapp} == site.whatsapp
    assert {s.value for s in page.socials} == site.socials
    assert {f.value for f in page.contact_forms} == site.forms
    assert page.address == site.address
    every = {f.value for f in page.emails + page.phones + page.whatsapp + page.socials + page.contact_forms}
    assert not every & site.decoys
    assert page_meta(html).site_builder == site.builder
    assert not is_script_shell(html)


def test_a_site_merged_puts_the_business_first() -> None:
    site = SITES[0]
    html = (PAGES / site.file).read_text(encoding="utf-8")
    home = extract(html.replace("bestellung [at]", "torten [at]"), "https://www.baeckerei-sonnenschein.de/")
    contact = extract(html, site.url)
    merged = merge([home, contact], "baeckerei-sonnenschein.de")
    assert [seen.value for seen in merged.emails] == [
        "info@baeckerei-sonnenschein.de",
        "torten@baeckerei-sonnenschein.de",  # as sure as the next one, and seen first
        "bestellung@baeckerei-sonnenschein.de",
        "datenschutz@pixelwerk-agentur.de",
        "wordpress@baeckerei-sonnenschein.de",
    ]
    assert merged.emails[0].pages == ("https://www.baeckerei-sonnenschein.de/", site.url)
    assert merged.address == site.address
