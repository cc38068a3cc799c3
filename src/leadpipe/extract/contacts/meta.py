"""What a home page says about its site: title, description, language and site builder; and whether
the page is a script's empty mount point, whose contacts only a browser would show."""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser

from leadpipe.extract.contacts.results import Meta
from leadpipe.extract.contacts.text import NOT_TEXT

# (builder, words in its generator meta tag, strings in its asset URLs or markup), checked in order.
_BUILDERS = (
    ("wordpress", ("wordpress",), ("/wp-content/", "/wp-includes/")),
    ("joomla", ("joomla",), ("/media/jui/", "/components/com_", "/media/system/js/")),
    ("drupal", ("drupal",), ("/sites/default/files/", "drupal-settings-json", "/core/misc/drupal")),
    ("typo3", ("typo3",), ("/typo3temp/", "/typo3conf/")),
    ("wix", ("wix.com",), ("static.wixstatic.com", "parastorage.com")),
    ("squarespace", ("squarespace",), ("static1.squarespace.com", "squarespace-cdn.com")),
    ("shopify", ("shopify",), ("cdn.shopify.com", "myshopify.com")),
    ("webflow", ("webflow",), ("website-files.com", "data-wf-site")),
    ("jimdo", ("jimdo",), ("jimstatic.com", "jimcdn.com")),
    ("godaddy", ("go daddy", "godaddy", "starfield"), ("img1.wsimg.com", "godaddysites.com")),
    ("weebly", ("weebly",), ("editmysite.com", "weeblycloud.com")),
    ("ghost", ("ghost",), ("ghost-portal",)),
    ("hubspot", ("hubspot",), ("hs-sites.com", "hubspotusercontent")),
)


def page_meta(html: str) -> Meta:
    """A page's title, description, language (as the page declares it) and site builder, if known."""
    tree = LexborHTMLParser(html)

    def meta(*names: str) -> str | None:
        for name in names:
            node = tree.css_first(f'meta[name="{name}" i], meta[property="{name}" i]')
            content = " ".join((node.attributes.get("content") or "").split()) if node else ""
            if content:
                return content
        return None

    title_node = tree.css_first("title")
    title = " ".join(title_node.text().split()) if title_node else ""
    root = tree.css_first("html")
    language = (root.attributes.get("lang") or "").strip() if root else ""
    # Page builders add a generator tag of their own next to the CMS's (Elementor beside WordPress).
    generators = " ".join(
        (node.attributes.get("content") or "").lower() for node in tree.css('meta[name="generator" i]')
    )
    return Meta(
        title=title or meta("og:title"),
        description=meta("description", "og:description"),
        language=language or meta("og:locale"),
        site_builder=_site_builder(generators, html.lower()),
    )


def _site_builder(generator: str, html: str) -> str | None:
    for name, generator_words, _ in _BUILDERS:
        if any(word in generator for word in generator_words):
            return name
    for name, _, markers in _BUILDERS:
        if any(marker in html for marker in markers):
            return name
    return None


def is_script_shell(html: str) -> bool:
    """Whether the page is a script's empty mount point (React, Vue, Angular …): it has scripts and
    almost no text of its own, so its contacts appear only once a browser runs it."""
    tree = LexborHTMLParser(html)
    if not tree.css_first("script") or tree.body is None:
        return False
    tree.strip_tags(list(NOT_TEXT))
    return len("".join(tree.body.text().split())) < 80
