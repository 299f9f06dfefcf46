"""The reports as the API answers them; money in integer minor units."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from storefleet.runtime.analytics.figures import SalesFigures

Ranking = Literal["units", "revenue"]


class SalesLine(BaseModel):
    currency: str
    orders: int = Field(description="Orders paid")
    units: int = Field(description="Items in those orders")
    gross_minor: int = Field(description="What the paid orders came to, shipping and tax included")
    refunds_minor: int = Field(description="Money sent back (refunds, cancelled paid orders)")
    refund_count: int
    net_minor: int = Field(description="gross - refunds")
    average_order_minor: int = Field(description="gross / orders, rounded half up")

    @classmethod
    def of(cls, figures: SalesFigures) -> SalesLine:
        return cls(
            currency=figures.currency,
            orders=figures.orders,
            units=figures.units,
            gross_minor=figures.gross_minor,
            refunds_minor=figures.refunds_minor,
            refund_count=figures.refund_count,
            net_minor=figures.net_minor,
            average_order_minor=figures.average_order_minor,
        )


class SalesDay(SalesLine):
    day: dt.date


class SalesReport(BaseModel):
    from_: dt.date = Field(serialization_alias="from")
    to: dt.date
    timezone: str = Field(description="The days are calendar days in this zone")
    currency: str | None
    days: list[SalesDay] = Field(description="Days with sales or refunds, oldest first")
    totals: list[SalesLine] = Field(description="One line per currency")


class ProductFigures(BaseModel):
    product_key: str = Field(description="The catalog's product id, or sku:<SKU> without one")
    product_id: int | None
    sku: str | None
    name: str | None
    slug: str | None
    archived: bool
    currency: str
    units: int
    revenue_minor: int = Field(description="Line totals of paid orders")


class TopProducts(BaseModel):
    from_: dt.date = Field(serialization_alias="from")
    to: dt.date
    timezone: str
    by: Ranking
    items: list[ProductFigures]


class Funnel(BaseModel):
    from_: dt.date = Field(serialization_alias="from")
    to: dt.date
    timezone: str
    checkouts_started: int = Field(description="Orders placed (the checkout saga started)")
    orders_paid: int
    orders_cancelled: int
    payment_failures: int = Field(description="Declined or blocked payment attempts")
    carts_abandoned: int = Field(description="Carts left idle (the cart's cart.abandoned)")
    conversion_rate: float | None = Field(
        description="orders_paid / checkouts_started; null without checkouts"
    )
