"""The shop's own pages: checkout with a test card, confirmation, history,
tracking, 3-D Secure and returns — as a browser without JavaScript sees them."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio
from form_harness import post_form
from orders_harness import (
    Commerce,
    assert_books_balance,
    databases,
    new_product,
    order_of,
    running_commerce,
    stock_of,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")
CARD = "4242 4242 4242 4242"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Commerce]:
    with databases(request, tmp_path_factory.mktemp("storefront"), "embedded") as dbs:
        async with running_commerce("embedded", dbs) as shop:
            yield shop


@pytest_asyncio.fixture(loop_scope="session")
async def browser(shop: Commerce) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=shop.storefront.url, timeout=60) as client:
        yield client


def address(**changes: str) -> dict[str, str]:
    form = {
        "email": f"web-{uuid.uuid4().hex[:6]}@example.com",
        "name": "Grace Shopper",
        "line1": "2 Page Road",
        "city": "Hamburg",
        "postal_code": "20095",
        "country": "DE",
        "shipping_method": "standard",
    }
    form.update(changes)
    return form


async def add_to_cart(browser: httpx.AsyncClient, sku: str, quantity: int = 1) -> None:
    added = await post_form(browser, "/cart/add", {"sku": sku, "quantity": str(quantity)})
    assert added.status_code == 303


async def checkout_form(browser: httpx.AsyncClient) -> dict[str, str]:
    page = await browser.get("/checkout")
    assert page.status_code == 200, page.text
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text)
    assert key is not None
    return {"idempotency_key": key.group(1)}


async def test_checkout_with_a_card_confirmation_and_history(
    shop: Commerce, browser: httpx.AsyncClient
) -> None:
    sku = await new_product(shop, stock=5, price=2500)
    await add_to_cart(browser, sku, 2)
    cart_page = await browser.get("/cart")
    assert 'href="/checkout"' in cart_page.text
    form = await checkout_form(browser) | address()
    form |= {"card_number": CARD, "exp_month": "12", "exp_year": "2031", "cvc": "123"}
    placed = await post_form(browser, "/checkout", form)
    assert placed.status_code == 303, placed.text
    location = placed.headers["location"]
    assert re.fullmatch(r"/orders/[0-9a-f]{32}", location)
    confirmation = await browser.get(location)
    assert confirmation.status_code == 200
    assert 'data-status="paid"' in confirmation.text
    assert "Visa ending in 4242" in confirmation.text
    assert "€55.00" in confirmation.text or "€60.00" in confirmation.text
    assert "4242424242424242" not in confirmation.text
    history = await browser.get("/orders")
    assert location in history.text
    # The same form posted again (a double click) is the same order.
    again = await post_form(browser, "/checkout", form)
    assert again.headers.get("location") in (location, "/cart")
    assert await stock_of(shop, sku) == 3
    await assert_books_balance(shop)


async def test_a_declined_card_keeps_the_shopper_on_the_checkout(
    shop: Commerce, browser: httpx.AsyncClient
) -> None:
    sku = await new_product(shop, stock=2)
    await add_to_cart(browser, sku)
    form = await checkout_form(browser) | address() | {"card_token": "tok_chargeDeclined"}
    declined = await post_form(browser, "/checkout", form)
    assert declined.status_code == 402
    assert "Your card was declined" in declined.text
    # Still in the cart, and a good card works on the next try.
    form = {
        "idempotency_key": re.search(r'name="idempotency_key" value="([^"]+)"', declined.text)[1],  # type: ignore[index]
        **address(),
        "card_token": "tok_visa",
    }
    paid = await post_form(browser, "/checkout", form)
    assert paid.status_code == 303
    assert await stock_of(shop, sku) == 1
    await assert_books_balance(shop)


async def test_bad_details_are_explained_not_failed(
    shop: Commerce, browser: httpx.AsyncClient
) -> None:
    sku = await new_product(shop, stock=2)
    await add_to_cart(browser, sku)
    form = await checkout_form(browser) | address(email="nope") | {"card_token": "tok_visa"}
    answer = await post_form(browser, "/checkout", form)
    assert answer.status_code == 422
    assert "Please check: e-mail" in answer.text
    bad_card = (
        await checkout_form(browser)
        | address()
        | {
            "card_number": "4242 4242 4242 4241",
            "exp_month": "1",
            "exp_year": "2031",
            "cvc": "123",
        }
    )
    answer = await post_form(browser, "/checkout", bad_card)
    assert answer.status_code == 422
    assert "card number is not valid" in answer.text
    assert "4242 4242 4242 4241" not in answer.text
    assert await stock_of(shop, sku) == 2


async def test_three_d_secure_round_trip(shop: Commerce, browser: httpx.AsyncClient) -> None:
    sku = await new_product(shop, stock=2)
    await add_to_cart(browser, sku)
    form = await checkout_form(browser) | address()
    form |= {
        "card_number": "4000 0000 0000 3220",
        "exp_month": "12",
        "exp_year": "2031",
        "cvc": "123",
    }
    placed = await post_form(browser, "/checkout", form)
    assert placed.status_code == 303
    target = urlsplit(placed.headers["location"])
    assert target.path.startswith("/api/payments/sandbox/challenge/ch_")
    return_to = parse_qs(target.query)["return_to"][0]
    # The store's router sends /api/payments to the payments service.
    async with shop.client(shop.payments) as bank:
        path = target.path.removeprefix("/api/payments")
        page = await bank.get(path, params={"return_to": return_to})
        assert "verify this payment" in page.text
        verified = await bank.post(f"{path}/form", data={"approve": "true", "return_to": return_to})
    assert verified.status_code == 303
    assert verified.headers["location"] == return_to
    back = await browser.get(return_to)
    assert back.status_code == 303
    order_page = await browser.get(back.headers["location"])
    assert 'data-status="paid"' in order_page.text
    await assert_books_balance(shop)


async def test_tracking_and_a_return_request(shop: Commerce, browser: httpx.AsyncClient) -> None:
    sku = await new_product(shop, stock=3, price=1800)
    await add_to_cart(browser, sku, 2)
    form = await checkout_form(browser) | address() | {"card_token": "tok_visa"}
    placed = await post_form(browser, "/checkout", form)
    order_id = placed.headers["location"].rsplit("/", 1)[1]
    async with shop.orders_admin() as admin:
        await admin.post(f"/admin/orders/{order_id}/fulfil")
        await admin.post(
            f"/admin/orders/{order_id}/ship",
            json={"carrier": "UPS", "tracking_number": "1Z999AA10123456784"},
        )
        await admin.post(f"/admin/orders/{order_id}/deliver")
    page = await browser.get(f"/orders/{order_id}")
    assert "1Z999AA10123456784" in page.text
    assert "Delivered" in page.text
    assert "Request a return" in page.text
    requested = await post_form(
        browser, f"/orders/{order_id}/return", {f"qty_{sku}": "1", "reason": "changed my mind"}
    )
    assert requested.status_code == 303
    page = await browser.get(f"/orders/{order_id}")
    assert "Return requested" in page.text
    assert (await order_of(shop, order_id))["status"] == "return_requested"
    # Someone else's browser, without the order's e-mail, sees nothing.
    async with httpx.AsyncClient(base_url=shop.storefront.url) as stranger:
        assert (await stranger.get(f"/orders/{order_id}")).status_code == 404
        tracked = await post_form(
            stranger, "/orders/track", {"order_id": order_id, "email": form["email"]}
        )
        assert tracked.headers["location"] == f"/orders/{order_id}"
        assert (await stranger.get(f"/orders/{order_id}")).status_code == 200
