"""The order state machine, as data: which status may follow which, and the
event each arrival announces. Nothing changes an order's status except
``OrderBook.transition`` (book.py), which consults this table."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Status(StrEnum):
    PENDING = "pending"
    AWAITING_PAYMENT = "awaiting_payment"
    ON_HOLD = "on_hold"  # payment authorized, held for a fraud review
    PAID = "paid"
    FULFILLING = "fulfilling"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    RETURN_REQUESTED = "return_requested"
    RETURNED = "returned"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


S = Status

TRANSITIONS: Final[dict[Status, frozenset[Status]]] = {
    S.PENDING: frozenset({S.AWAITING_PAYMENT, S.CANCELLED}),
    S.AWAITING_PAYMENT: frozenset({S.PAID, S.ON_HOLD, S.CANCELLED}),
    S.ON_HOLD: frozenset({S.PAID, S.CANCELLED}),
    S.PAID: frozenset({S.FULFILLING, S.CANCELLED}),
    S.FULFILLING: frozenset({S.SHIPPED, S.CANCELLED}),
    S.SHIPPED: frozenset({S.DELIVERED}),
    S.DELIVERED: frozenset({S.RETURN_REQUESTED}),
    # A return request is accepted (goods come back) or declined (delivered again).
    S.RETURN_REQUESTED: frozenset({S.RETURNED, S.DELIVERED}),
    S.RETURNED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.PARTIALLY_REFUNDED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED, S.RETURN_REQUESTED}),
    S.REFUNDED: frozenset(),
    S.CANCELLED: frozenset(),
}

# The event an order's arrival in a status announces (none for internal steps).
EVENTS: Final[dict[Status, str]] = {
    S.PAID: "order.paid",
    S.ON_HOLD: "order.held_for_review",
    S.FULFILLING: "order.fulfilling",
    S.SHIPPED: "order.shipped",
    S.DELIVERED: "order.delivered",
    S.CANCELLED: "order.cancelled",
    S.RETURN_REQUESTED: "order.return_requested",
    S.RETURNED: "order.returned",
    S.PARTIALLY_REFUNDED: "order.refunded",
    S.REFUNDED: "order.refunded",
}

# What a shopper reads on the tracking page.
LABELS: Final[dict[Status, str]] = {
    S.PENDING: "Received",
    S.AWAITING_PAYMENT: "Awaiting payment",
    S.ON_HOLD: "Being reviewed",
    S.PAID: "Paid",
    S.FULFILLING: "Being packed",
    S.SHIPPED: "Shipped",
    S.DELIVERED: "Delivered",
    S.CANCELLED: "Cancelled",
    S.RETURN_REQUESTED: "Return requested",
    S.RETURNED: "Returned",
    S.PARTIALLY_REFUNDED: "Partially refunded",
    S.REFUNDED: "Refunded",
}

TERMINAL: Final = frozenset(status for status, nexts in TRANSITIONS.items() if not nexts)


def can_transition(current: Status, target: Status) -> bool:
    return target in TRANSITIONS[current]
