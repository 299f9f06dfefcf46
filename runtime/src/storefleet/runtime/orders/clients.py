"""The orders context's view of the catalog, cart and payments: their HTTP APIs
only, each called with the token that service gave this one (``Upstreams``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from storefleet.runtime.orders.settings import OrdersSettings
from storefleet.runtime.platform.identity.permissions import SERVICE_ONLY_PREFIX
from storefleet.runtime.platform.resilience.client import ServiceClient
from storefleet.runtime.platform.web.errors import UpstreamUnavailable


@dataclass(frozen=True)
class CartName:
    """Which cart an order buys: an anonymous cart's id or a signed-in shopper's."""

    owner: str  # "anonymous" | "user"
    ident: str

    @property
    def path(self) -> str:
        return f"{SERVICE_ONLY_PREFIX}/carts/{self.owner}/{self.ident}"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


@dataclass(frozen=True)
class Upstreams:
    """The services an order calls, and the headers each call carries."""

    settings: OrdersSettings
    catalog: ServiceClient
    cart: ServiceClient
    payments: ServiceClient

    def payment_headers(self, idempotency_key: str | None = None) -> dict[str, str]:
        headers = _bearer(self.settings.payments_token)
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def catalog_headers(self) -> dict[str, str]:
        """Reservations are for services only: the catalog's token."""
        return _bearer(self.settings.catalog_token)

    def cart_headers(self) -> dict[str, str]:
        """Claiming carts and counting promo code uses: the cart's token."""
        return _bearer(self.settings.cart_token)


@dataclass(frozen=True)
class Answer:
    """An upstream's answer, or ``status`` 0 if it could not be reached."""

    status: int
    body: dict[str, Any]
    detail: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def transient(self) -> bool:
        return self.status == 0 or self.status >= 500


async def call(
    client: ServiceClient,
    method: str,
    path: str,
    *,
    json: Any = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """One call through the client's timeout, retries and breaker, never raising
    for a failed upstream: the saga decides what a failure means."""
    try:
        response: httpx.Response = await client.request(method, path, json=json, headers=headers)
    except UpstreamUnavailable as exc:
        return Answer(0, {}, exc.detail)
    try:
        body = response.json() if response.content else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {"items": body}
    detail = str(body.get("detail", "")) if response.status_code >= 400 else ""
    return Answer(response.status_code, body, detail)
