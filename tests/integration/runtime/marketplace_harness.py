"""A catalog and a vendors service on real ports, sharing one in-process bus,
with the store's signing secret: the vendors API and marketplace tests' world."""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Backend, Server

from storefleet.runtime.catalog.app import create_app as catalog_app
from storefleet.runtime.catalog.settings import CatalogSettings
from storefleet.runtime.platform.events import contracts
from storefleet.runtime.platform.events.consumer import InProcessFeed
from storefleet.runtime.platform.events.outbox import Event, InProcessEventBus
from storefleet.runtime.platform.identity.tokens import Authenticator, AuthSettings
from storefleet.runtime.vendors.app import create_app as vendors_app
from storefleet.runtime.vendors.settings import VendorsSettings

CATEGORY = "tea"


@dataclass
class Marketplace:
    backend: Backend
    catalog: Server
    vendors: Server
    bus: InProcessEventBus
    auth: Authenticator
    catalog_token: str
    admin_token: str

    def headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    @property
    def admin(self) -> dict[str, str]:
        """The operator's static admin token."""
        return self.headers(self.admin_token)

    def vendor_staff(self, vendor_id: str, role: str = "vendor-admin") -> dict[str, str]:
        """A token as the accounts service issues it, with the vendor claim."""
        token = self.auth.issue_access(
            f"{role}-{uuid.uuid4().hex[:6]}", {role}, extra={"vendor_id": vendor_id}
        )
        return self.headers(token)

    def customer(self, subject: str) -> dict[str, str]:
        return self.headers(self.auth.issue_access(subject, {"customer"}))

    async def publish(self, event_type: str, payload: dict[str, Any]) -> Event:
        """Deliver an event as the orders service's relay does, and wait until
        the vendors service has handled it. The payload must keep its type's
        contract (storefleet.runtime.platform.events.contracts), as the orders service's do."""
        event = contracts.event(event_type, payload, source="orders")
        await self.bus.publish(event)
        feed = self.vendors.app.state.feed
        assert isinstance(feed, InProcessFeed)
        await feed.drain()
        return event


def vendor_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "display_name": "Tea House",
        "contact_email": "owner@tea.example",
        "commission_percent": 12.5,
        "payout": {"currency": "EUR", "schedule": "Weekly", "minimum_amount": 10},
        "product_limit": None,
        "suspended": False,
    }
    body.update(overrides)
    return body


def product_body(price: int = 1250, stock: int = 20) -> dict[str, Any]:
    code = uuid.uuid4().hex[:8]
    return {
        "slug": f"tea-{code}",
        "name": f"Tea {code}",
        "category": CATEGORY,
        "variants": [
            {"sku": f"TEA-{code.upper()}", "price_minor": price, "currency": "EUR", "stock": stock}
        ],
    }


def paid_order(customer: str | None, lines: list[tuple[dict[str, Any], int]]) -> dict[str, Any]:
    """An ``order.paid`` payload (docs/events.md) for (product, quantity) pairs."""
    order_lines = []
    for product, quantity in lines:
        variant = product["variants"][0]
        order_lines.append(
            {
                "sku": variant["sku"],
                "product_id": product["id"],
                "product_slug": product["slug"],
                "product_name": product["name"],
                "variant_name": "",
                "quantity": quantity,
                "unit_price_minor": variant["price_minor"],
                "line_total_minor": variant["price_minor"] * quantity,
            }
        )
    subtotal = sum(line["line_total_minor"] for line in order_lines)
    return {
        "order_id": uuid.uuid4().hex,
        "store": "test",
        "customer_id": customer,
        "email": "shopper@example.com",
        "status": "paid",
        "currency": "EUR",
        "subtotal_minor": subtotal,
        "discount_minor": 0,
        "shipping_minor": 495,
        "tax_minor": 0,
        "total_minor": subtotal + 495,
        "authorized_minor": subtotal + 495,
        "captured_minor": subtotal + 495,
        "refunded_minor": 0,
        "product_ids": sorted({line["product_id"] for line in order_lines}),
        "lines": order_lines,
    }


@contextlib.asynccontextmanager
async def marketplace(
    make_backend: Callable[..., contextlib.AbstractContextManager[Backend]],
    request: pytest.FixtureRequest,
    directory: Path,
    kind: str,
) -> AsyncIterator[Marketplace]:
    with make_backend(request, directory, kind) as backend:
        # The backend's second database (the cart's) is the vendors service's here.
        vendors_db = backend.cart_db
        bus = InProcessEventBus(history=10_000)
        auth = Authenticator(
            AuthSettings(
                jwt_secret=secrets.token_urlsafe(32), issuer="storefleet:marketplace", required=True
            )
        )
        catalog_token, admin_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        catalog = Server(
            catalog_app(
                CatalogSettings(
                    database_url=backend.catalog_db,
                    admin_token=catalog_token,
                    access_log=False,
                    read_cache_seconds=0,
                ),
                bus=bus,
            )
        )
        vendors = Server(
            vendors_app(
                VendorsSettings(
                    database_url=vendors_db,
                    catalog_url=catalog.url,
                    catalog_token=catalog_token,
                    admin_token=admin_token,
                    access_log=False,
                    payouts_enabled=False,
                    outbox_poll_seconds=0.2,
                    http_retries=0,
                ),
                bus=bus,
            )
        )
        for app in (catalog.app, vendors.app):
            app.state.authenticator = auth
        await catalog.start()
        await vendors.start()
        try:
            async with httpx.AsyncClient(base_url=catalog.url, timeout=30) as client:
                made = await client.post(
                    "/admin/categories",
                    json={"slug": CATEGORY, "name": "Tea"},
                    headers={"Authorization": f"Bearer {catalog_token}"},
                )
                assert made.status_code == 201, made.text
            yield Marketplace(backend, catalog, vendors, bus, auth, catalog_token, admin_token)
        finally:
            await vendors.stop()
            await catalog.stop()
