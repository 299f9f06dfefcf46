"""A real checkout in ``serve all`` shows up in the analytics reports.

The whole shop runs as `storefleet runtime serve all` does (one process, the
in-process bus). A signed-in shopper buys two tents with the sandbox's test
card; the orders service's ``order.placed`` and ``order.paid`` reach the
analytics service through the bus only, and its sales, top-products and funnel
reports count the order once, in integer minor units. The store admin's
console shows the same figures on its overview; a shopper never sees them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from accounts_harness import PASSWORD, Browser
from bus_events import verification_link
from fastapi import FastAPI
from starlette.routing import Mount

from storefleet.runtime.platform.events.outbox import InProcessEventBus
from storefleet.runtime.platform.identity import auth
from storefleet.runtime.serve import build_all
from storefleet.runtime.storefront.formatting import money

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _mounted(root: FastAPI, path: str) -> FastAPI:
    for route in root.routes:
        if isinstance(route, Mount) and route.path == path:
            app = route.app
            assert isinstance(app, FastAPI)
            return app
    raise LookupError(path)


BOSS = "boss@analytics.test"


async def _join(url: str, bus: InProcessEventBus, email: str) -> Browser:
    """Sign up, verify the address with the link the accounts service sent, sign in."""
    browser = Browser(url)
    fields = {"email": email, "name": "", "password": PASSWORD, "password_again": PASSWORD}
    assert (await browser.submit("/account/sign-up", fields)).status_code == 200
    # Sent through the accounts outbox, a moment after the answer.
    link = await verification_link(bus, email)
    token = link.split("token=")[1]
    verified = await browser.submit(f"/account/verify?token={token}", {"token": token})
    assert verified.status_code == 303
    signed_in = await browser.submit("/account/sign-in", {"email": email, "password": PASSWORD})
    assert signed_in.status_code == 303
    return browser


async def _report(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    today = dt.datetime.now(dt.UTC).date()
    # A day either side: the checkout may straddle midnight.
    period = {"from": str(today - dt.timedelta(days=1)), "to": str(today + dt.timedelta(days=1))}
    response = await client.get(f"/api/analytics/reports/{name}", params=period)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_paid_checkout_is_counted_in_the_sales_report(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    serve: Callable[[FastAPI], contextlib.AbstractAsyncContextManager[Any]],
) -> None:
    monkeypatch.setenv("STOREFLEET_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("STOREFLEET_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("STOREFLEET_ACCESS_LOG", "false")
    monkeypatch.setenv("STOREFLEET_ACCOUNTS_ADMIN_EMAILS", f'["{BOSS}"]')
    monkeypatch.setenv("STOREFLEET_ACCOUNTS_LOG_LINKS", "false")
    for key in ("STOREFLEET_DATABASE_URL", "STOREFLEET_EVENTS_BOOTSTRAP_SERVERS"):
        monkeypatch.delenv(key, raising=False)
    root = build_all(demo=False)
    secret = _mounted(root, "/api/cart").state.settings.auth_secret
    sam = {"Authorization": f"Bearer {auth.sign('sam', secret)}"}
    async with (
        serve(root) as server,
        httpx.AsyncClient(base_url=server.url, timeout=30) as client,
    ):
        before = await _report(client, "sales")
        assert before["days"] == [], "a new shop has sold nothing"
        for path, body in (
            ("/api/catalog/admin/categories", {"slug": "tents", "name": "Tents"}),
            (
                "/api/catalog/admin/products",
                {
                    "slug": "trail-tent",
                    "name": "Trail Tent",
                    "category": "tents",
                    "variants": [
                        {"sku": "TENT-2P", "price_minor": 12900, "currency": "EUR", "stock": 10}
                    ],
                },
            ),
        ):
            response = await client.post(path, json=body)
            assert response.status_code == 201, response.text
        added = await client.post(
            "/api/cart/cart/items", json={"sku": "TENT-2P", "quantity": 2}, headers=sam
        )
        assert added.status_code == 200, added.text
        placed = await client.post(
            "/api/orders/checkout",
            json={
                "email": "sam@example.com",
                "shipping_address": {
                    "name": "Sam Shopper",
                    "line1": "1 Trail Road",
                    "city": "Berlin",
                    "postal_code": "10115",
                    "country": "DE",
                },
                "payment": {"token": "tok_visa"},
            },
            headers={**sam, "Idempotency-Key": f"checkout-{uuid.uuid4().hex}"},
        )
        assert placed.status_code == 201, placed.text
        order = placed.json()
        assert order["status"] == "paid", order

        deadline = time.monotonic() + 30
        while not (sales := await _report(client, "sales"))["totals"]:
            assert time.monotonic() < deadline, "the paid order never reached the sales report"
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)  # a late duplicate would show now
        sales = await _report(client, "sales")
        [eur] = sales["totals"]
        assert eur["currency"] == "EUR"
        assert (eur["orders"], eur["units"]) == (1, 2)
        assert eur["gross_minor"] == order["total_minor"]
        assert eur["net_minor"] == order["total_minor"]
        assert eur["average_order_minor"] == order["total_minor"]

        top = await _report(client, "top-products")
        [tent] = top["items"]
        assert (tent["sku"], tent["name"], tent["units"], tent["revenue_minor"]) == (
            "TENT-2P",
            "Trail Tent",
            2,
            25800,
        )
        assert tent["slug"] == "trail-tent"
        funnel = await _report(client, "funnel")
        assert (funnel["checkouts_started"], funnel["orders_paid"]) == (1, 1)
        assert funnel["conversion_rate"] == 1.0

        bus = _mounted(root, "/api/accounts").state.bus
        boss = await _join(server.url, bus, BOSS)
        overview = await boss.get("/admin")
        assert overview.status_code == 200
        assert 'id="sales"' in overview.text
        assert 'class="error"' not in overview.text, overview.text
        assert "Trail Tent" in overview.text
        assert money(order["total_minor"], "EUR") in overview.text
        shopper = await _join(server.url, bus, f"shopper-{uuid.uuid4().hex[:6]}@analytics.test")
        assert (await shopper.get("/admin")).status_code == 403
        await boss.close()
        await shopper.close()
