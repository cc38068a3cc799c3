"""The data model. Every record that is work carries the engine's columns (:class:`Work`).

A record's ``status`` is its queue entry; its ``curation`` is what a person decided about it and is
never written by the engine. A table's natural key (``natural_key``, the columns that name one of its
records) is a unique constraint, so adding a record again is a no-op and fan-out is idempotent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

# Names for constraints and indexes, so migrations are the same on every database.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Where an item is in its stage. ``awaiting`` waits for a person; ``skipped`` is final (rejected by a
# person, or ruled out by the stage's eligibility rules); ``done`` carries the business outcome.
STATUSES = ("awaiting", "pending", "running", "done", "dead", "skipped")
FINAL_STATUSES = ("done", "dead", "skipped")
# What a person decided. The engine reads it, never writes it.
CURATIONS = ("new", "selected", "rejected")

Id = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER PRIMARY KEY only
Timestamp = DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


class Work:
    """The engine's columns, shared by every table a stage consumes."""

    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    curation: Mapped[str] = mapped_column(String(16), default="new", server_default="new")
    # Lower runs first, as in Oban and Solid Queue; 100 is ordinary work.
    priority: Mapped[int] = mapped_column(Integer, default=100, server_default="100")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    run_after: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_token: Mapped[str | None] = mapped_column(String(36))
    lease_expires_at: Mapped[datetime | None] = mapped_column(Timestamp)
    started_at: Mapped[datetime | None] = mapped_column(Timestamp)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)
    outcome: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Any, ...]:
        name = cls.__tablename__  # type: ignore[attr-defined]
        pending = text("status = 'pending'")
        running = text("status = 'running'")
        return (
            *getattr(cls, "__extra_args__", ()),
            CheckConstraint(f"status IN ({_in(STATUSES)})", name="status"),
            CheckConstraint(f"curation IN ({_in(CURATIONS)})", name="curation"),
            # The claim scans this: pending items, lowest priority number first, then oldest.
            Index(
                f"ix_{name}_claim",
                "priority",
                "run_after",
                "id",
                postgresql_where=pending,
                sqlite_where=pending,
            ),
            # The reaper scans this: running items by lease expiry.
            Index(f"ix_{name}_lease", "lease_expires_at", postgresql_where=running, sqlite_where=running),
            # Status counts and "completions in the last minutes".
            Index(f"ix_{name}_status_finished", "status", "finished_at"),
        )


class Search(Base):
    """A Google Maps search a person asked for: a query over an area. Its work is its cells."""

    __tablename__ = "searches"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    query: Mapped[str] = mapped_column(String(500))
    area: Mapped[str] = mapped_column(String(500))  # as the person named it: a place, a box, a circle
    south: Mapped[float] = mapped_column(Float)
    west: Mapped[float] = mapped_column(Float)
    north: Mapped[float] = mapped_column(Float)
    east: Mapped[float] = mapped_column(Float)
    included_type: Mapped[str | None] = mapped_column(String(100))
    language: Mapped[str | None] = mapped_column(String(35))
    region: Mapped[str | None] = mapped_column(String(2))
    field_mask: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())


