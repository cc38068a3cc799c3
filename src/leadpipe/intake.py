"""Intake: a text file of domains or URLs, or a CSV of businesses, into the database.

A text file holds one domain or URL a line (``#`` comments and blank lines allowed); a URL that is a
sitemap becomes that domain's sitemap hint, on whichever line it comes. A CSV needs a header naming a
website or domain column; name, phone, address and country columns are kept when present. Every line
that cannot be used is reported with its number and the reason, and the rest goes in. Adding the same
input twice adds nothing new: domains are unique by name, CSV businesses by a key made of their fields.

The file must be text: UTF-8, or UTF-16/UTF-32 with a byte order mark. It is read and written in
batches, so an input of any length takes the memory of one batch; a record named twice is found by
its natural key in the database, not in a set held here.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Connection, Table, bindparam, func, select, update

from leadpipe.config import Settings
from leadpipe.db.connect import Database
from leadpipe.db.models import businesses, domains
from leadpipe.engine import bulk, queue
from leadpipe.engine.stage import Pipeline
from leadpipe.extract.contacts import is_free_mail
from leadpipe.extract.website import Website, normalise, sitemap_hint

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
# Longest first: UTF-32 LE's mark begins with UTF-16 LE's.
BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
BATCH_LINES = 5_000  # lines read and written in one transaction
MESSAGES_KEPT = 50  # skipped lines (and notes) listed in the summary; the rest are counted
LONGEST_LINE = 2_000  # characters: the longest web address the database keeps


class IntakeError(Exception):
    """The input as a whole cannot be used (missing, not text, empty, no usable column)."""


@dataclass
class Added:
    """What an intake did: records new, already known and named twice; lines skipped, with reasons."""

    new: int = 0
    known: int = 0
    repeated: int = 0  # lines naming a record an earlier line of the same input added
    refreshed: int = 0
    skipped: list[str] = field(default_factory=list)  # the first MESSAGES_KEPT, "line N: reason"
    skipped_count: int = 0
    notes: list[str] = field(default_factory=list)  # lines used, with something the user should know
    notes_count: int = 0

    def skip(self, number: int, reason: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < MESSAGES_KEPT:
            self.skipped.append(f"line {number}: {reason}")

    def note(self, number: int, text: str) -> None:
        self.notes_count += 1
        if len(self.notes) < MESSAGES_KEPT:
            self.notes.append(f"line {number}: {text}")


@dataclass(frozen=True)
class Intake:
    """An input file whose text is checked: what it holds, and how to read it."""

    path: Path
    kind: str  # "domains" or "businesses"
    encoding: str
    header_line: int = 0  # a CSV's header: its line number; its columns by what we keep
    delimiter: str = ","
    columns: dict[str, int | None] = field(default_factory=dict)
    width: int = 0  # cells in the header

    @property
    def table(self) -> Table:
        return domains if self.kind == "domains" else businesses

    @property
    def key(self) -> str:
        return "name" if self.kind == "domains" else "source_key"

    def rows(self, added: Added, *, allow_private: bool = False) -> Iterator[dict[str, Any]]:
        """The input's records, in order; each line that cannot be used is recorded in ``added``."""
        if self.kind == "domains":
            yield from self._domains(added, allow_private)
        else:
            yield from self._businesses(added, allow_private)

    def _domains(self, added: Added, allow_private: bool) -> Iterator[dict[str, Any]]:
        with self.path.open(encoding=self.encoding) as file:
            for number, line in enumerate(file, start=1):
                value = line.split("#", 1)[0].strip() if not line.lstrip().startswith("#") else ""
                if not value:
                    continue
                if len(value) > LONGEST_LINE:
                    added.skip(number, f"{len(value)} characters, longer than a web address can be")
                    continue
                site, note = _website(value, allow_private)
                if site.domain is None:
                    added.skip(number, site.reason)
                    continue
                if note:
                    added.note(number, note)
                yield {"name": site.domain, "sitemap_hint": sitemap_hint(value)}

    def _businesses(self, added: Added, allow_private: bool) -> Iterator[dict[str, Any]]:
        with self.path.open(encoding=self.encoding, newline="") as file:
            for _ in range(self.header_line):
                next(file)
            reader = csv.reader(file, delimiter=self.delimiter)
            try:
                for cells in reader:
                    business = self._business(cells, self.header_line + reader.line_num, added, allow_private)
                    if business is not None:
                        yield business
            except csv.Error as error:  # a cell past the csv module's size limit
                number = self.header_line + reader.line_num
                raise IntakeError(f"{self.path} cannot be read as CSV on line {number}: {error}") from None

    def _business(
        self, cells: list[str], number: int, added: Added, allow_private: bool
    ) -> dict[str, Any] | None:
        """A CSV row's business; None for an empty row, or one the database could not keep."""
        if len(cells) > self.width:
            added.note(number, "more cells than columns; kept the named ones")
        values = {
            column: (cells[index].strip() or None) if index is not None and index < len(cells) else None
            for column, index in self.columns.items()
        }
        if not any(values.values()):
            return None
        too_long = next((column for column, value in values.items() if _too_long(column, value)), None)
        if too_long:
            added.skip(number, f"the {too_long} is longer than {LIMITS[too_long]} characters")
            return None
        country = (values["country"] or "").upper()
        values["country"] = country if len(country) == 2 and country.isalpha() else None
        # From the cells as given: the same row adds nothing new, whatever becomes of its website below.
        fingerprint = "|".join(values[column] or "" for column in ("name", "website", "phone", "address"))
        values["source_key"] = "csv:" + hashlib.sha1(fingerprint.lower().encode()).hexdigest()[:20]
        values["source"] = self.path.name[:100]
        website = values["website"]
        if website:
            site, note = _website(website, allow_private)
            if site.domain is None and site.profile_network is None:
                added.note(number, f"the business has no usable website: {site.reason}")
                if "@" in website:  # kept, resolve would take the domain of a free-mail address
                    values["website"] = None
            elif note:
                added.note(number, note)
                values["website"] = site.domain
        return values


