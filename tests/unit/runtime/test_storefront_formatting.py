"""How prices and brand colours come out on the page."""

from __future__ import annotations

import pytest

from storefleet.runtime.storefront.formatting import money, readable_on


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [
        (1999, "EUR", "€19.99"),
        (5, "USD", "$0.05"),
        (123456, "GBP", "£1,234.56"),
        (500, "JPY", "¥500"),
        (-500, "EUR", "-€5.00"),
        (100, "SEK", "SEK 1.00"),
    ],
)
def test_money(minor: int, currency: str, shown: str) -> None:
    assert money(minor, currency) == shown


@pytest.mark.parametrize(
    ("background", "text"),
    [
        ("#1f4e79", "#ffffff"),
        ("#f0883e", "#111111"),
        ("#ffffff", "#111111"),
        ("#000000", "#ffffff"),
    ],
)
def test_text_on_brand_colours_stays_readable(background: str, text: str) -> None:
    assert readable_on(background) == text
