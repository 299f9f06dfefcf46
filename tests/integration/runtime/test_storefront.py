"""The shop as a browser without JavaScript sees it: links, GET forms, POST forms."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from form_harness import post_form

pytestmark = pytest.mark.asyncio(loop_scope="session")
ProductFactory = Callable[..., Awaitable[dict[str, Any]]]


def links(html: str, prefix: str) -> list[str]:
    return re.findall(rf'href="({re.escape(prefix)}[^"?#]+)"', html)


async def test_home_is_branded_and_links_into_the_catalog(storefront: httpx.AsyncClient) -> None:
    response = await storefront.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "<title>Test Shop</title>" in html
    assert '<html lang="en">' in html
    assert 'href="#main"' in html, "a skip link for keyboard users"
    assert links(html, "/c/")
    assert links(html, "/p/")


async def test_category_page_lists_and_filters(storefront: httpx.AsyncClient) -> None:
    page = await storefront.get("/c/electronics")
    assert page.status_code == 200
    assert "<h1>Electronics</h1>" in page.text
    brand = re.search(r'name="brand" value="([a-z0-9-]+)"', page.text)
    assert brand is not None
    filtered = await storefront.get(
        "/c/electronics", params={"brand": brand.group(1), "in_stock": "1", "sort": "price_asc"}
    )
    assert filtered.status_code == 200
    assert f'value="{brand.group(1)}" checked' in filtered.text
    assert 'value="price_asc" selected' in filtered.text


async def test_search_page_corrects_typos_and_shows_facets(storefront: httpx.AsyncClient) -> None:
    page = await storefront.get("/search", params={"q": "hedphones"})
    assert page.status_code == 200
    assert "Showing results for <strong>headphones</strong>" in page.text
    assert "<legend>Brand</legend>" in page.text
    assert links(page.text, "/p/")


async def test_garbage_input_gets_pages_not_crashes(storefront: httpx.AsyncClient) -> None:
    for path, params in (
        ("/search", {"q": "\x00\"'<script>", "page": "-3", "price": "x-y"}),
        ("/c/electronics", {"page": "abc", "sort": "bogus"}),
    ):
        response = await storefront.get(path, params=params)
        assert response.status_code == 200, path
        assert "<script>" not in response.text.split("</head>", 1)[1].replace(
            '<script src="/static/site.js" defer></script>', ""
        )
    missing = await storefront.get("/p/no-such-product")
    assert missing.status_code == 404
    assert "couldn" in missing.text or "no product" in missing.text


async def test_browse_add_to_cart_and_see_the_total(
    storefront: httpx.AsyncClient, new_product: ProductFactory
) -> None:
    product = await new_product(price=2000, stock=5, name="Storefront Test Lamp")
    page = await storefront.get(f"/p/{product['slug']}")
    assert page.status_code == 200
    assert "Storefront Test Lamp" in page.text
    assert 'action="/cart/add"' in page.text
    sku = product["variants"][0]["sku"]

    added = await post_form(storefront, "/cart/add", {"sku": sku, "quantity": "2"})
    assert added.status_code == 303
    assert added.headers["location"] == "/cart"
    assert storefront.cookies.get("sf_cart")

    cart = await storefront.get("/cart")
    assert "Storefront Test Lamp" in cart.text
    assert "Added to your cart." in cart.text
    total = re.search(r'id="cart-total">([^<]+)<', cart.text)
    assert total is not None
    assert total.group(1) == "€53.94"  # 40.00 + 4.95 shipping, plus 20% tax on both

    bumped = await post_form(storefront, "/cart/update", {"sku": sku, "quantity": "3"})
    assert bumped.status_code == 303
    cart = await storefront.get("/cart")
    assert re.search(r'id="cart-total">€72.00<', cart.text), "free shipping over 50.00"

    refused = await post_form(
        storefront, "/cart/add", {"sku": sku, "quantity": "3", "back": f"/p/{product['slug']}"}
    )
    assert refused.headers["location"] == f"/p/{product['slug']}"
    product_page = await storefront.get(refused.headers["location"])
    assert f"not enough stock of {product['name']}" in product_page.text
    assert "Only a few left" in product_page.text, "5 units: running low, and no count"

    removed = await post_form(storefront, "/cart/remove", {"sku": sku})
    assert removed.status_code == 303
    assert "Your cart is empty" in (await storefront.get("/cart")).text


async def test_pages_say_a_few_left_never_how_many(
    storefront: httpx.AsyncClient, catalog: httpx.AsyncClient, new_product: ProductFactory
) -> None:
    """Before, the product page said "Only 3 left" and the cart "Not enough in
    stock: 2 left": anyone could read the store's stock off its pages."""
    product = await new_product(stock=3, name="Scarce Storefront Lamp")
    sku = product["variants"][0]["sku"]
    page = (await storefront.get(f"/p/{product['slug']}")).text
    assert "Only a few left" in page
    assert not re.search(r"\b3 left", page)

    added = await post_form(storefront, "/cart/add", {"sku": sku, "quantity": "3"})
    assert added.status_code == 303
    sold = await catalog.post(
        "/internal/reservations", json={"items": [{"sku": sku, "quantity": 1}]}
    )
    assert sold.status_code == 201
    cart = (await storefront.get("/cart")).text
    assert "Not enough in stock" in cart
    assert not re.search(r"\b[0-9]+ left", cart)
    refused = await post_form(storefront, "/cart/update", {"sku": sku, "quantity": "3"})
    assert refused.status_code == 303
    flash = (await storefront.get("/cart")).text
    assert "not enough stock of Scarce Storefront Lamp" in flash
    assert not re.search(r"only [0-9]+ of", flash)
    await post_form(storefront, "/cart/remove", {"sku": sku})  # the next test's cart is empty


async def test_promo_code_form(
    storefront: httpx.AsyncClient, cart: httpx.AsyncClient, new_product: ProductFactory
) -> None:
    product = await new_product(price=3000)
    code = "SF" + product["slug"][-8:].upper().replace("-", "")
    created = await cart.post("/admin/promos", json={"code": code, "kind": "fixed", "value": 500})
    assert created.status_code == 201
    await post_form(storefront, "/cart/add", {"sku": product["variants"][0]["sku"]})
    assert storefront.cookies.get("sf_cart"), "a new shopper gets a cart of their own"
    bad = await post_form(storefront, "/cart/promo", {"code": "NOSUCHCODE"})
    assert bad.status_code == 303
    assert "no promo code" in (await storefront.get("/cart")).text
    good = await post_form(storefront, "/cart/promo", {"code": code.lower()})
    assert good.status_code == 303
    page = (await storefront.get("/cart")).text
    assert "Code applied." in page
    assert "\u2212€5.00" in page  # a real minus sign, for screen readers


async def test_product_images_are_served(storefront: httpx.AsyncClient) -> None:
    response = await storefront.get("/img/acme-pro-headphones-123.svg")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert ">AP<" in response.text