class SearchCell(Work, Base):
    """One Text Search request of a search: a page of the query in one cell of its area.

    The first page of a cell is made when the search is added, or when its parent cell came back full
    (Google answers at most 60 places a query) and was split in four; the next page when the previous
    one named it. Each page is committed with its places, so a stopped search pays for none twice.
    """

    __tablename__ = "search_cells"
    natural_key: ClassVar[tuple[str, ...]] = ("search_id", "south", "west", "north", "east", "page")
    __extra_args__ = (UniqueConstraint(*natural_key),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    search_id: Mapped[int] = mapped_column(ForeignKey("searches.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(Id)  # the cell page this cell was split from
    depth: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    south: Mapped[float] = mapped_column(Float)
    west: Mapped[float] = mapped_column(Float)
    north: Mapped[float] = mapped_column(Float)
    east: Mapped[float] = mapped_column(Float)
    page: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    page_token: Mapped[str | None] = mapped_column(Text)
    found_before: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0"
    )  # the cell's earlier pages
    places: Mapped[int | None] = mapped_column(Integer)  # places on this page
    requests: Mapped[int | None] = mapped_column(Integer)  # billed requests this page took


class Business(Work, Base):
    """A business, from a place or from a CSV row; its website becomes a domain."""

    __tablename__ = "businesses"
    natural_key: ClassVar[tuple[str, ...]] = ("source_key",)
    __extra_args__ = (UniqueConstraint(*natural_key), UniqueConstraint("place_id"))
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    # What makes re-adding the same input a no-op: "csv:<hash of its fields>" or "place:<place id>".
    source_key: Mapped[str | None] = mapped_column(String(100))
    place_id: Mapped[str | None] = mapped_column(String(300))
    name: Mapped[str | None] = mapped_column(String(500))
    website: Mapped[str | None] = mapped_column(String(2000))
    phone: Mapped[str | None] = mapped_column(String(100))  # E.164 when it came from Google
    address: Mapped[str | None] = mapped_column(String(1000))
    country: Mapped[str | None] = mapped_column(String(2))
    source: Mapped[str | None] = mapped_column(String(100))
    # What Google Maps says of a place (none of these for a business from a CSV).
    street: Mapped[str | None] = mapped_column(String(500))
    city: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[str | None] = mapped_column(String(200))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    rating: Mapped[float | None] = mapped_column(Float)
    review_count: Mapped[int | None] = mapped_column(Integer)
    category: Mapped[str | None] = mapped_column(String(200))  # the primary type, as Maps shows it
    primary_type: Mapped[str | None] = mapped_column(String(100))
    types: Mapped[list[str] | None] = mapped_column(JSON)
    business_status: Mapped[str | None] = mapped_column(String(32))
    maps_url: Mapped[str | None] = mapped_column(String(2000))
    search_id: Mapped[int | None] = mapped_column(ForeignKey("searches.id", ondelete="SET NULL"))
    query: Mapped[str | None] = mapped_column(String(500))  # the search that found it first
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # Google's answer, as it came
    domain_id: Mapped[int | None] = mapped_column(ForeignKey("domains.id", ondelete="SET NULL"), index=True)


class Domain(Work, Base):
    """A business's website, by its registrable domain name."""

    __tablename__ = "domains"
    natural_key: ClassVar[tuple[str, ...]] = ("name",)
    __extra_args__ = (UniqueConstraint(*natural_key),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(253))
    country: Mapped[str | None] = mapped_column(String(2))
    sitemap_hint: Mapped[str | None] = mapped_column(String(2000))
    site_url: Mapped[str | None] = mapped_column(String(300))
    problem: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(String(1000))
    description: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(35))
    site_builder: Mapped[str | None] = mapped_column(String(100))


class SitemapFile(Work, Base):
    """One sitemap (index, urlset, text list, feed) of a domain."""

    __tablename__ = "sitemap_files"
    natural_key: ClassVar[tuple[str, ...]] = ("domain_id", "url")
    __extra_args__ = (UniqueConstraint(*natural_key),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    site: Mapped[str] = mapped_column(String(253))  # the domain its URLs must belong to
    url: Mapped[str] = mapped_column(String(2000))
    parent_url: Mapped[str | None] = mapped_column(String(2000))
    depth: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    kind: Mapped[str | None] = mapped_column(String(16))
    found_by: Mapped[str | None] = mapped_column(String(32))
    http_status: Mapped[int | None] = mapped_column(Integer)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    url_count: Mapped[int | None] = mapped_column(Integer)
    problem: Mapped[str | None] = mapped_column(Text)


class Page(Work, Base):
    """A page of a domain, found in a sitemap or on the home page."""

    __tablename__ = "pages"
    natural_key: ClassVar[tuple[str, ...]] = ("domain_id", "url")
    __extra_args__ = (UniqueConstraint(*natural_key),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    sitemap_file_id: Mapped[int | None] = mapped_column(ForeignKey("sitemap_files.id", ondelete="SET NULL"))
    url: Mapped[str] = mapped_column(String(2000))
    found_by: Mapped[str | None] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(32))
    lastmod: Mapped[str | None] = mapped_column(String(64))
    changefreq: Mapped[str | None] = mapped_column(String(16))
    sitemap_priority: Mapped[float | None] = mapped_column(Float)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # images, videos, news, hreflang
    http_status: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(200))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    fetch_seconds: Mapped[float | None] = mapped_column(Float)
    problem: Mapped[str | None] = mapped_column(Text)


class Contact(Work, Base):
    """An email, phone, social profile or contact form of a domain (and maybe of a business)."""

    __tablename__ = "contacts"
    natural_key: ClassVar[tuple[str, ...]] = ("domain_id", "kind", "value")
    __extra_args__ = (UniqueConstraint(*natural_key),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    business_id: Mapped[int | None] = mapped_column(ForeignKey("businesses.id", ondelete="SET NULL"))
    page_id: Mapped[int | None] = mapped_column(ForeignKey("pages.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(1000))
    found_by: Mapped[str | None] = mapped_column(String(32))
    confidence: Mapped[float | None] = mapped_column(Float)
    network: Mapped[str | None] = mapped_column(String(32))  # a social profile's network
    flags: Mapped[str | None] = mapped_column(String(100))  # e.g. "system" (no one to write to), "uncertain"
    validation: Mapped[str | None] = mapped_column(String(16))
    validation_reason: Mapped[str | None] = mapped_column(String(200))


class WorkerRow(Base):
    """A live worker process. Its heartbeat is ``last_seen_at``; a clean exit deletes the row."""

    __tablename__ = "workers"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    # Tells the process from a later one given the same pid (see engine.worker.process_start).
    process_start: Mapped[str | None] = mapped_column(String(100))
    stages: Mapped[list[str]] = mapped_column(JSON)
    concurrency: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(50))
    started_at: Mapped[datetime] = mapped_column(Timestamp)
    last_seen_at: Mapped[datetime] = mapped_column(Timestamp, index=True)


class StagePause(Base):
    """A paused stage and why. Its items wait; nothing is claimed or burnt while the row exists."""

    __tablename__ = "stage_pauses"
    stage: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    paused_by: Mapped[str] = mapped_column(String(200))
    paused_at: Mapped[datetime] = mapped_column(Timestamp)


# What a check says of an email address; the contact's ``validation`` holds the same words.
VALIDATIONS = ("deliverable", "undeliverable", "risky", "unknown")


class EmailCheck(Base):
    """The latest check of an email address (by DNS or a paid verifier), shared by every contact with
    that address, and the record the verifier's daily spending cap is counted from."""

    __tablename__ = "email_checks"
    natural_key: ClassVar[tuple[str, ...]] = ("address",)
    __table_args__ = (
        UniqueConstraint(*natural_key),
        CheckConstraint(f"status IN ({_in(VALIDATIONS)})", name="status"),
        Index("ix_email_checks_provider_checked_at", "provider", "checked_at"),
    )
    # An id as well as the unique address: the engine's Update, for a check made again, goes by id.
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    address: Mapped[str] = mapped_column(String(254))  # normalised; RFC 5321's limit
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(16))  # dns, debounce, zerobounce
    checked_at: Mapped[datetime] = mapped_column(Timestamp)


SCOPES = ("read", "admin")


class ApiKey(Base):
    """A key to the HTTP API and the dashboard. Only its hash is kept; the key is shown once."""

    __tablename__ = "api_keys"
    __table_args__ = (
        UniqueConstraint("name"),
        UniqueConstraint("key_hash"),
        CheckConstraint(f"scope IN ({_in(SCOPES)})", name="scope"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    scope: Mapped[str] = mapped_column(String(16))
    prefix: Mapped[str] = mapped_column(String(16))  # the key's first characters, to tell keys apart
    key_hash: Mapped[str] = mapped_column(String(64))  # SHA-256: a key is 256 random bits, no salt needed
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp)
    last_used_at: Mapped[datetime | None] = mapped_column(Timestamp)


class DashboardSession(Base):
    """A dashboard sign-in: the cookie's hash, the key it was made with, its CSRF token."""

    __tablename__ = "dashboard_sessions"
    __table_args__ = (UniqueConstraint("token_hash"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    expires_at: Mapped[datetime] = mapped_column(Timestamp)


class SignInFailure(Base):
    """A failed dashboard sign-in, by the address it came from: the rate limit counts these."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (Index("ix_sign_in_failures_address_at", "address", "at"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(Timestamp)


class Incident(Base):
    """A problem the health check names (a stalled stage, a stage without a consumer …), from when it
    was first seen until it cleared: the notifier posts once for each, and once when it clears."""

    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200))  # kind and stage: one open incident per key
    message: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(Timestamp)
    cleared_at: Mapped[datetime | None] = mapped_column(Timestamp)
    opened_sent_at: Mapped[datetime | None] = mapped_column(Timestamp)
    cleared_sent_at: Mapped[datetime | None] = mapped_column(Timestamp)
    __table_args__ = (
        # At most one open incident per key, whichever process sees it first.
        Index(
            "uq_incidents_open_key",
            "key",
            unique=True,
            postgresql_where=text("cleared_at IS NULL"),
            sqlite_where=text("cleared_at IS NULL"),
        ),
    )


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


# The tables by name, for the engine's Core statements.
searches = _table(Search)
search_cells = _table(SearchCell)
businesses = _table(Business)
domains = _table(Domain)
sitemap_files = _table(SitemapFile)
pages = _table(Page)
contacts = _table(Contact)
workers = _table(WorkerRow)
stage_pauses = _table(StagePause)
email_checks = _table(EmailCheck)
api_keys = _table(ApiKey)
dashboard_sessions = _table(DashboardSession)
sign_in_failures = _table(SignInFailure)
incidents = _table(Incident)

# The natural key of each table that has one, by table name: what the engine's inserts skip on and
# link by.
NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    model.__tablename__: model.natural_key
    for model in (SearchCell, Business, Domain, SitemapFile, Page, Contact, EmailCheck)
}

WORK_TABLES = {
    table.name: table for table in (search_cells, businesses, domains, sitemap_files, pages, contacts)
}
