"""Builds the notifications service's ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator

from fastapi import FastAPI

from storefleet.runtime.notifications import api
from storefleet.runtime.notifications.channels import (
    FileMailSender,
    Sender,
    SmtpSender,
    WebhookSender,
)
from storefleet.runtime.notifications.models import outbox, processed_events
from storefleet.runtime.notifications.service import NotificationService
from storefleet.runtime.notifications.settings import NotificationsSettings
from storefleet.runtime.platform.config.settings import EventsSettings, StoreSettings
from storefleet.runtime.platform.events.backends import create_event_bus
from storefleet.runtime.platform.events.consumer import IdempotentConsumer, attach_consumer
from storefleet.runtime.platform.events.outbox import EventBus, OutboxRelay
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.storage.private_files import private_sqlite
from storefleet.runtime.platform.web.app import create_service_app

log = logging.getLogger(__name__)
MIGRATIONS = "storefleet.runtime.notifications:migrations"
VERSION_TABLE = "notifications_alembic_version"
CONSUMER = "notifications"


def senders_for(settings: NotificationsSettings) -> dict[str, Sender]:
    senders: dict[str, Sender] = {}
    if settings.smtp_host:
        senders["email"] = SmtpSender(
            settings.smtp_host,
            settings.smtp_port,
            mail_from=settings.mail_from,
            username=settings.smtp_username,
            password=settings.smtp_password,
            security=settings.smtp_security,
            timeout=settings.smtp_timeout_seconds,
        )
    else:
        senders["email"] = FileMailSender(settings.data_dir / "mail", mail_from=settings.mail_from)
    if settings.sms_webhook_url:
        senders["sms"] = WebhookSender(settings.sms_webhook_url, settings.sms_webhook_secret)
    if settings.push_webhook_url:
        senders["push"] = WebhookSender(settings.push_webhook_url, settings.push_webhook_secret)
    return senders


def create_app(
    settings: NotificationsSettings | None = None,
    store: StoreSettings | None = None,
    bus: EventBus | None = None,
    events: EventsSettings | None = None,
) -> FastAPI:
    settings = settings or NotificationsSettings()
    store = store or StoreSettings()
    events = events or EventsSettings()
    if not settings.auth_secret:
        # Tokens then only verify within this process; fine for a laptop demo.
        settings = settings.model_copy(update={"auth_secret": secrets.token_urlsafe(32)})
    # Who was sent what: an embedded database only its owner reads.
    private_sqlite(settings.resolved_database_url())
    db = Database(settings.resolved_database_url(), pool_size=settings.database_pool_size)
    bus = bus or create_event_bus(settings.event_bus)
    relay = OutboxRelay(db, outbox, bus, interval=settings.outbox_poll_seconds)
    senders = senders_for(settings)
    service = NotificationService(db, settings, store, senders, relay)
    consumer = IdempotentConsumer.configured(CONSUMER, db, processed_events, events)
    for event_type in service.event_types():
        consumer.on(event_type, service.handle_event)
    feed = attach_consumer(bus, consumer)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.run_migrations:
            await db.migrate(MIGRATIONS, VERSION_TABLE)
        relay.start()
        dispatcher = asyncio.create_task(service.dispatch_forever(), name="notify-dispatch")
        housekeeping = asyncio.create_task(consumer.purge_forever(), name="notify-purge")
        try:
            yield
        finally:
            for task in (dispatcher, housekeeping):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await relay.stop()
            if feed is not None:
                await feed.close()
            for sender in senders.values():
                if isinstance(sender, WebhookSender):
                    await sender.close()
            await db.dispose()

    app = create_service_app(
        "notifications",
        title="Storefleet Notifications",
        description="Email, SMS, push and in-app messages when orders and payments change.",
        lifespan=lifespan,
        log_requests=settings.access_log,
    )
    app.state.readiness_checks["database"] = db.ping
    app.state.notifications = service
    app.state.settings = settings
    app.state.bus = bus
    app.state.consumer = consumer
    app.state.feed = feed
    app.state.notifications_checks = api.guard.build(admin_token=settings.admin_token)
    app.include_router(api.router)
    return app
