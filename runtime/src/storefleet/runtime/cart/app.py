"""Builds the cart service's ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from storefleet.runtime.cart import api
from storefleet.runtime.cart.catalog_client import CatalogClient
from storefleet.runtime.cart.models import outbox
from storefleet.runtime.cart.service import CartService
from storefleet.runtime.cart.settings import CartSettings
from storefleet.runtime.platform.config.settings import StoreSettings
from storefleet.runtime.platform.events.backends import create_event_bus
from storefleet.runtime.platform.events.outbox import EventBus, OutboxRelay
from storefleet.runtime.platform.resilience.breaker import CircuitBreaker
from storefleet.runtime.platform.resilience.client import ServiceClient
from storefleet.runtime.platform.storage.cache import create_cache
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.app import create_service_app

log = logging.getLogger(__name__)
MIGRATIONS = "storefleet.runtime.cart:migrations"
VERSION_TABLE = "cart_alembic_version"


async def _sweep_forever(service: CartService, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await service.sweep_abandoned()
        except Exception:
            log.exception("abandoned-cart sweep failed")


def create_app(
    settings: CartSettings | None = None,
    store: StoreSettings | None = None,
    bus: EventBus | None = None,
    catalog_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    settings = settings or CartSettings()
    store = store or StoreSettings()
    if not settings.auth_secret:
        # Tokens then only verify within this process; fine for a laptop demo.
        settings = settings.model_copy(update={"auth_secret": secrets.token_urlsafe(32)})
    db = Database(settings.resolved_database_url(), pool_size=settings.database_pool_size)
    cache = create_cache(settings.cache_url, settings.cache_prefix)
    bus = bus or create_event_bus(settings.event_bus)
    relay = OutboxRelay(db, outbox, bus, interval=settings.outbox_poll_seconds)
    catalog_http = ServiceClient(
        "catalog",
        settings.catalog_url,
        timeout=settings.http_timeout_seconds,
        retries=settings.http_retries,
        breaker=CircuitBreaker(
            "catalog",
            failure_threshold=settings.breaker_failure_threshold,
            reset_timeout=settings.breaker_reset_seconds,
        ),
        transport=catalog_transport,
    )
    catalog = CatalogClient(catalog_http, settings.catalog_token)
    service = CartService(db, cache, catalog, settings, store, relay)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.run_migrations:
            await db.migrate(MIGRATIONS, VERSION_TABLE)
        relay.start()
        sweeper = asyncio.create_task(
            _sweep_forever(service, settings.abandoned_sweep_seconds), name="abandoned-carts"
        )
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await relay.stop()
            await catalog_http.close()
            await cache.close()
            await db.dispose()

    app = create_service_app(
        "cart",
        title="Storefleet Cart",
        description="Carts, promo codes, totals with tax and shipping, abandoned carts.",
        lifespan=lifespan,
        log_requests=settings.access_log,
    )
    app.state.readiness_checks["database"] = db.ping
    app.state.readiness_checks["cache"] = cache.ping
    app.state.cart = service
    app.state.settings = settings
    app.state.bus = bus
    app.state.cart_checks = api.guard.build(
        admin_token=settings.admin_token, callers=settings.caller_tokens
    )
    app.include_router(api.router)
    return app
