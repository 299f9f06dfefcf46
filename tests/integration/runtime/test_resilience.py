"""What shoppers and operators see when a dependency is down."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from storefleet.runtime.cart.app import create_app as cart_app
from storefleet.runtime.cart.settings import CartSettings

pytestmark = pytest.mark.asyncio(loop_scope="session")
Serve = Callable[[Any], contextlib.AbstractAsyncContextManager[Any]]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens once the probe is closed


async def test_unreachable_redis_is_a_503_and_not_ready(serve: Serve, tmp_path: Path) -> None:
    settings = CartSettings(
        database_url=f"sqlite:///{tmp_path / 'cart.db'}",
        cache_url=f"redis://127.0.0.1:{closed_port()}/0",
        catalog_url=f"http://127.0.0.1:{closed_port()}",
        access_log=False,
    )
    async with serve(cart_app(settings)) as cart, httpx.AsyncClient(base_url=cart.url) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["cache"].startswith("failed")
        assert ready.json()["checks"]["database"] == "ok"
        response = await client.get("/cart", headers={"X-Cart-Id": "a" * 32})
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] == "5"


async def test_catalog_outage_opens_the_breaker_and_carts_still_show(
    serve: Serve, tmp_path: Path, shop: Any, new_product: Any
) -> None:
    """With the catalog gone, adding fails fast with a 503, and an existing cart
    is still shown from its own snapshot, flagged as not stock-checked."""
    sku = (await new_product(price=1500))["variants"][0]["sku"]
    settings = CartSettings(
        database_url=f"sqlite:///{tmp_path / 'cart.db'}",
        catalog_url=shop.catalog.url,
        access_log=False,
        http_retries=0,
        breaker_failure_threshold=2,
        breaker_reset_seconds=60,
    )
    app = cart_app(settings)
    async with serve(app) as cart, httpx.AsyncClient(base_url=cart.url) as client:
        added = await client.post("/cart/items", json={"sku": sku, "quantity": 2})
        assert added.status_code == 200
        cart_id = added.headers["x-cart-id"]
        # The catalog "goes away": point the cart's client at a closed port.
        catalog = app.state.cart.catalog.client
        catalog._client.base_url = f"http://127.0.0.1:{closed_port()}"
        for _ in range(2):
            failed = await client.post("/cart/items", json={"sku": sku, "quantity": 1})
            assert failed.status_code == 503
        fast = await client.post("/cart/items", json={"sku": sku, "quantity": 1})
        assert fast.status_code == 503
        assert "circuit open" in fast.json()["detail"]
        shown = await client.get("/cart", headers={"X-Cart-Id": cart_id})
        assert shown.status_code == 200
        body = shown.json()
        assert body["stock_checked"] is False
        assert body["subtotal_minor"] == 3000
