"""``leadpipe extract``: what the contact extractor finds on one page, a local file or a URL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from leadpipe.config import Settings
from leadpipe.extract.contacts import (
    COLLECT_PER_KIND,
    Found,
    PageContacts,
    extract,
    is_script_shell,
    page_meta,
)
from leadpipe.web.fetch import Fetcher

__all__ = ["TargetError", "run"]


class TargetError(Exception):
    """The page could not be read: no such file, or the server answered with an error."""


async def run(target: str, region: str | None, as_json: bool, out: TextIO) -> None:
    """Read ``target`` (a file, else a URL; ``https://`` is assumed), extract its contacts, and print."""
    html, url = _read_file(target) or await _fetch(target if "://" in target else f"https://{target}")
    found = extract(html, url, region=region)
    if as_json:
        out.write(json.dumps(_as_dict(found), ensure_ascii=False, indent=2) + "\n")
    else:
        out.write(_as_text(found, html))
    out.flush()


def _read_file(target: str) -> tuple[str, str] | None:
    """A local file's HTML and its file:// URL; None when ``target`` names no file but a site."""
    path = Path(target).expanduser()
    looks_like_a_file = target.startswith((".", "/", "~")) or path.suffix.lower() in (".html", ".htm")
    if "://" in target or not (path.exists() or looks_like_a_file):
        return None
    try:
        return _decode(path.read_bytes(), None), path.resolve().as_uri()
    except OSError as error:
        raise TargetError(f"cannot read {target}: {error.strerror}") from None


async def _fetch(url: str) -> tuple[str, str]:
    """A page's HTML and its final URL, fetched as the pipeline fetches (robots.txt, limits, guards)."""
    fetcher = Fetcher(Settings())
    try:
        response = await fetcher.get(url)
    finally:
        await fetcher.aclose()
    if response.status >= 400:
        raise TargetError(f"{response.url} answered HTTP {response.status}")
    return _decode(response.body, response.headers.get("content-type")), response.url


def _decode(body: bytes, content_type: str | None) -> str:
    """The body as text: the charset the server names, else UTF-8; bytes that do not fit are replaced."""
    charset = "utf-8"
    for parameter in (content_type or "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip("\"'")
    try:
        return body.decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", errors="replace")


def _as_dict(found: PageContacts) -> dict[str, Any]:
    """The page's leads as one JSON object; system senders are no leads and are left out."""
    return {
        "url": found.url,
        "emails": [
            {"value": e.value, "source": e.source, "confidence": e.confidence}
            for e in found.emails
            if "system" not in e.flags
        ],
        "phones": [{"value": p.value, "source": p.source, "confidence": p.confidence} for p in found.phones],
        "socials": [{"value": s.value, "network": s.network} for s in found.socials],
        "contact_forms": [f.value for f in found.contact_forms],
        "address": found.address,
    }


def _as_text(found: PageContacts, html: str) -> str:
    meta = page_meta(html)
    lines = [found.url]
    if meta.title:
        lines.append(f"  title: {meta.title}")
    if meta.site_builder:
        lines.append(f"  site builder: {meta.site_builder}")
    if is_script_shell(html):
        lines.append("  note: an empty script shell; its contacts appear only once a browser runs it")
    sections: list[tuple[str, str, list[Found]]] = [
        ("emails", "email", found.emails),
        ("phones", "phone", found.phones),
        ("whatsapp", "whatsapp", found.whatsapp),
        ("social profiles", "social", found.socials),
        ("contact forms", "form", found.contact_forms),
    ]
    contacts: list[str] = []
    for title, kind, items in sections:
        if items:
            contacts += [title, *(f"  {_describe(item)}" for item in items)]
        unchecked = found.totals.get(kind, 0) - len(items)
        if unchecked > 0:
            contacts.append(
                f"  {unchecked:,} more {title} seen, not checked (a page's first {COLLECT_PER_KIND} are)"
            )
    if found.address:
        contacts += ["address", "  " + ", ".join(found.address.values())]
    return "\n".join(lines + (contacts or ["no contacts found"])) + "\n"


def _describe(item: Found) -> str:
    notes = {"system": "system sender, not a lead", "uncertain": "no label, uncertain"}
    extra = "".join(f"; {notes.get(flag, flag)}" for flag in item.flags)
    network = f"{item.network}  " if item.network else ""
    return f"{network}{item.value}  ({item.source}, {item.confidence:g}{extra})"
