"""The cart's HTTP contract. Money is integer minor units."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field, StringConstraints, model_validator

from storefleet.runtime.cart.catalog_client import StockLevel
from storefleet.runtime.cart.pricing import PromoKind
from storefleet.runtime.platform.web.schema import Input

Sku = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9._-]{0,63}$")]
Code = Annotated[
    str,
    StringConstraints(
        pattern=r"^[A-Za-z0-9_-]{1,40}$", strip_whitespace=True, to_upper=True, max_length=40
    ),
]
LineProblem = Literal["out_of_stock", "insufficient_stock", "unavailable", "unknown"]


class CartLine(BaseModel):
    sku: str
    product_slug: str
    product_name: str
    variant_name: str
    image_url: str | None
    image_alt: str
    quantity: int
    unit_price_minor: int
    currency: str = Field(
        description="The unit price's currency (the cart's, or the line is unavailable)"
    )
    line_total_minor: int
    availability: StockLevel | None = Field(
        default=None, description="The catalog's level now; null if not checked"
    )
    available: int | None = Field(
        description="Units in stock now, for store staff and the orders service only; "
        "null for shoppers (and if not checked)"
    )
    problem: LineProblem | None = None


class PromoState(BaseModel):
    code: str
    description: str
    applied: bool
    reason: str | None


class Cart(BaseModel):
    id: str | None = Field(description="Anonymous cart id (also the cookie); null if none yet")
    owner: Literal["anonymous", "user"]
    lines: list[CartLine]
    item_count: int
    currency: str
    subtotal_minor: int
    discount_minor: int
    shipping_minor: int
    tax_minor: int
    total_minor: int
    promo: PromoState | None
    stock_checked: bool = Field(description="False when the catalog could not be reached")
    free_shipping_threshold_minor: int
    max_quantity_per_line: int


class AddItem(Input):
    sku: Sku
    quantity: int = Field(default=1, ge=1, le=1000)


class SetQuantity(Input):
    quantity: int = Field(ge=0, le=1000, description="0 removes the line")


def _date_time_text(value: object) -> object:
    """Lax mode would read a number as seconds since 1970; the schema says a string."""
    if value is not None and not isinstance(value, str):
        raise ValueError("a date-time must be an RFC 3339 string, e.g. 2026-01-01T00:00:00Z")
    return value


# Strict mode wants datetime objects and JSON brings strings: lax, but text only.
DateTimeText = Annotated[datetime, BeforeValidator(_date_time_text), Field(strict=False)]


class ApplyPromo(Input):
    code: Code


class PromoIn(Input):
    code: Code
    # Strict mode wants enum and datetime objects; JSON brings strings.
    kind: PromoKind = Field(strict=False)
    value: int = Field(default=0, ge=0, le=1_000_000_000)
    description: str = Field(default="", max_length=300)
    min_subtotal_minor: int = Field(default=0, ge=0, le=1_000_000_000)
    starts_at: DateTimeText | None = None
    expires_at: DateTimeText | None = None
    usage_limit: int | None = Field(default=None, ge=1, le=100_000_000)
    active: bool = True

    @model_validator(mode="after")
    def _coherent(self) -> PromoIn:
        if self.kind is PromoKind.PERCENT and not 1 <= self.value <= 100:
            raise ValueError("a percentage code needs a value from 1 to 100")
        if self.kind is PromoKind.FIXED and self.value < 1:
            raise ValueError("a fixed-amount code needs a positive value in minor units")
        if self.kind is PromoKind.FREE_SHIPPING and self.value != 0:
            raise ValueError("a free-shipping code takes no value")
        if self.starts_at and self.expires_at and self.expires_at <= self.starts_at:
            raise ValueError("expires_at must be after starts_at")
        for moment in (self.starts_at, self.expires_at):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("dates need a time zone (e.g. 2026-01-01T00:00:00Z)")
        return self


class PromoOut(BaseModel):
    code: str
    kind: PromoKind
    value: int
    description: str
    min_subtotal_minor: int
    starts_at: datetime | None
    expires_at: datetime | None
    usage_limit: int | None
    active: bool
    used_count: int


class PromoPatch(Input):
    active: bool | None = None
    description: str | None = Field(default=None, max_length=300)
    usage_limit: int | None = Field(default=None, ge=1, le=100_000_000)
    expires_at: DateTimeText | None = None

    @model_validator(mode="after")
    def _aware(self) -> PromoPatch:
        if self.expires_at is not None and self.expires_at.tzinfo is None:
            raise ValueError("dates need a time zone (e.g. 2026-01-01T00:00:00Z)")
        return self


CartOwner = Literal["anonymous", "user"]


class Claim(Input):
    order_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


class Redemption(Input):
    order_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


class AbandonedSweep(BaseModel):
    notified: int
