"""Page → contacts: fetch a page, extract its contacts, and record what the fetch was like.

Pages are claimed best first (home, contact, imprint, about, team …). Two eligibility rules keep the
work bounded, and a page they rule out is recorded as skipped, never left waiting: a domain gets at
most ``scrape_max_pages`` pages scraped, and none more once it has a sure email and a sure phone
(``scrape_stop_when_found``). The home page is exempt from both, and its title, description,
language and site builder are kept on the domain.

A page that is an empty script shell (a React or Vue mount point) is rendered in headless Chromium when
``render_js`` is on, and its contacts are read from the rendered page; the page's ``problem`` column
then says it was rendered. With rendering off it ends as ``script_shell``.

No page or site can flood the contacts, or the validations and verifier calls that follow them: of
each kind (emails, phones …) a page gives at most its best ``contacts_max_per_page``, and a domain
holds at most ``contacts_max_per_domain``. The page's ``problem`` says what a cap left out, and that a
page was cut at ``PAGE_MAX_BYTES``.
"""

from __future__ import annotations

import codecs
import time
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, false, func, select

from leadpipe.config import Settings
from leadpipe.db.models import contacts, domains, pages
from leadpipe.engine.stage import Context, Insert, Item, Result, Stage, Update
from leadpipe.extract.contacts import Found, PageContacts, extract, is_script_shell, page_meta
from leadpipe.stages.errors import refusal_outcome, retry_later
from leadpipe.web.fetch import Fetcher, FetchError, Throttled
from leadpipe.web.render import Renderer, RenderError

PAGE_MAX_BYTES = 5 * 1024 * 1024
SURE_EMAIL = 0.9
SURE_PHONE = 0.8
CONTACT_LIKE = ("home", "contact", "legal", "about", "team")
# What the caps' notes call each kind of contact.
KIND_NAMES = {
    "email": "email addresses",
    "phone": "phone numbers",
    "whatsapp": "WhatsApp numbers",
    "social": "social profiles",
    "form": "contact forms",
}


def _load_domains(connection: Connection, items: list[dict[str, Any]]) -> None:
    """Each page's domain name and country, for the phone region and the same-site test, and the
    contacts its domain holds, for the per-domain cap (pages of a domain run one at a time, so they
    are all there)."""
    ids = {item["domain_id"] for item in items}
    rows = connection.execute(
        select(domains.c.id, domains.c.name, domains.c.country).where(domains.c.id.in_(ids))
    )
    by_id = {row.id: row for row in rows}
    held: dict[int, dict[str, set[str]]] = {}
    for row in connection.execute(
        select(contacts.c.domain_id, contacts.c.kind, contacts.c.value).where(contacts.c.domain_id.in_(ids))
    ):
        held.setdefault(row.domain_id, {}).setdefault(row.kind, set()).add(row.value)
    for item in items:
        row = by_id[item["domain_id"]]
        item["domain_name"], item["domain_country"] = row.name, row.country
        item["domain_contacts"] = held.get(item["domain_id"], {})


def _rows(found: list[Found], item: Item) -> list[dict[str, Any]]:
    return [
        {
            "domain_id": item["domain_id"],
            "page_id": item["id"],
            "kind": contact.kind,
            "value": contact.value,
            "found_by": contact.source,
            "confidence": contact.confidence,
            "flags": ",".join(contact.flags) or None,
            "network": contact.network,
        }
        for contact in found
    ]


async def scrape(item: Item, context: Context) -> Result:
    fetcher: Fetcher = context.resources["fetcher"]
    try:
        response = await fetcher.get(item["url"], max_bytes=PAGE_MAX_BYTES)
        fetcher.raise_if_throttled(response)
    except Throttled as error:  # the page, or its robots.txt, answered 429 or 5xx: not a refusal
        raise retry_later(error) from None
    except FetchError as error:
        outcome = refusal_outcome(error)
        if outcome is None:
            raise
        return Result(outcome=outcome, values={"problem": str(error)})
    values: dict[str, Any] = {
        "http_status": response.status,
        "content_type": response.content_type or None,
        "size_bytes": response.size,
        "fetch_seconds": round(response.seconds, 3),
    }
    if response.status >= 400:
        return Result(
            outcome="not_found" if response.status in (404, 410) else f"http_{response.status}", values=values
        )
    if response.content_type and "html" not in response.content_type:
        return Result(outcome="not_html", values={**values, "problem": f"not HTML: {response.content_type}"})
    html = response.body.decode(_charset(response.headers.get("content-type", "")), errors="replace")
    response.body = b""  # a big page is held once, as text, while it is parsed
    renderer: Renderer | None = context.resources.get("renderer")  # only there when render_js is on
    rendered = False
    if renderer is not None and is_script_shell(html):
        started = time.monotonic()
        try:
            html = await renderer.render(response.url)
            rendered = True
            values["problem"] = (
                f"rendered in headless Chromium ({time.monotonic() - started:.1f}s): "
                "the page as fetched was an empty script shell"
            )
        except RenderError as error:
            values["problem"] = f"the page is an empty script shell, and rendering it failed: {error}"
    if response.truncated and not rendered:
        _note(values, f"cut at {PAGE_MAX_BYTES // 2**20} MiB: contacts past that point were not read")
    settings = context.settings
    found = extract(
        html,
        response.url,
        region=item["domain_country"],
        default_region=settings.default_region,
        max_per_kind=settings.contacts_max_per_page,
    )
    every = _within_caps(found, item["domain_contacts"], settings, values)
    outputs: list[Insert | Update] = [Insert(contacts, _rows(every, item))]
    if item["category"] == "home":
        meta = page_meta(html)
        description = meta.description[:2000] if meta.description else None
        outputs.append(
            Update(
                domains,
                item["domain_id"],
                {
                    "title": meta.title[:1000] if meta.title else None,
                    "description": description,
                    "language": meta.language[:35] if meta.language else None,
                    "site_builder": meta.site_builder,
                },
            )
        )
    if every:
        outcome = "contacts_found"
    elif any(found.totals.values()):
        outcome = "domain_contacts_full"
    elif is_script_shell(html):
        outcome = "script_shell"
        values.setdefault(
            "problem", "the page is an empty script shell: its contacts need a browser to render"
        )
    else:
        outcome = "no_contacts"
    return Result(outcome=outcome, values=values, outputs=outputs)


