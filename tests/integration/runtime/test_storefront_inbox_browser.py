"""In-app messages on the storefront's pages, in a real browser (Debian's
Chromium via Playwright), with the shop as `storefleet runtime serve all` runs it.

A signed-in shopper has a page of the shop open; when their order is paid, the
page shows the notifications service's message in a polite live region without
a reload. Anonymous pages carry no trace of the stream, and no page carries
the shopper's token in its HTML.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from browser_harness import ARTIFACTS, launch
from fastapi import FastAPI
from starlette.routing import Mount

from storefleet.runtime.platform.events.outbox import InProcessEventBus
from storefleet.runtime.serve import build_all

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
def shop_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "STOREFLEET_DATA_DIR": str(tmp_path),
        "STOREFLEET_STORE_NAME": "Inbox Outfitters",
        "STOREFLEET_NOTIFICATIONS_DISPATCH_POLL_SECONDS": "0.2",
        "STOREFLEET_NOTIFICATIONS_STREAM_POLL_SECONDS": "0.5",
        "STOREFLEET_ACCOUNTS_LOG_LINKS": "false",
        "STOREFLEET_LOG_LEVEL": "WARNING",
        "STOREFLEET_ACCESS_LOG": "false",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("STOREFLEET_DATABASE_URL", "STOREFLEET_EVENTS_BOOTSTRAP_SERVERS"):
        monkeypatch.delenv(key, raising=False)


def _mounted(root: FastAPI, path: str) -> FastAPI:
    for route in root.routes:
        if isinstance(route, Mount) and route.path == path:
            app = route.app
            assert isinstance(app, FastAPI)
            return app
    raise LookupError(path)


async def _join(client: httpx.AsyncClient, root: FastAPI, email: str, password: str) -> str:
    """Registers and confirms a shopper through the accounts API; returns a token."""
    response = await client.post(
        "/api/accounts/register", json={"email": email, "password": password, "name": "Toast"}
    )
    assert response.status_code == 202, response.text
    bus = _mounted(root, "/api/accounts").state.bus
    assert isinstance(bus, InProcessEventBus)
    # The link leaves through the accounts outbox, a moment after the answer.
    deadline = time.monotonic() + 30
    while not (
        links := [
            str(event.payload["link"])
            for event in bus.recent
            if event.type == "account.verification_requested" and event.payload["email"] == email
        ]
    ):
        assert time.monotonic() < deadline, "no verification link was sent"
        await asyncio.sleep(0.05)
    link = links[-1]
    verified = await client.post(
        "/api/accounts/verify-email", json={"token": link.split("token=", 1)[1]}
    )
    assert verified.status_code == 200, verified.text
    signed_in = await client.post(
        "/api/accounts/sign-in", json={"email": email, "password": password}
    )
    assert signed_in.status_code == 200, signed_in.text
    return str(signed_in.json()["access_token"])


async def test_a_signed_in_shopper_sees_a_toast_when_their_order_is_paid(
    shop_env: None,
    chromium: str,
    serve: Callable[[FastAPI], contextlib.AbstractAsyncContextManager[Any]],
) -> None:
    root = build_all(demo=False)
    email = f"toast-{uuid.uuid4().hex[:8]}@example.com"
    password = secrets.token_urlsafe(16)
    async with (
        serve(root) as server,
        httpx.AsyncClient(base_url=server.url, timeout=30) as client,
    ):
        for path, body in (
            ("/api/catalog/admin/categories", {"slug": "lamps", "name": "Lamps"}),
            (
                "/api/catalog/admin/products",
                {
                    "slug": "trail-lamp",
                    "name": "Trail Lamp",
                    "category": "lamps",
                    "variants": [
                        {"sku": "LAMP-1", "price_minor": 3900, "currency": "EUR", "stock": 5}
                    ],
                },
            ),
        ):
            response = await client.post(path, json=body)
            assert response.status_code == 201, response.text
        token = await _join(client, root, email, password)

        anonymous = await client.get("/p/trail-lamp")
        assert anonymous.status_code == 200
        assert "inbox-toasts" not in anonymous.text
        assert (await client.get("/account/inbox/feed")).status_code == 401

        async with launch(chromium) as browser:
            context = await browser.new_context(
                base_url=server.url, viewport={"width": 1280, "height": 900}
            )
            page: Any = await context.new_page()
            try:
                await page.goto("/account/sign-in")
                await page.get_by_label("E-mail address").fill(email)
                await page.get_by_label("Password").fill(password)
                await page.get_by_role("button", name="Sign in").click()
                await page.wait_for_url("**/account")
                await page.goto("/p/trail-lamp")
                region = page.locator("#inbox-toasts")
                assert await region.get_attribute("aria-live") == "polite"
                assert await region.locator(".toast").count() == 0
                # The page's script gets the stream's URL from the feed; the
                # token in it appears in no HTML the shop serves.
                feed = await page.evaluate(
                    "async () => (await fetch('/account/inbox/feed')).json()"
                )
                page_token = parse_qs(urlsplit(feed["url"]).query)["access_token"][0]
                assert urlsplit(feed["url"]).path == "/api/notifications/inbox/stream"
                served = await (await page.request.get("/p/trail-lamp")).text()
                assert "inbox-toasts" in served
                assert page_token not in served

                # The shopper buys through the shop's own pages, signed in: the
                # order is theirs (in their history, their in-app messages).
                await page.get_by_role("button", name="Add to cart").click()
                await page.wait_for_url("**/cart")
                await page.get_by_role("link", name="Go to checkout").click()
                await page.wait_for_url("**/checkout")
                await page.get_by_label("E-mail").fill(email)
                await page.get_by_label("Full name").fill("Toast Shopper")
                await page.get_by_label("Address", exact=True).fill("4 Beacon Way")
                await page.get_by_label("City").fill("Bremen")
                await page.get_by_label("Postal code").fill("28195")
                await page.get_by_label("Card number").fill("4242 4242 4242 4242")
                await page.get_by_label("Expiry month").fill("12")
                await page.get_by_label("Expiry year").fill("2031")
                await page.get_by_label("Security code").fill("123")
                await page.get_by_role("button", name="Place order").click()
                await page.wait_for_url("**/orders/*")
                assert await page.locator("#order-status").inner_text() == "Paid"
                history = await client.get(
                    "/api/orders/orders", headers={"Authorization": f"Bearer {token}"}
                )
                assert history.status_code == 200, history.text
                (order,) = history.json()["items"]
                assert page.url.endswith(order["id"])

                toast = region.locator(".toast", has_text="payment received")
                await toast.wait_for(timeout=30_000)
                assert order["id"] in await toast.inner_text()
                await page.screenshot(path=ARTIFACTS / "inbox-toast.png")
                await toast.get_by_role("button", name="Dismiss notification").click()
                assert await toast.count() == 0
            finally:
                await context.close()
