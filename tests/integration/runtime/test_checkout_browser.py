"""Checkout in a real browser (Debian's Chromium, headless, via Playwright):
product page → cart → checkout with the sandbox's test card → confirmation,
then the order history. Screenshots go to test-artifacts/storefront/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from browser_harness import ARTIFACTS, launch
from orders_harness import (
    Commerce,
    assert_books_balance,
    databases,
    new_product,
    running_commerce,
    stock_of,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Commerce]:
    with databases(request, tmp_path_factory.mktemp("browser"), "embedded") as dbs:
        async with running_commerce("embedded", dbs) as shop:
            yield shop


@pytest_asyncio.fixture(loop_scope="session")
async def page(shop: Commerce, chromium: str) -> AsyncIterator[Any]:
    async with launch(chromium) as browser:
        context = await browser.new_context(
            base_url=shop.storefront.url, viewport={"width": 1280, "height": 1000}
        )
        yield await context.new_page()
        await context.close()


async def test_a_shopper_checks_out_with_a_test_card(page: Any, shop: Commerce) -> None:
    sku = await new_product(shop, stock=4, price=2490)
    await page.goto(f"/p/checkout-item-{sku[3:].lower()}")
    await page.get_by_role("button", name="Add to cart").click()
    await page.wait_for_url("**/cart")
    await page.get_by_role("link", name="Go to checkout").click()
    await page.wait_for_url("**/checkout")
    await page.get_by_label("E-mail").fill("browser@example.com")
    await page.get_by_label("Full name").fill("Ada Browser")
    await page.get_by_label("Address", exact=True).fill("3 Window Lane")
    await page.get_by_label("City").fill("Munich")
    await page.get_by_label("Postal code").fill("80331")
    await page.get_by_label("Express (next day)").check()
    await page.get_by_label("Card number").fill("4242 4242 4242 4242")
    await page.get_by_label("Expiry month").fill("12")
    await page.get_by_label("Expiry year").fill("2031")
    await page.get_by_label("Security code").fill("123")
    await page.screenshot(path=ARTIFACTS / "checkout.png", full_page=True)
    await page.get_by_role("button", name="Place order").click()
    await page.wait_for_url("**/orders/*")
    assert await page.locator("#order-status").inner_text() == "Paid"
    assert "Visa ending in 4242" in await page.content()
    await page.screenshot(path=ARTIFACTS / "order-confirmation.png", full_page=True)
    await page.get_by_role("link", name="Orders", exact=True).click()
    await page.wait_for_url("**/orders")
    assert await page.locator("#order-history tbody tr").count() == 1
    assert await stock_of(shop, sku) == 3
    await assert_books_balance(shop)
