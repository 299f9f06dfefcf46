"""A whole shop for the orders and payments tests: catalog, cart, payments,
orders and storefront as real servers, on SQLite or the dev stack's PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from fastapi import FastAPI

from storefleet.runtime.cart.app import create_app as cart_app
from storefleet.runtime.cart.settings import CartSettings
from storefleet.runtime.catalog.app import create_app as catalog_app
from storefleet.runtime.catalog.settings import CatalogSettings
from storefleet.runtime.orders.app import create_app as orders_app
from storefleet.runtime.orders.settings import OrdersSettings
from storefleet.runtime.payments.app import create_app as payments_app
from storefleet.runtime.payments.settings import PaymentsSettings
from storefleet.runtime.platform.config.settings import StoreSettings
from storefleet.runtime.platform.events.outbox import Event, EventBus, InProcessEventBus
from storefleet.runtime.storefront.app import create_app as storefront_app
from storefleet.runtime.storefront.ordering import CheckoutSettings

STORE = StoreSettings(
    name="Orders Test Shop",
    currency="EUR",
    tax_rate_bps=2000,
    shipping_flat_minor=495,
    free_shipping_threshold_minor=5000,
)
ORDERS_ADMIN = "orders-admin-" + uuid.uuid4().hex
PAYMENTS_ADMIN = "payments-admin-" + uuid.uuid4().hex
# The catalog's and the cart's own tokens: the orders service reserves stock,
# claims carts and counts promo code uses with them, as in a cluster.
CATALOG_ADMIN = "catalog-admin-" + uuid.uuid4().hex
CART_ADMIN = "cart-admin-" + uuid.uuid4().hex
AUTH_SECRET = "orders-test-" + uuid.uuid4().hex
SERVICES = ("catalog", "cart", "payments", "orders")


class Server:
    """A uvicorn server on a free port, in the test's event loop."""

    def __init__(self, app: FastAPI) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = app
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, access_log=False)
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(600):
            if self._server.started:
                return
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.05)
        raise TimeoutError(f"server on {self.url} did not start")

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=15)


@contextlib.contextmanager
def databases(
    request: pytest.FixtureRequest,
    directory: Path,
    kind: str,
    services: tuple[str, ...] = SERVICES,
) -> Iterator[dict[str, str]]:
    """A fresh, empty database per service, of the given kind."""
    if kind == "embedded":
        yield {name: f"sqlite:///{directory / (name + '.db')}" for name in services}
        return
    dsn: str = request.getfixturevalue("postgres_dsn")
    run = uuid.uuid4().hex[:10]
    names = {name: f"sf_orders_{run}_{name}" for name in services}
    with psycopg.connect(dsn, autocommit=True) as connection:
        for database in names.values():
            connection.execute(f'CREATE DATABASE "{database}"')
    base = dsn.rsplit("/", 1)[0]
    try:
        yield {name: f"{base}/{database}" for name, database in names.items()}
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            for database in names.values():
                connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@dataclass
class Commerce:
    kind: str
    catalog: Server
    cart: Server
    payments: Server
    orders: Server
    storefront: Server
    # The shared in-process bus; it carries nothing when ``bus_for`` gave each
    # service a bus of its own (those are in ``buses``).
    bus: InProcessEventBus
    buses: dict[str, EventBus] = field(default_factory=dict)

    def events(self, event_type: str, order_id: str) -> list[Event]:
        return [
            event
            for event in self.bus.recent
            if event.type == event_type and event.payload.get("order_id") == order_id
        ]

    def client(self, server: Server, **headers: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=server.url, timeout=60, headers=headers)

    def orders_admin(self) -> httpx.AsyncClient:
        return self.client(self.orders, Authorization=f"Bearer {ORDERS_ADMIN}")

    def payments_admin(self) -> httpx.AsyncClient:
        return self.client(self.payments, Authorization=f"Bearer {PAYMENTS_ADMIN}")

    def catalog_admin(self) -> httpx.AsyncClient:
        return self.client(self.catalog, Authorization=f"Bearer {CATALOG_ADMIN}")

    def cart_admin(self) -> httpx.AsyncClient:
        return self.client(self.cart, Authorization=f"Bearer {CART_ADMIN}")


