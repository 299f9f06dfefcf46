"""Cart totals as a shopper reads them on the cart page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storefleet.runtime.cart.pricing import (
    Promo,
    PromoKind,
    ShippingRules,
    compute_totals,
)

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
RULES = ShippingRules(tax_rate_bps=2000, flat_minor=495, free_threshold_minor=5000)


def test_small_order_pays_flat_shipping_and_tax_on_everything() -> None:
    totals = compute_totals([(1999, 1)], None, RULES, NOW)
    assert totals.subtotal_minor == 1999
    assert totals.shipping_minor == 495
    assert totals.tax_minor == 499  # 20% of 24.94 = 4.988 -> 4.99
    assert totals.total_minor == 1999 + 495 + 499


def test_orders_over_the_threshold_ship_free() -> None:
    totals = compute_totals([(2500, 2)], None, RULES, NOW)
    assert totals.shipping_minor == 0
    assert totals.total_minor == 5000 + 1000


def test_empty_cart_costs_nothing() -> None:
    totals = compute_totals([], None, RULES, NOW)
    assert (totals.subtotal_minor, totals.shipping_minor, totals.total_minor) == (0, 0, 0)


def test_percentage_discount_rounds_half_up() -> None:
    promo = Promo("TEN", PromoKind.PERCENT, 10)
    totals = compute_totals([(1005, 1)], promo, RULES, NOW)
    assert totals.discount_minor == 101  # 100.5 -> 101
    assert totals.promo_applied


def test_discount_below_threshold_brings_shipping_back() -> None:
    promo = Promo("FIVE", PromoKind.FIXED, 500)
    totals = compute_totals([(5200, 1)], promo, RULES, NOW)
    assert totals.discount_minor == 500
    assert totals.shipping_minor == 495, "4,700 of goods no longer ships free"


def test_fixed_discount_never_exceeds_the_subtotal() -> None:
    totals = compute_totals([(300, 1)], Promo("BIG", PromoKind.FIXED, 10_000), RULES, NOW)
    assert totals.discount_minor == 300
    assert totals.total_minor >= 0


def test_free_shipping_code() -> None:
    totals = compute_totals([(1000, 1)], Promo("SHIP", PromoKind.FREE_SHIPPING, 0), RULES, NOW)
    assert totals.shipping_minor == 0
    assert totals.discount_minor == 0


@pytest.mark.parametrize(
    ("promo", "reason"),
    [
        (Promo("X", PromoKind.PERCENT, 10, min_subtotal_minor=5000), "minimum"),
        (Promo("X", PromoKind.PERCENT, 10, expires_at=NOW - timedelta(seconds=1)), "expired"),
        (Promo("X", PromoKind.PERCENT, 10, starts_at=NOW + timedelta(days=1)), "not valid yet"),
        (Promo("X", PromoKind.PERCENT, 10, usage_limit=5, used_count=5), "used up"),
        (Promo("X", PromoKind.PERCENT, 10, active=False), "no longer active"),
    ],
)
def test_ineligible_codes_say_why_and_change_nothing(promo: Promo, reason: str) -> None:
    totals = compute_totals([(1000, 2)], promo, RULES, NOW)
    assert not totals.promo_applied
    assert totals.promo_reason is not None
    assert reason in totals.promo_reason
    assert totals.discount_minor == 0
