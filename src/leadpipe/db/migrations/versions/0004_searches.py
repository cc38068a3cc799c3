"""searches and their cells (the search stage's work), and what Google Maps says of a business

The tables planned for place search at the start (place_searches, places), never written, make way for
searches (what a person asked for) and search_cells (one Text Search request each, the stage's items).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BUSINESS_COLUMNS = (
    "street", "city", "postal_code", "state", "latitude", "longitude", "rating", "review_count", "category",
    "primary_type", "types", "business_status", "maps_url", "search_id", "query", "raw",
)  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "searches",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("query", sa.String(length=500), nullable=False),
        sa.Column("area", sa.String(length=500), nullable=False),
        sa.Column("south", sa.Float(), nullable=False),
        sa.Column("west", sa.Float(), nullable=False),
        sa.Column("north", sa.Float(), nullable=False),
        sa.Column("east", sa.Float(), nullable=False),
        sa.Column("included_type", sa.String(length=100), nullable=True),
        sa.Column("language", sa.String(length=35), nullable=True),
        sa.Column("region", sa.String(length=2), nullable=True),
        sa.Column("field_mask", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_searches")),
    )
    op.create_table(
        "search_cells",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("search_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("parent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("depth", sa.Integer(), server_default="0", nullable=False),
        sa.Column("south", sa.Float(), nullable=False),
        sa.Column("west", sa.Float(), nullable=False),
        sa.Column("north", sa.Float(), nullable=False),
        sa.Column("east", sa.Float(), nullable=False),
        sa.Column("page", sa.Integer(), server_default="1", nullable=False),
        sa.Column("page_token", sa.Text(), nullable=True),
        sa.Column("found_before", sa.Integer(), server_default="0", nullable=False),
        sa.Column("places", sa.Integer(), nullable=True),
        sa.Column("requests", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("curation", sa.String(length=16), server_default="new", nullable=False),
        sa.Column("priority", sa.Integer(), server_default="100", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("run_after", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_token", sa.String(length=36), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "curation IN ('new', 'selected', 'rejected')", name=op.f("ck_search_cells_curation")
        ),
        sa.CheckConstraint(
            "status IN ('awaiting', 'pending', 'running', 'done', 'dead', 'skipped')",
            name=op.f("ck_search_cells_status"),
        ),
        sa.ForeignKeyConstraint(
            ["search_id"],
            ["searches.id"],
            name=op.f("fk_search_cells_search_id_searches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_cells")),
        sa.UniqueConstraint(
            "search_id",
            "south",
            "west",
            "north",
            "east",
            "page",
            name=op.f("uq_search_cells_search_id_south_west_north_east_page"),
        ),
    )
    with op.batch_alter_table("search_cells", schema=None) as batch_op:
        batch_op.create_index(
            "ix_search_cells_claim",
            ["priority", "run_after", "id"],
            unique=False,
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )
        batch_op.create_index(
            "ix_search_cells_lease",
            ["lease_expires_at"],
            unique=False,
            postgresql_where=sa.text("status = 'running'"),
            sqlite_where=sa.text("status = 'running'"),
        )
        batch_op.create_index("ix_search_cells_status_finished", ["status", "finished_at"], unique=False)

    # Dropping a table drops its indexes; places refers to place_searches, so it goes first.
    op.drop_table("places")
    op.drop_table("place_searches")
    with op.batch_alter_table("businesses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("street", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("city", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("postal_code", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("state", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("latitude", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("longitude", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("rating", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("review_count", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("category", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("primary_type", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("types", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("business_status", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("maps_url", sa.String(length=2000), nullable=True))
        batch_op.add_column(
            sa.Column("search_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True)
        )
        batch_op.add_column(sa.Column("query", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("raw", sa.JSON(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_businesses_search_id_searches"),
            "searches",
            ["search_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("businesses", schema=None) as batch_op:
        batch_op.drop_constraint("fk_businesses_search_id_searches", type_="foreignkey")
        for column in BUSINESS_COLUMNS:
            batch_op.drop_column(column)
    op.drop_table("search_cells")
    op.drop_table("searches")
    # The planned tables as 0001 made them, so an upgrade can run again.
    op.create_table(
        "place_searches",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("query", sa.String(length=500), nullable=False),
        sa.Column("location", sa.String(length=500), nullable=True),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("curation", sa.String(length=16), server_default="new", nullable=False),
        sa.Column("priority", sa.Integer(), server_default="100", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("run_after", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_token", sa.String(length=36), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "curation IN ('new', 'selected', 'rejected')", name=op.f("ck_place_searches_curation")
        ),
        sa.CheckConstraint(
            "status IN ('awaiting', 'pending', 'running', 'done', 'dead', 'skipped')",
            name=op.f("ck_place_searches_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_place_searches")),
    )
    with op.batch_alter_table("place_searches", schema=None) as batch_op:
        batch_op.create_index(
            "ix_place_searches_claim",
            ["priority", "run_after", "id"],
            unique=False,
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )
        batch_op.create_index(
            "ix_place_searches_lease",
            ["lease_expires_at"],
            unique=False,
            postgresql_where=sa.text("status = 'running'"),
            sqlite_where=sa.text("status = 'running'"),
        )
        batch_op.create_index("ix_place_searches_status_finished", ["status", "finished_at"], unique=False)
    op.create_table(
        "places",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("search_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("place_id", sa.String(length=300), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=True),
        sa.Column("address", sa.String(length=1000), nullable=True),
        sa.Column("raw", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("curation", sa.String(length=16), server_default="new", nullable=False),
        sa.Column("priority", sa.Integer(), server_default="100", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("run_after", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_token", sa.String(length=36), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("curation IN ('new', 'selected', 'rejected')", name=op.f("ck_places_curation")),
        sa.CheckConstraint(
            "status IN ('awaiting', 'pending', 'running', 'done', 'dead', 'skipped')",
            name=op.f("ck_places_status"),
        ),
        sa.ForeignKeyConstraint(
            ["search_id"],
            ["place_searches.id"],
            name=op.f("fk_places_search_id_place_searches"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_places")),
        sa.UniqueConstraint("place_id", name=op.f("uq_places_place_id")),
    )
    with op.batch_alter_table("places", schema=None) as batch_op:
        batch_op.create_index(
            "ix_places_claim",
            ["priority", "run_after", "id"],
            unique=False,
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )
        batch_op.create_index(
            "ix_places_lease",
            ["lease_expires_at"],
            unique=False,
            postgresql_where=sa.text("status = 'running'"),
            sqlite_where=sa.text("status = 'running'"),
        )
        batch_op.create_index("ix_places_status_finished", ["status", "finished_at"], unique=False)
