"""Intake: a text file of domains or URLs, or a CSV of businesses, into the database.

A text file holds one domain or URL a line (``#`` comments and blank lines allowed); a URL that is a
sitemap becomes that domain's sitemap hint. A CSV needs a header naming a website or domain column;
name, phone, address and country columns are kept when present. Every line that cannot be used is
reported with its number and the reason, and the rest goes in. Adding the same input twice adds
nothing new: domains are unique by name, CSV businesses by a key made of their fields.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from leadpipe.db.connect import Database, now
from leadpipe.db.models import businesses, domains
from leadpipe.extract.website import normalise

# Header names (lowercased, spaces and dashes as underscores) for each column we keep.
COLUMNS = {
    "website": (
        "website",
        "web",
        "url",
        "site",
        "homepage",
        "website_url",
        "webseite",
        "sitio_web",
        "site_web",
        "domain",
        "domain_name",
        "domains",
    ),
    "name": (
        "name",
        "business",
        "business_name",
        "company",
        "company_name",
        "title",
        "firma",
        "empresa",
        "entreprise",
    ),
    "phone": ("phone", "phone_number", "telephone", "tel", "telefon", "telefono", "téléphone"),
    "address": (
        "address",
        "full_address",
        "street",
        "street_address",
        "adresse",
        "direccion",
        "dirección",
        "indirizzo",
    ),
    "country": ("country", "country_code", "land", "pais", "país", "pays", "paese"),
}
SITEMAP_SUFFIXES = (".xml", ".xml.gz", ".txt", ".gz")


class IntakeError(Exception):
    """The input as a whole cannot be used (missing, empty, no usable column)."""


@dataclass
class Intake:
    """What an input held: the rows to add and the lines that could not be used."""

    kind: str  # "domains" or "businesses"
    domains: list[dict[str, Any]] = field(default_factory=list)
    businesses: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class Added:
    new: int = 0
    known: int = 0
    refreshed: int = 0


def read(path: Path) -> Intake:
    """Read an input file; raises :class:`IntakeError` when nothing in it can be used."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise IntakeError(f"no such file: {path}") from None
    except OSError as error:
        raise IntakeError(f"cannot read {path}: {error.strerror}") from None
    text = raw.decode("utf-8-sig", errors="replace")
    if not text.strip():
        raise IntakeError(f"{path} is empty")
    lines = text.splitlines()
    header = next((line for line in lines if line.strip() and not line.lstrip().startswith("#")), "")
    intake = _read_csv(text, path) if _looks_like_csv(header) else _read_list(lines)
    if not intake.domains and not intake.businesses:
        reasons = "; ".join(intake.problems[:3])
        raise IntakeError(f"nothing usable in {path}" + (f": {reasons}" if reasons else ""))
    return intake


def _key(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def _looks_like_csv(header: str) -> bool:
    if not any(separator in header for separator in ",;\t"):
        return False
    cells = [
        _key(cell.strip().strip('"')) for cell in next(csv.reader([header], delimiter=_delimiter(header)))
    ]
    return any(cell in names for names in COLUMNS.values() for cell in cells)


def _delimiter(header: str) -> str:
    return max(",;\t", key=header.count)


def _read_list(lines: list[str]) -> Intake:
    intake = Intake("domains")
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        value = line.split("#", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if not value:
            continue
        site = normalise(value)
        if site.domain is None:
            reason = f"a {site.profile_network} page, not a website" if site.profile_network else site.problem
            intake.problems.append(f"line {number}: {reason}")
            continue
        hint = value if "://" in value and value.split("?")[0].lower().endswith(SITEMAP_SUFFIXES) else None
        if site.domain not in seen:
            seen.add(site.domain)
            intake.domains.append({"name": site.domain, "sitemap_hint": hint})
    return intake


def _read_csv(text: str, path: Path) -> Intake:
    intake = Intake("businesses")
    header_line = next(
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )
    reader = csv.DictReader(io.StringIO(text[text.index(header_line) :]), delimiter=_delimiter(header_line))
    fields = {name: _key(name) for name in reader.fieldnames or []}
    chosen = {
        column: next((name for name, key in fields.items() if key in keys), None)
        for column, keys in COLUMNS.items()
    }
    if chosen["website"] is None:
        raise IntakeError(f"{path} has no website or domain column (columns: {', '.join(fields)})")
    for number, row in enumerate(reader, start=2):
        if None in row:  # more cells than the header names
            intake.problems.append(f"row {number}: more cells than columns; kept the named ones")
        values = {
            column: (row.get(name) or "").strip() or None if name else None for column, name in chosen.items()
        }
        if not any(values.values()):
            continue
        country = (values["country"] or "").upper()
        values["country"] = country if len(country) == 2 and country.isalpha() else None
        fingerprint = "|".join(values[column] or "" for column in ("name", "website", "phone", "address"))
        values["source_key"] = "csv:" + hashlib.sha1(fingerprint.lower().encode()).hexdigest()[:20]
        values["source"] = path.name
        intake.businesses.append(values)
    return intake


def add(db: Database, intake: Intake, *, refresh: bool = False) -> Added:
    """Insert what is new; with ``refresh``, queue known domains again (and their businesses)."""
    table = domains if intake.kind == "domains" else businesses
    rows = intake.domains or intake.businesses
    key = "name" if intake.kind == "domains" else "source_key"
    dialect = postgresql if db.is_postgres else sqlite
    added = Added()
    with db.begin() as connection:
        known = _existing(connection, table, key, [row[key] for row in rows])
        fresh = [row for row in rows if row[key] not in known]
        if fresh:
            connection.execute(dialect.insert(table).on_conflict_do_nothing(), fresh)
        added.new, added.known = len(fresh), len(rows) - len(fresh)
        if refresh and known:
            added.refreshed = _refresh(connection, table, table.c[key].in_(known))
            if table is businesses:  # their domains too, or nothing would be fetched again
                linked = select(businesses.c.domain_id).where(businesses.c.source_key.in_(known))
                _refresh(connection, domains, domains.c.id.in_(linked))
    return added


def _existing(connection: Connection, table: Any, key: str, values: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(values), 1000):
        chunk = values[start : start + 1000]
        found.update(connection.execute(select(table.c[key]).where(table.c[key].in_(chunk))).scalars())
    return found


def _refresh(connection: Connection, table: Any, chosen: Any) -> int:
    """Known records back to the queue (finished ones only: running work is left to finish)."""
    statement = (
        update(table)
        .where(chosen, table.c.status.in_(("done", "dead", "skipped")))
        .values(
            status="pending", attempts=0, outcome=None, finished_at=None, run_after=now(), updated_at=now()
        )
    )
    return int(connection.execute(statement).rowcount)
