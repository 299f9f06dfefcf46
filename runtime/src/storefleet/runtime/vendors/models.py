"""The vendors context's tables. Money is integer minor units."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storefleet.runtime.platform.events.consumer import processed_events_table
from storefleet.runtime.platform.events.outbox import outbox_table, utcnow
from storefleet.runtime.platform.storage.metadata import context_metadata


class Base(DeclarativeBase):
    metadata = context_metadata()


outbox = outbox_table(Base.metadata, "vendors_outbox", envelope=True)
processed_events = processed_events_table(Base.metadata, "vendors_processed_events")


class Vendor(Base):
    __tablename__ = "vendors"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str] = mapped_column(String(320))
    # Basis points: 12.5 % is 1250, so commissions are exact integers.
    commission_bps: Mapped[int] = mapped_column(Integer)
    payout_currency: Mapped[str] = mapped_column(String(3))
    payout_schedule: Mapped[str] = mapped_column(String(10))
    payout_minimum_minor: Mapped[int] = mapped_column(BigInteger)
    product_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    product_count: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(12))  # active | suspended | offboarded
    # False while the catalog's visibility of its products lags its status.
    catalog_synced: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    offboarded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (
        CheckConstraint("commission_bps >= 0 AND commission_bps <= 10000", name="commission"),
    )


class VendorProduct(Base):
    """A catalog product owned by a vendor (the catalog's id and slug)."""

    __tablename__ = "vendor_products"

    product_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    vendor_id: Mapped[str] = mapped_column(ForeignKey("vendors.id"), index=True)
    slug: Mapped[str] = mapped_column(String(80))
    # The vendor's own choice; the catalog shows it only while the vendor is active.
    listed: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SubOrder(Base):
    """One vendor's part of a paid order, fulfilled by that vendor."""

    __tablename__ = "vendor_suborders"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), index=True)
    vendor_id: Mapped[str] = mapped_column(ForeignKey("vendors.id"), index=True)
    customer_id: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(12))  # open | shipped | cancelled | refunded
    currency: Mapped[str] = mapped_column(String(3))
    # [{sku, product_id, product_name, variant_name, quantity, unit_price_minor,
    #   line_total_minor, returned_quantity}]
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    lines_total_minor: Mapped[int] = mapped_column(BigInteger)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # Value of returned items not refunded yet (refunds go to them first).
    pending_return_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    commission_bps: Mapped[int] = mapped_column(Integer)
    commission_minor: Mapped[int] = mapped_column(BigInteger)
    carrier: Mapped[str | None] = mapped_column(String(100), nullable=True)
    tracking_number: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    shipped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (
        UniqueConstraint("order_id", "vendor_id", name="uq_vendor_suborders_order_vendor"),
        CheckConstraint(
            "refunded_minor >= 0 AND refunded_minor <= lines_total_minor", name="refunds"
        ),
    )


class LedgerAccount(Base):
    """A running balance on the account's normal side (debit for assets and
    receivables, credit for payables and revenue)."""

    __tablename__ = "ledger_accounts"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    balance_minor: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (
        # A vendor's payable (and receivable) never goes below zero.
        CheckConstraint("balance_minor >= 0 OR name LIKE 'store:%'", name="not_negative"),
    )


class LedgerTransaction(Base):
    __tablename__ = "ledger_transactions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # sale | refund | payout
    kind: Mapped[str] = mapped_column(String(12))
    # What caused it, unique: "<event id>:<vendor>" or "payout:<vendor>:<period>".
    reference: Mapped[str] = mapped_column(String(200), unique=True)
    order_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    vendor_id: Mapped[str] = mapped_column(String(63), index=True)
    suborder_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    currency: Mapped[str] = mapped_column(String(3))
    memo: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transaction_id: Mapped[str] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    account: Mapped[str] = mapped_column(String(120), index=True)
    debit_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    credit_minor: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (
        CheckConstraint(
            "debit_minor >= 0 AND credit_minor >= 0 AND (debit_minor = 0 OR credit_minor = 0)",
            name="one_side",
        ),
    )


class Payout(Base):
    __tablename__ = "vendor_payouts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    vendor_id: Mapped[str] = mapped_column(ForeignKey("vendors.id"), index=True)
    period: Mapped[str] = mapped_column(String(10))  # 2026-11-25 | 2026-W48 | 2026-11
    # issued (money owed went out) | below_minimum | held (vendor suspended)
    status: Mapped[str] = mapped_column(String(14))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    transaction_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (UniqueConstraint("vendor_id", "period", name="uq_vendor_payouts_period"),)


class Review(Base):
    """A shopper's rating of a vendor they bought from (one per shopper, editable)."""

    __tablename__ = "vendor_reviews"

    vendor_id: Mapped[str] = mapped_column(ForeignKey("vendors.id"), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        CheckConstraint("rating >= 1 AND rating <= 5", name="rating"),
        Index("ix_vendor_reviews_recent", "vendor_id", "updated_at"),
    )


class Member(Base):
    """Who works for a vendor, for tokens that carry no ``vendor_id`` claim (the
    embedded accounts service's): the store grants the role, this names the vendor."""

    __tablename__ = "vendor_members"

    user_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    vendor_id: Mapped[str] = mapped_column(ForeignKey("vendors.id"), index=True)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
