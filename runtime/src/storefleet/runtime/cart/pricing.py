"""Cart arithmetic, pure: subtotal, promotion, shipping, tax, total.

Integer minor units throughout; the only rounding (percentages and tax) is
half-up on Decimal, so a cent is never lost or invented by binary floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum


class PromoKind(StrEnum):
    PERCENT = "percent"
    FIXED = "fixed"
    FREE_SHIPPING = "free_shipping"


@dataclass(frozen=True)
class Promo:
    code: str
    kind: PromoKind
    value: int  # percent (1-100) or minor units
    min_subtotal_minor: int = 0
    starts_at: datetime | None = None
    expires_at: datetime | None = None
    usage_limit: int | None = None
    used_count: int = 0
    active: bool = True


@dataclass(frozen=True)
class ShippingRules:
    tax_rate_bps: int
    flat_minor: int
    free_threshold_minor: int


@dataclass(frozen=True)
class Totals:
    subtotal_minor: int
    discount_minor: int
    shipping_minor: int
    tax_minor: int
    total_minor: int
    promo_applied: bool
    promo_reason: str | None


def round_half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def promo_problem(promo: Promo, subtotal_minor: int, now: datetime) -> str | None:
    """Why this promotion does not apply now, or None if it does."""
    if not promo.active:
        return "This code is no longer active."
    if promo.starts_at is not None and now < promo.starts_at:
        return "This code is not valid yet."
    if promo.expires_at is not None and now >= promo.expires_at:
        return "This code has expired."
    if promo.usage_limit is not None and promo.used_count >= promo.usage_limit:
        return "This code has been used up."
    if subtotal_minor < promo.min_subtotal_minor:
        return "Your order is below this code's minimum."
    return None


def compute_totals(
    lines: list[tuple[int, int]],
    promo: Promo | None,
    rules: ShippingRules,
    now: datetime,
) -> Totals:
    """``lines`` are (unit price, quantity); prices exclude tax."""
    subtotal = sum(price * quantity for price, quantity in lines)
    discount = 0
    free_shipping = False
    reason = promo_problem(promo, subtotal, now) if promo else None
    applied = promo is not None and reason is None
    if promo is not None and applied:
        if promo.kind is PromoKind.PERCENT:
            discount = round_half_up(Decimal(subtotal) * promo.value / 100)
        elif promo.kind is PromoKind.FIXED:
            discount = promo.value
        else:
            free_shipping = True
        discount = min(discount, subtotal)
    goods = subtotal - discount
    over_threshold = bool(rules.free_threshold_minor) and goods >= rules.free_threshold_minor
    shipping = 0 if subtotal == 0 or free_shipping or over_threshold else rules.flat_minor
    tax = round_half_up(Decimal(goods + shipping) * rules.tax_rate_bps / 10_000)
    return Totals(
        subtotal_minor=subtotal,
        discount_minor=discount,
        shipping_minor=shipping,
        tax_minor=tax,
        total_minor=goods + shipping + tax,
        promo_applied=applied,
        promo_reason=reason,
    )
