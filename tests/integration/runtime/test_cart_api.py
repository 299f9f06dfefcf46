"""The cart's HTTP API against real catalog and cart servers, on every backend."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from storefleet.runtime.platform.identity import auth

pytestmark = pytest.mark.asyncio(loop_scope="session")
ProductFactory = Callable[..., Awaitable[dict[str, Any]]]
SECRET = "integration-secret"  # the cart server's auth_secret in conftest


def sku_of(product: dict[str, Any]) -> str:
    sku: str = product["variants"][0]["sku"]
    return sku


async def add(
    cart: httpx.AsyncClient, sku: str, quantity: int = 1, cart_id: str | None = None
) -> httpx.Response:
    headers = {"X-Cart-Id": cart_id} if cart_id else {}
    return await cart.post("/cart/items", json={"sku": sku, "quantity": quantity}, headers=headers)


async def new_cart(cart: httpx.AsyncClient, sku: str, quantity: int = 1) -> str:
    response = await add(cart, sku, quantity)
    assert response.status_code == 200, response.text
    cart_id: str = response.headers["x-cart-id"]
    return cart_id


async def view(cart: httpx.AsyncClient, cart_id: str) -> dict[str, Any]:
    response = await cart.get("/cart", headers={"X-Cart-Id": cart_id})
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def promo(cart: httpx.AsyncClient, **fields: Any) -> str:
    code = "T" + uuid.uuid4().hex[:10].upper()
    response = await cart.post("/admin/promos", json={"code": code} | fields)
    assert response.status_code == 201, response.text
    return code


async def test_anonymous_cart_lives_in_a_cookie(
    cart: httpx.AsyncClient, new_product: ProductFactory
) -> None:
    product = await new_product(price=1999)
    response = await add(cart, sku_of(product), 2)
    assert response.status_code == 200
    cookie = response.cookies.get("sf_cart")
    assert cookie is not None
    assert cookie == response.json()["id"]
    # The cookie alone (as a browser would send it) finds the cart again.
    async with httpx.AsyncClient(base_url=str(cart.base_url), cookies={"sf_cart": cookie}) as c:
        again = (await c.get("/cart")).json()
    assert again["item_count"] == 2
    line = again["lines"][0]
    assert line["product_slug"] == product["slug"]
    assert line["line_total_minor"] == 2 * 1999


async def test_totals_follow_the_store_rules(
    cart: httpx.AsyncClient, new_product: ProductFactory
) -> None:
    cheap = await new_product(price=1000)
    cart_id = await new_cart(cart, sku_of(cheap), 2)
    body = await view(cart, cart_id)
    assert body["subtotal_minor"] == 2000
    assert body["shipping_minor"] == 495
    assert body["tax_minor"] == 499  # 20% of 24.95, half up
    assert body["total_minor"] == 2000 + 495 + 499
    dear = await new_product(price=4000)
    await add(cart, sku_of(dear), 1, cart_id)
    body = await view(cart, cart_id)
    assert body["shipping_minor"] == 0, "over 50.00 ships free"
    assert body["total_minor"] == 6000 + 1200


async def test_quantity_limit_and_live_stock(
    cart: httpx.AsyncClient,
    catalog: httpx.AsyncClient,
    new_product: ProductFactory,
    staff: dict[str, str],
) -> None:
    scarce = await new_product(stock=3)
    sku = sku_of(scarce)
    # The store's staff are told how many are left (their own cart, signed in).
    too_many = await cart.post("/cart/items", json={"sku": sku, "quantity": 4}, headers=staff)
    assert too_many.status_code == 409
    assert too_many.json()["available"] == 3
    cart_id = await new_cart(cart, sku, 3)
    over = await add(cart, sku, 1, cart_id)
    assert over.status_code == 409
    plenty = sku_of(await new_product(stock=100))
    over_limit = await add(cart, plenty, 11, cart_id)
    assert over_limit.status_code == 409
    assert over_limit.json()["max_quantity"] == 10

    # Stock sold elsewhere shows on the cart as a problem line, not in the total.
    sold = await catalog.post(
        "/internal/reservations", json={"items": [{"sku": sku, "quantity": 3}]}
    )
    assert sold.status_code == 201
    body = await view(cart, cart_id)
    assert body["lines"][0]["problem"] == "out_of_stock"
    assert body["subtotal_minor"] == 0


async def test_shoppers_are_told_not_enough_never_how_many(
    shop: Any, cart: httpx.AsyncClient, new_product: ProductFactory, staff: dict[str, str]
) -> None:
    """A cart's lines and refusals carry the catalog's level for shoppers,
    anonymous or signed in; the count is for the store's staff. Before, the
    cart's ``available`` and its 409 told anyone the exact stock."""
    product = await new_product(stock=3)
    sku = sku_of(product)
    shopper = shop.bearer("customer")
    for headers in ({}, shopper):
        refused = await cart.post("/cart/items", json={"sku": sku, "quantity": 4}, headers=headers)
        assert refused.status_code == 409
        problem = refused.json()
        assert problem["detail"] == f"not enough stock of {product['name']}", problem
        assert "available" not in problem
        assert problem["availability"] == "low_stock"

    cart_id = await new_cart(cart, sku, 2)
    line = (await view(cart, cart_id))["lines"][0]
    assert (line["availability"], line["available"], line["problem"]) == ("low_stock", None, None)
    signed_in = await cart.post("/cart/items", json={"sku": sku, "quantity": 1}, headers=shopper)
    assert signed_in.status_code == 200
    assert signed_in.json()["lines"][0]["available"] is None

    counted = await cart.post("/cart/items", json={"sku": sku, "quantity": 2}, headers=staff)
    assert counted.status_code == 200
    assert counted.json()["lines"][0]["available"] == 3
    assert (await cart.get("/cart", headers=staff)).json()["lines"][0]["available"] == 3


