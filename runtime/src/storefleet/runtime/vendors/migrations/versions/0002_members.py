"""Vendor members: which vendor a signed-in person works for.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vendor_members",
        sa.Column("user_id", sa.String(length=100), nullable=False),
        sa.Column("vendor_id", sa.String(length=63), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["vendor_id"], ["vendors.id"], name=op.f("fk_vendor_members_vendor_id_vendors")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_vendor_members")),
    )
    op.create_index(
        op.f("ix_vendor_members_vendor_id"), "vendor_members", ["vendor_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_vendor_members_vendor_id"), table_name="vendor_members")
    op.drop_table("vendor_members")
