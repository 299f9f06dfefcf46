"""The analytics context's tables: read models only, rebuilt from events.

Daily rows are counters keyed by the day (in the store's report time zone):
events add to them with an atomic upsert, so replicas consuming different
partitions never lose each other's increments. ``analytics_orders`` remembers
what has been counted per order, so an order paid twice (two events, two ids)
is still one sale.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storefleet.runtime.platform.events.consumer import processed_events_table
from storefleet.runtime.platform.events.outbox import utcnow
from storefleet.runtime.platform.storage.metadata import context_metadata


class Base(DeclarativeBase):
    metadata = context_metadata()


processed_events = processed_events_table(Base.metadata, "analytics_processed_events")


class OrderSeen(Base):
    """Which of an order's milestones have been counted."""

    __tablename__ = "analytics_orders"

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    placed_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    paid_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    cancelled_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    total_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DailySales(Base):
    __tablename__ = "analytics_daily_sales"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    orders: Mapped[int] = mapped_column(Integer, default=0)
    units: Mapped[int] = mapped_column(BigInteger, default=0)
    gross_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    refunds_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    refund_count: Mapped[int] = mapped_column(Integer, default=0)


class DailyProductSales(Base):
    __tablename__ = "analytics_daily_products"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    product_key: Mapped[str] = mapped_column(String(110), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    units: Mapped[int] = mapped_column(BigInteger, default=0)
    revenue_minor: Mapped[int] = mapped_column(BigInteger, default=0)


class DailyFunnel(Base):
    __tablename__ = "analytics_daily_funnel"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    checkouts: Mapped[int] = mapped_column(Integer, default=0)
    paid: Mapped[int] = mapped_column(Integer, default=0)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)
    payment_failures: Mapped[int] = mapped_column(Integer, default=0)
    carts_abandoned: Mapped[int] = mapped_column(Integer, default=0)


class Product(Base):
    """What a report shows for a product: the name and slug it was last sold or
    published under, and whether the catalog has archived it."""

    __tablename__ = "analytics_products"

    product_key: Mapped[str] = mapped_column(String(110), primary_key=True)
    product_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sku: Mapped[str | None] = mapped_column(String(100), nullable=True)
    name: Mapped[str | None] = mapped_column(String(300), nullable=True)
    slug: Mapped[str | None] = mapped_column(String(200), nullable=True)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
