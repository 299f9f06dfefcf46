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


def _luminance(hex_color: str) -> float:
    channels = [int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def readable_on(hex_color: str) -> str:
    """Black or white, whichever contrasts more with a store's brand colour (WCAG)."""
    luminance = _luminance(hex_color)
    on_white = (1.05) / (luminance + 0.05)
    on_black = (luminance + 0.05) / 0.05
    return "#ffffff" if on_white >= on_black else "#111111"