def read(path: Path) -> Intake:
    """Check an input file (present, text, not empty, a CSV's columns) and say what it holds.

    Raises :class:`IntakeError` with one line naming what is wrong.
    """
    try:
        with path.open("rb") as file:
            encoding = _encoding(file.read(4))
            file.seek(0)
            _check_text(path, file, encoding)
        header, header_line = _header(path, encoding)
    except FileNotFoundError:
        raise IntakeError(f"no such file: {path}") from None
    except OSError as error:
        raise IntakeError(f"cannot read {path}: {error.strerror}") from None
    if header is None:
        raise IntakeError(f"{path} is empty")
    if not _looks_like_csv(header):
        return Intake(path, "domains", encoding)
    delimiter = _delimiter(header)
    names = next(csv.reader([header], delimiter=delimiter))
    keys = [_key(name) for name in names]
    columns = {
        column: next((i for i, key in enumerate(keys) if key in known), None)
        for column, known in COLUMNS.items()
    }
    if columns["website"] is None:
        raise IntakeError(f"{path} has no website or domain column (columns: {', '.join(keys)})")
    return Intake(path, "businesses", encoding, header_line, delimiter, columns, len(names))


def _encoding(start: bytes) -> str:
    return next((name for mark, name in BYTE_ORDER_MARKS if start.startswith(mark)), "utf-8")


def _check_text(path: Path, file: BinaryIO, encoding: str) -> None:
    """Read the whole file once as text, a chunk at a time: refuse it at its first NUL byte (no text
    file has one: it is binary, or UTF-16 without its mark) or undecodable byte."""
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    while True:
        chunk = file.read(1 << 20)
        try:
            text = decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as error:
            byte = error.object[error.start : error.start + 1]
            near = line + error.object.count(b"\n", 0, error.start)
            raise IntakeError(
                f"{path} is not a text file: {encoding} cannot decode byte {byte!r} near line {near};"
                " leadpipe reads UTF-8, or UTF-16/UTF-32 with a byte order mark"
            ) from None
        nul = text.find("\0")
        if nul >= 0:
            raise IntakeError(
                f"{path} is not a text file: a NUL byte on line {line + text.count(chr(10), 0, nul)}"
                " (UTF-16 and UTF-32 need a byte order mark)"
            )
        line += text.count("\n")
        if not chunk:
            return


def _header(path: Path, encoding: str) -> tuple[str | None, int]:
    """The first line that is neither blank nor a comment (None: there is none), and its number."""
    with path.open(encoding=encoding, newline="") as file:
        for number, line in enumerate(file, start=1):
            if line.strip() and not line.lstrip().startswith("#"):
                return line.rstrip("\r\n"), number
    return None, 0


def _key(name: str) -> str:
    return name.strip().strip('"').lower().replace(" ", "_").replace("-", "_")


def _looks_like_csv(header: str) -> bool:
    if not any(separator in header for separator in ",;\t"):
        return False
    cells = [_key(cell) for cell in next(csv.reader([header], delimiter=_delimiter(header)))]
    return any(cell in names for names in COLUMNS.values() for cell in cells)


