"""The walk over one page: its scripts (JSON-LD, JSON data, form loaders), links, Cloudflare's encoded
addresses, microdata and forms, then its visible text; each handed to the reader of its kind."""

from __future__ import annotations

import re
from urllib.parse import unquote

from selectolax.lexbor import LexborHTMLParser

from leadpipe.extract.contacts.emails import decode_cloudflare, emails_in, spelled_out_emails
from leadpipe.extract.contacts.forms import read_form_script, read_forms
from leadpipe.extract.contacts.page import COLLECT_PER_KIND, Page
from leadpipe.extract.contacts.phones import choose_region, phones_in, whatsapp_number
from leadpipe.extract.contacts.results import (
    CONFIDENCE,
    LABELLED_PHONE,
    UNLABELLED_PHONE,
    Found,
    PageContacts,
)
from leadpipe.extract.contacts.socials import NETWORK_WORDS, social_profile
from leadpipe.extract.contacts.structured import read_json_data, read_json_ld, read_microdata
from leadpipe.extract.contacts.text import NODE_BREAK, NOT_TEXT


def extract(
    html: str,
    url: str,
    *,
    region: str | None = None,
    default_region: str = "US",
    max_per_kind: int | None = None,
) -> PageContacts:
    """Every contact on one page, or its best ``max_per_kind`` of each kind. ``region`` is the
    business's country (ISO 3166 alpha-2) when known; ``default_region`` is used for national phone
    numbers when neither it nor the domain tells."""
    tree = LexborHTMLParser(html)
    page = Page(url, max(COLLECT_PER_KIND, max_per_kind or 0))
    address = None
    for script in tree.css("script"):
        script_type = (script.attributes.get("type") or "").split(";")[0].strip().lower()
        if script_type == "application/ld+json":
            stated = read_json_ld(script.text(), page)
            address = address or stated
        elif script_type == "application/json":
            read_json_data(script.text(), page)
        read_form_script(script, page)
    page.set_region(choose_region(region, url, address, default_region))
    for anchor in tree.css("a[href], area[href]"):
        _read_link(anchor.attributes.get("href") or "", page)
    for node in tree.css("[data-cfemail]"):
        page.email(decode_cloudflare(node.attributes.get("data-cfemail") or ""), "cloudflare")
    read_microdata(tree, page)
    read_forms(tree, page)
    tree.strip_tags(list(NOT_TEXT))
    text = tree.body.text(separator=NODE_BREAK) if tree.body is not None else ""
    del tree  # a big page's tree is many times its text: free it before the text is scanned
    _read_text(text, page)
    return page.result(address, max_per_kind)


def _read_link(href: str, page: Page) -> None:
    href = href.strip()
    lowered = href.lower()
    if lowered.startswith("mailto:"):
        # mailto:a@x.de,b@x.de?subject=Hi — percent-encoded, possibly several, possibly padded.
        for candidate in re.split(r"[,;]", unquote(href[7:].split("?", 1)[0])):
            page.email(candidate.rsplit("<", 1)[-1].rstrip("> "), "mailto")  # "Acme <info@acme.de>"
    elif lowered.startswith(("tel:", "callto:")):
        page.phone(unquote(href.split(":", 1)[1]).lstrip("/"), "tel")
    elif "/cdn-cgi/l/email-protection#" in lowered:
        page.email(decode_cloudflare(href.rsplit("#", 1)[1]), "cloudflare")
    elif (
        ("whatsapp" in lowered or "wa.me/" in lowered)
        and page.may_check("whatsapp")
        and (number := whatsapp_number(href))
    ):
        page.add(Found(number, "whatsapp", "link", CONFIDENCE["link"]))
    elif (
        any(word in lowered for word in NETWORK_WORDS)
        and page.may_check("social")
        and (profile := social_profile(href))
    ):
        page.add(Found(profile[1], "social", "link", CONFIDENCE["link"], network=profile[0]))


def _read_text(text: str, page: Page) -> None:
    for email in emails_in(text):
        page.email(email, "text")
    for email in spelled_out_emails(text):
        page.email(email, "deobfuscated")
    for number, labelled in phones_in(text, page.region or "US", lambda: page.may_check("phone")):
        flags = () if labelled else ("uncertain",)
        page.add(
            Found(number, "phone", "text", LABELLED_PHONE if labelled else UNLABELLED_PHONE, flags=flags)
        )
