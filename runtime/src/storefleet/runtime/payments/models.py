"""The payments context's tables. No raw card number is ever stored: cards are
tokens, and what is kept of a card is its brand, last four digits and expiry."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storefleet.runtime.platform.events.outbox import outbox_table, utcnow
from storefleet.runtime.platform.storage.metadata import context_metadata


def as_utc(value: datetime) -> datetime:
    """A time read back from the database as UTC (SQLite gives it back naive)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = context_metadata()


outbox = outbox_table(Base.metadata, "payments_outbox")


class Payment(Base):
    """One payment for one order (or one subscription period)."""

    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[str] = mapped_column(String(64), index=True)
    store: Mapped[str] = mapped_column(String(100), default="")
    customer_id: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    # pending | requires_action | authorized | captured | voided | failed
    status: Mapped[str] = mapped_column(String(20))
    gateway: Mapped[str] = mapped_column(String(20))
    gateway_ref: Mapped[str] = mapped_column(String(100), default="")
    action_url: Mapped[str] = mapped_column(String(500), default="")
    card_fingerprint: Mapped[str] = mapped_column(String(64), default="", index=True)
    card_brand: Mapped[str] = mapped_column(String(20), default="")
    card_last4: Mapped[str] = mapped_column(String(4), default="")
    captured_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    risk_score: Mapped[int] = mapped_column(Integer, default=0)
    risk_decision: Mapped[str] = mapped_column(String(10), default="allow")
    risk_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    decline_code: Mapped[str] = mapped_column(String(60), default="")
    failure_reason: Mapped[str] = mapped_column(String(300), default="")
    billing_country: Mapped[str] = mapped_column(String(2), default="")
    shipping_country: Mapped[str] = mapped_column(String(2), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("captured_minor <= amount_minor", name="capture_within_amount"),
        CheckConstraint("refunded_minor <= captured_minor", name="refund_within_capture"),
        Index("ix_payments_created", "created_at"),
    )


class PaymentOperation(Base):
    """Each capture, void and refund by its idempotency key: a repeat is answered
    from here and never reaches the processor twice."""

    __tablename__ = "payment_operations"

    idempotency_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    payment_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # capture | void | refund
    amount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(10))  # pending | done
    gateway_ref: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PaymentMethod(Base):
    """A customer's saved card: a token and what may be shown of the card."""

    __tablename__ = "payment_methods"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(100), index=True)
    token: Mapped[str] = mapped_column(String(100))
    brand: Mapped[str] = mapped_column(String(20), default="")
    last4: Mapped[str] = mapped_column(String(4), default="")
    exp_month: Mapped[int] = mapped_column(Integer, default=0)
    exp_year: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (UniqueConstraint("customer_id", "token", name="customer_token"),)


class Subscription(Base):
    __tablename__ = "subscriptions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(100), index=True)
    email: Mapped[str] = mapped_column(String(320))
    store: Mapped[str] = mapped_column(String(100), default="")
    plan: Mapped[str] = mapped_column(String(100))
    payment_method_id: Mapped[str] = mapped_column(String(32))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    interval_days: Mapped[int] = mapped_column(Integer)
    # active | past_due | cancelled
    status: Mapped[str] = mapped_column(String(12), default="active")
    current_period: Mapped[int] = mapped_column(Integer, default=0)
    next_charge_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SubscriptionCharge(Base):
    """One row per (subscription, period): a period is charged at most once."""

    __tablename__ = "subscription_charges"

    subscription_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    period: Mapped[int] = mapped_column(Integer, primary_key=True)
    payment_id: Mapped[str] = mapped_column(String(32), default="")
    status: Mapped[str] = mapped_column(String(12))  # paid | failed
    charged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WebhookEvent(Base):
    """Webhook deliveries already applied: processors deliver at least once."""

    __tablename__ = "payments_webhook_events"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# ----------------------------------------------------------------- the sandbox
# The sandbox processor keeps its own books, as a real processor would: these
# tables are its ledger, separate from the payments records above.


class SandboxCard(Base):
    __tablename__ = "sandbox_cards"

    token: Mapped[str] = mapped_column(String(40), primary_key=True)
    behaviour: Mapped[str] = mapped_column(String(30))
    brand: Mapped[str] = mapped_column(String(20))
    last4: Mapped[str] = mapped_column(String(4))
    fingerprint: Mapped[str] = mapped_column(String(64))
    exp_month: Mapped[int] = mapped_column(Integer)
    exp_year: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SandboxCharge(Base):
    __tablename__ = "sandbox_charges"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    token: Mapped[str] = mapped_column(String(40))
    currency: Mapped[str] = mapped_column(String(3))
    # requires_action | authorized | declined | captured | voided
    status: Mapped[str] = mapped_column(String(20))
    authorized_minor: Mapped[int] = mapped_column(BigInteger)
    captured_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    decline_code: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SandboxRequest(Base):
    """The sandbox's own idempotency store: key -> the first answer."""

    __tablename__ = "sandbox_requests"

    idempotency_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    operation: Mapped[str] = mapped_column(String(20))
    response: Mapped[dict[str, object]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    completed: Mapped[bool] = mapped_column(Boolean, default=False)
