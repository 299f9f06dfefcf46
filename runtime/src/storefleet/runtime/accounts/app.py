"""Builds the accounts service's ASGI app."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from storefleet.runtime.accounts import api
from storefleet.runtime.accounts.models import outbox
from storefleet.runtime.accounts.secrets_at_rest import SecretBox, encrypt_stored_secrets
from storefleet.runtime.accounts.service import AccountsService
from storefleet.runtime.accounts.settings import AccountsSettings
from storefleet.runtime.platform.config.settings import StoreSettings, in_kubernetes
from storefleet.runtime.platform.events.backends import create_event_bus
from storefleet.runtime.platform.events.outbox import EventBus, OutboxRelay
from storefleet.runtime.platform.identity.tokens import Authenticator, AuthSettings, ensure_secret
from storefleet.runtime.platform.storage.cache import create_cache
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.storage.private_files import private_sqlite
from storefleet.runtime.platform.web.app import create_service_app

MIGRATIONS = "storefleet.runtime.accounts:migrations"
VERSION_TABLE = "accounts_alembic_version"


def create_app(
    settings: AccountsSettings | None = None,
    auth: AuthSettings | Authenticator | None = None,
    store: StoreSettings | None = None,
    bus: EventBus | None = None,
) -> FastAPI:
    settings = settings or AccountsSettings()
    store = store or StoreSettings()
    if isinstance(auth, Authenticator):
        authenticator = auth
    else:
        configured = auth or AuthSettings()
        if in_kubernetes() and not (configured.jwt_private_key and configured.jwt_secret):
            # The private key signs access tokens (the other services hold only its
            # public half); the secret keys this service's own links and recovery codes.
            raise RuntimeError(
                "STOREFLEET_AUTH_JWT_PRIVATE_KEY and STOREFLEET_AUTH_JWT_SECRET must be set "
                "in a cluster"
            )
        # Without a configured secret, tokens verify only within this process.
        authenticator = Authenticator(ensure_secret(configured))
    if in_kubernetes() and "log_links" not in settings.model_fields_set:
        settings = settings.model_copy(update={"log_links": False})
    # Password hashes and MFA secrets: an embedded database only its owner reads.
    private_sqlite(settings.resolved_database_url())
    db = Database(settings.resolved_database_url(), pool_size=settings.database_pool_size)
    box = SecretBox.from_setting(settings.secrets_key, settings.data_dir)
    cache = create_cache(settings.cache_url, settings.cache_prefix)
    bus = bus or create_event_bus(settings.event_bus)
    relay = OutboxRelay(db, outbox, bus, interval=settings.outbox_poll_seconds)
    service = AccountsService(db, cache, settings, authenticator, relay, store.name, box)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.run_migrations:
            await db.migrate(MIGRATIONS, VERSION_TABLE)
        await encrypt_stored_secrets(db, box)
        relay.start()
        try:
            yield
        finally:
            await relay.stop()
            await authenticator.close()
            await cache.close()
            await db.dispose()

    app = create_service_app(
        "accounts",
        title="Storefleet Accounts",
        description="Sign-up, sign-in, MFA, tokens, profiles, addresses, privacy requests.",
        lifespan=lifespan,
        log_requests=settings.access_log,
    )
    app.state.readiness_checks["database"] = db.ping
    app.state.readiness_checks["cache"] = cache.ping
    app.state.accounts = service
    app.state.authenticator = authenticator
    app.state.settings = settings
    app.state.bus = bus
    app.state.accounts_checks = api.guard.build()
    app.include_router(api.router)
    return app
