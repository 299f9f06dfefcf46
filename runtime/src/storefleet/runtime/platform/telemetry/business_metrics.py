"""Business counters for Prometheus, read off the events a service publishes.

Every state change that matters to the business already becomes an event in
the outbox; counting them where the relay publishes them keeps one count per
change without threading counters through each service's code. A relay that
publishes an event twice (a crash between send and mark) counts it twice: good
enough for dashboards, not for the books, which the services' own tables keep.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from prometheus_client import Counter

from storefleet.runtime.platform.events.model import Event

ORDERS: Final = Counter(
    "storefleet_orders_total",
    "Orders by what happened to them (placed, paid, cancelled, refunded, shipped, ...).",
    ["event"],
)
REVENUE: Final = Counter(
    "storefleet_revenue_minor_units_total",
    "Money taken for paid orders, in minor units (cents) of each currency.",
    ["currency"],
)
REFUNDS: Final = Counter(
    "storefleet_refunds_minor_units_total",
    "Money refunded, in minor units of each currency.",
    ["currency"],
)
CART_EVENTS: Final = Counter(
    "storefleet_cart_events_total",
    "Cart activity announced as events (promotions redeemed, carts abandoned, ...).",
    ["event"],
)


def _int(payload: Mapping[str, Any], key: str) -> int:
    value = payload.get(key)
    return value if isinstance(value, int) and value > 0 else 0


def _paid(payload: Mapping[str, Any]) -> None:
    REVENUE.labels(str(payload.get("currency", ""))).inc(_int(payload, "total_minor"))


def _refunded(payload: Mapping[str, Any]) -> None:
    REFUNDS.labels(str(payload.get("currency", ""))).inc(_int(payload, "refund_minor"))


# Event type prefix -> (counter of events, what else the payload adds up to)
_MONEY: Final[Mapping[str, Callable[[Mapping[str, Any]], None]]] = {
    "order.paid": _paid,
    "order.refunded": _refunded,
}


def observe(event: Event) -> None:
    """Counts one published event."""
    family, _, what = event.type.partition(".")
    if family == "order":
        ORDERS.labels(what).inc()
    elif family == "cart":
        CART_EVENTS.labels(what).inc()
    money = _MONEY.get(event.type)
    if money is not None:
        money(event.payload)
