"""Structured data on a page: JSON-LD (emails, phones, profiles, the postal address), microdata, and
the addresses in a page's JSON data."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import unquote

from selectolax.lexbor import LexborHTMLParser

from leadpipe.extract.contacts.emails import emails_in
from leadpipe.extract.contacts.page import Page
from leadpipe.extract.contacts.results import CONFIDENCE, Found
from leadpipe.extract.contacts.socials import social_profile

_ADDRESS_FIELDS = ("streetAddress", "postalCode", "addressLocality", "addressRegion", "addressCountry")


def _load_json(text: str) -> Any:
    try:
        return json.loads(text, strict=False)  # strict=False: raw newlines in strings are common
    except ValueError:
        return None


def _objects(value: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in ``value``, outermost first, in document order (so @graph and nesting)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(reversed(item.values()))
        elif isinstance(item, list):
            stack.extend(reversed(item))


def _texts(value: Any) -> Iterable[str]:
    """A JSON property's value as strings: one string, or the strings of a list."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def read_json_ld(text: str, page: Page) -> dict[str, str] | None:
    """Emails, phones and profiles of a JSON-LD block; returns the first postal address in it."""
    address = None
    for item in _objects(_load_json(text)):
        for email in _texts(item.get("email")):
            page.email(email.removeprefix("mailto:"), "json-ld")
        for phone in _texts(item.get("telephone")):
            page.phone(phone.removeprefix("tel:"), "json-ld")
        for link in _texts(item.get("sameAs")):
            profile = social_profile(link)
            if profile:
                page.add(Found(profile[1], "social", "json-ld", CONFIDENCE["json-ld"], network=profile[0]))
        if address is None and isinstance(item.get("address"), dict):
            address = _postal_address(item["address"])
        if address is None and "PostalAddress" in _texts(item.get("@type")):
            address = _postal_address(item)
    return address


def _postal_address(item: dict[str, Any]) -> dict[str, str] | None:
    found: dict[str, str] = {}
    for name in _ADDRESS_FIELDS:
        value = item.get(name)
        if isinstance(value, dict):  # addressCountry may be a Country with a name
            value = value.get("name")
        if isinstance(value, str | int) and str(value).strip():
            found[name] = " ".join(str(value).split())
    return found or None


def read_json_data(text: str, page: Page) -> None:
    """Addresses in a page's JSON data (what a script will show): each string value on its own."""
    if "@" not in text and "\\u0040" not in text:
        return
    stack = [_load_json(text)]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            for email in emails_in(item):
                page.email(email, "json")
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def read_microdata(tree: LexborHTMLParser, page: Page) -> None:
    for node in tree.css("[itemprop~=email], [itemprop~=telephone]"):
        attributes = node.attributes
        value = attributes.get("content") or attributes.get("href") or node.text()
        value = re.sub(r"^(?:mailto|tel):", "", value.strip(), flags=re.I)
        if "email" in (attributes.get("itemprop") or "").split():
            page.email(unquote(value), "microdata")
        else:
            page.phone(unquote(value), "microdata")
