"""Vendors schema: vendors, their products, sub-orders, the ledger, payouts, reviews.

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
        "ledger_accounts",
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("balance_minor", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "balance_minor >= 0 OR name LIKE 'store:%'",
            name=op.f("ck_ledger_accounts_not_negative"),
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_ledger_accounts")),
    )
    op.create_table(
        "ledger_transactions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("vendor_id", sa.String(length=63), nullable=False),
        sa.Column("suborder_id", sa.String(length=32), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("memo", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transactions")),
        sa.UniqueConstraint("reference", name=op.f("uq_ledger_transactions_reference")),
    )
    op.create_index(
        op.f("ix_ledger_transactions_order_id"), "ledger_transactions", ["order_id"], unique=False
    )
    op.create_index(
        op.f("ix_ledger_transactions_vendor_id"), "ledger_transactions", ["vendor_id"], unique=False
    )
    op.create_table(
        "vendors",
        sa.Column("id", sa.String(length=63), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("contact_email", sa.String(length=320), nullable=False),
        sa.Column("commission_bps", sa.Integer(), nullable=False),
        sa.Column("payout_currency", sa.String(length=3), nullable=False),
        sa.Column("payout_schedule", sa.String(length=10), nullable=False),
        sa.Column("payout_minimum_minor", sa.BigInteger(), nullable=False),
        sa.Column("product_limit", sa.Integer(), nullable=True),
        sa.Column("product_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("catalog_synced", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("offboarded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "commission_bps >= 0 AND commission_bps <= 10000", name=op.f("ck_vendors_commission")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vendors")),
    )
    op.create_table(
        "vendors_outbox",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("data_version", sa.Integer(), nullable=True),
        sa.Column("partition_key", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vendors_outbox")),
    )
    op.create_index(
        "ix_vendors_outbox_unpublished",
        "vendors_outbox",
        ["published_at", "occurred_at"],
        unique=False,
    )
    op.create_table(
        "vendors_processed_events",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "consumer", name="pk_vendors_processed_events"),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("transaction_id", sa.String(length=32), nullable=False),
        sa.Column("account", sa.String(length=120), nullable=False),
        sa.Column("debit_minor", sa.BigInteger(), nullable=False),
        sa.Column("credit_minor", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "debit_minor >= 0 AND credit_minor >= 0 AND (debit_minor = 0 OR credit_minor = 0)",
            name=op.f("ck_ledger_entries_one_side"),
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_entries_transaction_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    op.create_index(op.f("ix_ledger_entries_account"), "ledger_entries", ["account"], unique=False)
    op.create_index(
        op.f("ix_ledger_entries_transaction_id"), "ledger_entries", ["transaction_id"], unique=False
    )
    op.create_table(
        "vendor_payouts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("vendor_id", sa.String(length=63), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=14), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("transaction_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["vendor_id"], ["vendors.id"], name=op.f("fk_vendor_payouts_vendor_id_vendors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vendor_payouts")),
        sa.UniqueConstraint("vendor_id", "period", name="uq_vendor_payouts_period"),
    )
    op.create_index(
        op.f("ix_vendor_payouts_vendor_id"), "vendor_payouts", ["vendor_id"], unique=False
    )
    op.create_table(
        "vendor_products",
        sa.Column("product_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("vendor_id", sa.String(length=63), nullable=False),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("listed", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["vendor_id"], ["vendors.id"], name=op.f("fk_vendor_products_vendor_id_vendors")
        ),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_vendor_products")),
    )
    op.create_index(
        op.f("ix_vendor_products_vendor_id"), "vendor_products", ["vendor_id"], unique=False
    )
    op.create_table(
        "vendor_reviews",
        sa.Column("vendor_id", sa.String(length=63), nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("rating >= 1 AND rating <= 5", name=op.f("ck_vendor_reviews_rating")),
        sa.ForeignKeyConstraint(
            ["vendor_id"], ["vendors.id"], name=op.f("fk_vendor_reviews_vendor_id_vendors")
        ),
        sa.PrimaryKeyConstraint("vendor_id", "customer_id", name=op.f("pk_vendor_reviews")),
    )
    op.create_index(
        "ix_vendor_reviews_recent", "vendor_reviews", ["vendor_id", "updated_at"], unique=False
    )
    op.create_table(
        "vendor_suborders",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("vendor_id", sa.String(length=63), nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("lines_total_minor", sa.BigInteger(), nullable=False),
        sa.Column("refunded_minor", sa.BigInteger(), nullable=False),
        sa.Column("pending_return_minor", sa.BigInteger(), nullable=False),
        sa.Column("commission_bps", sa.Integer(), nullable=False),
        sa.Column("commission_minor", sa.BigInteger(), nullable=False),
        sa.Column("carrier", sa.String(length=100), nullable=True),
        sa.Column("tracking_number", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "refunded_minor >= 0 AND refunded_minor <= lines_total_minor",
            name=op.f("ck_vendor_suborders_refunds"),
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"], ["vendors.id"], name=op.f("fk_vendor_suborders_vendor_id_vendors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vendor_suborders")),
        sa.UniqueConstraint("order_id", "vendor_id", name="uq_vendor_suborders_order_vendor"),
    )
    op.create_index(
        op.f("ix_vendor_suborders_customer_id"), "vendor_suborders", ["customer_id"], unique=False
    )
    op.create_index(
        op.f("ix_vendor_suborders_order_id"), "vendor_suborders", ["order_id"], unique=False
    )
    op.create_index(
        op.f("ix_vendor_suborders_vendor_id"), "vendor_suborders", ["vendor_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_vendor_suborders_vendor_id"), table_name="vendor_suborders")
    op.drop_index(op.f("ix_vendor_suborders_order_id"), table_name="vendor_suborders")
    op.drop_index(op.f("ix_vendor_suborders_customer_id"), table_name="vendor_suborders")
    op.drop_table("vendor_suborders")
    op.drop_index("ix_vendor_reviews_recent", table_name="vendor_reviews")
    op.drop_table("vendor_reviews")
    op.drop_index(op.f("ix_vendor_products_vendor_id"), table_name="vendor_products")
    op.drop_table("vendor_products")
    op.drop_index(op.f("ix_vendor_payouts_vendor_id"), table_name="vendor_payouts")
    op.drop_table("vendor_payouts")
    op.drop_index(op.f("ix_ledger_entries_transaction_id"), table_name="ledger_entries")
    op.drop_index(op.f("ix_ledger_entries_account"), table_name="ledger_entries")
    op.drop_table("ledger_entries")
    op.drop_table("vendors_processed_events")
    op.drop_index("ix_vendors_outbox_unpublished", table_name="vendors_outbox")
    op.drop_table("vendors_outbox")
    op.drop_table("vendors")
    op.drop_index(op.f("ix_ledger_transactions_vendor_id"), table_name="ledger_transactions")
    op.drop_index(op.f("ix_ledger_transactions_order_id"), table_name="ledger_transactions")
    op.drop_table("ledger_transactions")
    op.drop_table("ledger_accounts")
