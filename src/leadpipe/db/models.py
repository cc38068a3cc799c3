"""The data model. Every record that is work carries the engine's columns (:func:`_work_table`).

A record's ``status`` is its queue entry; its ``curation`` is what a person decided about it and is
never written by the engine. A table's natural key (``NATURAL_KEYS``, the columns that name one of its
records) is a unique constraint, so adding a record again is a no-op and fan-out is idempotent.

The tables are SQLAlchemy Core tables: the engine and the interfaces speak Core statements only, and
an ORM mapping would cost every command's start a tenth of a second for nothing.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
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
from sqlalchemy.schema import SchemaItem

# Names for constraints and indexes, so migrations are the same on every database.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

# Where an item is in its stage. ``awaiting`` waits for a person; ``skipped`` is final (rejected by a
# person, or ruled out by the stage's eligibility rules); ``done`` carries the business outcome.
STATUSES = ("awaiting", "pending", "running", "done", "dead", "skipped")
FINAL_STATUSES = ("done", "dead", "skipped")
# What a person decided. The engine reads it, never writes it.
CURATIONS = ("new", "selected", "rejected")
# What a check says of an email address; the contact's ``validation`` holds the same words.
VALIDATIONS = ("deliverable", "undeliverable", "risky", "unknown")
SCOPES = ("read", "admin")

Id = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER PRIMARY KEY only
Timestamp = DateTime(timezone=True)

# The natural key of each table that has one, by table name: what the engine's inserts skip on and
# link by. Filled as the tables are declared.
NATURAL_KEYS: dict[str, tuple[str, ...]] = {}


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _id() -> Column[int]:
    return Column("id", Id, primary_key=True, autoincrement=True)


def _table(name: str, *items: SchemaItem, natural_key: tuple[str, ...] = ()) -> Table:
    if natural_key:
        NATURAL_KEYS[name] = natural_key
        items = (*items, UniqueConstraint(*natural_key))
    return Table(name, metadata, *items)


def _work_table(name: str, *items: SchemaItem, natural_key: tuple[str, ...]) -> Table:
    """A table a stage consumes: its own columns, then the engine's, its rules and the engine's indexes."""
    pending = text("status = 'pending'")
    running = text("status = 'running'")
    return _table(
        name,
        *items,
        Column("status", String(16), nullable=False, default="pending", server_default="pending"),
        Column("curation", String(16), nullable=False, default="new", server_default="new"),
        # Lower runs first, as in Oban and Solid Queue; 100 is ordinary work.
        Column("priority", Integer, nullable=False, default=100, server_default="100"),
        Column("attempts", Integer, nullable=False, default=0, server_default="0"),
        Column("run_after", Timestamp, nullable=False, server_default=func.now()),
        Column("lease_owner", String(200)),
        Column("lease_token", String(36)),
        Column("lease_expires_at", Timestamp),
        Column("started_at", Timestamp),
        Column("finished_at", Timestamp),
        Column("outcome", String(64)),
        Column("last_error", Text),
        Column("last_error_at", Timestamp),
        Column("created_at", Timestamp, nullable=False, server_default=func.now()),
        Column("updated_at", Timestamp, nullable=False, server_default=func.now()),
        CheckConstraint(f"status IN ({_in(STATUSES)})", name="status"),
        CheckConstraint(f"curation IN ({_in(CURATIONS)})", name="curation"),
        # The claim scans this: pending items, lowest priority number first, then oldest.
        Index(
            f"ix_{name}_claim", "priority", "run_after", "id", postgresql_where=pending, sqlite_where=pending
        ),
        # The reaper scans this: running items by lease expiry.
        Index(f"ix_{name}_lease", "lease_expires_at", postgresql_where=running, sqlite_where=running),
        # Status counts and "completions in the last minutes".
        Index(f"ix_{name}_status_finished", "status", "finished_at"),
        natural_key=natural_key,
    )


# A Google Maps search a person asked for: a query over an area. Its work is its cells.
searches = _table(
    "searches",
    _id(),
    Column("query", String(500), nullable=False),
    Column("area", String(500), nullable=False),  # as the person named it: a place, a box, a circle
    Column("south", Float, nullable=False),
    Column("west", Float, nullable=False),
    Column("north", Float, nullable=False),
    Column("east", Float, nullable=False),
    Column("included_type", String(100)),
    Column("language", String(35)),
    Column("region", String(2)),
    Column("field_mask", Text, nullable=False),
    Column("created_at", Timestamp, nullable=False, server_default=func.now()),
)

# One Text Search request of a search: a page of the query in one cell of its area.
#
# The first page of a cell is made when the search is added, or when its parent cell came back full
# (Google answers at most 60 places a query) and was split in four; the next page when the previous
# one named it. Each page is committed with its places, so a stopped search pays for none twice.
search_cells = _work_table(
    "search_cells",
    _id(),
    Column("search_id", ForeignKey("searches.id", ondelete="CASCADE"), nullable=False),
    Column("parent_id", Id),  # the cell page this cell was split from
    Column("depth", Integer, nullable=False, default=0, server_default="0"),
    Column("south", Float, nullable=False),
    Column("west", Float, nullable=False),
    Column("north", Float, nullable=False),
    Column("east", Float, nullable=False),
    Column("page", Integer, nullable=False, default=1, server_default="1"),
    Column("page_token", Text),
    Column(
        "found_before", Integer, nullable=False, default=0, server_default="0"
    ),  # the cell's earlier pages
    Column("places", Integer),  # places on this page
    Column("requests", Integer),  # billed requests this page took
    natural_key=("search_id", "south", "west", "north", "east", "page"),
)

# A business, from a place or from a CSV row; its website becomes a domain.
businesses = _work_table(
    "businesses",
    _id(),
    # What makes re-adding the same input a no-op: "csv:<hash of its fields>" or "place:<place id>".
    Column("source_key", String(100)),
    Column("place_id", String(300)),
    Column("name", String(500)),
    Column("website", String(2000)),
    Column("phone", String(100)),  # E.164 when it came from Google
    Column("address", String(1000)),
    Column("country", String(2)),
    Column("source", String(100)),
    # What Google Maps says of a place (none of these for a business from a CSV).
    Column("street", String(500)),
    Column("city", String(200)),
    Column("postal_code", String(32)),
    Column("state", String(200)),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("rating", Float),
    Column("review_count", Integer),
    Column("category", String(200)),  # the primary type, as Maps shows it
    Column("primary_type", String(100)),
    Column("types", JSON),
    Column("business_status", String(32)),
    Column("maps_url", String(2000)),
    Column("search_id", ForeignKey("searches.id", ondelete="SET NULL")),
    Column("query", String(500)),  # the search that found it first
    Column("raw", JSON),  # Google's answer, as it came
    Column("domain_id", ForeignKey("domains.id", ondelete="SET NULL"), index=True),
    UniqueConstraint("place_id"),
    natural_key=("source_key",),
)

# A business's website, by its registrable domain name.
domains = _work_table(
    "domains",
    _id(),
    Column("name", String(253), nullable=False),
    Column("country", String(2)),
    Column("sitemap_hint", String(2000)),
    Column("site_url", String(300)),
    Column("problem", Text),
    Column("title", String(1000)),
    Column("description", Text),
    Column("language", String(35)),
    Column("site_builder", String(100)),
    natural_key=("name",),
)

# One sitemap (index, urlset, text list, feed) of a domain.
sitemap_files = _work_table(
    "sitemap_files",
    _id(),
    Column("domain_id", ForeignKey("domains.id", ondelete="CASCADE"), nullable=False),
    Column("site", String(253), nullable=False),  # the domain its URLs must belong to
    Column("url", String(2000), nullable=False),
    Column("parent_url", String(2000)),
    Column("depth", Integer, nullable=False, default=0, server_default="0"),
    Column("kind", String(16)),
    Column("found_by", String(32)),
    Column("http_status", Integer),
    Column("size_bytes", BigInteger),
    Column("url_count", Integer),
    Column("problem", Text),
    natural_key=("domain_id", "url"),
)

# A page of a domain, found in a sitemap or on the home page.
pages = _work_table(
    "pages",
    _id(),
    Column("domain_id", ForeignKey("domains.id", ondelete="CASCADE"), nullable=False),
    Column("sitemap_file_id", ForeignKey("sitemap_files.id", ondelete="SET NULL")),
    Column("url", String(2000), nullable=False),
    Column("found_by", String(32)),
    Column("category", String(32)),
    Column("lastmod", String(64)),
    Column("changefreq", String(16)),
    Column("sitemap_priority", Float),
    Column("details", JSON),  # images, videos, news, hreflang
    Column("http_status", Integer),
    Column("content_type", String(200)),
    Column("size_bytes", BigInteger),
    Column("fetch_seconds", Float),
    Column("problem", Text),
    natural_key=("domain_id", "url"),
)

# An email, phone, social profile or contact form of a domain (and maybe of a business).
contacts = _work_table(
    "contacts",
    _id(),
    Column("domain_id", ForeignKey("domains.id", ondelete="CASCADE"), nullable=False),
    Column("business_id", ForeignKey("businesses.id", ondelete="SET NULL")),
    Column("page_id", ForeignKey("pages.id", ondelete="SET NULL")),
    Column("kind", String(16), nullable=False),
    Column("value", String(1000), nullable=False),
    Column("found_by", String(32)),
    Column("confidence", Float),
    Column("network", String(32)),  # a social profile's network
    Column("flags", String(100)),  # e.g. "system" (no one to write to), "uncertain"
    Column("validation", String(16)),
    Column("validation_reason", String(200)),
    natural_key=("domain_id", "kind", "value"),
)

# A live worker process. Its heartbeat is ``last_seen_at``; a clean exit deletes the row.
workers = _table(
    "workers",
    Column("id", String(200), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    # Tells the process from a later one given the same pid (see engine.worker.process_start).
    Column("process_start", String(100)),
    Column("stages", JSON, nullable=False),
    Column("concurrency", Integer),
    Column("version", String(50), nullable=False),
    Column("started_at", Timestamp, nullable=False),
    Column("last_seen_at", Timestamp, nullable=False, index=True),
)

# A paused stage and why. Its items wait; nothing is claimed or burnt while the row exists.
stage_pauses = _table(
    "stage_pauses",
    Column("stage", String(64), primary_key=True),
    Column("reason", Text, nullable=False),
    Column("paused_by", String(200), nullable=False),
    Column("paused_at", Timestamp, nullable=False),
)

# The latest check of an email address (by DNS or a paid verifier), shared by every contact with that
# address, and the record the verifier's daily spending cap is counted from.
email_checks = _table(
    "email_checks",
    # An id as well as the unique address: the engine's Update, for a check made again, goes by id.
    _id(),
    Column("address", String(254), nullable=False),  # normalised; RFC 5321's limit
    Column("status", String(16), nullable=False),
    Column("reason", String(200)),
    Column("provider", String(16), nullable=False),  # dns, debounce, zerobounce
    Column("checked_at", Timestamp, nullable=False),
    CheckConstraint(f"status IN ({_in(VALIDATIONS)})", name="status"),
    Index("ix_email_checks_provider_checked_at", "provider", "checked_at"),
    natural_key=("address",),
)

# A key to the HTTP API and the dashboard. Only its hash is kept; the key is shown once.
api_keys = _table(
    "api_keys",
    _id(),
    Column("name", String(100), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("prefix", String(16), nullable=False),  # the key's first characters, to tell keys apart
    Column("key_hash", String(64), nullable=False),  # SHA-256: a key is 256 random bits, no salt needed
    Column("created_at", Timestamp, nullable=False),
    Column("revoked_at", Timestamp),
    Column("last_used_at", Timestamp),
    UniqueConstraint("name"),
    UniqueConstraint("key_hash"),
    CheckConstraint(f"scope IN ({_in(SCOPES)})", name="scope"),
)

# A dashboard sign-in: the cookie's hash, the key it was made with, its CSRF token.
dashboard_sessions = _table(
    "dashboard_sessions",
    _id(),
    Column("token_hash", String(64), nullable=False),
    Column("key_id", ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    UniqueConstraint("token_hash"),
)

# A failed dashboard sign-in, by the address it came from: the rate limit counts these.
sign_in_failures = _table(
    "sign_in_failures",
    _id(),
    Column("address", String(64), nullable=False),
    Column("at", Timestamp, nullable=False),
    Index("ix_sign_in_failures_address_at", "address", "at"),
)

# A problem the health check names (a stalled stage, a stage without a consumer …), from when it was
# first seen until it cleared: the notifier posts once for each, and once when it clears.
incidents = _table(
    "incidents",
    _id(),
    Column("key", String(200), nullable=False),  # kind and stage: one open incident per key
    Column("message", Text, nullable=False),
    Column("opened_at", Timestamp, nullable=False),
    Column("cleared_at", Timestamp),
    Column("opened_sent_at", Timestamp),
    Column("cleared_sent_at", Timestamp),
    # At most one open incident per key, whichever process sees it first.
    Index(
        "uq_incidents_open_key",
        "key",
        unique=True,
        postgresql_where=text("cleared_at IS NULL"),
        sqlite_where=text("cleared_at IS NULL"),
    ),
)

WORK_TABLES = {
    table.name: table for table in (search_cells, businesses, domains, sitemap_files, pages, contacts)
}
