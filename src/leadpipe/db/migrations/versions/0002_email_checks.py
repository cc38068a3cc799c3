"""email checks: the per-address cache of the validate stage

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "email_checks",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('deliverable', 'undeliverable', 'risky', 'unknown')",
            name=op.f("ck_email_checks_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_checks")),
        sa.UniqueConstraint("address", name=op.f("uq_email_checks_address")),
    )
    with op.batch_alter_table("email_checks", schema=None) as batch_op:
        batch_op.create_index("ix_email_checks_provider_checked_at", ["provider", "checked_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("email_checks", schema=None) as batch_op:
        batch_op.drop_index("ix_email_checks_provider_checked_at")

    op.drop_table("email_checks")
