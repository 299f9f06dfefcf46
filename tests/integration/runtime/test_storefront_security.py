"""What another site can't make a shopper's browser do, and what every answer of
the shop and its services says to the browser: CSRF on every form, security
headers, cookie flags, body limits. On both backends."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio
from form_harness import csrf_of, post_form
from orders_harness import STORE, Commerce, databases, new_product, running_commerce, stock_of

from storefleet.runtime.storefront.app import create_app as storefront_app
from storefleet.runtime.storefront.settings import StorefrontSettings

pytestmark = pytest.mark.asyncio(loop_scope="session")
EVIL = "https://evil.example"
PUBLIC = "https://shop.example"
Serve = Callable[[Any], contextlib.AbstractAsyncContextManager[Any]]
MIB = 1024 * 1024


@pytest_asyncio.fixture(scope="module", loop_scope="session", params=["embedded", "postgres"])
async def shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Commerce]:
    kind: str = request.param
    cache_url, prefix = "memory://", ""
    if kind == "postgres":
        cache_url = request.getfixturevalue("redis_url")
        prefix = f"sf-security-{uuid.uuid4().hex[:8]}:"
    with databases(request, tmp_path_factory.mktemp("security"), kind) as dbs:
        async with running_commerce(kind, dbs, cache_url=cache_url, cache_prefix=prefix) as shop:
            yield shop


@pytest_asyncio.fixture(loop_scope="session")
async def browser(shop: Commerce) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=shop.storefront.url, timeout=60) as client:
        yield client


def checkout_fields() -> dict[str, str]:
    return {
        "idempotency_key": uuid.uuid4().hex,
        "email": f"csrf-{uuid.uuid4().hex[:6]}@example.com",
        "name": "Grace Shopper",
        "line1": "2 Page Road",
        "city": "Hamburg",
        "postal_code": "20095",
        "country": "DE",
        "shipping_method": "standard",
        "card_token": "tok_visa",
    }


def forms(sku: str) -> list[tuple[str, dict[str, str]]]:
    """Every state-changing form of the shop's cart and order pages."""
    order_id = uuid.uuid4().hex
    return [
        ("/cart/add", {"sku": sku, "quantity": "3"}),
        ("/cart/update", {"sku": sku, "quantity": "0"}),
        ("/cart/remove", {"sku": sku}),
        ("/cart/promo", {"code": "WELCOME10"}),
        ("/checkout", checkout_fields()),
        ("/orders/track", {"order_id": order_id, "email": "someone@example.com"}),
        (f"/orders/{order_id}/return", {f"qty_{sku}": "1"}),
    ]


async def cart_quantity(browser: httpx.AsyncClient, sku: str) -> int:
    page = (await browser.get("/cart")).text
    found = re.search(
        r'name="sku" value="' + re.escape(sku) + r'">.*?name="quantity"[^>]*'
        r'value="(\d+)"',
        page,
        re.S,
    )
    return int(found.group(1)) if found else 0


async def test_a_cross_site_post_changes_nothing(
    shop: Commerce, browser: httpx.AsyncClient
) -> None:
    sku = await new_product(shop, stock=5)
    added = await post_form(browser, "/cart/add", {"sku": sku, "quantity": "1"})
    assert added.status_code == 303
    token = await csrf_of(browser)
    async with httpx.AsyncClient(base_url=shop.storefront.url) as other:
        others_token = await csrf_of(other)
    assert others_token != token
    for action, fields in forms(sku):
        attempts = {
            "another site's Origin": ({"csrf": token, **fields}, {"Origin": EVIL}),
            "another site's Referer": ({"csrf": token, **fields}, {"Referer": f"{EVIL}/shop"}),
            "an opaque Origin": ({"csrf": token, **fields}, {"Origin": "null"}),
            "no token": (fields, {}),
            "another browser's token": ({"csrf": others_token, **fields}, {}),
        }
        for what, (data, headers) in attempts.items():
            refused = await browser.post(action, data=data, headers=headers)
            assert refused.status_code == 403, f"{action} with {what}: {refused.status_code}"
            assert refused.headers["content-type"].startswith("text/html")
            assert "another site" in refused.text or "expired" in refused.text
    assert await cart_quantity(browser, sku) == 1
    assert await stock_of(shop, sku) == 5, "no order was placed"


async def test_the_shops_own_forms_still_work(shop: Commerce, browser: httpx.AsyncClient) -> None:
    sku = await new_product(shop, stock=5)
    assert (await post_form(browser, "/cart/add", {"sku": sku, "quantity": "2"})).status_code == 303
    assert await cart_quantity(browser, sku) == 2
    updated = await post_form(browser, "/cart/update", {"sku": sku, "quantity": "1"})
    assert updated.status_code == 303
    placed = await post_form(browser, "/checkout", checkout_fields(), page="/checkout")
    assert placed.status_code == 303, placed.text
    assert re.fullmatch(r"/orders/[0-9a-f]{32}", placed.headers["location"])
    assert await stock_of(shop, sku) == 4


