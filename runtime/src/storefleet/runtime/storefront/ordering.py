"""The orders and payments services as the checkout and order pages reach
them: where they are, their clients, the words for their answers, and the
cookie that remembers a guest's orders (order id and e-mail, which is what the
orders API asks of a guest).

The app factory builds one ``Ordering`` and sets it on ``app.state.ordering``;
pages receive it through ``pages.deps.OrderingDep``.
"""

from __future__ import annotations

import json
import re

import httpx
from fastapi import Request
from fastapi.responses import Response
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from storefleet.runtime.platform.config.settings import upstream_url
from storefleet.runtime.platform.resilience.breaker import CircuitBreaker
from storefleet.runtime.platform.resilience.client import ServiceClient
from storefleet.runtime.storefront.settings import StorefrontSettings

ORDERS_COOKIE = "sf_orders"
# The orders service's default express surcharge (it decides; the page shows it).
EXPRESS_SURCHARGE_MINOR = 995
ORDER_ID = re.compile(r"^[0-9a-f]{32}$")
KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,100}$")
COUNTRIES = {
    "AT": "Austria",
    "BE": "Belgium",
    "CH": "Switzerland",
    "DE": "Germany",
    "ES": "Spain",
    "FR": "France",
    "GB": "United Kingdom",
    "IT": "Italy",
    "NL": "Netherlands",
    "US": "United States",
}
TEST_TOKENS = {
    "tok_visa": "approved",
    "tok_chargeDeclined": "declined",
    "tok_threeDSecureRequired": "asks for 3-D Secure",
}
CANCEL_REASONS = {
    "payment_declined": "Your card was declined. Please try another card.",
    "payment_failed": "The payment didn't go through. Please try another card.",
    "payment_unavailable": "We couldn't reach the payment provider. Please try again shortly.",
    "payment_not_completed": "The card check wasn't completed in time.",
    "out_of_stock": "Some items sold out while you were checking out.",
    "reservation_expired": "Your items' hold ran out. Please check out again.",
    "rejected_in_review": "We couldn't accept this order.",
    "fraud_blocked": "We couldn't accept this payment. Please contact us.",
}


class CheckoutSettings(StorefrontSettings):
    """Where the storefront finds the orders and payments services."""

    model_config = SettingsConfigDict(env_prefix="STOREFLEET_STOREFRONT_", extra="ignore")

    orders_url: str = Field(default_factory=lambda: upstream_url("orders", 8004))
    payments_url: str = Field(default_factory=lambda: upstream_url("payments", 8005))
    # Where the shopper's browser reaches the payments service (3-D Secure pages).
    payments_public_path: str = "/api/payments"


def remembered(request: Request) -> dict[str, str]:
    """The guest's recent orders: id -> e-mail, newest first."""
    try:
        data = json.loads(request.cookies.get(ORDERS_COOKIE, "[]"))
    except ValueError:
        return {}
    if not isinstance(data, list):
        return {}
    return {
        str(item[0]): str(item[1])
        for item in data[:20]
        if isinstance(item, list) and len(item) == 2 and ORDER_ID.match(str(item[0]))
    }


def remember(request: Request, response: Response, order_id: str, email: str, max_age: int) -> None:
    orders = {order_id: email, **remembered(request)}
    value = json.dumps([[key, value] for key, value in list(orders.items())[:20]])
    response.set_cookie(
        ORDERS_COOKIE, value, max_age=max_age, httponly=True, samesite="lax", path="/"
    )


class Ordering:
    def __init__(
        self, config: CheckoutSettings, *, orders: ServiceClient, payments: ServiceClient
    ) -> None:
        self.config = config
        self.orders = orders
        self.payments = payments

    async def close(self) -> None:
        await self.orders.close()
        await self.payments.close()


def build_ordering(
    settings: StorefrontSettings, transports: dict[str, httpx.AsyncBaseTransport] | None = None
) -> Ordering:
    """Clients for the orders and payments services: at least 15 s to answer,
    and no retries."""
    config = settings if isinstance(settings, CheckoutSettings) else CheckoutSettings()

    def client(name: str, url: str) -> ServiceClient:
        return ServiceClient(
            name,
            url,
            timeout=max(config.http_timeout_seconds, 15.0),
            retries=0,
            breaker=CircuitBreaker(
                name,
                failure_threshold=config.breaker_failure_threshold,
                reset_timeout=config.breaker_reset_seconds,
            ),
            transport=(transports or {}).get(name),
        )

    return Ordering(
        config,
        orders=client("orders", config.orders_url),
        payments=client("payments", config.payments_url),
    )
