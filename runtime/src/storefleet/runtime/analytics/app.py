"""Builds the analytics service's ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import cast

from fastapi import FastAPI

from storefleet.runtime.analytics import api
from storefleet.runtime.analytics.models import processed_events
from storefleet.runtime.analytics.service import AnalyticsService
from storefleet.runtime.analytics.settings import AnalyticsSettings
from storefleet.runtime.platform.config.settings import EventsSettings
from storefleet.runtime.platform.events.backends import create_event_bus
from storefleet.runtime.platform.events.consumer import IdempotentConsumer, attach_consumer
from storefleet.runtime.platform.events.outbox import EventBus, StartableBus
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.app import create_service_app

log = logging.getLogger(__name__)
MIGRATIONS = "storefleet.runtime.analytics:migrations"
VERSION_TABLE = "analytics_alembic_version"
CONSUMER = "analytics"


def create_app(
    settings: AnalyticsSettings | None = None,
    bus: EventBus | None = None,
    events: EventsSettings | None = None,
) -> FastAPI:
    settings = settings or AnalyticsSettings()
    events = events or EventsSettings()
    db = Database(settings.resolved_database_url(), pool_size=settings.database_pool_size)
    bus = bus or create_event_bus(settings.event_bus)
    service = AnalyticsService(db, settings)
    consumer = IdempotentConsumer.configured(CONSUMER, db, processed_events, events)
    for event_type in service.event_types():
        consumer.on(event_type, service.handle_event)
    feed = attach_consumer(bus, consumer)
    # Other services' outbox relays start and stop a Kafka bus; this service
    # publishes nothing, so it drives its bus's consumers itself.
    startable = cast(StartableBus, bus) if hasattr(bus, "start") else None

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.run_migrations:
            await db.migrate(MIGRATIONS, VERSION_TABLE)
        if startable is not None:
            await startable.start()
        housekeeping = asyncio.create_task(consumer.purge_forever(), name="analytics-purge")
        try:
            yield
        finally:
            housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await housekeeping
            if startable is not None:
                await startable.stop()
            if feed is not None:
                await feed.close()
            await db.dispose()

    app = create_service_app(
        "analytics",
        title="Storefleet Analytics",
        description="Reports read from events: sales per day, top products, the checkout "
        "funnel. Staff only.",
        lifespan=lifespan,
        log_requests=settings.access_log,
    )
    app.state.readiness_checks["database"] = db.ping
    app.state.analytics = service
    app.state.settings = settings
    app.state.bus = bus
    app.state.consumer = consumer
    app.state.feed = feed
    app.state.analytics_checks = api.guard.build(admin_token=settings.admin_token)
    app.include_router(api.router)
    return app
