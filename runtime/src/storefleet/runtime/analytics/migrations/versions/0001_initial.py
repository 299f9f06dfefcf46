"""Analytics schema: orders seen, daily sales, products and funnel, processed events.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_orders",
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("placed_on", sa.Date(), nullable=True),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.Column("cancelled_on", sa.Date(), nullable=True),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("refunded_minor", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_analytics_orders")),
    )
    op.create_table(
        "analytics_daily_sales",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("gross_minor", sa.BigInteger(), nullable=False),
        sa.Column("refunds_minor", sa.BigInteger(), nullable=False),
        sa.Column("refund_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "currency", name=op.f("pk_analytics_daily_sales")),
    )
    op.create_table(
        "analytics_daily_products",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("product_key", sa.String(length=110), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("revenue_minor", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "product_key", "currency", name=op.f("pk_analytics_daily_products")
        ),
    )
    op.create_table(
        "analytics_daily_funnel",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("checkouts", sa.Integer(), nullable=False),
        sa.Column("paid", sa.Integer(), nullable=False),
        sa.Column("cancelled", sa.Integer(), nullable=False),
        sa.Column("payment_failures", sa.Integer(), nullable=False),
        sa.Column("carts_abandoned", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_analytics_daily_funnel")),
    )
    op.create_table(
        "analytics_products",
        sa.Column("product_key", sa.String(length=110), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=True),
        sa.Column("sku", sa.String(length=100), nullable=True),
        sa.Column("name", sa.String(length=300), nullable=True),
        sa.Column("slug", sa.String(length=200), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("product_key", name=op.f("pk_analytics_products")),
    )
    op.create_table(
        "analytics_processed_events",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "consumer", name="pk_analytics_processed_events"),
    )


def downgrade() -> None:
    for table in (
        "analytics_processed_events",
        "analytics_products",
        "analytics_daily_funnel",
        "analytics_daily_products",
        "analytics_daily_sales",
        "analytics_orders",
    ):
        op.drop_table(table)
