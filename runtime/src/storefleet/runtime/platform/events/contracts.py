"""The payload of every event type the runtime publishes: the one place it is written down.

docs/events.md describes these payloads for people; this module is the same
description for code. A producer's tests check what it published against
it, and a consumer's tests build the events they feed in through it
(:func:`event`), so a producer and a consumer cannot drift apart while their
tests stay green, each against its own idea of the payload.

A contract names the fields every event of the type carries, with their types
(amounts are integer minor units, never floats). Fields it does not name are
allowed: adding an optional field keeps the ``dataversion`` (see "Versioning"
in docs/events.md), so a consumer must not depend on the absence of one.
Every contract here is ``dataversion`` 1.

Beside :mod:`.model`, the only module of Storefleet it imports. The
services do not import it: the contracts are checked by the tests, and
``tests/unit/runtime/test_event_contracts.py`` fails on any event type the
code publishes without one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from storefleet.runtime.platform.events.model import Event

Minor = Annotated[StrictInt, Field(ge=0)]
Currency = Annotated[StrictStr, Field(pattern=r"^[A-Z]{3}$")]


class Payload(BaseModel):
    """An event's ``data``: the named fields, strictly typed; others allowed."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)


# ------------------------------------------------------------------ accounts


class AccountEvent(Payload):
    user_id: StrictStr


class AccountMail(AccountEvent):
    email: StrictStr


class AccountLink(AccountMail):
    link: StrictStr
    expires_at: StrictStr  # RFC 3339


class VerificationRequested(AccountLink):
    name: StrictStr


class PreferencesChanged(AccountEvent):
    language: StrictStr
    channels: dict[StrictStr, Any]
    marketing_opt_in: bool


# ------------------------------------------------------------------- catalog


class BrandCreated(Payload):
    slug: StrictStr
    name: StrictStr


class CategoryEvent(Payload):
    slug: StrictStr


class ProductEvent(Payload):
    product_id: StrictInt
    slug: StrictStr


class ProductCreated(ProductEvent):
    skus: list[StrictStr]


class VariantUpdated(Payload):
    sku: StrictStr


class StockAdjusted(Payload):
    sku: StrictStr
    delta: StrictInt
    stock: StrictInt


class StockReserved(Payload):
    reservation_id: StrictStr
    reference: StrictStr
    items: dict[StrictStr, StrictInt]


class ReservationEvent(Payload):
    reservation_id: StrictStr


# ---------------------------------------------------------------------- cart


class PromoCreated(Payload):
    code: StrictStr


class PromoUse(PromoCreated):
    order_id: StrictStr


class CartAbandoned(Payload):
    cart: StrictStr
    owner: StrictStr
    item_count: StrictInt
    subtotal_minor: Minor
    currency: Currency
    idle_hours: float


# -------------------------------------------------------------------- orders


class OrderLine(Payload):
    sku: StrictStr
    product_id: StrictInt | None
    product_slug: StrictStr
    product_name: StrictStr
    variant_name: StrictStr
    quantity: Annotated[StrictInt, Field(gt=0)]
    unit_price_minor: Minor
    line_total_minor: Minor


class OrderEvent(Payload):
    """What every ``order.*`` event carries."""

    order_id: StrictStr
    store: StrictStr
    customer_id: StrictStr | None
    email: StrictStr
    status: StrictStr
    currency: Currency
    subtotal_minor: Minor
    discount_minor: Minor
    shipping_minor: Minor
    tax_minor: Minor
    total_minor: Minor
    authorized_minor: Minor
    captured_minor: Minor
    refunded_minor: Minor


class OrderWithLines(OrderEvent):
    lines: list[OrderLine]
    product_ids: list[StrictInt]


class OrderPlaced(OrderWithLines):
    shipping_method: StrictStr
    shipping_country: StrictStr


class OrderHeld(OrderEvent):
    hold_reasons: list[StrictStr]
    risk_score: StrictInt | float | None


class OrderCancelled(OrderEvent):
    reason: StrictStr
    # Why the checkout failed (a failed checkout only); a paid order cancelled
    # by staff or refunded in full adds ``refund_minor``.
    detail: StrictStr = ""
    refund_minor: Minor = 0


class OrderShipped(OrderEvent):
    carrier: StrictStr
    tracking_number: StrictStr


class ReturnLine(Payload):
    sku: StrictStr
    quantity: Annotated[StrictInt, Field(gt=0)]


class OrderReturn(OrderEvent):
    return_id: StrictStr
    return_lines: list[ReturnLine]
    return_value_minor: Minor


class OrderRefunded(OrderEvent):
    refund_minor: Minor
    reason: StrictStr


# ------------------------------------------------------------------ payments


class PaymentEvent(Payload):
    """What every ``payment.*`` event carries."""

    payment_id: StrictStr
    order_id: StrictStr
    store: StrictStr
    customer_id: StrictStr | None
    email: StrictStr
    currency: Currency
    amount_minor: Minor
    captured_minor: Minor
    refunded_minor: Minor
    gateway: StrictStr


class PaymentAuthorized(PaymentEvent):
    risk_decision: StrictStr
    risk_score: StrictInt | float | None


class PaymentRefunded(PaymentEvent):
    refund_id: StrictStr
    refund_minor: Minor
    reason: StrictStr
    refund_key: StrictStr


class PaymentFailed(PaymentEvent):
    reason: StrictStr
    # Empty when fraud rules blocked the payment before the issuer saw it.
    decline_code: StrictStr = ""


# ------------------------------------------------------------------- vendors


