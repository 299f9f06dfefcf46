"""Builds the orders service's ASGI app."""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from storefleet.runtime.orders import api
from storefleet.runtime.orders.models import outbox
from storefleet.runtime.orders.service import OrderService
from storefleet.runtime.orders.settings import OrdersSettings
from storefleet.runtime.platform.events.backends import create_event_bus
from storefleet.runtime.platform.events.outbox import EventBus, OutboxRelay
from storefleet.runtime.platform.resilience.breaker import CircuitBreaker
from storefleet.runtime.platform.resilience.client import ServiceClient
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.app import create_service_app

log = logging.getLogger(__name__)
MIGRATIONS = "storefleet.runtime.orders:migrations"
VERSION_TABLE = "orders_alembic_version"


def create_app(
    settings: OrdersSettings | None = None,
    bus: EventBus | None = None,
    transports: dict[str, httpx.AsyncBaseTransport] | None = None,
) -> FastAPI:
    settings = settings or OrdersSettings()
    if not settings.auth_secret:
        settings = settings.model_copy(update={"auth_secret": secrets.token_urlsafe(32)})
    db = Database(settings.resolved_database_url(), pool_size=settings.database_pool_size)
    bus = bus or create_event_bus(settings.event_bus)
    relay = OutboxRelay(db, outbox, bus, interval=settings.outbox_poll_seconds)

    def client(name: str, url: str, timeout: float | None = None) -> ServiceClient:
        return ServiceClient(
            name,
            url,
            timeout=timeout or settings.http_timeout_seconds,
            retries=settings.http_retries,
            breaker=CircuitBreaker(
                name,
                failure_threshold=settings.breaker_failure_threshold,
                reset_timeout=settings.breaker_reset_seconds,
            ),
            transport=(transports or {}).get(name),
        )

    catalog = client("catalog", settings.catalog_url)
    cart = client("cart", settings.cart_url)
    payments = client("payments", settings.payments_url, settings.payments_timeout_seconds)
    service = OrderService(db, settings, catalog, cart, payments, relay)
    # Refunds made at the payments service directly reach their orders.
    bus.subscribe("payment.refunded", service.refunds.payment_refunded)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.run_migrations:
            await db.migrate(MIGRATIONS, VERSION_TABLE)
        relay.start()
        # Resumes checkouts a previous process left mid-way, then polls for due steps.
        service.saga.start()
        try:
            yield
        finally:
            await service.saga.stop()
            await relay.stop()
            for upstream in (catalog, cart, payments):
                await upstream.close()
            await db.dispose()

    app = create_service_app(
        "orders",
        title="Storefleet Orders",
        description="Checkout (a persisted saga), order tracking, fulfilment, returns, refunds.",
        lifespan=lifespan,
        log_requests=settings.access_log,
    )
    app.state.readiness_checks["database"] = db.ping
    app.state.orders = service
    app.state.settings = settings
    app.state.bus = bus
    app.state.orders_checks = api.guard.build(admin_token=settings.admin_token)
    app.include_router(api.router)
    return app
