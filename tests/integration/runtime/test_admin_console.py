"""The store-admin console in `serve all`: the accounts service wired in, staff
signing in through the storefront, each section backed by its service's API."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

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
BOSS = "boss@console.test"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def shop(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    directory: Path = tmp_path_factory.mktemp("serve-all")
    with environment(
        {
            "STOREFLEET_DATA_DIR": str(directory),
            "STOREFLEET_ACCOUNTS_ADMIN_EMAILS": f'["{BOSS}"]',
            "STOREFLEET_ACCOUNTS_LOG_LINKS": "false",
            "STOREFLEET_LOG_LEVEL": "WARNING",
        }
    ):
        server = Server(build_all(demo=False))
        await server.start()
    try:
        yield server
    finally:
        await server.stop()


def bus_of(shop: Server) -> InProcessEventBus:
    for route in shop.app.routes:
        if isinstance(route, Mount) and route.path == "/api/accounts":
            bus = route.app.state.bus  # type: ignore[attr-defined]
            assert isinstance(bus, InProcessEventBus)
            return bus
    raise AssertionError("serve all has no /api/accounts")


async def join(shop: Server, email: str) -> Browser:
    browser = Browser(shop.url)
    fields = {"email": email, "name": "", "password": PASSWORD, "password_again": PASSWORD}
    assert (await browser.submit("/account/sign-up", fields)).status_code == 200
    # Sent through the accounts outbox, a moment after the answer.
    link = await verification_link(bus_of(shop), email)
    token = link.split("token=")[1]
    assert (
        await browser.submit(f"/account/verify?token={token}", {"token": token})
    ).status_code == 303
    signed_in = await browser.submit("/account/sign-in", {"email": email, "password": PASSWORD})
    assert signed_in.status_code == 303
    return browser


async def test_serve_all_serves_the_accounts_api(shop: Server) -> None:
    async with httpx.AsyncClient(base_url=shop.url) as client:
        assert (await client.get("/api/accounts/readyz")).status_code == 200
        refused = await client.get("/api/accounts/me")
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")


async def test_staff_see_every_section_and_shoppers_none(shop: Server) -> None:
    boss = await join(shop, BOSS)
    home = await boss.get("/admin")
    assert home.status_code == 200
    links = set(re.findall(r'<a href="/admin/([a-z]+)"', home.text))
    assert links == {"catalog", "orders", "promotions", "customers", "settings"}
    for section in sorted(links):
        page = await boss.get(f"/admin/{section}")
        assert page.status_code == 200, (section, page.text[:500])
    orders = await boss.get("/admin/orders")
    assert 'id="orders"' in orders.text
    assert 'class="error"' not in orders.text, "the orders API refused the admin's token"
    customers = await boss.get("/admin/customers")
    assert BOSS in customers.text

    shopper = await join(shop, f"shopper-{uuid.uuid4().hex[:6]}@console.test")
    for section in ("", "/orders", "/customers", "/catalog"):
        assert (await shopper.get(f"/admin{section}")).status_code == 403
    # Their data export gathers what the orders service holds too.
    export = await shopper.get("/account/export")
    assert export.status_code == 200
    assert export.json()["orders"] == []
    assert export.json()["profile"]["email"].startswith("shopper-")
    await boss.close()
    await shopper.close()