async def test_unknown_sku_and_bad_input(cart: httpx.AsyncClient) -> None:
    unknown = await add(cart, "NO-SUCH-SKU")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    for body in ({"sku": "X-1", "quantity": 0}, {"sku": "lower case"}, {"quantity": 1}):
        response = await cart.post("/cart/items", json=body)
        assert response.status_code == 422, body


async def test_update_and_remove_lines(
    cart: httpx.AsyncClient, new_product: ProductFactory
) -> None:
    sku = sku_of(await new_product())
    cart_id = await new_cart(cart, sku)
    headers = {"X-Cart-Id": cart_id}
    updated = await cart.put(f"/cart/items/{sku}", json={"quantity": 4}, headers=headers)
    assert updated.json()["item_count"] == 4
    removed = await cart.delete(f"/cart/items/{sku}", headers=headers)
    assert removed.json()["lines"] == []
    missing = await cart.put(f"/cart/items/{sku}", json={"quantity": 1}, headers=headers)
    assert missing.status_code == 404


async def test_concurrent_adds_to_one_cart_are_not_lost(
    cart: httpx.AsyncClient, new_product: ProductFactory
) -> None:
    skus = [sku_of(await new_product()) for _ in range(6)]
    cart_id = await new_cart(cart, skus[0])
    responses = await asyncio.gather(*(add(cart, sku, 1, cart_id) for sku in skus[1:]))
    assert all(r.status_code == 200 for r in responses)
    assert (await view(cart, cart_id))["item_count"] == 6


async def test_percentage_code_and_its_conditions(
    cart: httpx.AsyncClient, new_product: ProductFactory
) -> None:
    sku = sku_of(await new_product(price=2000))
    cart_id = await new_cart(cart, sku, 1)
    headers = {"X-Cart-Id": cart_id}
    minimum = await promo(cart, kind="percent", value=10, min_subtotal_minor=3000)
    refused = await cart.post("/cart/promo", json={"code": minimum}, headers=headers)
    assert refused.status_code == 409
    assert "minimum" in refused.json()["detail"]
    await add(cart, sku, 1, cart_id)
    applied = await cart.post("/cart/promo", json={"code": minimum.lower()}, headers=headers)
    assert applied.status_code == 200
    body = applied.json()
    assert body["discount_minor"] == 400
    assert body["promo"]["applied"]
    # Dropping below the minimum keeps the code on the cart but stops the discount.
    await cart.put(f"/cart/items/{sku}", json={"quantity": 1}, headers=headers)
    body = await view(cart, cart_id)
    assert body["discount_minor"] == 0
    assert body["promo"]["applied"] is False


async def test_expired_fixed_and_free_shipping_codes(
    cart: httpx.AsyncClient, new_product: ProductFactory
) -> None:
    cart_id = await new_cart(cart, sku_of(await new_product(price=1500)))
    headers = {"X-Cart-Id": cart_id}
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    expired = await promo(cart, kind="fixed", value=500, expires_at=past)
    response = await cart.post("/cart/promo", json={"code": expired}, headers=headers)
    assert response.status_code == 409
    assert "expired" in response.json()["detail"]
    free = await promo(cart, kind="free_shipping")
    body = (await cart.post("/cart/promo", json={"code": free}, headers=headers)).json()
    assert body["shipping_minor"] == 0
    assert (
        await cart.post("/cart/promo", json={"code": "NOPE"}, headers=headers)
    ).status_code == 404


async def test_usage_limit_holds_under_concurrent_redemptions(cart: httpx.AsyncClient) -> None:
    code = await promo(cart, kind="percent", value=5, usage_limit=3)
    responses = await asyncio.gather(
        *(
            cart.post(f"/internal/promos/{code}/redemptions", json={"order_id": f"o-{n}"})
            for n in range(10)
        )
    )
    assert sorted(r.status_code for r in responses) == [200] * 3 + [409] * 7
    repeat = await cart.post(f"/internal/promos/{code}/redemptions", json={"order_id": "o-x"})
    assert repeat.status_code == 409
    assert (await cart.get(f"/admin/promos/{code}")).json()["used_count"] == 3


