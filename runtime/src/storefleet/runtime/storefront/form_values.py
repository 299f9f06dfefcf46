"""Numbers and choices as the console's and the vendor portal's forms post
and show them."""

from __future__ import annotations

from typing import Any


def whole(text: str, default: int = -1) -> int:
    """A whole number; ``default`` (-1, which the APIs refuse) if unreadable."""
    try:
        return int(text.strip())
    except ValueError:
        return default


def minor_units(text: str) -> int:
    """'12.50' -> 1250; anything unreadable -> -1, which the API refuses."""
    try:
        units, _, cents = text.strip().replace(",", ".").partition(".")
        return int(units or "0") * 100 + int((cents + "00")[:2])
    except ValueError:
        return -1


def category_choices(tree: list[dict[str, Any]], depth: int = 0) -> list[tuple[str, str]]:
    """The category tree as (slug, indented name) options, depth first."""
    found: list[tuple[str, str]] = []
    for node in tree:
        found.append((node["slug"], "— " * depth + node["name"]))
        found += category_choices(node.get("children", []), depth + 1)
    return found
