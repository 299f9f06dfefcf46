"""The cart's tables: carts themselves live in the cache; these need durability."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storefleet.runtime.platform.events.outbox import outbox_table, utcnow
from storefleet.runtime.platform.storage.metadata import context_metadata


class Base(DeclarativeBase):
    metadata = context_metadata()


outbox = outbox_table(Base.metadata, "cart_outbox")


class PromoCode(Base):
    __tablename__ = "promo_codes"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[int] = mapped_column(Integer, default=0)
    description: Mapped[str] = mapped_column(String(300), default="")
    min_subtotal_minor: Mapped[int] = mapped_column(Integer, default=0)
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    usage_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    used_count: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PromoRedemption(Base):
    """One row per order that used a code, so a retried redemption counts once."""

    __tablename__ = "promo_redemptions"

    code: Mapped[str] = mapped_column(ForeignKey("promo_codes.code"), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    redeemed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CartActivity(Base):
    """When each non-empty cart last changed, for abandoned-cart detection."""

    __tablename__ = "cart_activity"

    cart_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    subtotal_minor: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (Index("ix_cart_activity_idle", "notified_at", "updated_at"),)
