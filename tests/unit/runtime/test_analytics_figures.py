"""Report arithmetic and how payloads are read, without a database."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from storefleet.runtime.analytics import facts
from storefleet.runtime.analytics.figures import (
    PeriodError,
    SalesFigures,
    average_minor,
    conversion_rate,
    period,
    totals_by_currency,
)

TODAY = dt.date(2026, 11, 25)


def test_net_is_gross_minus_refunds_and_may_go_negative_on_a_refund_day() -> None:
    assert SalesFigures("EUR", 2, 3, 10_000, 2_500).net_minor == 7_500
    assert SalesFigures("EUR", 0, 0, 0, 1_990, 1).net_minor == -1_990


@pytest.mark.parametrize(
    ("total", "count", "average"),
    [(10_000, 3, 3_333), (10_001, 2, 5_001), (9_999, 2, 5_000), (5, 2, 3), (0, 0, 0), (7, 0, 0)],
)
def test_the_average_order_is_rounded_half_up_to_whole_minor_units(
    total: int, count: int, average: int
) -> None:
    assert average_minor(total, count) == average
    assert isinstance(average_minor(total, count), int)


def test_totals_add_up_per_currency_and_never_across_currencies() -> None:
    days = [
        SalesFigures("EUR", 1, 2, 3_000),
        SalesFigures("USD", 1, 1, 1_000),
        SalesFigures("EUR", 2, 2, 5_000, 500, 1),
    ]
    eur, usd = totals_by_currency(days)
    assert eur == SalesFigures("EUR", 3, 4, 8_000, 500, 1)
    assert eur.average_order_minor == 2_667
    assert eur.net_minor == 7_500
    assert usd == SalesFigures("USD", 1, 1, 1_000)
    with pytest.raises(ValueError, match="cannot add"):
        _ = eur + usd


def test_conversion_is_paid_per_checkout_and_undefined_without_checkouts() -> None:
    assert conversion_rate(1, 3) == 0.3333
    assert conversion_rate(0, 4) == 0.0
    assert conversion_rate(2, 0) is None


def test_the_period_defaults_to_the_last_days_up_to_today() -> None:
    assert period(None, None, today=TODAY, default_days=30, max_days=366) == (
        dt.date(2026, 10, 27),
        TODAY,
    )
    end = dt.date(2026, 1, 31)
    assert period(None, end, today=TODAY, default_days=7, max_days=366) == (
        dt.date(2026, 1, 25),
        end,
    )
    one_day = dt.date(2026, 3, 1)
    assert period(one_day, one_day, today=TODAY, default_days=30, max_days=1) == (
        one_day,
        one_day,
    )


def test_a_reversed_or_too_long_period_is_refused() -> None:
    with pytest.raises(PeriodError, match="after"):
        period(dt.date(2026, 2, 1), dt.date(2026, 1, 1), today=TODAY, default_days=30, max_days=9)
    with pytest.raises(PeriodError, match="at most 366"):
        period(dt.date(2025, 1, 1), TODAY, today=TODAY, default_days=30, max_days=366)
    with pytest.raises(PeriodError, match="after"):
        period(dt.date(2027, 1, 1), None, today=TODAY, default_days=30, max_days=366)


def test_the_first_days_of_the_calendar_do_not_overflow() -> None:
    first = dt.date.min
    assert period(None, first, today=TODAY, default_days=30, max_days=366) == (first, first)


def _paid(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "order_id": "o1",
        "currency": "EUR",
        "total_minor": 3594,
        "lines": [
            {
                "sku": "TEA-1",
                "product_id": 7,
                "product_slug": "green-tea",
                "product_name": "Green Tea",
                "quantity": 2,
                "unit_price_minor": 1250,
                "line_total_minor": 2500,
            },
            {"sku": "MUG", "product_id": None, "quantity": 1, "unit_price_minor": 900},
        ],
    }
    data.update(changes)
    return data


def test_a_paid_order_is_read_with_its_lines() -> None:
    order = facts.paid_order(_paid())
    assert (order.order_id, order.currency, order.total_minor, order.units) == (
        "o1",
        "EUR",
        3594,
        3,
    )
    tea, mug = order.lines
    assert (tea.product_key, tea.name, tea.slug, tea.revenue_minor) == (
        "7",
        "Green Tea",
        "green-tea",
        2500,
    )
    # No catalog product, no line total: the SKU names it, price x quantity is its revenue.
    assert (mug.product_key, mug.name, mug.revenue_minor) == ("sku:MUG", "MUG", 900)


@pytest.mark.parametrize(
    "changes",
    [
        {"total_minor": 35.94},
        {"total_minor": "3594"},
        {"total_minor": -1},
        {"total_minor": True},
        {"total_minor": 2**60},
        {"currency": "eur"},
        {"currency": None},
        {"order_id": ""},
        {"lines": "TEA-1"},
        {"lines": [{"sku": "X", "quantity": 1.5, "line_total_minor": 1}]},
        {"lines": [{"sku": "X", "product_id": "7", "quantity": 1, "line_total_minor": 1}]},
        {"lines": [{"quantity": 1, "line_total_minor": 1}]},
    ],
)
def test_payloads_that_would_skew_the_figures_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(facts.BadEvent):
        facts.paid_order(_paid(**changes))


def test_a_refund_is_the_events_own_amount() -> None:
    assert facts.refund({"refund_minor": 1990, "refunded_minor": 5000}) == 1990
    assert facts.refund({}) == 0
    with pytest.raises(facts.BadEvent):
        facts.refund({"refund_minor": 19.9})