@contextlib.asynccontextmanager
async def running_commerce(
    kind: str,
    dbs: dict[str, str],
    *,
    cache_url: str = "memory://",
    cache_prefix: str = "",
    payments: dict[str, Any] | None = None,
    orders: dict[str, Any] | None = None,
    bus_for: Callable[[str], EventBus] | None = None,
) -> AsyncIterator[Commerce]:
    """``bus_for(service)``: a bus per service (as when deployed apart, e.g.
    Kafka) instead of one in-process bus shared by all."""
    bus = InProcessEventBus(history=20_000)
    buses: dict[str, EventBus] = {name: bus_for(name) if bus_for else bus for name in SERVICES}
    common: dict[str, Any] = {"access_log": False, "outbox_poll_seconds": 0.1}
    catalog = Server(
        catalog_app(
            CatalogSettings(
                database_url=dbs["catalog"],
                admin_token=CATALOG_ADMIN,
                reservation_sweep_seconds=0.5,
                **common,
            ),
            bus=buses["catalog"],
        )
    )
    await catalog.start()
    cart = Server(
        cart_app(
            CartSettings(
                database_url=dbs["cart"],
                cache_url=cache_url,
                cache_prefix=cache_prefix,
                catalog_url=catalog.url,
                admin_token=CART_ADMIN,
                catalog_token=CATALOG_ADMIN,
                auth_secret=AUTH_SECRET,
                http_retries=0,
                **common,
            ),
            store=STORE,
            bus=buses["cart"],
        )
    )
    await cart.start()
    pay = Server(
        payments_app(
            PaymentsSettings(
                database_url=dbs["payments"],
                admin_token=PAYMENTS_ADMIN,
                gateway_retries=1,
                breaker_failure_threshold=3,
                breaker_reset_seconds=1.0,
                subscription_poll_seconds=3600,
                **common,
                **(payments or {}),
            ),
            bus=buses["payments"],
        )
    )
    await pay.start()
    order_service = Server(
        orders_app(
            OrdersSettings(
                database_url=dbs["orders"],
                catalog_url=catalog.url,
                cart_url=cart.url,
                payments_url=pay.url,
                admin_token=ORDERS_ADMIN,
                payments_token=PAYMENTS_ADMIN,
                catalog_token=CATALOG_ADMIN,
                cart_token=CART_ADMIN,
                auth_secret=AUTH_SECRET,
                http_retries=0,
                breaker_failure_threshold=3,
                breaker_reset_seconds=1.0,
                saga_poll_seconds=0.2,
                saga_retry_base_seconds=0.1,
                saga_retry_max_seconds=0.5,
                **common,
                **(orders or {}),
            ),
            bus=buses["orders"],
        )
    )
    await order_service.start()
    storefront = Server(
        storefront_app(
            CheckoutSettings(
                catalog_url=catalog.url,
                cart_url=cart.url,
                orders_url=order_service.url,
                payments_url=pay.url,
                access_log=False,
            ),
            store=STORE,
            transports=None,
        )
    )
    await storefront.start()
    try:
        async with httpx.AsyncClient(
            base_url=catalog.url, headers={"Authorization": f"Bearer {CATALOG_ADMIN}"}
        ) as client:
            await client.post(
                "/admin/categories", json={"slug": "checkout-goods", "name": "Checkout goods"}
            )
        yield Commerce(
            kind, catalog, cart, pay, order_service, storefront, bus, buses if bus_for else {}
        )
    finally:
        for server in (storefront, order_service, pay, cart, catalog):
            await server.stop()


async def new_product(commerce: Commerce, *, stock: int = 10, price: int = 1999) -> str:
    """A product of the test's own (so tests never share stock); returns its SKU."""
    code = uuid.uuid4().hex[:8].upper()
    async with commerce.catalog_admin() as client:
        response = await client.post(
            "/admin/products",
            json={
                "slug": f"checkout-item-{code.lower()}",
                "name": f"Checkout Item {code}",
                "category": "checkout-goods",
                "variants": [
                    {"sku": f"CO-{code}", "price_minor": price, "currency": "EUR", "stock": stock}
                ],
            },
        )
    assert response.status_code == 201, response.text
    return f"CO-{code}"