class VendorEvent(Payload):
    vendor_id: StrictStr


class VendorStatus(VendorEvent):
    status: StrictStr


class VendorProductCreated(VendorEvent):
    product_id: StrictInt
    slug: StrictStr


class SuborderEvent(VendorEvent):
    suborder_id: StrictStr
    order_id: StrictStr


class SuborderLine(Payload):
    sku: StrictStr
    product_id: StrictInt | None
    product_name: StrictStr
    variant_name: StrictStr
    quantity: Annotated[StrictInt, Field(gt=0)]
    unit_price_minor: Minor
    line_total_minor: Minor
    returned_quantity: Annotated[StrictInt, Field(ge=0)]


class SuborderCreated(SuborderEvent):
    currency: Currency
    lines_total_minor: Minor
    commission_minor: Minor
    lines: list[SuborderLine]


class SuborderShipped(SuborderEvent):
    carrier: StrictStr
    tracking_number: StrictStr


class SuborderRefunded(SuborderEvent):
    currency: Currency
    refund_minor: Minor
    refunded_minor: Minor
    commission_minor: Minor


class PayoutCreated(VendorEvent):
    payout_id: StrictStr
    period: StrictStr
    status: StrictStr
    amount_minor: Minor
    currency: Currency


class VendorReviewed(VendorEvent):
    customer_id: StrictStr
    rating: Annotated[StrictInt, Field(ge=1, le=5)]


# ------------------------------------------------------------- notifications


class NotificationOutcome(Payload):
    notification_id: StrictStr
    event_id: StrictStr
    event_type: StrictStr
    channel: StrictStr
    user_id: StrictStr | None
    attempts: StrictInt


# ------------------------------------------------------------- the contracts

CONTRACTS: Final[Mapping[str, type[Payload]]] = {
    "account.verification_requested": VerificationRequested,
    "account.registration_attempted": AccountMail,
    "account.email_verified": AccountEvent,
    "account.password_reset_requested": AccountLink,
    "account.password_changed": AccountMail,
    "account.mfa_enabled": AccountEvent,
    "account.mfa_disabled": AccountEvent,
    "account.preferences_changed": PreferencesChanged,
    "account.data_exported": AccountEvent,
    "account.erased": AccountEvent,
    "catalog.brand_created": BrandCreated,
    "catalog.category_created": CategoryEvent,
    "catalog.category_updated": CategoryEvent,
    "catalog.category_deleted": CategoryEvent,
    "catalog.product_created": ProductCreated,
    "catalog.product_updated": ProductEvent,
    "catalog.product_archived": ProductEvent,
    "catalog.variant_updated": VariantUpdated,
    "catalog.stock_adjusted": StockAdjusted,
    "catalog.stock_reserved": StockReserved,
    "catalog.reservation_released": ReservationEvent,
    "catalog.reservation_committed": ReservationEvent,
    "catalog.reservation_expired": ReservationEvent,
    "cart.promo_created": PromoCreated,
    "cart.promo_redeemed": PromoUse,
    "cart.promo_given_back": PromoUse,
    "cart.abandoned": CartAbandoned,
    "order.placed": OrderPlaced,
    "order.held_for_review": OrderHeld,
    "order.paid": OrderWithLines,
    "order.cancelled": OrderCancelled,
    "order.fulfilling": OrderEvent,
    "order.shipped": OrderShipped,
    "order.delivered": OrderEvent,
    "order.return_requested": OrderReturn,
    "order.returned": OrderReturn,
    "order.refunded": OrderRefunded,
    "payment.authorized": PaymentAuthorized,
    "payment.captured": PaymentEvent,
    "payment.voided": PaymentEvent,
    "payment.refunded": PaymentRefunded,
    "payment.failed": PaymentFailed,
    "vendor.registered": VendorStatus,
    "vendor.updated": VendorStatus,
    "vendor.suspended": VendorStatus,
    "vendor.reinstated": VendorStatus,
    "vendor.offboarded": VendorEvent,
    "vendor.product_created": VendorProductCreated,
    "vendor.suborder_created": SuborderCreated,
    "vendor.suborder_shipped": SuborderShipped,
    "vendor.suborder_refunded": SuborderRefunded,
    "vendor.payout_created": PayoutCreated,
    "vendor.reviewed": VendorReviewed,
    "notification.sent": NotificationOutcome,
    "notification.failed": NotificationOutcome,
}
VERSION: Final = 1


class ContractViolation(ValueError):
    """An event whose type has no contract, or whose payload breaks its contract."""


def check(event_type: str, payload: Mapping[str, Any], version: int = VERSION) -> None:
    """Raise :class:`ContractViolation` unless ``payload`` is what ``event_type`` promises."""
    contract = CONTRACTS.get(event_type)
    if contract is None:
        raise ContractViolation(f"{event_type!r} has no contract in events.contracts.CONTRACTS")
    if version != VERSION:
        raise ContractViolation(f"{event_type!r} has no contract for dataversion {version}")
    try:
        contract.model_validate(dict(payload))
    except ValidationError as exc:
        raise ContractViolation(f"{event_type} breaks its contract: {exc}") from exc


def check_event(published: Event) -> Event:
    """``check`` an event as it travels; returns it."""
    check(published.type, published.payload, published.version)
    return published


def event(event_type: str, payload: Mapping[str, Any], **attributes: Any) -> Event:
    """An event built by hand (a test standing in for its producer), refused
    unless its payload keeps its type's contract."""
    check(event_type, payload, attributes.get("version", VERSION))
    return Event(event_type, dict(payload), **attributes)
