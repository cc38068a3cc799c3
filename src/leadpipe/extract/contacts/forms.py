"""Contact forms on a page: the form plugins' and builders' own (Contact Form 7, Gravity Forms, Elementor,
HubSpot …), embedded services (Typeform, Jotform, Formspree), and hand-made forms with a message field."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from leadpipe.extract.contacts.page import Page

# Classes or ids the form plugins and builders put on their forms (the first that matches names it).
_FORM_MAKERS = (
    ("wpcf7", "wpcf7"),
    ("gform", "gravityforms"),
    ("wpforms", "wpforms"),
    ("elementor-form", "elementor"),
    ("hs-form", "hubspot"),
)
_MESSAGE_FIELD = re.compile(
    r"message|nachricht|mensaje|mensagem|messaggio|bericht|comment|anliegen|enquiry", re.I
)


def read_forms(tree: LexborHTMLParser, page: Page) -> None:
    for form in tree.css("form"):
        marks = f"{form.attributes.get('class') or ''} {form.attributes.get('id') or ''}".lower()
        parent = form.parent
        if parent is not None:
            marks += " " + (parent.attributes.get("class") or "").lower()
        action = urljoin(page.url, form.attributes.get("action") or "")
        maker = next((name for mark, name in _FORM_MAKERS if mark in marks), None)
        if "formspree.io" in action:
            page.form(action.split("?")[0], "formspree")
        elif maker:
            page.form(page.url, maker)
        elif _is_contact_form(form, action):
            elsewhere = urlsplit(action).hostname != urlsplit(page.url).hostname
            page.form(action if elsewhere else page.url, "form")
    for frame in tree.css("iframe[src]"):
        _read_form_embed(frame.attributes.get("src") or "", page)
    for widget in tree.css("[data-tf-widget], [data-tf-popup], [data-tf-live]"):
        attributes = widget.attributes
        form_id = (
            attributes.get("data-tf-widget")
            or attributes.get("data-tf-popup")
            or attributes.get("data-tf-live")
        )
        if form_id:
            page.form(f"https://form.typeform.com/to/{form_id}", "typeform")
    if tree.css_first(".hs-form-frame, .hbspt-form"):
        page.form(page.url, "hubspot")


def _is_contact_form(form: LexborNode, action: str) -> bool:
    """A hand-made contact form: somewhere to write a message, and not a login or comment form."""
    if "wp-comments-post" in action or (form.attributes.get("id") or "") == "commentform":
        return False
    if form.css_first("input[type=password]"):
        return False
    if form.css_first("textarea"):
        return True
    names = " ".join(field.attributes.get("name") or "" for field in form.css("input"))
    return bool(_MESSAGE_FIELD.search(names)) and bool(form.css_first("input[type=email]"))


def _read_form_embed(src: str, page: Page) -> None:
    src = urljoin(page.url, src.strip())
    host = urlsplit(src).hostname or ""
    if host.endswith("typeform.com") and "/to/" in src:
        page.form(src.split("?")[0], "typeform")
    elif host.endswith("jotform.com") and (form_id := re.search(r"/(\d{9,})", src)):
        page.form(f"https://form.jotform.com/{form_id.group(1)}", "jotform")
    elif host.endswith("hsforms.com"):
        page.form(src.split("?")[0], "hubspot")


def read_form_script(script: LexborNode, page: Page) -> None:
    """Forms that arrive by script: HubSpot's embed, Jotform's and Typeform's loaders."""
    src = script.attributes.get("src") or ""
    if src:
        if "hsforms.net/forms" in src:
            page.form(page.url, "hubspot")
        else:
            _read_form_embed(src, page)
    elif "hbspt.forms.create" in (script.text() or ""):
        page.form(page.url, "hubspot")
