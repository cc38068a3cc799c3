"""What the contact extractor returns: one page's contacts, a domain's, a home page's metadata; and the
scale of ``confidence`` that every kind of contact shares."""

from __future__ import annotations

from dataclasses import dataclass, field


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
    """What a home page says about the site: its title, description, language and site builder."""

    title: str | None
    description: str | None
    language: str | None
    site_builder: str | None


# How sure a sighting is, by how it was found: a link made for the purpose first, structured data next,
# plain text after that, guesses last.
CONFIDENCE = {
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
# A phone number in prose, with a label before it (Tel.:) or none; a hand-made form, not a plugin's.
LABELLED_PHONE = 0.8
UNLABELLED_PHONE = 0.5
PLAIN_FORM = 0.7
