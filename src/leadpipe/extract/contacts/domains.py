"""Domain names read against the Public Suffix List: which part is the suffix (``co.uk``), which the
name registered under it (``acme.co.uk``)."""

from __future__ import annotations

import tldextract

# The Public Suffix List snapshot that ships with tldextract: no download at run time.
split_domain = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def registrable(host: str) -> str | None:
    """The name registered under a public suffix (``www.acme.co.uk`` → ``acme.co.uk``), if any."""
    return split_domain(host.strip().lower()).top_domain_under_public_suffix or None
