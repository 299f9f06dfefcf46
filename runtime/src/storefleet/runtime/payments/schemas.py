"""The payments HTTP contract. Money is integer minor units."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from storefleet.runtime.platform.web.schema import Input

Token = Annotated[str, StringConstraints(pattern=r"^(tok|pm)_[A-Za-z0-9_]{1,80}$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
# No control characters: they are in no address (the orders service's
# checkout refuses them too).
Email = Annotated[
    str,
    StringConstraints(
        pattern=r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,255}\.[^@\s\x00-\x1f\x7f]{1,63}$",
        max_length=320,
    ),
]
Ident = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:@-]{1,100}$")]
MinorUnits = Annotated[int, Field(ge=1, le=100_000_000_000)]


class CardIn(Input):
    number: str = Field(min_length=12, max_length=23, pattern=r"^[0-9 -]+$")
    exp_month: int = Field(ge=1, le=12)
    exp_year: int = Field(ge=2000, le=2100)
    cvc: str = Field(pattern=r"^[0-9]{3,4}$")


class TokenOut(BaseModel):
    token: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


class AuthorizeIn(Input):
    order_id: Ident
    amount_minor: MinorUnits
    currency: Currency
    token: Token | None = None
    payment_method_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    customer_id: Ident | None = None
    email: Email
    store: str = Field(default="", max_length=100)
    billing_country: Country | None = None
    shipping_country: Country | None = None
    save_payment_method: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> AuthorizeIn:
        if (self.token is None) == (self.payment_method_id is None):
            raise ValueError("give exactly one of token or payment_method_id")
        if self.save_payment_method and self.customer_id is None:
            raise ValueError("saving a payment method needs a customer_id")
        return self


PaymentStatus = Literal["requires_action", "authorized", "captured", "voided", "failed"]


class PaymentOut(BaseModel):
    id: str
    order_id: str
    status: PaymentStatus
    amount_minor: int
    currency: str
    captured_minor: int
    refunded_minor: int
    gateway: str
    card_brand: str
    card_last4: str
    action_url: str = Field(description="Where the shopper completes 3-D Secure, if required")
    risk_score: int
    risk_decision: Literal["allow", "review", "block"]
    risk_reasons: list[str]
    decline_code: str
    failure_reason: str
    created_at: datetime


class CaptureIn(Input):
    amount_minor: MinorUnits | None = Field(default=None, description="Default: all authorized")


class RefundIn(Input):
    amount_minor: MinorUnits
    reason: str = Field(default="", max_length=300)


class RefundOut(BaseModel):
    payment: PaymentOut
    refund_id: str
    amount_minor: int


class SavePaymentMethod(Input):
    token: Token


class PaymentMethodOut(BaseModel):
    id: str
    customer_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    created_at: datetime


class SubscriptionIn(Input):
    customer_id: Ident
    email: Email
    plan: str = Field(min_length=1, max_length=100)
    payment_method_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    amount_minor: MinorUnits
    currency: Currency
    interval_days: int = Field(ge=1, le=366)
    start_at: datetime | None = Field(default=None, strict=False)


class SubscriptionChargeOut(BaseModel):
    period: int
    payment_id: str
    status: str
    charged_at: datetime


class SubscriptionOut(BaseModel):
    id: str
    customer_id: str
    plan: str
    amount_minor: int
    currency: str
    interval_days: int
    status: Literal["active", "past_due", "cancelled"]
    current_period: int
    next_charge_at: datetime
    failed_attempts: int
    charges: list[SubscriptionChargeOut] = []


class ChargeRun(BaseModel):
    charged: int
    failed: int


class ChallengeIn(Input):
    approve: bool


class FaultsIn(Input):
    fail_next: int = Field(default=0, ge=0, le=10_000)
    outage_seconds: float = Field(default=0, ge=0, le=3600)


class FaultsOut(BaseModel):
    fail_next: int
    outage_remaining_seconds: float
    calls: int
    failures: int
    breaker: str


class Ledger(BaseModel):
    """The gateway's books next to the payments records, in minor units."""

    gateway: dict[str, int]
    payments: dict[str, int]
