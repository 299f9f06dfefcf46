"""The vendor portal in `serve all`: a person the store made a vendor admin
signs in through the storefront, adds a product and stock, ships their part
of an order and sees their payouts; a shopper who bought rates the vendor and
the rating shows on the product's page. Real accounts tokens throughout."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from accounts_harness import PASSWORD, Browser, Server
from bus_events import verification_link
from environment import environment
from starlette.routing import Mount

from storefleet.runtime.platform.events.outbox import InProcessEventBus
from storefleet.runtime.serve import build_all

pytestmark = pytest.mark.asyncio(loop_scope="session")
BOSS = "boss@vendor-portal.test"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def shop(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    directory: Path = tmp_path_factory.mktemp("vendor-portal")
    with environment(
        {
            "STOREFLEET_DATA_DIR": str(directory),
            "STOREFLEET_ACCOUNTS_ADMIN_EMAILS": f'["{BOSS}"]',
            "STOREFLEET_ACCOUNTS_LOG_LINKS": "false",
            "STOREFLEET_LOG_LEVEL": "WARNING",
            "STOREFLEET_VENDORS_PAYOUTS_ENABLED": "false",
        }
    ):
        server = Server(build_all(demo=False))
        await server.start()
    try:
        yield server
    finally:
        await server.stop()


def mounted(shop: Server, path: str) -> Any:
    for route in shop.app.routes:
        if isinstance(route, Mount) and route.path == path:
            return route.app
    raise AssertionError(f"serve all has no {path}")


async def join(shop: Server, email: str) -> tuple[Browser, str]:
    """Sign up, verify, sign in (browser); returns the browser and an API token."""
    bus = mounted(shop, "/api/accounts").state.bus
    assert isinstance(bus, InProcessEventBus)
    browser = Browser(shop.url)
    fields = {"email": email, "name": "", "password": PASSWORD, "password_again": PASSWORD}
    assert (await browser.submit("/account/sign-up", fields)).status_code == 200
    # Sent through the accounts outbox, a moment after the answer.
    link = await verification_link(bus, email)
    token = link.split("token=")[1]
    verified = await browser.submit(f"/account/verify?token={token}", {"token": token})
    assert verified.status_code == 303
    await sign_in(browser, email)
    return browser, await api_token(shop, email)


async def sign_in(browser: Browser, email: str) -> None:
    answer = await browser.submit("/account/sign-in", {"email": email, "password": PASSWORD})
    assert answer.status_code == 303


async def api_token(shop: Server, email: str) -> str:
    async with httpx.AsyncClient(base_url=shop.url) as client:
        answer = await client.post(
            "/api/accounts/sign-in", json={"email": email, "password": PASSWORD}
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])


async def user_id(shop: Server, token: str) -> str:
    async with httpx.AsyncClient(base_url=shop.url) as client:
        me = await client.get("/api/accounts/me", headers={"Authorization": f"Bearer {token}"})
        return str(me.json()["id"])


async def test_a_vendor_runs_its_shop_and_shoppers_rate_it(shop: Server) -> None:
    boss_browser, boss = await join(shop, BOSS)
    as_boss = {"Authorization": f"Bearer {boss}"}
    vendor_email = f"owner-{uuid.uuid4().hex[:6]}@vendor-portal.test"
    owner_browser, owner_token = await join(shop, vendor_email)
    owner_id = await user_id(shop, owner_token)
    async with httpx.AsyncClient(base_url=shop.url, timeout=30) as api:
        made = await api.post(
            "/api/catalog/admin/categories", json={"slug": "tea", "name": "Tea"}, headers=as_boss
        )
        assert made.status_code == 201, made.text
        vendor = {
            "display_name": "Tea House",
            "contact_email": vendor_email,
            "commission_percent": 10,
            "payout": {"currency": "EUR", "schedule": "Monthly", "minimum_amount": 5},
            "product_limit": 10,
            "suspended": False,
        }
        put = await api.put("/api/vendors/admin/vendors/tea-house", json=vendor, headers=as_boss)
        assert put.status_code == 200, put.text
        member = await api.put(
            f"/api/vendors/admin/vendors/tea-house/members/{owner_id}", headers=as_boss
        )
        assert member.status_code == 200
        roles = await api.put(
            f"/api/accounts/admin/customers/{owner_id}/roles",
            json={"roles": ["vendor-admin"]},
            headers=as_boss,
        )
        assert roles.status_code == 200, roles.text

    # A role change ends the person's sign-ins: the old session gets no portal.
    stale = await owner_browser.get("/vendor")
    assert stale.status_code == 303
    assert stale.headers["location"].startswith("/account/sign-in")
    owner = Browser(shop.url)
    await sign_in(owner, vendor_email)
    home = await owner.get("/vendor")
    assert home.status_code == 200, home.text[:500]
    assert 'id="vendor-name">Tea House<' in home.text

    added = await owner.submit(
        "/vendor/products",
        {
            "name": "Sencha Green",
            "category": "tea",
            "sku": "SENCHA-1",
            "price": "12.50",
            "stock": "4",
        },
    )
    assert added.status_code == 303
    listing = await owner.get("/vendor/products")
    assert "Sencha Green" in listing.text
    product_id = re.search(r'action="/vendor/products/(\d+)/stock"', listing.text)
    assert product_id, listing.text[:800]
    stocked = await owner.submit(
        "/vendor/products",
        {"sku": "SENCHA-1", "delta": "6"},
        action=f"/vendor/products/{product_id.group(1)}/stock",
    )
    assert stocked.status_code == 303
    assert re.search(r'class="stock">10<', (await owner.get("/vendor/products")).text)

    # A shopper buys it: a real checkout (cart, orders saga, sandbox payment);
    # the orders service's order.paid reaches the vendors service on the bus.
    shopper, shopper_token = await join(shop, f"shopper-{uuid.uuid4().hex[:6]}@vendor-portal.test")
    as_shopper = {"Authorization": f"Bearer {shopper_token}"}
    async with httpx.AsyncClient(base_url=shop.url, timeout=60) as api:
        product = (await api.get("/api/catalog/products/sencha-green")).json()
        assert product["vendor_id"] == "tea-house"
        added_to_cart = await api.post(
            "/api/cart/cart/items", json={"sku": "SENCHA-1", "quantity": 2}, headers=as_shopper
        )
        assert added_to_cart.status_code == 200, added_to_cart.text
        placed = await api.post(
            "/api/orders/checkout",
            json={
                "email": "buyer@vendor-portal.test",
                "shipping_address": {
                    "name": "Ada Shopper",
                    "line1": "1 Test Street",
                    "city": "Berlin",
                    "postal_code": "10115",
                    "country": "DE",
                },
                "shipping_method": "standard",
                "payment": {"token": "tok_visa"},
            },
            headers={**as_shopper, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert placed.status_code == 201, placed.text
        assert placed.json()["status"] == "paid", placed.text
    for _ in range(100):
        orders = await owner.get("/vendor/orders")
        if "/ship" in orders.text:
            break
        await asyncio.sleep(0.1)
    orders = await owner.get("/vendor/orders")
    suborder = re.search(r'action="/vendor/orders/([0-9a-f]{32})/ship"', orders.text)
    assert suborder, orders.text[:800]
    assert "2 \u00d7 Sencha Green" in orders.text
    shipped = await owner.submit(
        "/vendor/orders",
        {"carrier": "DHL", "tracking_number": "JD0042"},
        action=f"/vendor/orders/{suborder.group(1)}/ship",
    )
    assert shipped.status_code == 303
    assert "shipped · DHL JD0042" in (await owner.get("/vendor/orders")).text
    payouts = await owner.get("/vendor/payouts")
    assert payouts.status_code == 200
    assert re.search(r'id="payable">[^<]*22[.,]50', payouts.text), payouts.text[:1500]

    # The shopper rates the vendor; the product page shows it.
    assert (await shopper.get("/vendor")).status_code == 403
    rated = await shopper.submit(
        "/vendors/tea-house",
        {"rating": "5", "comment": "Fresh and fast", "author": "Ada"},
        action="/vendors/tea-house/reviews",
    )
    assert rated.status_code == 303
    public = await shopper.get("/vendors/tea-house")
    assert "Fresh and fast" in public.text
    page = await shopper.get("/p/sencha-green")
    assert page.status_code == 200
    assert "Sold by" in page.text
    assert "Tea House" in page.text
    assert 'id="vendor-rating">5.0 / 5<' in page.text
    # Someone who never bought from it can't.
    stranger, _ = await join(shop, f"stranger-{uuid.uuid4().hex[:6]}@vendor-portal.test")
    refused = await stranger.submit(
        "/vendors/tea-house",
        {"rating": "1", "comment": "never bought"},
        action="/vendors/tea-house/reviews",
    )
    assert refused.status_code == 303
    assert "never bought" not in (await stranger.get("/vendors/tea-house")).text

    # Offboarded: the product leaves the shop and the portal closes.
    async with httpx.AsyncClient(base_url=shop.url) as api:
        gone = await api.delete("/api/vendors/admin/vendors/tea-house", headers=as_boss)
        assert gone.status_code == 204
    assert (await shopper.get("/p/sencha-green")).status_code == 404
    assert (await owner.get("/vendor")).status_code == 403
    for browser in (boss_browser, owner_browser, owner, shopper, stranger):
        await browser.close()
