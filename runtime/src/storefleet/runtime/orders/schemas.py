"""The orders HTTP contract. Money is integer minor units."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator

from storefleet.runtime.platform.web.schema import Input

Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
# No control characters: they are in no address, and "\x1c" is whitespace to
# Python (str.strip, str.split) but not to the pattern's \s, so such an
# address was taken and then never matched again.
Email = Annotated[
    str,
    StringConstraints(
        pattern=r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,255}\.[^@\s\x00-\x1f\x7f]{1,63}$",
        max_length=320,
    ),
]
Sku = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9._-]{0,63}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
ShippingMethod = Literal["standard", "express"]


class Address(Input):
    name: Text
    line1: Text
    line2: str = Field(default="", max_length=200)
    city: Text
    postal_code: str = Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9 -]+$")
    country: Country


class PaymentIn(Input):
    token: str | None = Field(default=None, pattern=r"^(tok|pm)_[A-Za-z0-9_]{1,80}$")
    payment_method_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    save: bool = False

    @model_validator(mode="after")
    def _one(self) -> PaymentIn:
        if (self.token is None) == (self.payment_method_id is None):
            raise ValueError("give exactly one of token or payment_method_id")
        return self


class CheckoutIn(Input):
    email: Email
    shipping_address: Address
    billing_country: Country | None = None
    shipping_method: ShippingMethod = "standard"
    payment: PaymentIn
    cart_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")


class OrderLineOut(BaseModel):
    sku: str
    product_slug: str
    product_name: str
    variant_name: str
    quantity: int
    unit_price_minor: int
    line_total_minor: int
    returned_quantity: int


class HistoryEntry(BaseModel):
    status: str
    label: str
    note: str
    at: datetime


class ReturnLine(Input):
    sku: Sku
    quantity: int = Field(ge=1, le=1000)


class ReturnOut(BaseModel):
    id: str
    status: Literal["requested", "received", "declined"]
    lines: list[ReturnLine]
    reason: str
    value_minor: int
    created_at: datetime


class OrderOut(BaseModel):
    id: str
    store: str
    status: str
    status_label: str
    customer_id: str | None
    email: str
    currency: str
    lines: list[OrderLineOut]
    subtotal_minor: int
    discount_minor: int
    shipping_minor: int
    tax_minor: int
    total_minor: int
    shipping_method: str
    shipping_address: dict[str, str]
    billing_country: str
    card_brand: str
    card_last4: str
    payment_id: str | None
    next_action_url: str = Field(description="Send the shopper here (3-D Secure) if not empty")
    authorized_minor: int
    captured_minor: int
    refunded_minor: int
    cancel_reason: str
    failure_detail: str
    hold_reasons: list[str]
    carrier: str
    tracking_number: str
    checkout_step: str
    checkout_state: str
    history: list[HistoryEntry]
    returns: list[ReturnOut]
    created_at: datetime
    updated_at: datetime


class OrderSummary(BaseModel):
    id: str
    status: str
    status_label: str
    currency: str
    total_minor: int
    item_count: int
    created_at: datetime


class OrderPage(BaseModel):
    items: list[OrderSummary]
    total: int


class ReturnIn(Input):
    lines: list[ReturnLine] = Field(min_length=1, max_length=100)
    reason: str = Field(default="", max_length=500)

    @field_validator("lines")
    @classmethod
    def _distinct(cls, lines: list[ReturnLine]) -> list[ReturnLine]:
        if len({line.sku for line in lines}) != len(lines):
            raise ValueError("name each SKU once")
        return lines


class ShipIn(Input):
    carrier: Text
    tracking_number: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9 -]+$")


class RefundIn(Input):
    amount_minor: int | None = Field(
        default=None, ge=1, le=100_000_000_000, description="Default: what is left to refund"
    )
    reason: str = Field(default="", max_length=300)


class CancelIn(Input):
    reason: str = Field(default="cancelled by staff", min_length=1, max_length=300)


class DecisionIn(Input):
    note: str = Field(default="", max_length=300)


class ActionIn(Input):
    """The shopper came back from 3-D Secure: look at the payment again."""


class SagaOverview(BaseModel):
    running: int
    waiting: int
    compensating: int
    done: int
    failed: int
