"""What a report needs from an event's payload, read strictly.

Payloads come from other contexts (docs/events.md). A field that is missing
or of the wrong type makes the event unusable for money figures: it raises
:class:`BadEvent`, which the service turns into a dead letter rather than a
guess that would skew a report for good.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

CURRENCY: Final = re.compile(r"^[A-Z]{3}$")
# Amounts above this are not real orders, and would overflow a BIGINT sum.
MAX_AMOUNT: Final = 2**53


class BadEvent(ValueError):
    """A payload this service cannot count."""


@dataclass(frozen=True)
class Line:
    product_key: str
    product_id: int | None
    sku: str
    name: str
    slug: str | None
    units: int
    revenue_minor: int


@dataclass(frozen=True)
class PaidOrder:
    order_id: str
    currency: str
    total_minor: int
    lines: tuple[Line, ...]

    @property
    def units(self) -> int:
        return sum(line.units for line in self.lines)


def product_key(product_id: int | None, sku: str) -> str:
    """Lines name their catalog product when it could be looked up, else only a SKU."""
    return str(product_id) if product_id is not None else f"sku:{sku}"


def _amount(data: dict[str, Any], name: str, *, default: int | None = None) -> int:
    value = data.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadEvent(f"{name} must be an integer amount in minor units, not {value!r}")
    if not 0 <= value < MAX_AMOUNT:
        raise BadEvent(f"{name} {value} is out of range")
    return value


def _text(data: dict[str, Any], name: str, limit: int) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise BadEvent(f"{name} is missing")
    return value.strip()[:limit]


def order_id(data: dict[str, Any]) -> str:
    return _text(data, "order_id", 64)


def currency(data: dict[str, Any]) -> str:
    value = data.get("currency")
    if not isinstance(value, str) or not CURRENCY.match(value):
        raise BadEvent(f"currency must be an ISO 4217 code, not {value!r}")
    return value


def _line(raw: Any) -> Line:
    if not isinstance(raw, dict):
        raise BadEvent("a line is not an object")
    sku = _text(raw, "sku", 100)
    product_id = raw.get("product_id")
    if product_id is not None and (
        not isinstance(product_id, int) or isinstance(product_id, bool) or product_id < 0
    ):
        raise BadEvent(f"product_id must be an integer or null, not {product_id!r}")
    units = _amount(raw, "quantity")
    revenue = _amount(raw, "line_total_minor", default=None) if "line_total_minor" in raw else None
    if revenue is None:
        revenue = units * _amount(raw, "unit_price_minor")
    name = raw.get("product_name")
    slug = raw.get("product_slug")
    return Line(
        product_key=product_key(product_id, sku),
        product_id=product_id,
        sku=sku,
        name=(name.strip()[:300] if isinstance(name, str) and name.strip() else sku),
        slug=slug[:200] if isinstance(slug, str) and slug else None,
        units=units,
        revenue_minor=revenue,
    )


def paid_order(data: dict[str, Any]) -> PaidOrder:
    """``order.paid``: what the shopper paid (total, with shipping and tax) and the lines."""
    lines = data.get("lines", [])
    if not isinstance(lines, list):
        raise BadEvent("lines must be a list")
    return PaidOrder(
        order_id=order_id(data),
        currency=currency(data),
        total_minor=_amount(data, "total_minor"),
        lines=tuple(_line(raw) for raw in lines),
    )


def refund(data: dict[str, Any]) -> int:
    """Money this event sent back: ``order.refunded`` always, ``order.cancelled``
    when staff cancelled a paid order (else 0)."""
    return _amount(data, "refund_minor", default=0)
