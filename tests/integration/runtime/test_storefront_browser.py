"""A shopper in a real browser (Debian's Chromium, headless, driven by Playwright):
browse, search, add to cart, see the total. Screenshots go to test-artifacts/."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from browser_harness import ARTIFACTS, launch

pytestmark = pytest.mark.asyncio(loop_scope="session")
ProductFactory = Callable[..., Awaitable[dict[str, Any]]]
# Without these, Chromium spends its start-up calling home on a closed network.


@pytest_asyncio.fixture(loop_scope="session")
async def page(shop: Any, chromium: str) -> AsyncIterator[Any]:
    async with launch(chromium) as browser:
        context = await browser.new_context(
            base_url=shop.storefront.url, viewport={"width": 1280, "height": 900}
        )
        yield await context.new_page()
        await context.close()


async def test_shopper_browses_searches_and_buys(
    page: Any, shop: Any, new_product: ProductFactory
) -> None:
    suffix = shop.backend.name

    await page.goto("/")
    assert await page.title() == "Test Shop"
    await (
        page.get_by_role("navigation", name="Categories")
        .get_by_role("link", name="Electronics")
        .click()
    )
    await page.wait_for_url("**/c/electronics**")
    assert await page.locator("h1").inner_text() == "Electronics"
    await page.screenshot(path=ARTIFACTS / f"category-{suffix}.png", full_page=True)

    await page.get_by_label("Search products").fill("hedphones")
    await page.get_by_label("Search products").press("Enter")
    await page.wait_for_url("**/search?q=hedphones**")
    assert "headphones" in await page.locator(".note").first.inner_text()
    # Ticking a facet submits the filter form by itself (the one bit of script).
    await page.locator(".facets input[name=in_stock]").check()
    await page.wait_for_url("**in_stock=1**")
    await page.screenshot(path=ARTIFACTS / f"search-{suffix}.png", full_page=True)

    product = await new_product(price=2500, stock=4, name="Browser Test Speaker")
    await page.goto(f"/p/{product['slug']}")
    await page.get_by_label("Quantity").fill("2")
    await page.get_by_role("button", name="Add to cart").click()
    await page.wait_for_url("**/cart")
    assert "Added to your cart." in await page.get_by_role("status").first.inner_text()
    # 2 x 25.00 = 50.00 ships free; plus 20% tax = 60.00.
    assert await page.locator("#cart-total").inner_text() == "€60.00"
    assert await page.locator(".cart-link .count").inner_text() == "2"
    await page.screenshot(path=ARTIFACTS / f"cart-{suffix}.png", full_page=True)