def _within_caps(
    page: PageContacts, held: dict[str, set[str]], settings: Settings, values: dict[str, Any]
) -> list[Found]:
    """The page's contacts that its domain keeps, each kind's best first, and a note on the page for
    each cap that left some out. The page's lists hold its best ``contacts_max_per_page`` already;
    of those, the domain takes new values while it holds fewer than ``contacts_max_per_domain``."""
    kept: list[Found] = []
    lists = (page.emails, page.phones, page.whatsapp, page.socials, page.contact_forms)
    for (kind, name), listed in zip(KIND_NAMES.items(), lists, strict=True):
        if page.totals.get(kind, 0) > len(listed):
            _note(values, f"found {page.totals[kind]:,} {name}, kept the best {len(listed)} (cap per page)")
        known = held.get(kind, set())
        room = max(0, settings.contacts_max_per_domain - len(known))
        left_out = 0
        for found in listed:
            if found.value in known:
                kept.append(found)
            elif room:
                kept.append(found)
                room -= 1
            else:
                left_out += 1
        if left_out:
            _note(
                values,
                f"{left_out:,} more {name} not kept: the domain already has "
                f"{settings.contacts_max_per_domain} (cap per domain)",
            )
    return kept


def _note(values: dict[str, Any], note: str) -> None:
    """Adds a note to the page's ``problem``."""
    values["problem"] = f"{values['problem']}; {note}" if values.get("problem") else note


def _charset(content_type: str) -> str:
    """The charset a Content-Type names, if Python knows it; else UTF-8."""
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset":
            try:
                return codecs.lookup(value.strip("\"' ")).name
            except LookupError:
                break
    return "utf-8"


def _not_home() -> ColumnElement[bool]:
    return func.coalesce(pages.c.category, "") != "home"


def _over_budget(settings: Settings) -> ColumnElement[bool]:
    taken = pages.alias("taken")
    count = (
        select(func.count())
        .where(taken.c.domain_id == pages.c.domain_id, taken.c.status.in_(("running", "done")))
        .scalar_subquery()
    )
    return and_(_not_home(), count >= settings.scrape_max_pages)


def _has_its_contacts(settings: Settings) -> ColumnElement[bool]:
    def sure(kind: str, confidence: float) -> Any:
        return (
            select(contacts.c.id)
            .where(
                contacts.c.domain_id == pages.c.domain_id,
                contacts.c.kind == kind,
                contacts.c.confidence >= confidence,
            )
            .exists()
        )

    if not settings.scrape_stop_when_found:
        return false()
    return and_(_not_home(), sure("email", SURE_EMAIL), sure("phone", SURE_PHONE))


def _no_contacts_written() -> ColumnElement[bool]:
    written = select(contacts.c.id).where(contacts.c.page_id == pages.c.id).exists()
    return (pages.c.outcome == "contacts_found") & ~written


STAGE = Stage(
    name="scrape",
    table=pages,
    handler=scrape,
    description="page → contacts (emails, phones, socials, forms)",
    concurrency=64,
    batch_size=16,
    lease_seconds=120,
    max_runtime_seconds=180,
    max_attempts=3,
    skip_when={"domain page budget reached": _over_budget, "domain has its contacts": _has_its_contacts},
    missing_outputs=_no_contacts_written,
    curation={**dict.fromkeys(CONTACT_LIKE, "auto"), "*": "manual"},
    context=_load_domains,
    one_at_a_time="domain_id",
    reads=("domain_id", "url", "category"),
)
