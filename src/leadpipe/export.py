"""Export: the contacts found, one row per contact or one row per domain, as CSV, JSON lines or XLSX.

Per domain, the best email is ranked as the extractor ranks it (the domain's own address first, then
free mailboxes, system senders never); the best phone is the surest; each social network gets a column.

Every text comes from the web or from an input file, so none may become a spreadsheet formula: CSV
cells are neutralised as OWASP's CSV-injection guidance says, XLSX cells are typed as text, and JSON
lines hold the exact values.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, func, select

from leadpipe.db.connect import Database
from leadpipe.db.models import businesses, contacts, domains, pages
from leadpipe.extract.contacts import Found, PageContacts, merge

__all__ = [
    "BUSINESS_COLUMNS",
    "CONTACT_COLUMNS",
    "DOMAIN_COLUMNS",
    "NETWORKS",
    "Filters",
    "Format",
    "contact_rows",
    "domain_rows",
    "export",
]

Format = Literal["csv", "jsonl", "xlsx"]
# What Google Maps says of the domain's business (its first, when several share the website), as a
# Maps scraper's export has it; empty for a domain from a list.
BUSINESS_COLUMNS = (
    "category", "street", "city", "postal_code", "state", "country", "business_phone", "rating", "reviews",
    "latitude", "longitude", "maps_url", "place_id",
)  # fmt: skip
CONTACT_COLUMNS = (
    "business", "domain", "kind", "value", "network", "source_page", "found_by", "confidence", "validation",
    "validation_reason", "flags", *BUSINESS_COLUMNS,
)  # fmt: skip
NETWORKS = ("facebook", "instagram", "linkedin", "x", "youtube", "tiktok", "pinterest")
DOMAIN_COLUMNS = (
    "business", "domain", "website", "email", "email_validation", "other_emails", "phone", "whatsapp",
    "contact_form", *NETWORKS, "title", "site_builder", *BUSINESS_COLUMNS,
)  # fmt: skip
# Each business column, as the businesses table names it.
BUSINESS_FIELDS = {
    **{column: column for column in BUSINESS_COLUMNS},
    "business_phone": "phone",
    "reviews": "review_count",
}
# A spreadsheet reads a cell that begins with one of these as a formula (OWASP, "CSV Injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
KIND_LISTS = {
    "email": "emails",
    "phone": "phones",
    "whatsapp": "whatsapp",
    "social": "socials",
    "form": "contact_forms",
}


@dataclass(frozen=True)
class Filters:
    kinds: Sequence[str] = ()
    validations: Sequence[str] = ()
    domains: Sequence[str] = ()
    where: ColumnElement[bool] | None = None  # any condition on the contacts (the API's list filters)


def _businesses(connection: Connection) -> dict[int, dict[str, Any]]:
    """Per domain id: its businesses' names, and the business columns of the first of them."""
    fields = [businesses.c[name] for name in dict.fromkeys(BUSINESS_FIELDS.values())]
    query = select(businesses.c.domain_id, businesses.c.name, *fields).where(
        businesses.c.domain_id.is_not(None)
    )
    names: dict[int, list[str]] = defaultdict(list)
    first: dict[int, dict[str, Any]] = {}
    for row in connection.execute(query.order_by(businesses.c.id)).mappings():
        domain_id = row["domain_id"]
        if row["name"] and row["name"] not in names[domain_id]:
            names[domain_id].append(row["name"])
        first.setdefault(domain_id, {column: row[field] for column, field in BUSINESS_FIELDS.items()})
    return {
        domain_id: {"business": "; ".join(names[domain_id]) or None, **columns}
        for domain_id, columns in first.items()
    }


def contact_rows(db: Database, filters: Filters = Filters()) -> Iterator[dict[str, Any]]:
    """One row per contact, surest first within a domain."""
    query = (
        select(contacts, domains.c.name.label("domain"), pages.c.url.label("source_page"))
        .join(domains, domains.c.id == contacts.c.domain_id)
        .outerjoin(pages, pages.c.id == contacts.c.page_id)
        .order_by(domains.c.name, contacts.c.kind, contacts.c.confidence.desc(), contacts.c.value)
    )
    if filters.kinds:
        query = query.where(contacts.c.kind.in_(filters.kinds))
    if filters.validations:
        query = query.where(func.coalesce(contacts.c.validation, "unchecked").in_(filters.validations))
    if filters.domains:
        query = query.where(domains.c.name.in_(filters.domains))
    if filters.where is not None:
        query = query.where(filters.where)
    with db.read() as connection:
        known = _businesses(connection)
        for row in connection.execute(query).mappings():
            business = known.get(row["domain_id"], {})
            yield {
                "business": business.get("business"),
                "domain": row["domain"],
                "kind": row["kind"],
                "value": row["value"],
                "network": row["network"],
                "source_page": row["source_page"],
                "found_by": row["found_by"],
                "confidence": row["confidence"],
                "validation": row["validation"],
                "validation_reason": row["validation_reason"],
                "flags": row["flags"],
                **{column: business.get(column) for column in BUSINESS_COLUMNS},
            }


