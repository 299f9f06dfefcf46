"""The platform kernel's behaviour: resilience, cache, outbox, errors, request ids."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field
from sqlalchemy import MetaData

from storefleet.runtime.platform.events.outbox import (
    Event,
    InProcessEventBus,
    OutboxRelay,
    enqueue,
    outbox_table,
    utcnow,
)
from storefleet.runtime.platform.resilience.backoff import backoff_delays
from storefleet.runtime.platform.resilience.breaker import BreakerState, CircuitBreaker
from storefleet.runtime.platform.resilience.client import ServiceClient
from storefleet.runtime.platform.storage.cache import MemoryCache, create_cache
from storefleet.runtime.platform.storage.db import Database, normalize_url
from storefleet.runtime.platform.web.app import create_service_app
from storefleet.runtime.platform.web.errors import NotFound, UpstreamUnavailable


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_threshold_and_probes_once_after_reset() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("catalog", failure_threshold=3, reset_timeout=10, clock=clock)
    for _ in range(3):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    clock.now = 10
    assert breaker.allow(), "one trial call after the reset timeout"
    assert not breaker.allow(), "only one trial at a time"
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now = 20
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()


def test_backoff_grows_and_is_capped() -> None:
    class Top:
        def uniform(self, _a: float, b: float) -> float:
            return b

    delays = backoff_delays(6, base=0.1, cap=1.0, rng=Top())  # type: ignore[arg-type]
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


def test_database_urls_pick_async_drivers() -> None:
    assert normalize_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"
    assert normalize_url("sqlite+aiosqlite:///x.db") == "sqlite+aiosqlite:///x.db"


def test_unknown_cache_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported cache"):
        create_cache("memcached://x")


async def test_memory_cache_compare_and_set_and_expiry() -> None:
    cache = MemoryCache()
    assert await cache.compare_and_set("k", None, b"1")
    assert not await cache.compare_and_set("k", None, b"2"), "key exists now"
    assert not await cache.compare_and_set("k", b"0", b"2"), "stale expectation"
    assert await cache.compare_and_set("k", b"1", b"2")
    assert await cache.get("k") == b"2"
    await cache.set("short", b"x", ttl=0.001)
    import asyncio

    await asyncio.sleep(0.01)
    assert await cache.get("short") is None


async def test_outbox_publishes_committed_events_only(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'outbox.db'}")
    metadata = MetaData()
    table = outbox_table(metadata)
    async with db.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    bus = InProcessEventBus()
    received: list[Event] = []

    async def handler(event: Event) -> None:
        received.append(event)

    bus.subscribe("thing.happened", handler)
    async with db.write() as session:
        await enqueue(session, table, Event("thing.happened", {"n": 1}))

    async def write_then_fail() -> None:
        async with db.write() as session:
            await enqueue(session, table, Event("thing.happened", {"n": 2}))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await write_then_fail()
    relay = OutboxRelay(db, table, bus)
    assert await relay.run_once() == 1
    assert await relay.run_once() == 0, "published events are not sent again"
    assert [event.payload for event in received] == [{"n": 1}]
    assert await relay.purge() == 0, "recent events are kept"
    assert await relay.purge(now=utcnow() + timedelta(days=8)) == 1
    await db.dispose()


class Item(BaseModel):
    quantity: int = Field(ge=1)


def _app() -> FastAPI:
    app = create_service_app("test", title="test", log_requests=False)

    @app.post("/items")
    async def create(item: Item) -> Item:
        return item

    @app.get("/missing")
    async def missing() -> None:
        raise NotFound("no such thing")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    return app


@pytest.fixture
def client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def test_bad_input_is_a_422_problem(client: httpx.AsyncClient) -> None:
    response = await client.post("/items", json={"quantity": 0})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 422
    assert "quantity" in body["detail"]
    broken = await client.post(
        "/items", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422


async def test_errors_are_problems_without_internals(client: httpx.AsyncClient) -> None:
    missing = await client.get("/missing")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no such thing"
    unknown = await client.get("/nowhere")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    boom = await client.get("/boom")
    assert boom.status_code == 500
    assert "secret" not in boom.text
    assert boom.json()["request_id"] == boom.headers["x-request-id"]


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = await client.get("/healthz", headers={"X-Request-ID": "bad id\n"})
    assert made.headers["x-request-id"] != "bad id\n"
    assert len(made.headers["x-request-id"]) == 32


async def test_readyz_reports_failing_dependency(client: httpx.AsyncClient) -> None:
    app = client._transport.app  # type: ignore[attr-defined]

    async def down() -> None:
        raise ConnectionError

    app.state.readiness_checks["database"] = down
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("failed")


async def test_service_client_retries_then_opens_breaker() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(503)

    client = ServiceClient(
        "catalog",
        "http://catalog",
        retries=2,
        breaker=CircuitBreaker("catalog", failure_threshold=3),
        transport=httpx.MockTransport(handler),
    )
    with pytest.raises(UpstreamUnavailable):
        await client.get("/x")
    assert calls == 3, "one call and two retries"
    with pytest.raises(UpstreamUnavailable, match="circuit open"):
        await client.get("/x")
    assert calls == 3, "an open breaker fails fast without calling"
    await client.close()


async def test_service_client_does_not_retry_plain_posts() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("refused")

    client = ServiceClient("cart", "http://cart", transport=httpx.MockTransport(handler))
    with pytest.raises(UpstreamUnavailable):
        await client.post("/x", json={})
    assert calls == 1
    await client.close()


async def test_service_client_never_replays_cookies_between_users() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        return httpx.Response(200, headers={"set-cookie": "session=alice; Path=/"})

    client = ServiceClient("cart", "http://cart", transport=httpx.MockTransport(handler))
    await client.get("/cart")
    await client.get("/cart")
    assert seen == [None, None]
    await client.close()


async def test_read_cache_serves_repeats_until_invalidated() -> None:
    from storefleet.runtime.platform.storage.readcache import ReadCache

    cache = ReadCache(ttl=60)
    loads = 0

    async def load() -> int:
        nonlocal loads
        loads += 1
        return loads

    assert await cache.get_or_load("k", load) == 1
    assert await cache.get_or_load("k", load) == 1
    cache.invalidate()
    assert await cache.get_or_load("k", load) == 2
    assert await ReadCache(ttl=0).get_or_load("k", load) == 3, "ttl 0 disables caching"


def test_settings_follow_the_pod_and_the_operator_env(monkeypatch: pytest.MonkeyPatch) -> None:
    from storefleet.runtime.cart.settings import CartSettings
    from storefleet.runtime.storefront.settings import StorefrontSettings

    assert CartSettings().catalog_url == "http://127.0.0.1:8001"
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("STOREFLEET_DATABASE_URL", "postgresql://shared/db")
    monkeypatch.setenv("STOREFLEET_CART_CACHE_URL", "redis://cart-only:6379/0")
    cart = CartSettings()
    assert cart.catalog_url == "http://catalog:8000"
    assert str(cart.data_dir) == "/var/lib/storefleet"
    assert cart.resolved_database_url() == "postgresql://shared/db"
    assert cart.cache_url == "redis://cart-only:6379/0", "the per-service name wins"
    assert StorefrontSettings().cart_url == "http://cart:8000"


@pytest.mark.parametrize(
    ("token", "pod", "sent", "status"),
    [
        ("", False, None, 200),  # a laptop demo: open
        ("", True, None, 401),  # a pod: closed to callers without credentials
        ("s3cret", True, None, 401),
        ("s3cret", True, "Bearer wrong", 401),
        ("s3cret", True, "Bearer s3cret", 200),
    ],
)
async def test_admin_routes_require_a_store_admin(
    monkeypatch: pytest.MonkeyPatch, token: str, pod: bool, sent: str | None, status: int
) -> None:
    from fastapi import Depends

    from storefleet.runtime.platform.identity.permissions import require

    if pod:
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    app = create_service_app("test", title="test", log_requests=False)

    @app.get("/admin/thing", dependencies=[Depends(require("catalog:write", admin_token=token))])
    async def thing() -> dict[str, str]:
        return {"ok": "yes"}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        headers = {"Authorization": sent} if sent else {}
        assert (await client.get("/admin/thing", headers=headers)).status_code == status
