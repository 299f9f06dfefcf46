"""Real servers for the runtime's API tests, on every backend.

``backend`` is parametrized: ``embedded`` (SQLite files, in-memory cache) and
``postgres`` (the dev stack's PostgreSQL and Redis). Each test module that uses
``shop`` therefore runs once per backend, from the same test code. Each session
gets fresh databases and its own Redis key prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import pytest_asyncio
import uvicorn
from fastapi import FastAPI

from storefleet.dev.debian import MissingPackage, ensure_packages
from storefleet.runtime.cart.app import create_app as cart_app
from storefleet.runtime.cart.settings import CartSettings
from storefleet.runtime.catalog.app import create_app as catalog_app
from storefleet.runtime.catalog.demo import import_demo
from storefleet.runtime.catalog.settings import CatalogSettings
from storefleet.runtime.platform.config.settings import StoreSettings
from storefleet.runtime.platform.events.outbox import InProcessEventBus
from storefleet.runtime.platform.identity.tokens import Authenticator, AuthSettings
from storefleet.runtime.storefront.app import create_app as storefront_app
from storefleet.runtime.storefront.settings import StorefrontSettings

DEMO_PRODUCTS = 150
AUTH_SECRET = "integration-secret"
STORE = StoreSettings(
    name="Test Shop",
    currency="EUR",
    tax_rate_bps=2000,
    shipping_flat_minor=495,
    free_shipping_threshold_minor=5000,
)


@dataclass(frozen=True)
class Backend:
    name: str
    catalog_db: str
    cart_db: str
    cache_url: str
    cache_prefix: str


@contextlib.contextmanager
def fresh_backend(request: pytest.FixtureRequest, directory: Path, kind: str) -> Iterator[Backend]:
    """New, empty databases (and a Redis key prefix) of the given kind."""
    if kind == "embedded":
        yield Backend(
            "embedded",
            f"sqlite:///{directory / 'catalog.db'}",
            f"sqlite:///{directory / 'cart.db'}",
            "memory://",
            "",
        )
        return
    dsn: str = request.getfixturevalue("postgres_dsn")
    redis_url: str = request.getfixturevalue("redis_url")
    run = uuid.uuid4().hex[:10]
    names = {"catalog": f"sf_test_{run}_catalog", "cart": f"sf_test_{run}_cart"}
    with psycopg.connect(dsn, autocommit=True) as connection:
        for name in names.values():
            connection.execute(f'CREATE DATABASE "{name}"')
    base = dsn.rsplit("/", 1)[0]
    try:
        yield Backend(
            "postgres",
            f"{base}/{names['catalog']}",
            f"{base}/{names['cart']}",
            redis_url,
            f"sf-test-{run}:",
        )
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            for name in names.values():
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def make_backend() -> Callable[..., contextlib.AbstractContextManager[Backend]]:
    """``fresh_backend`` for modules that need databases of their own."""
    return fresh_backend


@pytest.fixture(scope="session", params=["embedded", "postgres"])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    with fresh_backend(request, tmp_path_factory.mktemp("backend"), request.param) as chosen:
        yield chosen


class Server:
    """A real uvicorn server on a free port, in the test session's event loop."""

    def __init__(self, app: FastAPI) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = app
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=self.port,
                log_config=None,
                access_log=False,
                lifespan="on",
            )
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


@pytest.fixture
def serve() -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[Server]]:
    """Serve an app on a real port for the length of an ``async with``."""

    @contextlib.asynccontextmanager
    async def running(app: FastAPI) -> AsyncIterator[Server]:
        server = Server(app)
        await server.start()
        try:
            yield server
        finally:
            await server.stop()

    return running


