"""Running the services: one per process in a cluster, or all in one on a laptop."""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator

from fastapi import FastAPI

from storefleet.runtime.platform.config.settings import development_mode
from storefleet.runtime.platform.events.outbox import InProcessEventBus
from storefleet.runtime.platform.web.errors import install_error_handlers

log = logging.getLogger(__name__)

DEFAULT_PORTS = {
    "all": 8000,
    "storefront": 8000,
    "catalog": 8001,
    "cart": 8002,
    "accounts": 8003,
    "orders": 8004,
    "payments": 8005,
    "notifications": 8006,
    "vendors": 8007,
    "analytics": 8008,
}


def _service_app(name: str) -> FastAPI:
    if name == "catalog":
        from storefleet.runtime.catalog.app import create_app as catalog_app

        return catalog_app()
    if name == "cart":
        from storefleet.runtime.cart.app import create_app as cart_app

        return cart_app()
    if name == "storefront":
        from storefleet.runtime.storefront.app import create_app as storefront_app

        return storefront_app()
    if name == "accounts":
        from storefleet.runtime.accounts.app import create_app as accounts_app

        return accounts_app()
    if name == "orders":
        from storefleet.runtime.orders.app import create_app as orders_app

        return orders_app()
    if name == "payments":
        from storefleet.runtime.payments.app import create_app as payments_app

        return payments_app()
    if name == "notifications":
        from storefleet.runtime.notifications.app import create_app as notifications_app

        return notifications_app()
    if name == "vendors":
        from storefleet.runtime.vendors.app import create_app as vendors_app

        return vendors_app()
    if name == "analytics":
        from storefleet.runtime.analytics.app import create_app as analytics_app

        return analytics_app()
    raise ValueError(f"unknown service {name!r}")


def build_service(name: str) -> FastAPI:
    """One service, answering at ``/`` and under its public prefix (``/api/<name>``).

    The store's router sends ``/api/catalog/...`` to the catalog unchanged, while
    probes and the other services call it at ``/``; both reach the same app.
    """
    app = _service_app(name)
    if name == "storefront":
        return app

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with app.router.lifespan_context(app):
            yield

    root = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    # Paths no mount matches (a newline in the path defeats Mount's pattern)
    # still get problem+json.
    install_error_handlers(root)
    root.mount(f"/api/{name}", app)
    root.mount("/", app)
    return root


def build_all(*, demo: bool = True) -> FastAPI:
    """Every service in one app: APIs under /api/<service>, the shop at /.

    The services still talk to each other's HTTP APIs, exactly as when deployed
    apart, but in memory (an ASGI transport) rather than through a socket: the
    same requests and answers, without a second trip through the HTTP parser.
    Events travel on a shared in-process bus.
    """
    import httpx

    from storefleet.runtime.cart.app import create_app as cart_app
    from storefleet.runtime.cart.settings import CartSettings
    from storefleet.runtime.catalog.app import create_app as catalog_app
    from storefleet.runtime.catalog.demo import import_demo
    from storefleet.runtime.catalog.settings import CatalogSettings
    from storefleet.runtime.payments.settings import PaymentsSettings
    from storefleet.runtime.storefront.app import create_app as storefront_app
    from storefleet.runtime.storefront.settings import StorefrontSettings

    bus = InProcessEventBus()
    # The orders service calls the catalog, cart and payments with their tokens
    # (and the cart the catalog's, for stock counts); outside development mode a
    # service without one gets one for this process.
    tokens = {
        name: configured or ("" if development_mode() else secrets.token_urlsafe(32))
        for name, configured in (
            ("catalog", CatalogSettings().admin_token),
            ("cart", CartSettings().admin_token),
            ("payments", PaymentsSettings().admin_token),
        )
    }
    catalog = catalog_app(CatalogSettings(admin_token=tokens["catalog"]), bus=bus)
    cart = cart_app(
        # In-memory transports: the host names only label the calls.
        CartSettings(
            catalog_url="http://catalog",
            admin_token=tokens["cart"],
            catalog_token=tokens["catalog"],
        ),
        bus=bus,
        catalog_transport=httpx.ASGITransport(app=catalog),
    )
    from storefleet.runtime.orders.app import create_app as orders_app
    from storefleet.runtime.orders.settings import OrdersSettings
    from storefleet.runtime.payments.app import create_app as payments_app

    payments = payments_app(PaymentsSettings(admin_token=tokens["payments"]), bus=bus)
    orders = orders_app(
        OrdersSettings(
            catalog_url="http://catalog",
            cart_url="http://cart",
            payments_url="http://payments",
            auth_secret=cart.state.settings.auth_secret,
            catalog_token=tokens["catalog"],
            cart_token=tokens["cart"],
            payments_token=tokens["payments"],
        ),
        bus=bus,
        transports={
            "catalog": httpx.ASGITransport(app=catalog),
            "cart": httpx.ASGITransport(app=cart),
            "payments": httpx.ASGITransport(app=payments),
        },
    )
    from storefleet.runtime.notifications.app import create_app as notifications_app
    from storefleet.runtime.notifications.settings import NotificationsSettings

    notifications = notifications_app(
        NotificationsSettings(auth_secret=cart.state.settings.auth_secret), bus=bus
    )
    from storefleet.runtime.vendors.app import create_app as vendors_app
    from storefleet.runtime.vendors.settings import VendorsSettings

    vendors = vendors_app(
        VendorsSettings(catalog_url="http://catalog", catalog_token=tokens["catalog"]),
        bus=bus,
        catalog_transport=httpx.ASGITransport(app=catalog),
    )
    from storefleet.runtime.analytics.app import create_app as analytics_app

    analytics = analytics_app(bus=bus)
    from storefleet.runtime.accounts.app import create_app as accounts_app
    from storefleet.runtime.platform.identity.tokens import (
        Authenticator,
        AuthSettings,
        ensure_secret,
    )

    # One store, one identity: every service verifies the accounts service's tokens.
    authenticator = Authenticator(ensure_secret(AuthSettings()))
    accounts = accounts_app(auth=authenticator, bus=bus)
    for service in (catalog, cart, payments, orders, notifications, vendors, analytics):
        service.state.authenticator = authenticator
    storefront = storefront_app(
        StorefrontSettings(catalog_url="http://catalog", cart_url="http://cart"),
        transports={
            "catalog": httpx.ASGITransport(app=catalog),
            "cart": httpx.ASGITransport(app=cart),
            "orders": httpx.ASGITransport(app=orders),
            "payments": httpx.ASGITransport(app=payments),
            "accounts": httpx.ASGITransport(app=accounts),
            "vendors": httpx.ASGITransport(app=vendors),
            "analytics": httpx.ASGITransport(app=analytics),
        },
    )
    storefront.state.authenticator = authenticator

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for sub in (
                catalog,
                cart,
                payments,
                orders,
                notifications,
                vendors,
                analytics,
                accounts,
                storefront,
            ):
                await stack.enter_async_context(sub.router.lifespan_context(sub))
            if demo:
                log.info("loading the demo catalog if the shop is empty (first start: ~20 s)")
                imported = await import_demo(catalog.state.catalog)
                if imported:
                    log.info("imported the demo catalog", extra={"products": imported})
            yield

    root = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    root.mount("/api/catalog", catalog)
    root.mount("/api/cart", cart)
    root.mount("/api/orders", orders)
    root.mount("/api/payments", payments)
    root.mount("/api/notifications", notifications)
    root.mount("/api/accounts", accounts)
    root.mount("/api/vendors", vendors)
    root.mount("/api/analytics", analytics)
    root.mount("/", storefront)
    return root
