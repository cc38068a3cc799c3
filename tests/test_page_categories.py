"""Page categories from URL paths and anchor text: what the contact stage scrapes first."""

from __future__ import annotations

import pytest

from leadpipe.extract.pages import categorise


@pytest.mark.parametrize(
    ("url", "category"),
    [
        ("https://acme.test/", "home"),
        ("https://acme.test/index.html", "home"),
        ("https://acme.test/de/", "home"),
        ("https://acme.test/kontakt", "contact"),
        ("https://acme.test/en/contact-us/", "contact"),
        ("https://acme.test/about/contact", "contact"),  # the first category in the rules' order wins
        ("https://acme.test/de/ueber-uns-team.html", "about"),  # a pair of parts: ueber-uns
        ("https://acme.test/es/trabaja-con-nosotros", "careers"),  # a three-part word, as a whole run
        ("https://acme.test/es/trabaja-con-nosotros-madrid", "other"),  # not as part of a longer run
        ("https://acme.test/get-in-touch?ref=nav", "contact"),
        ("https://acme.test/fr/%C3%A9quipe/", "team"),  # percent-encoded, not ASCII once decoded
        ("https://acme.test/über-uns", "about"),
        ("https://acme.test/Impressum.PHP", "legal"),
        ("https://acme.test/blog/2024/05/new-oven", "blog"),
        ("https://acme.test/catalog/kitchen/blue-oak-linen-0000123.html", "other"),
        ("https://acme.test/contactless-payment", "other"),  # a word only where it is a whole part
        ("https://acme.test/products_contact", "contact"),  # an underscore separates parts too
        ("https://acme.test/storage/teams2", "other"),
    ],
)
def test_a_page_gets_the_category_its_path_names(url: str, category: str) -> None:
    assert categorise(url)[0] == category


def test_anchor_text_names_a_category_too_and_contact_pages_come_first() -> None:
    assert categorise("https://acme.test/p/123", "Get in touch") == ("contact", 10)
    assert categorise("https://acme.test/p/124", "Über uns")[0] == "about"
    assert categorise("https://acme.test/p/125")[0] == "other"
    priorities = [categorise(f"https://acme.test/{path}")[1] for path in ("", "kontakt", "team", "x")]
    assert priorities == sorted(priorities)