@dataclass
class Shop:
    backend: Backend
    catalog: Server
    cart: Server
    storefront: Server
    bus: InProcessEventBus
    # Verifies access tokens at the catalog and the cart (the accounts service's
    # kind), so a test can call as a store's staff: ``staff`` below.
    auth: Authenticator

    def bearer(self, *roles: str, **claims: str) -> dict[str, str]:
        token = self.auth.issue_access(f"user-{uuid.uuid4().hex[:8]}", set(roles), extra=claims)
        return {"Authorization": f"Bearer {token}"}


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def shop(backend: Backend) -> AsyncIterator[Shop]:
    bus = InProcessEventBus(history=10_000)
    # Sign-in stays optional (the demo's admin API stays open, as on a laptop).
    auth = Authenticator(AuthSettings(jwt_secret=uuid.uuid4().hex, issuer="storefleet:test"))
    catalog = Server(
        catalog_app(
            CatalogSettings(
                database_url=backend.catalog_db,
                access_log=False,
                outbox_poll_seconds=0.2,
                reservation_sweep_seconds=0.5,
            ),
            bus=bus,
        )
    )
    catalog.app.state.authenticator = auth
    await catalog.start()
    await import_demo(catalog.app.state.catalog, count=DEMO_PRODUCTS, orders=100)
    cart = Server(
        cart_app(
            CartSettings(
                database_url=backend.cart_db,
                cache_url=backend.cache_url,
                cache_prefix=backend.cache_prefix,
                catalog_url=catalog.url,
                auth_secret=AUTH_SECRET,
                access_log=False,
                outbox_poll_seconds=0.2,
                http_retries=0,
            ),
            store=STORE,
            bus=bus,
        )
    )
    cart.app.state.authenticator = auth
    await cart.start()
    storefront = Server(
        storefront_app(
            StorefrontSettings(catalog_url=catalog.url, cart_url=cart.url, access_log=False),
            store=STORE,
        )
    )
    await storefront.start()
    yield Shop(backend, catalog, cart, storefront, bus, auth)
    for server in (storefront, cart, catalog):
        await server.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def catalog(shop: Shop) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=shop.catalog.url, timeout=30) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def cart(shop: Shop) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=shop.cart.url, timeout=30) as client:
        yield client


@pytest.fixture
def staff(shop: Shop) -> dict[str, str]:
    """Headers of a store admin: exact stock counts are for the store's staff."""
    return shop.bearer("store-admin")


@pytest_asyncio.fixture(loop_scope="session")
async def storefront(shop: Shop) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=shop.storefront.url, timeout=30) as client:
        yield client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


ProductFactory = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def new_product(catalog: httpx.AsyncClient) -> ProductFactory:
    """Makes a fresh product of the test's own, so tests never share stock."""

    async def make(**kwargs: Any) -> dict[str, Any]:
        return await _make_product(catalog, **kwargs)

    return make


async def _make_product(
    catalog: httpx.AsyncClient,
    *,
    stock: int = 10,
    price: int = 1999,
    name: str | None = None,
    category: str = "headphones",
    brand: str | None = "acme",
    variants: int = 1,
) -> dict[str, Any]:
    slug = unique("test-product")
    code = uuid.uuid4().hex[:8].upper()
    body = {
        "slug": slug,
        "name": name or f"Test Product {code}",
        "category": category,
        "brand": brand,
        "variants": [
            {
                "sku": f"T-{code}-{n}",
                "name": f"Option {n}",
                "price_minor": price + n * 100,
                "currency": "EUR",
                "stock": stock,
            }
            for n in range(variants)
        ],
    }
    response = await catalog.post("/admin/products", json=body)
    assert response.status_code == 201, response.text
    product: dict[str, Any] = response.json()
    return product


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium, installed with apt on first use (Playwright's own download
    of a browser cannot be used: only package registries are reachable). Under CI a
    browser that cannot be installed fails the tests that need it."""
    try:
        ensure_packages(["chromium"], CHROMIUM)
    except (MissingPackage, subprocess.CalledProcessError) as exc:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"Chromium could not be installed: {exc}", pytrace=False)
        pytest.skip(f"Chromium is not installed: {exc}")
    return CHROMIUM
