"""Email addresses on a page: plain ones, spelled-out ones ("info [at] acme [dot] de"), Cloudflare's
encoded ones; which of them are real, reachable-looking addresses, and which are system senders."""

from __future__ import annotations

import re
from collections.abc import Iterator

from email_validator import EmailNotValidError, validate_email

from leadpipe.extract.contacts.domains import split_domain
from leadpipe.extract.contacts.text import NODE_BREAK

# A plain address. Unicode letters are allowed (müller.de); the top-level domain is letters only, which
# rules out version numbers (bootstrap@5.3.0). Not preceded by "//": that is a URL's user (a Sentry DSN).
_EMAIL = re.compile(
    r"(?<![\w.%+\-])(?<!//)[\w.%+\-]{1,64}@(?:[^\W_](?:[\w\-]{0,61}[^\W_])?\.){1,8}[^\W\d_]{2,24}(?![\w\-])"
)

# Spelled-out addresses: "info [at] acme [dot] de", "info (ät) acme.de", "info AT acme DOT de".
_AT_WORDS = r"at|ät|@|arroba|chez|bei|presso|chiocciola|apenstaartje|snabel-a|małpa|malpa"
_DOT_WORDS = r"dot|punkt|point|punto|ponto|\."
_BRACKETED = r"\s*[\[({{<]\s*(?:{words})\s*[\])}}>]\s*"
_SPOKEN = r"\s+(?:{words})\s+"
_AT = rf"(?P<at>{_BRACKETED.format(words=_AT_WORDS)}|{_SPOKEN.format(words='at')}|@)"
_DOT = rf"(?:{_BRACKETED.format(words=_DOT_WORDS)}|{_SPOKEN.format(words='dot|punkt|point|punto')}|\.)"
_SPELLED_OUT = re.compile(
    rf"(?<![\w.%+\-])(?P<local>[\w%+\-]{{1,64}}(?:{_DOT}[\w%+\-]{{1,64}}){{0,3}}){_AT}"
    rf"(?P<domain>[^\W_][\w\-]{{0,62}}(?:{_DOT}[^\W_][\w\-]{{0,62}}){{1,4}})(?![\w\-])",
    re.IGNORECASE,
)
# A page has a spelled-out address only if it has a bracketed word or a spoken "dot": a cheap test first.
_SPELLED_OUT_HINT = re.compile(
    rf"[\[({{<]\s*(?:{_AT_WORDS}|dot|punkt|point|punto|ponto|\.)\s*[\])}}>]|\s(?:dot|punkt|point|punto)\s",
    re.IGNORECASE,
)
_FUNCTION_WORDS = set("the a an our my your his her their its this that these those".split())
_SPELLED_OUT_DOT = re.compile(
    rf"{_BRACKETED.format(words=_DOT_WORDS)}|{_SPOKEN.format(words='dot|punkt|point|punto')}", re.I
)

# Addresses that forms, themes and documentation show as examples.
_PLACEHOLDER_DOMAINS = {
    "domain.com", "yourdomain.com", "your-domain.com", "mydomain.com", "yoursite.com", "yourcompany.com",
    "company.com", "email.com", "mail.com", "website.com", "beispiel.de", "musterfirma.de", "dominio.com",
}  # fmt: skip
_PLACEHOLDER_LOCALS = {
    "you", "your", "yourname", "your.name", "youremail", "your.email", "yourmail", "name", "firstname",
    "firstname.lastname", "first.last", "vorname.nachname", "max.mustermann", "maxmustermann", "john.doe",
    "jane.doe", "johndoe", "user", "username", "nombre", "tunombre", "nom", "prenom.nom", "votre.nom",
    "nome", "mario.rossi", "ihre.email", "deine.email",
}  # fmt: skip
# Error reporting and the site builders' own systems: never the business.
_MACHINE_DOMAINS = {"sentry.io", "sentry-next.wixpress.com", "wixpress.com", "sentry.wixpress.com"}
# Senders no one reads, in the languages of the corpus: "no reply", "ne pas répondre", "não responda" …
_SYSTEM_LOCALS = re.compile(
    r"^(?:no-?reply|do-?not-?reply|mailer-?daemon|postmaster|wordpress|bounces?|ne-?pas-?repondre|"
    r"nicht-?antworten|keine-?antwort|no-?responder|nao-?responda|non-?rispondere|niet-?beantwoorden)\b"
)