def _delimiter(header: str) -> str:
    return max(",;\t", key=header.count)


def _website(value: str, allow_private: bool) -> tuple[Website, str | None]:
    """A line's or a cell's website, and a note when it was taken from an e-mail address."""
    address = value.removeprefix("mailto:")
    if "@" not in address or "://" in address or "/" in address.split("@", 1)[0]:
        return normalise(value, allow_private=allow_private), None
    site = normalise(address.rsplit("@", 1)[1], allow_private=allow_private)
    if site.domain is None:
        return site, None
    if is_free_mail(site.domain):
        return Website(
            problem=f"an e-mail address at {site.domain}, a free-mail provider, not a business's domain"
        ), None
    return site, f"an e-mail address: took its domain, {site.domain}"


# The longest value each kept column of a business holds.
LIMITS = {column: getattr(businesses.c[column].type, "length", None) for column in COLUMNS}


def _too_long(column: str, value: str | None) -> bool:
    limit = LIMITS[column]
    return value is not None and limit is not None and len(value) > limit


def add(
    db: Database, pipeline: Pipeline, settings: Settings, intake: Intake, *, refresh: bool = False
) -> Added:
    """Add what is new, batch by batch, through the engine's one way in (each record's status is its
    stage's curation policy); with ``refresh``, queue known records again (and a business's domain).

    Raises :class:`IntakeError` when no line of the input could be used.
    """
    added = Added()
    table, key = intake.table, intake.key
    with db.engine.connect() as connection:
        # Records up to this id were there before: a later one named again was added by this input.
        before = connection.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
    batch: dict[str, dict[str, Any]] = {}
    for row in intake.rows(added, allow_private=settings.allow_private_networks):
        first = batch.get(row[key])
        if first is None:
            batch[row[key]] = row
            if len(batch) >= BATCH_LINES:
                _add_batch(db, pipeline, settings, intake, list(batch.values()), before, refresh, added)
                batch.clear()
            continue
        added.repeated += 1
        if intake.kind == "domains" and first["sitemap_hint"] is None:
            first["sitemap_hint"] = row["sitemap_hint"]
    if batch:
        _add_batch(db, pipeline, settings, intake, list(batch.values()), before, refresh, added)
    if not (added.new or added.known or added.repeated):
        reasons = "; ".join(added.skipped[:3])
        raise IntakeError(f"nothing usable in {intake.path}" + (f": {reasons}" if reasons else ""))
    return added


def _add_batch(
    db: Database,
    pipeline: Pipeline,
    settings: Settings,
    intake: Intake,
    rows: list[dict[str, Any]],
    before: int,
    refresh: bool,
    added: Added,
) -> None:
    table, key = intake.table, intake.key
    with db.begin() as connection:
        new = bulk.insert(db, connection, pipeline, settings, table, rows)
        added.new += new
        if new == len(rows):
            # Nothing was there: no look-up, which could be slow while the database's statistics
            # still describe the table as it was before this input.
            return
        ids = _ids(connection, table, key, [row[key] for row in rows])
        known = [id_ for id_ in ids.values() if id_ <= before]
        added.known += len(known)
        # The rest named a record an earlier batch added (or another process, meanwhile).
        added.repeated += len(rows) - new - len(known)
        if intake.kind == "domains":
            # A sitemap named for a domain added before becomes its hint, if it has none.
            hints = [
                {"known": row["name"], "hint": row["sitemap_hint"]} for row in rows if row["sitemap_hint"]
            ]
            if hints:
                connection.execute(
                    update(domains)
                    .where(domains.c.name == bindparam("known"), domains.c.sitemap_hint.is_(None))
                    .values(sitemap_hint=bindparam("hint")),
                    hints,
                )
        if refresh and known:
            added.refreshed += queue.requeue(db, connection, table, table.c.id.in_(known))
            if table is businesses:  # their domains too, or nothing would be fetched again
                linked = select(businesses.c.domain_id).where(businesses.c.id.in_(known))
                queue.requeue(db, connection, domains, domains.c.id.in_(linked))


def _ids(connection: Connection, table: Table, key: str, values: list[str]) -> dict[str, int]:
    """The ids of the records named by ``values``, by name."""
    found: dict[str, int] = {}
    for start in range(0, len(values), 1000):
        chunk = values[start : start + 1000]
        named = select(table.c[key], table.c.id).where(table.c[key].in_(chunk))
        found.update((name, id_) for name, id_ in connection.execute(named))
    return found
