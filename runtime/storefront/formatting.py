"""Presentation helpers for templates."""

from __future__ import annotations

import hashlib
from html import escape

SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "CHF": "CHF "}
ZERO_DECIMAL = {"JPY", "KRW"}


def money(minor: int, currency: str = "EUR") -> str:
    symbol = SYMBOLS.get(currency, currency + " ")
    sign = "-" if minor < 0 else ""
    minor = abs(minor)
    if currency in ZERO_DECIMAL:
        return f"{sign}{symbol}{minor:,}"
    return f"{sign}{symbol}{minor // 100:,}.{minor % 100:02d}"


def placeholder_svg(slug: str, label: str) -> str:
    """A product picture stand-in: a colour from the slug and the product's initials."""
    digest = hashlib.sha256(slug.encode()).digest()
    hue = digest[0] * 360 // 256
    initials = "".join(word[0] for word in label.split()[:2]).upper() or "?"
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="400" viewBox="0 0 400 400">'
        f'<rect width="400" height="400" fill="hsl({hue},45%,85%)"/>'
        f'<circle cx="200" cy="200" r="120" fill="hsl({hue},45%,65%)"/>'
        '<text x="200" y="225" font-family="sans-serif" font-size="80" text-anchor="middle" '
        f'fill="hsl({hue},45%,25%)">{escape(initials)}</text></svg>'
    )
