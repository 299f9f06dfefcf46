"""The orders context's tables: orders and their lines, each order's status
history (the shopper's tracking timeline), the checkout sagas, returns and
refunds, and the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storefleet.runtime.platform.events.outbox import outbox_table, utcnow
from storefleet.runtime.platform.storage.metadata import context_metadata
from storefleet.runtime.platform.telemetry.tracing import TRACEPARENT_MAX, TRACESTATE_MAX


class Base(DeclarativeBase):
    metadata = context_metadata()


outbox = outbox_table(Base.metadata, "orders_outbox")


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    store: Mapped[str] = mapped_column(String(100))
    customer_id: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    subtotal_minor: Mapped[int] = mapped_column(BigInteger)
    discount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    shipping_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    tax_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    promo_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    shipping_method: Mapped[str] = mapped_column(String(20))
    shipping_address: Mapped[dict[str, Any]] = mapped_column(JSON)
    billing_country: Mapped[str] = mapped_column(String(2))
    payment_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    payment_action_url: Mapped[str] = mapped_column(String(500), default="")
    card_brand: Mapped[str] = mapped_column(String(20), default="")
    card_last4: Mapped[str] = mapped_column(String(4), default="")
    authorized_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    captured_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    cancel_reason: Mapped[str] = mapped_column(String(40), default="")
    failure_detail: Mapped[str] = mapped_column(String(500), default="")
    hold_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    carrier: Mapped[str] = mapped_column(String(60), default="")
    tracking_number: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        CheckConstraint("total_minor >= 0", name="total_not_negative"),
        CheckConstraint("refunded_minor <= captured_minor", name="refund_within_capture"),
        Index("ix_orders_customer_created", "customer_id", "created_at"),
    )


class OrderLine(Base):
    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    # The catalog's product id, for "customers also bought"; None if it wasn't known.
    product_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    product_slug: Mapped[str] = mapped_column(String(120))
    product_name: Mapped[str] = mapped_column(String(300))
    variant_name: Mapped[str] = mapped_column(String(200), default="")
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    line_total_minor: Mapped[int] = mapped_column(BigInteger)
    returned_quantity: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("returned_quantity <= quantity", name="returns_within_quantity"),
    )


class OrderHistory(Base):
    """Every status change, with when and why: the tracking timeline."""

    __tablename__ = "order_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    to_status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(String(500), default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Saga(Base):
    """A checkout in flight: which step it is at, so a restart resumes it.

    ``state``: running (do ``step`` when ``next_attempt_at`` comes), waiting
    (for the shopper's 3-D Secure or a fraud review), compensating (undo, then
    cancel the order), done, failed (compensated)."""

    __tablename__ = "checkout_sagas"

    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    step: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20), index=True)
    token: Mapped[str] = mapped_column(String(100), default="")
    payment_method_id: Mapped[str] = mapped_column(String(32), default="")
    save_payment_method: Mapped[bool] = mapped_column(default=False)
    reservation_id: Mapped[str] = mapped_column(String(32), default="")
    reserved: Mapped[bool] = mapped_column(default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    failure_reason: Mapped[str] = mapped_column(String(40), default="")
    failure_detail: Mapped[str] = mapped_column(String(500), default="")
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    step_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The checkout request's trace: steps the poller runs later (retries, a
    # resume after a restart) still belong to the shopper's one trace.
    traceparent: Mapped[str | None] = mapped_column(String(TRACEPARENT_MAX), nullable=True)
    tracestate: Mapped[str | None] = mapped_column(String(TRACESTATE_MAX), nullable=True)

    __table_args__ = (Index("ix_checkout_sagas_due", "state", "next_attempt_at"),)


class ReturnRequest(Base):
    __tablename__ = "order_returns"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    # requested | received | declined
    status: Mapped[str] = mapped_column(String(12))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(String(500), default="")
    value_minor: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Refund(Base):
    __tablename__ = "order_refunds"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)  # the idempotency key
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(300), default="")
    # pending | done
    status: Mapped[str] = mapped_column(String(10))
    payment_refund_id: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