async def test_promo_validation(cart: httpx.AsyncClient) -> None:
    for body in (
        {"code": "P1", "kind": "percent", "value": 150},
        {"code": "P2", "kind": "fixed", "value": 0},
        {"code": "P3", "kind": "free_shipping", "value": 5},
        {"code": "bad code!", "kind": "fixed", "value": 5},
        {"code": "P4", "kind": "bogus"},
    ):
        response = await cart.post("/admin/promos", json=body)
        assert response.status_code == 422, body


async def test_signed_in_cart_and_merge_on_sign_in(
    cart: httpx.AsyncClient, new_product: ProductFactory
) -> None:
    user = f"user-{uuid.uuid4().hex[:6]}"
    token = {"Authorization": f"Bearer {auth.sign(user, SECRET)}"}
    shared = sku_of(await new_product())
    only_guest = sku_of(await new_product())
    signed_in = await cart.post("/cart/items", json={"sku": shared, "quantity": 1}, headers=token)
    assert signed_in.status_code == 200
    assert signed_in.json()["owner"] == "user"

    guest = await new_cart(cart, shared, 2)
    await add(cart, only_guest, 1, guest)
    merged = await cart.post("/cart/merge", headers=token | {"X-Cart-Id": guest})
    assert merged.status_code == 200
    quantities = {line["sku"]: line["quantity"] for line in merged.json()["lines"]}
    assert quantities == {shared: 3, only_guest: 1}
    assert (await view(cart, guest))["lines"] == [], "the guest cart is gone"
    assert (await cart.get("/cart", headers=token)).json()["item_count"] == 4


async def test_forged_tokens_are_refused(cart: httpx.AsyncClient) -> None:
    forged = auth.sign("someone", "not-the-secret")
    response = await cart.get("/cart", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert (await cart.post("/cart/merge")).status_code == 401


async def test_idle_carts_raise_one_abandoned_event(
    cart: httpx.AsyncClient, new_product: ProductFactory, shop: Any
) -> None:
    cart_id = await new_cart(cart, sku_of(await new_product(price=1234)), 2)
    service = shop.cart.app.state.cart
    later = datetime.now(UTC) + timedelta(hours=25)
    assert await service.sweep_abandoned(now=later) >= 1
    assert await service.sweep_abandoned(now=later) == 0, "announced once per idle spell"
    for _ in range(50):
        events = [
            e
            for e in shop.bus.recent
            if e.type == "cart.abandoned" and e.payload["cart"] == f"cart:anon:{cart_id}"
        ]
        if events:
            break
        await asyncio.sleep(0.1)
    assert len(events) == 1
    assert events[0].payload["item_count"] == 2
    assert events[0].payload["subtotal_minor"] == 2468


async def test_a_cart_is_held_for_one_checkout_and_bought_once(
    cart: httpx.AsyncClient, new_product: ProductFactory
) -> None:
    sku = sku_of(await new_product(stock=5))
    cart_id = await new_cart(cart, sku, 2)
    base = f"/internal/carts/anonymous/{cart_id}/claims"
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    claims = await asyncio.gather(
        *(cart.post(base, json={"order_id": order}) for order in (first, second))
    )
    assert sorted(c.status_code for c in claims) == [200, 409]
    holder = first if claims[0].status_code == 200 else second
    other = second if holder == first else first
    assert [line["quantity"] for line in claims[0 if holder == first else 1].json()["lines"]] == [2]
    # The shopper can't change what is being bought; the holder may claim again.
    changed = await cart.post(
        "/cart/items", json={"sku": sku, "quantity": 1}, headers={"X-Cart-Id": cart_id}
    )
    assert changed.status_code == 409
    assert changed.headers["content-type"].startswith("application/problem+json")
    assert (await cart.post(base, json={"order_id": holder})).status_code == 200
    # Bought: empty, and no other order gets it.
    assert (await cart.post(f"{base}/{holder}/consume")).json()["lines"] == []
    assert (await view(cart, cart_id))["lines"] == []
    assert (await cart.post(base, json={"order_id": other})).status_code == 409
    # That checkout failed after all: the cart comes back as it was.
    released = await cart.post(f"{base}/{holder}/release")
    assert [line["quantity"] for line in released.json()["lines"]] == [2]
    assert (await cart.post(base, json={"order_id": other})).status_code == 200
    assert (await cart.post(f"{base}/{other}/release")).status_code == 200
    assert (await add(cart, sku, 1, cart_id)).status_code == 200


async def test_a_redemption_given_back_counts_no_more(cart: httpx.AsyncClient) -> None:
    code = await promo(cart, kind="percent", value=5, usage_limit=1)
    used = await cart.post(f"/internal/promos/{code}/redemptions", json={"order_id": "o-1"})
    assert used.json()["used_count"] == 1
    assert (
        await cart.post(f"/internal/promos/{code}/redemptions", json={"order_id": "o-2"})
    ).status_code == 409
    for _ in range(2):  # once, however often asked
        back = await cart.delete(f"/internal/promos/{code}/redemptions/o-1")
        assert back.status_code == 200
        assert back.json()["used_count"] == 0
    assert (
        await cart.post(f"/internal/promos/{code}/redemptions", json={"order_id": "o-2"})
    ).json()["used_count"] == 1