async def stock_of(commerce: Commerce, sku: str) -> int:
    """The exact count: the catalog tells it to its token's holders, not shoppers."""
    async with commerce.catalog_admin() as client:
        response = await client.get(f"/variants/{sku}")
    assert response.status_code == 200, response.text
    return int(response.json()["stock"])


async def fill_cart(commerce: Commerce, items: dict[str, int]) -> str:
    """A new anonymous cart with these items; returns its id."""
    cart_id: str | None = None
    async with commerce.client(commerce.cart) as client:
        for sku, quantity in items.items():
            headers = {"X-Cart-Id": cart_id} if cart_id else {}
            response = await client.post(
                "/cart/items", json={"sku": sku, "quantity": quantity}, headers=headers
            )
            assert response.status_code == 200, response.text
            cart_id = cart_id or response.headers["x-cart-id"]
    assert cart_id is not None
    return cart_id


def checkout_body(token: str = "tok_visa", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "email": f"shopper-{uuid.uuid4().hex[:6]}@example.com",
        "shipping_address": {
            "name": "Ada Shopper",
            "line1": "1 Test Street",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
        },
        "shipping_method": "standard",
        "payment": {"token": token},
    }
    body.update(changes)
    return body


async def checkout(
    commerce: Commerce, cart_id: str, body: dict[str, Any], key: str | None = None
) -> httpx.Response:
    async with commerce.client(commerce.orders) as client:
        return await client.post(
            "/checkout",
            json=body,
            headers={"X-Cart-Id": cart_id, "Idempotency-Key": key or uuid.uuid4().hex},
        )


async def order_of(commerce: Commerce, order_id: str) -> dict[str, Any]:
    async with commerce.orders_admin() as client:
        response = await client.get(f"/admin/orders/{order_id}")
    assert response.status_code == 200, response.text
    order: dict[str, Any] = response.json()
    return order


async def wait_for_status(
    commerce: Commerce, order_id: str, statuses: set[str], within: float = 60
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        order = await order_of(commerce, order_id)
        if order["status"] in statuses and order["checkout_state"] not in (
            "running",
            "compensating",
        ):
            return order
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"order stayed {order['status']} ({order['checkout_state']})")
        await asyncio.sleep(0.1)


async def ledger(commerce: Commerce) -> dict[str, dict[str, int]]:
    async with commerce.payments_admin() as client:
        response = await client.get("/admin/ledger")
    assert response.status_code == 200, response.text
    books: dict[str, dict[str, int]] = response.json()
    return books


async def assert_books_balance(commerce: Commerce) -> None:
    """The processor's ledger, the payments records and the orders agree."""
    books = await ledger(commerce)
    gateway, payments = books["gateway"], books["payments"]
    assert gateway["captured_minor"] == payments["captured_minor"]
    assert gateway["refunded_minor"] == payments["refunded_minor"]
    assert gateway["authorized_minor"] == payments["authorized_minor"]
    totals = {"captured_minor": 0, "refunded_minor": 0}
    async with commerce.orders_admin() as client:
        page = 1
        while True:
            listing = (
                await client.get("/admin/orders", params={"page": page, "per_page": 100})
            ).json()
            for summary in listing["items"]:
                order = (await client.get(f"/admin/orders/{summary['id']}")).json()
                totals["captured_minor"] += order["captured_minor"]
                totals["refunded_minor"] += order["refunded_minor"]
                # No order is left half-way: paid means captured in full.
                if order["status"] == "paid":
                    assert order["captured_minor"] == order["total_minor"]
                if order["status"] == "cancelled" and order["captured_minor"] == 0:
                    assert order["authorized_minor"] == 0 or order["cancel_reason"]
            if page * 100 >= listing["total"]:
                break
            page += 1
    assert totals["captured_minor"] == gateway["captured_minor"]
    assert totals["refunded_minor"] == gateway["refunded_minor"]


async def published(
    commerce: Commerce, event_type: str, order_id: str, count: int, within: float = 15.0
) -> list[Event]:
    """The order's events of a type once ``count`` are out: the relay publishes
    after the commit, a moment after the API has answered."""
    deadline = asyncio.get_running_loop().time() + within
    while len(found := commerce.events(event_type, order_id)) < count:
        assert asyncio.get_running_loop().time() < deadline, (event_type, count, found)
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # and no more than that behind them
    return commerce.events(event_type, order_id)