async def test_behind_a_proxy_forms_come_from_the_configured_origins(
    shop: Commerce, serve: Serve
) -> None:
    """A proxy that passes its own Host on (here ``storefront.internal``) leaves
    the browser's Origin, the store's public one, matching nothing the request
    says; ``STOREFLEET_STOREFRONT_ALLOWED_ORIGINS`` names it. Another site is
    still refused, and a POST without Origin or Referer (no browser sends that
    cross-site) passes on its CSRF token alone."""
    sku = await new_product(shop, stock=5)
    settings = StorefrontSettings(
        catalog_url=shop.catalog.url,
        cart_url=shop.cart.url,
        allowed_origins=[PUBLIC],
        # Plain http to a host that is not localhost: cookies without Secure.
        cookie_secure=False,
        access_log=False,
    )
    proxied = {"Host": "storefront.internal"}
    async with (
        serve(storefront_app(settings, store=STORE)) as configured,
        httpx.AsyncClient(base_url=configured.url, headers=proxied) as browser,
        httpx.AsyncClient(base_url=shop.storefront.url, headers=proxied) as unconfigured,
    ):
        token = await csrf_of(browser)
        attempts = [
            ({"Origin": PUBLIC}, 303),
            ({"Referer": f"{PUBLIC}/p/a-lamp"}, 303),
            ({}, 303),
            ({"Origin": "http://storefront.internal"}, 303),  # the request's own
            ({"Origin": EVIL}, 403),
            ({"Referer": f"{EVIL}/{PUBLIC}"}, 403),
            ({"Origin": "https://shop.example.evil.example"}, 403),
            ({"Origin": "null"}, 403),
        ]
        for headers, status in attempts:
            answer = await browser.post(
                "/cart/add", data={"csrf": token, "sku": sku, "quantity": "1"}, headers=headers
            )
            assert answer.status_code == status, f"{headers}: {answer.status_code}"
        assert await cart_quantity(browser, sku) == 4

        other_token = await csrf_of(unconfigured)
        refused = await unconfigured.post(
            "/cart/add",
            data={"csrf": other_token, "sku": sku, "quantity": "1"},
            headers={"Origin": PUBLIC},
        )
        assert refused.status_code == 403, "without the setting, only the request's own origin"
        assert "another site" in refused.text


async def test_pages_allow_only_their_own_scripts_and_styles(
    shop: Commerce, browser: httpx.AsyncClient
) -> None:
    sku = await new_product(shop, stock=2)
    await post_form(browser, "/cart/add", {"sku": sku, "quantity": "1"})
    for path in ("/", "/cart", "/checkout", "/orders", "/account/sign-in", "/no-such-page"):
        page = await browser.get(path)
        policy = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy
        assert "script-src 'self';" in policy
        assert "unsafe-inline" not in policy
        nonce = re.search(r"'nonce-([^']+)'", policy)
        assert nonce, policy
        styles = re.findall(r"<style([^>]*)>", page.text)
        assert styles, path
        assert all(f'nonce="{nonce.group(1)}"' in attributes for attributes in styles), path
        assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), f"an inline script on {path}"
        assert not re.search(r"\son[a-z]+=", page.text), f"an inline handler on {path}"
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    again = await browser.get("/")
    assert again.headers["content-security-policy"] != page.headers["content-security-policy"]


async def test_every_service_answers_with_the_security_headers(shop: Commerce) -> None:
    for server in (shop.catalog, shop.cart, shop.orders, shop.payments, shop.storefront):
        async with httpx.AsyncClient(base_url=server.url) as client:
            for path in ("/healthz", "/no-such-route"):
                answer = await client.get(path)
                assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
                assert answer.headers["x-frame-options"] == "DENY", server.url
                assert answer.headers["x-content-type-options"] == "nosniff"
                assert answer.headers["referrer-policy"]


def cookie_flags(response: httpx.Response) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for header in response.headers.get_list("set-cookie"):
        name = header.split("=", 1)[0]
        found[name] = {part.strip().lower().split("=")[0] for part in header.split(";")[1:]}
        found[name] |= {part.strip().lower() for part in header.split(";")[1:]}
    return found


async def test_cookies_are_secure_outside_localhost(shop: Commerce) -> None:
    sku = await new_product(shop, stock=5)
    public = {"Host": "shop.example"}
    async with httpx.AsyncClient(base_url=shop.storefront.url) as client:
        page = await client.get("/cart", headers=public)
        csrf = cookie_flags(page)["sf_csrf"]
        assert {"secure", "httponly", "samesite=lax"} <= csrf
        token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert token
        added = await client.post(
            "/cart/add",
            data={"csrf": token.group(1), "sku": sku, "quantity": "1"},
            headers={**public, "Origin": "https://shop.example", "Cookie": f"sf_csrf={token[1]}"},
        )
        assert added.status_code == 303, added.text
        flags = cookie_flags(added)
        for name in ("sf_cart", "sf_flash"):
            assert {"secure", "httponly", "samesite=lax"} <= flags[name], name
        # On localhost (tests, `storefleet runtime serve all`) plain http keeps working.
        local = await client.get("/cart")
        assert "secure" not in cookie_flags(local)["sf_csrf"]
        assert {"httponly", "samesite=lax"} <= cookie_flags(local)["sf_csrf"]


async def test_oversized_bodies_are_refused_unread(shop: Commerce) -> None:
    async with httpx.AsyncClient(base_url=shop.cart.url, timeout=60) as cart:
        declared = await cart.post(
            "/cart/items",
            content=b'{"sku": "' + b"x" * (2 * MIB) + b'", "quantity": 1}',
            headers={"Content-Type": "application/json"},
        )
        assert declared.status_code == 413
        assert declared.headers["content-type"] == "application/problem+json"
        assert declared.json()["max_bytes"] == MIB

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"sku": "'
            for _ in range(8):
                yield b"y" * MIB

        # No Content-Length: the limit holds as the body arrives.
        chunked = await cart.post(
            "/cart/items", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert "content-length" not in chunked.request.headers
        assert chunked.status_code == 413
        assert chunked.headers["content-type"] == "application/problem+json"
    async with httpx.AsyncClient(base_url=shop.storefront.url, timeout=60) as front:
        form = await front.post(
            "/cart/add",
            content=b"sku=" + b"z" * (2 * MIB),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert form.status_code == 413
