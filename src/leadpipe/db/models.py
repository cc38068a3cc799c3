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


class PlaceSearch(Work, Base):
    """A Google Maps search: a business type in a location."""

    __tablename__ = "place_searches"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    query: Mapped[str] = mapped_column(String(500))
    location: Mapped[str | None] = mapped_column(String(500))
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Place(Work, Base):
    """One result of a place search, before its details are fetched."""

    __tablename__ = "places"
    natural_key: ClassVar[tuple[str, ...]] = ("place_id",)
    __extra_args__ = (UniqueConstraint(*natural_key),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    search_id: Mapped[int | None] = mapped_column(ForeignKey("place_searches.id", ondelete="SET NULL"))
    place_id: Mapped[str] = mapped_column(String(300))
    name: Mapped[str | None] = mapped_column(String(500))
    address: Mapped[str | None] = mapped_column(String(1000))
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSON)


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
    phone: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(1000))
    country: Mapped[str | None] = mapped_column(String(2))
    source: Mapped[str | None] = mapped_column(String(100))
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


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


# The tables by name, for the engine's Core statements.
place_searches = _table(PlaceSearch)
places = _table(Place)
businesses = _table(Business)
domains = _table(Domain)
sitemap_files = _table(SitemapFile)
pages = _table(Page)
contacts = _table(Contact)
workers = _table(WorkerRow)
stage_pauses = _table(StagePause)
email_checks = _table(EmailCheck)

# The natural key of each table that has one, by table name: what the engine's inserts skip on and
# link by.
NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    model.__tablename__: model.natural_key
    for model in (Place, Business, Domain, SitemapFile, Page, Contact, EmailCheck)
}

WORK_TABLES = {
    table.name: table
    for table in (place_searches, places, businesses, domains, sitemap_files, pages, contacts)
}
