"""The contacts on one web page: emails, phones, WhatsApp numbers, social profiles, contact forms and
the postal address; and, per domain, the contacts of several pages merged and ranked.

Pure: HTML and its URL in, facts out; no network, no DNS. Each contact is a :class:`Found` that says
how it was found (``source``) and how sure we are (``confidence``, 0–1). The scale is the same for
every kind: a link made for the purpose (``mailto:``, ``tel:``) is surest, structured data (JSON-LD,
microdata, Cloudflare's encoded addresses) next, plain text after that, and guesses last: a
spelled-out address (source ``deobfuscated``), an address inside a page's JSON data, a phone number in prose with no label.

What is never a contact: anything in CSS or in scripts other than JSON data, attributes other than
the links and data attributes named here (so no form placeholders, no image names), template
addresses (``you@example.com``), and error-reporting keys (Sentry DSNs). System senders
(``noreply@``, ``postmaster@``) are kept but flagged ``"system"``: they are no one to write to.

Phones are stored as E.164 with the extension, if any, after ``;ext=`` (RFC 3966), e.g.
``+4930123456;ext=12``. Numbers are read by libphonenumber, national ones in the business's region:
the one the caller knows, else the country of the domain (``.de``, ``.co.uk``), else the country of
the page's own JSON-LD address, else ``default_region``.

A page can hold hundreds of thousands of addresses. Checking an address or a number is the slow
step, so a page's extraction checks at most ``COLLECT_PER_KIND`` candidates of each kind (emails on
the page's own site have a quota of their own, so a crowd of strangers cannot hide them); past that,
candidates are only counted. The caller may keep just the best few of each kind.

The modules: ``walk`` reads a page (``extract``) into a ``page.Page``, handing each part to its kind's
reader: ``emails``, ``phones`` (and the region numbers are read in), ``socials``, ``forms``, ``structured``
(JSON-LD, microdata, JSON data); ``ranking`` orders emails and merges a domain's pages; ``meta`` reads a
home page's metadata; ``results`` holds the types returned; ``domains`` and ``text`` hold what several
of them share.
"""

from leadpipe.extract.contacts.meta import is_script_shell, page_meta
from leadpipe.extract.contacts.page import COLLECT_PER_KIND
from leadpipe.extract.contacts.ranking import is_free_mail, merge
from leadpipe.extract.contacts.results import Found, Meta, PageContacts, Seen, SiteContacts
from leadpipe.extract.contacts.walk import extract

__all__ = [
    "COLLECT_PER_KIND",
    "Found",
    "Meta",
    "PageContacts",
    "Seen",
    "SiteContacts",
    "extract",
    "is_free_mail",
    "is_script_shell",
    "merge",
    "page_meta",
]