def usable_email(candidate: str) -> str | None:
    """The address, valid and lowercased, or None for anything not a real, reachable-looking one."""
    candidate = candidate.strip().strip(".").replace("\\u0040", "@")
    try:
        address = validate_email(candidate, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None
    local, domain = address.rsplit("@", 1)
    parts = split_domain(domain)
    registrable = parts.top_domain_under_public_suffix
    if not parts.suffix or not registrable:
        return None  # not under a real top-level domain: logo@2x.png, a@b.local
    if (
        parts.domain == "example"
        or registrable in _PLACEHOLDER_DOMAINS
        or local in _PLACEHOLDER_LOCALS
        or registrable in _MACHINE_DOMAINS
        or domain in _MACHINE_DOMAINS
        or re.fullmatch(r"[0-9a-f]{16,}", local)  # a key, not a mailbox
    ):
        return None
    return address


def is_system_sender(address: str) -> bool:
    return bool(_SYSTEM_LOCALS.match(address.split("@", 1)[0]))


def emails_in(text: str) -> Iterator[str]:
    """Plain addresses in text; a domain glued to the next sentence ("acme.de.Wir") is cut back."""
    if "\\u0040" in text:
        text = text.replace("\\u0040", "@")
    for match in (match for node in _nodes_with(text, "@") for match in _EMAIL.finditer(node)):
        address = match.group()
        local, domain = address.rsplit("@", 1)
        labels = domain.split(".")
        while len(labels) > 2 and not split_domain(".".join(labels)).suffix:
            labels.pop()
        yield f"{local}@{'.'.join(labels)}"


def _nodes_with(text: str, needle: str) -> Iterator[str]:
    """The text nodes that hold ``needle``, one at a time: the email pattern is slow to run over a
    whole page, and a list of every node of a big page would cost more than the page."""
    at = text.find(needle)
    while at != -1:
        start = text.rfind(NODE_BREAK, 0, at) + 1
        end = text.find(NODE_BREAK, at)
        end = len(text) if end == -1 else end
        yield text[start:end]
        at = text.find(needle, end)


def spelled_out_emails(text: str) -> Iterator[str]:
    """Spelled-out addresses, looked for only in the text nodes with a hint of one: the full pattern
    is slow to run over a whole page."""
    read_up_to = 0
    for hint in _SPELLED_OUT_HINT.finditer(text):
        if hint.start() < read_up_to:
            continue
        start = text.rfind(NODE_BREAK, 0, hint.start()) + 1
        end = text.find(NODE_BREAK, hint.end())
        read_up_to = len(text) if end == -1 else end
        yield from _spelled_out_in(text[start:read_up_to])


def _spelled_out_in(node: str) -> Iterator[str]:
    for match in _SPELLED_OUT.finditer(node):
        at = match.group("at").strip()
        local, domain = match.group("local"), match.group("domain")
        spelled_out_dot = bool(_SPELLED_OUT_DOT.search(local) or _SPELLED_OUT_DOT.search(domain))
        # A plain "@" with plain dots is an ordinary address; a bare "at" needs a spelled-out dot too,
        # or "meet us at acme.com" would become an address, and no article or pronoun on either side
        # ("shares peaked at the dot com high").
        spoken_at = at.lower() == "at"
        if not spelled_out_dot and (at == "@" or spoken_at):
            continue
        if spoken_at and {local.lower(), domain.split()[0].lower()} & _FUNCTION_WORDS:
            continue
        yield f"{_SPELLED_OUT_DOT.sub('.', local)}@{_SPELLED_OUT_DOT.sub('.', domain)}"


def decode_cloudflare(encoded: str) -> str | None:
    """Cloudflare's email obfuscation: hex bytes, each XORed with the first one, of a UTF-8 address."""
    try:
        data = bytes.fromhex(encoded.strip())
        return bytes(byte ^ data[0] for byte in data[1:]).decode("utf-8")
    except (ValueError, IndexError):
        return None
