"""The commerce runtime's services as the operator deploys them: one row each.

Routes are path prefixes on every store domain; a service without routes is only
reachable from inside the tenant namespace. The storefront also serves the
store-admin console (/admin) and the vendor portal (/vendors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

HTTP_PORT: Final = 8000
LIVENESS_PATH: Final = "/healthz/live"
READINESS_PATH: Final = "/healthz/ready"
# How long a terminating pod keeps serving before SIGTERM (its preStop sleep):
# longer than kube-proxy and an ingress controller take to drop its endpoint.
DRAIN_SECONDS: Final = 5
# The runtime keeps service-to-service routes under this segment of a service's
# prefix (its permissions.SERVICE_ONLY_PREFIX), e.g. /api/catalog/internal/reservations.
SERVICE_ONLY_SEGMENT: Final = "/internal"


def service_account(service: str) -> str:
    return f"runtime-{service}"


@dataclass(frozen=True)
class RuntimeService:
    name: str
    routes: tuple[str, ...]
    description: str

    @property
    def account(self) -> str:
        """Its ServiceAccount: the identity its pods log in to Vault with (one role
        each, reading that service's secrets alone) and the mesh names it by."""
        return service_account(self.name)

    @property
    def service_only(self) -> tuple[str, ...]:
        """The prefixes under this service's routes that only another service of
        the store calls (they also need a caller credential): neither the ingress
        nor the mesh gateway routes them."""
        return tuple(f"{route}{SERVICE_ONLY_SEGMENT}" for route in self.routes if route != "/")


SERVICES: Final[tuple[RuntimeService, ...]] = (
    RuntimeService("accounts", ("/api/accounts",), "Shoppers, staff and vendor accounts."),
    RuntimeService(
        "catalog",
        ("/api/catalog",),
        "Products, categories, search.",
    ),
    RuntimeService(
        "cart",
        ("/api/cart",),
        "Carts and checkout entry.",
    ),
    RuntimeService("orders", ("/api/orders",), "Orders, the checkout saga, returns."),
    RuntimeService("payments", ("/api/payments",), "Authorizations, captures, refunds."),
    RuntimeService("notifications", (), "E-mail and webhooks, fed by events."),
    RuntimeService("analytics", ("/api/analytics",), "Read models for reports."),
    RuntimeService("vendors", ("/api/vendors",), "Marketplace: vendors, sub-orders, payouts."),
    # Last, so that more specific prefixes win on routers that match in order.
    RuntimeService("storefront", ("/",), "Server-rendered shop, admin console, vendor portal."),
)

SERVICE_NAMES: Final = tuple(service.name for service in SERVICES)