def domain_rows(db: Database, filters: Filters = Filters()) -> Iterator[dict[str, Any]]:
    """One row per domain that has contacts: its best email, phone and profiles in columns."""
    by_domain: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in contact_rows(
        db, Filters(validations=filters.validations, domains=filters.domains, where=filters.where)
    ):
        by_domain[row["domain"]].append(row)
    with db.read() as connection:
        sites = {row.name: row for row in connection.execute(select(domains))}
    for name, rows in by_domain.items():
        ranked = merge([_as_page(rows)], name)
        emails = [seen.found for seen in ranked.emails if "system" not in seen.found.flags]
        validation = {row["value"]: row["validation"] for row in rows if row["kind"] == "email"}
        socials = {seen.found.network: seen.value for seen in reversed(ranked.socials)}
        site = sites[name]
        yield {
            "business": rows[0]["business"],
            "domain": name,
            "website": site.site_url,
            "email": emails[0].value if emails else None,
            "email_validation": validation.get(emails[0].value) if emails else None,
            "other_emails": "; ".join(found.value for found in emails[1:]) or None,
            "phone": ranked.phones[0].value if ranked.phones else None,
            "whatsapp": ranked.whatsapp[0].value if ranked.whatsapp else None,
            "contact_form": ranked.contact_forms[0].value if ranked.contact_forms else None,
            **{network: socials.get(network) for network in NETWORKS},
            "title": site.title,
            "site_builder": site.site_builder,
            **{column: rows[0][column] for column in BUSINESS_COLUMNS},
        }


def _as_page(rows: list[dict[str, Any]]) -> PageContacts:
    """A domain's stored contacts in the extractor's shape, so ranking lives in one place."""
    page = PageContacts(url="")
    for row in rows:
        flags = tuple(row["flags"].split(",")) if row["flags"] else ()
        found = Found(
            row["value"], row["kind"], row["found_by"] or "", row["confidence"] or 0.0, row["network"], flags
        )
        getattr(page, KIND_LISTS.get(row["kind"], "contact_forms")).append(found)
    return page


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet reads as text: one that would start a formula gets a leading ``'``.

    A phone such as ``+49 30 1234`` is prefixed too, as OWASP says of every such cell: a spreadsheet
    would otherwise evaluate it, or at best turn it into a number without its ``+``.
    """
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def write(rows: Iterator[dict[str, Any]], columns: Sequence[str], path: Path, fmt: Format) -> int:
    """Write rows to ``path``; returns how many."""
    count = 0
    if fmt == "xlsx":
        from openpyxl import Workbook  # only this format needs it
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        book = Workbook(write_only=True)
        sheet = book.create_sheet("leads")

        def text_cell(value: Any) -> Any:
            if not isinstance(value, str):
                return value
            # A control character a page title may hold cannot be stored in XLSX at all: openpyxl
            # would refuse the whole export for it.
            cell = WriteOnlyCell(sheet, ILLEGAL_CHARACTERS_RE.sub("\ufffd", value))
            cell.data_type = "s"  # openpyxl makes any string that starts with "=" a formula
            return cell

        sheet.append(list(columns))
        for row in rows:
            sheet.append([text_cell(row.get(column)) for column in columns])
            count += 1
        book.save(path)
        return count
    with path.open("w", encoding="utf-8", newline="") as out:
        if fmt == "csv":
            # Every field quoted, as OWASP advises too: a delimiter inside a cell cannot start a new one
            # in a spreadsheet that splits on another character.
            writer = csv.DictWriter(
                out, fieldnames=list(columns), extrasaction="ignore", quoting=csv.QUOTE_ALL
            )
            writer.writeheader()
            for row in rows:
                writer.writerow({column: csv_cell(value) for column, value in row.items()})
                count += 1
        else:
            for row in rows:
                out.write(
                    json.dumps({column: row.get(column) for column in columns}, ensure_ascii=False) + "\n"
                )
                count += 1
    return count


def export(
    db: Database, path: Path, fmt: Format, *, per_domain: bool = False, filters: Filters = Filters()
) -> int:
    if per_domain:
        return write(domain_rows(db, filters), DOMAIN_COLUMNS, path, fmt)
    return write(contact_rows(db, filters), CONTACT_COLUMNS, path, fmt)
