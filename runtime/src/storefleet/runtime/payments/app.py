"""Builds the payments service's ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator

from fastapi import FastAPI

from storefleet.runtime.payments import api
from storefleet.runtime.payments.gateway import PaymentGateway
from storefleet.runtime.payments.models import outbox
from storefleet.runtime.payments.sandbox import SandboxGateway
from storefleet.runtime.payments.service import PaymentsService
from storefleet.runtime.payments.settings import PaymentsSettings
from storefleet.runtime.platform.events.backends import create_event_bus
from storefleet.runtime.platform.events.outbox import EventBus, OutboxRelay
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.app import create_service_app

log = logging.getLogger(__name__)
MIGRATIONS = "storefleet.runtime.payments:migrations"
VERSION_TABLE = "payments_alembic_version"


def create_gateway(settings: PaymentsSettings, db: Database) -> PaymentGateway:
    if settings.gateway == "stripe":
        from storefleet.runtime.payments.stripe_gateway import StripeGateway

        if not settings.stripe_api_key:
            raise ValueError(
                "STOREFLEET_PAYMENTS_STRIPE_API_KEY is required for the stripe gateway"
            )
        return StripeGateway(
            settings.stripe_api_key,
            api_base=settings.stripe_api_base,
            timeout=settings.gateway_timeout_seconds,
        )
    return SandboxGateway(
        db, webhook_secret=settings.webhook_secret, public_url=settings.public_url
    )


async def _charge_subscriptions_forever(service: PaymentsService, every: float) -> None:
    while True:
        try:
            await service.subscriptions.charge_due()
        except Exception:
            log.exception("subscription charging failed")
        await asyncio.sleep(every)


def create_app(
    settings: PaymentsSettings | None = None,
    bus: EventBus | None = None,
    gateway: PaymentGateway | None = None,
) -> FastAPI:
    settings = settings or PaymentsSettings()
    if not settings.webhook_secret:
        settings = settings.model_copy(update={"webhook_secret": secrets.token_urlsafe(32)})
    db = Database(settings.resolved_database_url(), pool_size=settings.database_pool_size)
    bus = bus or create_event_bus(settings.event_bus)
    relay = OutboxRelay(db, outbox, bus, interval=settings.outbox_poll_seconds)
    service = PaymentsService(db, gateway or create_gateway(settings, db), settings, relay)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.run_migrations:
            await db.migrate(MIGRATIONS, VERSION_TABLE)
        relay.start()
        scheduler = asyncio.create_task(
            _charge_subscriptions_forever(service, settings.subscription_poll_seconds),
            name="subscription-charges",
        )
        try:
            yield
        finally:
            scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await scheduler
            await relay.stop()
            await db.dispose()

    app = create_service_app(
        "payments",
        title="Storefleet Payments",
        description="Authorizations, captures, voids, refunds, saved cards, fraud rules, "
        "subscriptions; a sandbox processor and a Stripe adapter.",
        lifespan=lifespan,
        log_requests=settings.access_log,
    )
    app.state.readiness_checks["database"] = db.ping
    app.state.payments = service
    app.state.settings = settings
    app.state.bus = bus
    app.state.payments_checks = api.guard.build(
        admin_token=settings.admin_token, callers=settings.caller_tokens
    )
    api.deliver_to(service)
    app.include_router(api.router)
    return app
