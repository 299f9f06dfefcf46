"""Builds the vendors service's ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from storefleet.runtime.platform.config.settings import EventsSettings, StoreSettings
from storefleet.runtime.platform.events.backends import create_event_bus
from storefleet.runtime.platform.events.consumer import IdempotentConsumer, attach_consumer
from storefleet.runtime.platform.events.outbox import EventBus, OutboxRelay
from storefleet.runtime.platform.resilience.breaker import CircuitBreaker
from storefleet.runtime.platform.resilience.client import ServiceClient
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.app import create_service_app
from storefleet.runtime.vendors import api
from storefleet.runtime.vendors.models import outbox, processed_events
from storefleet.runtime.vendors.service import CONSUMED, VendorService
from storefleet.runtime.vendors.settings import VendorsSettings

log = logging.getLogger(__name__)
MIGRATIONS = "storefleet.runtime.vendors:migrations"
VERSION_TABLE = "vendors_alembic_version"
CONSUMER = "vendors"


async def _payouts_forever(service: VendorService, every: float) -> None:
    """Each vendor is paid once per period of its schedule (the run is idempotent)."""
    while True:
        try:
            await service.payouts.run(dt.datetime.now(dt.UTC).date())
        except Exception:
            log.exception("payout run failed")
        await asyncio.sleep(every)


def create_app(
    settings: VendorsSettings | None = None,
    bus: EventBus | None = None,
    events: EventsSettings | None = None,
    catalog_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    settings = settings or VendorsSettings()
    events = events or EventsSettings()
    db = Database(settings.resolved_database_url(), pool_size=settings.database_pool_size)
    bus = bus or create_event_bus(settings.event_bus)
    relay = OutboxRelay(db, outbox, bus, interval=settings.outbox_poll_seconds)
    catalog = ServiceClient(
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
    service = VendorService(
        db, catalog, relay, settings.catalog_token, currency=StoreSettings().currency
    )
    consumer = IdempotentConsumer.configured(CONSUMER, db, processed_events, events)
    for event_type in CONSUMED:
        consumer.on(event_type, service.sales.handle_event)
    feed = attach_consumer(bus, consumer)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.run_migrations:
            await db.migrate(MIGRATIONS, VERSION_TABLE)
        relay.start()
        tasks = [asyncio.create_task(consumer.purge_forever(), name="vendors-purge")]
        if settings.payouts_enabled:
            tasks.append(
                asyncio.create_task(
                    _payouts_forever(service, settings.payout_poll_seconds), name="vendors-payouts"
                )
            )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await relay.stop()
            if feed is not None:
                await feed.close()
            await catalog.close()
            await db.dispose()

    app = create_service_app(
        "vendors",
        title="Storefleet Vendors",
        description="The marketplace: vendors, their products and sub-orders, "
        "commissions and payouts on a double-entry ledger, vendor reviews.",
        lifespan=lifespan,
        log_requests=settings.access_log,
    )
    app.state.readiness_checks["database"] = db.ping
    app.state.vendors = service
    app.state.settings = settings
    app.state.bus = bus
    app.state.consumer = consumer
    app.state.feed = feed
    app.state.vendors_staff_checks = api.staff.build(admin_token=settings.admin_token)
    app.state.vendors_people_checks = api.people.build()
    app.include_router(api.router)
    return app
