"""Builds the catalog service's ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from pydantic import ValidationError

from storefleet.runtime.catalog import api
from storefleet.runtime.catalog.inventory import Inventory
from storefleet.runtime.catalog.models import outbox
from storefleet.runtime.catalog.schemas import PaidOrder
from storefleet.runtime.catalog.service import CatalogService
from storefleet.runtime.catalog.settings import CatalogSettings
from storefleet.runtime.platform.config.settings import StoreSettings
from storefleet.runtime.platform.events.backends import create_event_bus
from storefleet.runtime.platform.events.outbox import Event, EventBus, OutboxRelay
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.app import create_service_app

log = logging.getLogger(__name__)
MIGRATIONS = "storefleet.runtime.catalog:migrations"
VERSION_TABLE = "catalog_alembic_version"


async def _sweep_forever(inventory: Inventory, every: float) -> None:
    while True:
        try:
            await inventory.sweep_expired()
        except Exception:
            log.exception("reservation sweep failed")
        await asyncio.sleep(every)


def create_app(
    settings: CatalogSettings | None = None,
    bus: EventBus | None = None,
    store: StoreSettings | None = None,
) -> FastAPI:
    settings = settings or CatalogSettings()
    store = store or StoreSettings()
    db = Database(settings.resolved_database_url(), pool_size=settings.database_pool_size)
    bus = bus or create_event_bus(settings.event_bus)
    relay = OutboxRelay(db, outbox, bus, interval=settings.outbox_poll_seconds)
    service = CatalogService(db, settings, relay, currency=store.currency)

    async def on_order_paid(event: Event) -> None:
        try:
            order = PaidOrder.model_validate(event.payload)
        except ValidationError:
            log.warning("ignoring malformed order event", extra={"event_id": event.id})
            return
        await service.recommendations.record_order(event.id, order.product_ids)

    # Paid orders from the orders service: "customers also bought" counts what sold together.
    bus.subscribe("order.paid", on_order_paid)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.run_migrations:
            await db.migrate(MIGRATIONS, VERSION_TABLE)
        relay.start()
        sweeper = asyncio.create_task(
            _sweep_forever(service.inventory, settings.reservation_sweep_seconds),
            name="reservation-sweeper",
        )
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await relay.stop()
            await db.dispose()

    app = create_service_app(
        "catalog",
        title="Storefleet Catalog",
        description="Products, categories, brands, search, recommendations and inventory.",
        lifespan=lifespan,
        log_requests=settings.access_log,
    )
    app.state.readiness_checks["database"] = db.ping
    app.state.catalog = service
    app.state.db = db
    app.state.bus = bus
    app.state.catalog_checks = api.guard.build(
        admin_token=settings.admin_token, callers=settings.caller_tokens
    )
    app.include_router(api.router)
    return app
