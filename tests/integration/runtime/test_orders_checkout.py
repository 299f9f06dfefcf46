"""Checkout end to end on every backend: cart → order → paid, declines, 3-D
Secure, fraud holds, fulfilment, returns and partial refunds, idempotency, and
bad input. Every test ends with the money books and the stock checked."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from orders_harness import (
    Commerce,
    assert_books_balance,
    checkout,
    checkout_body,
    databases,
    fill_cart,
    ledger,
    new_product,
    order_of,
    published,
    running_commerce,
    stock_of,
    wait_for_status,
)
from sqlalchemy import text

from storefleet.runtime.platform.events.contracts import ContractViolation, check_event
from storefleet.runtime.platform.web.errors import PROBLEM_JSON

pytestmark = pytest.mark.asyncio(loop_scope="session")


def broken_contracts(shop: Commerce) -> list[str]:
    """What the shop's services published that breaks its type's contract."""
    broken = []
    for published_event in list(shop.bus.recent):
        try:
            check_event(published_event)
        except ContractViolation as exc:
            broken.append(str(exc))
    return broken


@pytest_asyncio.fixture(scope="module", loop_scope="session", params=["embedded", "postgres"])
async def shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Commerce]:
    kind: str = request.param
    cache_url, prefix = "memory://", ""
    if kind == "postgres":
        cache_url = request.getfixturevalue("redis_url")
        prefix = f"sf-orders-{uuid.uuid4().hex[:8]}:"
    with databases(request, tmp_path_factory.mktemp("orders"), kind) as dbs:
        async with running_commerce(kind, dbs, cache_url=cache_url, cache_prefix=prefix) as shop:
            yield shop


@pytest.fixture(autouse=True)
def events_keep_their_contracts(shop: Commerce) -> Iterator[None]:
    """Every event the orders, payments, catalog and cart services published
    during a test is what its contract (runtime/src/storefleet/runtime/platform/events/contracts.py)
    promises the consumers."""
    yield
    assert not broken_contracts(shop)


async def test_browse_cart_checkout_paid(shop: Commerce) -> None:
    sku = await new_product(shop, stock=5, price=1250)
    async with shop.client(shop.storefront) as web:
        product = await web.get(f"/p/checkout-item-{sku[3:].lower()}")
        assert product.status_code == 200
        assert sku in product.text
    cart_id = await fill_cart(shop, {sku: 2})
    response = await checkout(shop, cart_id, checkout_body())
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "paid"
    # 2 x 12.50 + 4.95 shipping (below the free threshold) + 20% tax on both
    assert order["subtotal_minor"] == 2500
    assert order["tax_minor"] == 599
    assert order["total_minor"] == 2500 + 495 + 599
    assert order["captured_minor"] == order["total_minor"] == order["authorized_minor"]
    assert order["card_last4"] == "4242"
    assert [entry["status"] for entry in order["history"]] == [
        "pending",
        "awaiting_payment",
        "paid",
    ]
    assert await stock_of(shop, sku) == 3
    # The cart was emptied by the checkout.
    async with shop.client(shop.cart) as client:
        assert (await client.get("/cart", headers={"X-Cart-Id": cart_id})).json()["lines"] == []
    # Events, in minor units, with lines where the notifications need them.
    placed = await published(shop, "order.placed", order["id"], 1)
    paid = await published(shop, "order.paid", order["id"], 1)
    assert len(placed) == 1
    assert len(paid) == 1
    for event in (placed[0], paid[0]):
        assert event.payload["email"] == order["email"]
        assert event.payload["total_minor"] == 3594
        assert isinstance(event.payload["total_minor"], int)
        assert event.payload["lines"][0]["sku"] == sku
        assert event.payload["lines"][0]["quantity"] == 2
    assert len(await published(shop, "payment.authorized", order["id"], 1)) == 1
    captured = await published(shop, "payment.captured", order["id"], 1)
    assert [event.payload["captured_minor"] for event in captured] == [3594]
    await assert_books_balance(shop)


async def test_a_repeated_checkout_is_one_order_and_one_charge(shop: Commerce) -> None:
    sku = await new_product(shop, stock=4)
    cart_id = await fill_cart(shop, {sku: 1})
    body = checkout_body()
    key = "repeat-" + uuid.uuid4().hex
    before = await ledger(shop)
    first = await checkout(shop, cart_id, body, key)
    second = await checkout(shop, cart_id, body, key)
    assert first.status_code == 201
    assert second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    after = await ledger(shop)
    assert (
        after["gateway"]["captured_minor"] - before["gateway"]["captured_minor"]
        == first.json()["total_minor"]
    )
    assert await stock_of(shop, sku) == 3
    await assert_books_balance(shop)


async def test_a_declined_card_cancels_and_releases_the_stock(shop: Commerce) -> None:
    sku = await new_product(shop, stock=3)
    cart_id = await fill_cart(shop, {sku: 3})
    before = await ledger(shop)
    response = await checkout(shop, cart_id, checkout_body("tok_chargeDeclined"))
    assert response.status_code == 201
    order = response.json()
    assert order["status"] == "cancelled"
    assert order["cancel_reason"] == "payment_declined"
    assert "card_declined" in order["failure_detail"]
    assert order["captured_minor"] == 0
    assert await stock_of(shop, sku) == 3
    after = await ledger(shop)
    assert after["gateway"]["authorized_minor"] == before["gateway"]["authorized_minor"]
    assert after["gateway"]["captured_minor"] == before["gateway"]["captured_minor"]
    failed = await published(shop, "payment.failed", order["id"], 1)
    assert failed
    assert failed[0].payload["decline_code"] == "card_declined"
    cancelled = await published(shop, "order.cancelled", order["id"], 1)
    assert [event.payload["reason"] for event in cancelled] == ["payment_declined"]
    # The cart is kept, so the shopper can try another card.
    async with shop.client(shop.cart) as client:
        lines = (await client.get("/cart", headers={"X-Cart-Id": cart_id})).json()["lines"]
    assert [line["sku"] for line in lines] == [sku]
    await assert_books_balance(shop)


async def test_three_d_secure_then_paid_or_failed(shop: Commerce) -> None:
    sku = await new_product(shop, stock=4)
    outcomes = {}
    for approve in (True, False):
        cart_id = await fill_cart(shop, {sku: 1})
        response = await checkout(shop, cart_id, checkout_body("tok_threeDSecureRequired"))
        order = response.json()
        assert order["status"] == "awaiting_payment"
        assert "/sandbox/challenge/ch_" in order["next_action_url"]
        charge = order["next_action_url"].rsplit("/", 1)[1]
        assert await stock_of(shop, sku) == (3 if approve else 2)
        async with shop.client(shop.payments) as client:
            done = await client.post(f"/sandbox/challenge/{charge}", json={"approve": approve})
            assert done.status_code == 200
        async with shop.client(shop.orders) as client:
            back = await client.post(
                f"/orders/{order['id']}/payment-return", params={"email": order["email"]}
            )
            assert back.status_code == 200
        outcomes[approve] = await wait_for_status(shop, order["id"], {"paid", "cancelled"})
    assert outcomes[True]["status"] == "paid"
    assert outcomes[False]["status"] == "cancelled"
    assert outcomes[False]["cancel_reason"] == "payment_declined"
    assert await stock_of(shop, sku) == 3
    await assert_books_balance(shop)


async def test_a_risky_order_is_held_then_approved_or_rejected(shop: Commerce) -> None:
    sku = await new_product(shop, stock=10, price=60_000)
    results = {}
    for decision in ("approve", "reject"):
        cart_id = await fill_cart(shop, {sku: 2})
        # A high amount and a billing country that differs from the shipping one.
        response = await checkout(shop, cart_id, checkout_body(billing_country="FR"))
        order = response.json()
        assert order["status"] == "on_hold", order
        assert any("billing country FR" in reason for reason in order["hold_reasons"])
        assert order["authorized_minor"] == order["total_minor"]
        assert order["captured_minor"] == 0
        held = await published(shop, "order.held_for_review", order["id"], 1)
        assert len(held) == 1
        async with shop.orders_admin() as admin:
            answer = await admin.post(f"/admin/orders/{order['id']}/{decision}", json={})
            assert answer.status_code == 200, answer.text
        results[decision] = await wait_for_status(shop, order["id"], {"paid", "cancelled"})
    assert results["approve"]["status"] == "paid"
    assert results["approve"]["captured_minor"] == results["approve"]["total_minor"]
    assert results["reject"]["status"] == "cancelled"
    assert results["reject"]["cancel_reason"] == "rejected_in_review"
    assert len(await published(shop, "payment.voided", results["reject"]["id"], 1)) == 1
    assert await stock_of(shop, sku) == 8
    await assert_books_balance(shop)


async def test_repeated_declines_then_a_mismatched_card_is_blocked(shop: Commerce) -> None:
    sku = await new_product(shop, stock=2)
    email = f"carder-{uuid.uuid4().hex[:6]}@example.com"
    cart_id = await fill_cart(shop, {sku: 1})
    for _ in range(3):
        declined = await checkout(shop, cart_id, checkout_body("tok_chargeDeclined", email=email))
        assert declined.json()["cancel_reason"] == "payment_declined"
    blocked = await checkout(shop, cart_id, checkout_body(email=email, billing_country="US"))
    order = blocked.json()
    assert order["status"] == "cancelled"
    assert order["cancel_reason"] == "fraud_blocked"
    assert order["authorized_minor"] == 0
    assert await stock_of(shop, sku) == 2
    await assert_books_balance(shop)


async def test_fulfil_ship_deliver_return_and_refund_in_parts(shop: Commerce) -> None:
    sku_a = await new_product(shop, stock=5, price=3000)
    sku_b = await new_product(shop, stock=5, price=1000)
    cart_id = await fill_cart(shop, {sku_a: 2, sku_b: 1})
    order = (await checkout(shop, cart_id, checkout_body(shipping_method="express"))).json()
    assert order["status"] == "paid"
    # Free shipping above 50.00, plus the express surcharge.
    assert order["shipping_minor"] == 995
    order_id, email = order["id"], order["email"]
    async with shop.orders_admin() as admin:
        # A paid order can't skip packing.
        skipped = await admin.post(
            f"/admin/orders/{order_id}/ship", json={"carrier": "DHL", "tracking_number": "X1"}
        )
        assert skipped.status_code == 409
        assert skipped.headers["content-type"].startswith(PROBLEM_JSON)
        assert (await admin.post(f"/admin/orders/{order_id}/fulfil")).status_code == 200
        shipped = await admin.post(
            f"/admin/orders/{order_id}/ship",
            json={"carrier": "DHL", "tracking_number": "JD0146 0000 1"},
        )
        assert shipped.json()["tracking_number"] == "JD0146 0000 1"
        assert (await admin.post(f"/admin/orders/{order_id}/deliver")).status_code == 200
    async with shop.client(shop.orders) as client:
        tracking = (await client.get(f"/orders/{order_id}", params={"email": email})).json()
        assert [entry["label"] for entry in tracking["history"]][-3:] == [
            "Being packed",
            "Shipped",
            "Delivered",
        ]
        # More than was bought can't be returned.
        too_many = await client.post(
            f"/orders/{order_id}/returns",
            params={"email": email},
            json={"lines": [{"sku": sku_a, "quantity": 3}]},
        )
        assert too_many.status_code == 422
        requested = await client.post(
            f"/orders/{order_id}/returns",
            params={"email": email},
            json={"lines": [{"sku": sku_a, "quantity": 1}], "reason": "too big"},
        )
        assert requested.status_code == 201, requested.text
        return_id = requested.json()["returns"][0]["id"]
        assert requested.json()["returns"][0]["value_minor"] == 3000
    async with shop.orders_admin() as admin:
        received = await admin.post(f"/admin/orders/{order_id}/returns/{return_id}/receive")
        assert received.json()["status"] == "returned"
        # The default refund is what came back: 30.00 of this order.
        first = await admin.post(
            f"/admin/orders/{order_id}/refunds", json={}, headers={"Idempotency-Key": "refund-1a"}
        )
        assert first.status_code == 200, first.text
        assert first.json()["status"] == "partially_refunded"
        assert first.json()["refunded_minor"] == 3000
        repeat = await admin.post(
            f"/admin/orders/{order_id}/refunds", json={}, headers={"Idempotency-Key": "refund-1a"}
        )
        assert repeat.json()["refunded_minor"] == 3000
        too_much = await admin.post(
            f"/admin/orders/{order_id}/refunds",
            json={"amount_minor": 10**9},
            headers={"Idempotency-Key": "refund-big"},
        )
        assert too_much.status_code == 409
        rest = order["captured_minor"] - 3000
        final = await admin.post(
            f"/admin/orders/{order_id}/refunds",
            json={"amount_minor": rest, "reason": "goodwill"},
            headers={"Idempotency-Key": "refund-2b"},
        )
        assert final.json()["status"] == "refunded"
        assert final.json()["refunded_minor"] == order["captured_minor"]
    refunds = await published(shop, "order.refunded", order_id, 2)
    assert [event.payload["refund_minor"] for event in refunds] == [3000, rest]
    payment_refunds = await published(shop, "payment.refunded", order_id, 2)
    assert [e.payload["refund_minor"] for e in payment_refunds] == [
        3000,
        rest,
    ]
    await assert_books_balance(shop)


async def test_cancelling_a_paid_order_refunds_it(shop: Commerce) -> None:
    sku = await new_product(shop, stock=2)
    order = (await checkout(shop, await fill_cart(shop, {sku: 1}), checkout_body())).json()
    async with shop.orders_admin() as admin:
        cancelled = await admin.post(
            f"/admin/orders/{order['id']}/cancel", json={"reason": "customer called"}
        )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["refunded_minor"] == order["captured_minor"]
    books = await ledger(shop)
    assert books["payments"]["refunded_minor"] == books["gateway"]["refunded_minor"]
    assert len(await published(shop, "payment.refunded", order["id"], 1)) == 1
    assert await stock_of(shop, sku) == 1  # a paid order's stock was sold; see docs
    await assert_books_balance(shop)


async def test_order_history_for_a_signed_in_shopper(shop: Commerce) -> None:
    from orders_harness import AUTH_SECRET

    from storefleet.runtime.platform.identity.auth import sign

    user = "user-" + uuid.uuid4().hex[:8]
    token = sign(user, AUTH_SECRET)
    sku = await new_product(shop, stock=5)
    ids = []
    for _ in range(2):
        async with shop.client(shop.cart, Authorization=f"Bearer {token}") as cart:
            assert (await cart.post("/cart/items", json={"sku": sku})).status_code == 200
        async with shop.client(shop.orders, Authorization=f"Bearer {token}") as client:
            response = await client.post(
                "/checkout", json=checkout_body(), headers={"Idempotency-Key": uuid.uuid4().hex}
            )
            assert response.status_code == 201, response.text
            assert response.json()["customer_id"] == user
            ids.append(response.json()["id"])
    async with shop.client(shop.orders, Authorization=f"Bearer {token}") as client:
        mine = (await client.get("/orders")).json()
        assert {item["id"] for item in mine["items"]} == set(ids)
        assert (await client.get(f"/orders/{ids[0]}")).status_code == 200
    stranger = sign("someone-else", AUTH_SECRET)
    async with shop.client(shop.orders, Authorization=f"Bearer {stranger}") as client:
        assert (await client.get("/orders")).json()["total"] == 0
        assert (await client.get(f"/orders/{ids[0]}")).status_code == 404
    async with shop.client(shop.orders) as client:
        assert (await client.get("/orders")).status_code == 401
        wrong = await client.get(f"/orders/{ids[0]}", params={"email": "nobody@example.com"})
        assert wrong.status_code == 404
    assert await stock_of(shop, sku) == 3
    await assert_books_balance(shop)


async def test_bad_input_is_a_problem_never_a_500(shop: Commerce) -> None:
    sku = await new_product(shop, stock=5)
    cart_id = await fill_cart(shop, {sku: 1})
    async with shop.client(shop.orders) as client:
        cases = [
            (client.post("/checkout", json=checkout_body(), headers={"X-Cart-Id": cart_id}), 400),
            (
                client.post(
                    "/checkout",
                    json=checkout_body(),
                    headers={"X-Cart-Id": cart_id, "Idempotency-Key": "short"},
                ),
                400,
            ),
            (
                client.post(
                    "/checkout",
                    json={**checkout_body(), "email": "not-an-email"},
                    headers={"X-Cart-Id": cart_id, "Idempotency-Key": uuid.uuid4().hex},
                ),
                422,
            ),
            (
                client.post(
                    "/checkout",
                    json={**checkout_body(), "payment": {"token": "tok_visa", "cvc": "123"}},
                    headers={"X-Cart-Id": cart_id, "Idempotency-Key": uuid.uuid4().hex},
                ),
                422,
            ),
            (
                client.post(
                    "/checkout",
                    json=checkout_body(),
                    headers={"X-Cart-Id": uuid.uuid4().hex, "Idempotency-Key": uuid.uuid4().hex},
                ),
                422,  # an empty cart
            ),
            (
                client.post(
                    "/checkout", content=b"{not json", headers={"Idempotency-Key": "x" * 9}
                ),
                422,
            ),
            (client.get(f"/orders/{uuid.uuid4().hex}", params={"email": "a@b.cd"}), 404),
            (client.get("/orders/not-an-id"), 422),
        ]
        for request, status in cases:
            response = await request
            assert response.status_code == status, response.text
            assert response.headers["content-type"].startswith(PROBLEM_JSON)
    async with shop.client(shop.orders) as anonymous:
        assert (await anonymous.get("/admin/orders")).status_code == 401
    async with shop.client(shop.payments) as payments:
        bad_card = await payments.post(
            "/tokens",
            json={"number": "4242424242424241", "exp_month": 1, "exp_year": 2099, "cvc": "1"},
        )
        assert bad_card.status_code == 422
        luhn = await payments.post(
            "/tokens",
            json={"number": "4242424242424241", "exp_month": 1, "exp_year": 2099, "cvc": "123"},
        )
        assert luhn.status_code == 422
        assert "not valid" in luhn.json()["detail"]
        float_amount = await payments.post(
            "/payments",
            json={
                "order_id": "o1",
                "amount_minor": 10.5,
                "currency": "EUR",
                "email": "a@b.cd",
                "token": "tok_visa",
            },
            headers={"Idempotency-Key": uuid.uuid4().hex, "Authorization": "Bearer nope"},
        )
        assert float_amount.status_code in (401, 422)
    async with shop.payments_admin() as payments:
        float_amount = await payments.post(
            "/payments",
            json={
                "order_id": "o1",
                "amount_minor": 10.5,
                "currency": "EUR",
                "email": "a@b.cd",
                "token": "tok_visa",
            },
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert float_amount.status_code == 422
        assert float_amount.headers["content-type"].startswith(PROBLEM_JSON)
    assert await stock_of(shop, sku) == 5
    await assert_books_balance(shop)


async def test_stock_that_ran_out_after_carting_is_a_409(shop: Commerce, tmp_path: Path) -> None:
    sku = await new_product(shop, stock=2)
    cart_id = await fill_cart(shop, {sku: 2})
    async with shop.catalog_admin() as catalog:
        assert (
            await catalog.post(f"/admin/variants/{sku}/stock", json={"delta": -1})
        ).status_code == 200
    response = await checkout(shop, cart_id, checkout_body())
    assert response.status_code == 409
    assert sku in response.json()["skus"]
    assert await stock_of(shop, sku) == 1
    async with shop.orders_admin() as admin:
        sagas = (await admin.get("/admin/sagas")).json()
    assert sagas["running"] == 0
    assert sagas["compensating"] == 0
    await assert_books_balance(shop)


async def test_concurrent_checkouts_never_oversell(shop: Commerce) -> None:
    sku = await new_product(shop, stock=5, price=1500)
    carts = [await fill_cart(shop, {sku: 1}) for _ in range(10)]
    before = await ledger(shop)
    answers = await asyncio.gather(*(checkout(shop, cart, checkout_body()) for cart in carts))
    orders = [answer.json() for answer in answers]
    paid = [order for order in orders if order["status"] == "paid"]
    cancelled = [order for order in orders if order["status"] == "cancelled"]
    assert len(paid) == 5
    assert len(cancelled) == 5
    assert {order["cancel_reason"] for order in cancelled} == {"out_of_stock"}
    assert await stock_of(shop, sku) == 0
    after = await ledger(shop)
    captured = after["gateway"]["captured_minor"] - before["gateway"]["captured_minor"]
    assert captured == sum(order["total_minor"] for order in paid)
    await assert_books_balance(shop)


async def test_paid_orders_feed_customers_also_bought(shop: Commerce) -> None:
    first = await new_product(shop, stock=3)
    second = await new_product(shop, stock=3)
    order = (
        await checkout(shop, await fill_cart(shop, {first: 1, second: 1}), checkout_body())
    ).json()
    assert order["status"] == "paid"
    paid = await published(shop, "order.paid", order["id"], 1)
    assert len(paid[0].payload["product_ids"]) == 2
    slug = f"checkout-item-{first[3:].lower()}"
    async with shop.client(shop.catalog) as catalog:
        for _ in range(100):
            also = (await catalog.get(f"/products/{slug}/also-bought")).json()
            if also:
                break
            await asyncio.sleep(0.1)
    assert [item["slug"] for item in also] == [f"checkout-item-{second[3:].lower()}"]


async def test_order_lookup_for_staff(shop: Commerce) -> None:
    sku = await new_product(shop, stock=1)
    order = (await checkout(shop, await fill_cart(shop, {sku: 1}), checkout_body())).json()
    assert (await order_of(shop, order["id"]))["status"] == "paid"
    async with shop.orders_admin() as admin:
        paid = (await admin.get("/admin/orders", params={"status": "paid"})).json()
    assert order["id"] in {item["id"] for item in paid["items"]}


# ----------------------------------------------- stock, carts and promo codes


async def test_nobody_without_the_catalogs_token_holds_or_frees_stock(shop: Commerce) -> None:
    """Reservations are the orders service's: an anonymous caller can neither take
    stock off the shelf nor release the hold of an order waiting for 3-D Secure
    (which cancelled that order), nor learn the exact stock from a refusal."""
    sku = await new_product(shop, stock=3)
    order = (
        await checkout(
            shop, await fill_cart(shop, {sku: 1}), checkout_body("tok_threeDSecureRequired")
        )
    ).json()
    assert order["status"] == "awaiting_payment"
    async with shop.client(shop.catalog) as anonymous:
        taken = await anonymous.post(
            "/internal/reservations", json={"items": [{"sku": sku, "quantity": 2}]}
        )
        freed = await anonymous.post(f"/internal/reservations/{order['id']}/release")
        committed = await anonymous.post(f"/internal/reservations/{order['id']}/commit")
        read = await anonymous.get(f"/internal/reservations/{order['id']}")
    for refused in (taken, freed, committed, read):
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"].startswith(PROBLEM_JSON)
    assert await stock_of(shop, sku) == 2
    async with shop.client(shop.catalog, Authorization="Bearer guessed") as guessing:
        assert (
            await guessing.post(f"/internal/reservations/{order['id']}/release")
        ).status_code == 401
    # The order's hold stands: the shopper completes 3-D Secure and it is paid.
    charge = order["next_action_url"].rsplit("/", 1)[1]
    async with shop.client(shop.payments) as client:
        await client.post(f"/sandbox/challenge/{charge}", json={"approve": True})
    async with shop.client(shop.orders) as client:
        await client.post(f"/orders/{order['id']}/payment-return", params={"email": order["email"]})
    assert (await wait_for_status(shop, order["id"], {"paid", "cancelled"}))["status"] == "paid"
    # Asking for more than there is: refused without telling how many are left.
    async with shop.catalog_admin() as service:
        too_many = await service.post(
            "/internal/reservations", json={"items": [{"sku": sku, "quantity": 3}]}
        )
    assert too_many.status_code == 409
    assert "available" not in too_many.json()
    assert too_many.json()["detail"] == f"not enough of {sku} in stock"
    assert await stock_of(shop, sku) == 2
    await assert_books_balance(shop)


async def orders_placed_with(shop: Commerce, sku: str) -> list[dict[str, Any]]:
    async with shop.orders_admin() as admin:
        listing = (await admin.get("/admin/orders", params={"per_page": 100})).json()
        orders = [
            (await admin.get(f"/admin/orders/{item['id']}")).json() for item in listing["items"]
        ]
    return [order for order in orders if any(line["sku"] == sku for line in order["lines"])]


async def test_parallel_checkouts_of_one_cart_make_one_order(shop: Commerce) -> None:
    """20 checkouts of one cart at once, each with its own key: one paid order, one
    capture, the stock down once; every other checkout a 409 problem."""
    sku = await new_product(shop, stock=50, price=1500)
    cart_id = await fill_cart(shop, {sku: 2})
    before = await ledger(shop)
    answers = await asyncio.gather(*(checkout(shop, cart_id, checkout_body()) for _ in range(20)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] + [409] * 19, statuses
    for refused in (answer for answer in answers if answer.status_code == 409):
        assert refused.headers["content-type"].startswith(PROBLEM_JSON)
    (placed,) = [answer.json() for answer in answers if answer.status_code == 201]
    assert placed["status"] == "paid"
    orders = await orders_placed_with(shop, sku)
    assert [order["id"] for order in orders] == [placed["id"]]
    assert len(await published(shop, "payment.captured", placed["id"], 1)) == 1
    after = await ledger(shop)
    captured = after["gateway"]["captured_minor"] - before["gateway"]["captured_minor"]
    assert captured == placed["total_minor"]
    assert await stock_of(shop, sku) == 48
    # The cart is spent: checking it out again later is a 409 too, not a new order.
    again = await checkout(shop, cart_id, checkout_body())
    assert again.status_code == 409, again.text
    assert again.headers["content-type"].startswith(PROBLEM_JSON)
    assert len(await orders_placed_with(shop, sku)) == 1
    # Adding to it starts a new cart, which can be bought.
    async with shop.client(shop.cart) as client:
        added = await client.post(
            "/cart/items", json={"sku": sku, "quantity": 1}, headers={"X-Cart-Id": cart_id}
        )
    assert [line["quantity"] for line in added.json()["lines"]] == [1]
    assert (await checkout(shop, cart_id, checkout_body())).json()["status"] == "paid"
    assert await stock_of(shop, sku) == 47
    await assert_books_balance(shop)


async def new_promo(shop: Commerce, **fields: Any) -> str:
    code = "ONCE" + uuid.uuid4().hex[:8].upper()
    async with shop.cart_admin() as admin:
        created = await admin.post("/admin/promos", json={"code": code, **fields})
    assert created.status_code == 201, created.text
    return code


async def used_count(shop: Commerce, code: str) -> int:
    async with shop.cart_admin() as admin:
        return int((await admin.get(f"/admin/promos/{code}")).json()["used_count"])


async def cart_with_code(shop: Commerce, sku: str, code: str) -> str:
    cart_id = await fill_cart(shop, {sku: 1})
    async with shop.client(shop.cart) as client:
        applied = await client.post(
            "/cart/promo", json={"code": code}, headers={"X-Cart-Id": cart_id}
        )
    assert applied.status_code == 200, applied.text
    return cart_id


async def test_a_code_limited_to_one_use_works_once_under_parallel_checkouts(
    shop: Commerce,
) -> None:
    sku = await new_product(shop, stock=10, price=2000)
    code = await new_promo(shop, kind="percent", value=10, usage_limit=1)
    carts = [await cart_with_code(shop, sku, code) for _ in range(4)]
    answers = await asyncio.gather(*(checkout(shop, cart, checkout_body()) for cart in carts))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201, 409, 409, 409], [answer.text for answer in answers]
    for refused in (answer for answer in answers if answer.status_code == 409):
        assert refused.headers["content-type"].startswith(PROBLEM_JSON)
        assert code in refused.json()["detail"]
    (paid,) = [answer.json() for answer in answers if answer.status_code == 201]
    assert paid["status"] == "paid"
    assert paid["discount_minor"] == 200
    assert await used_count(shop, code) == 1
    assert await stock_of(shop, sku) == 9
    # The refused shoppers keep their carts, and buy without the code.
    async with shop.client(shop.cart) as client:
        refused_cart = next(
            cart for cart, answer in zip(carts, answers, strict=True) if answer.status_code == 409
        )
        await client.delete("/cart/promo", headers={"X-Cart-Id": refused_cart})
    assert (await checkout(shop, refused_cart, checkout_body())).json()["status"] == "paid"
    assert await used_count(shop, code) == 1
    await assert_books_balance(shop)


async def test_an_order_not_paid_for_gives_its_code_use_back(shop: Commerce) -> None:
    sku = await new_product(shop, stock=10)
    code = await new_promo(shop, kind="fixed", value=100, usage_limit=1)
    declined = await checkout(
        shop, await cart_with_code(shop, sku, code), checkout_body("tok_chargeDeclined")
    )
    assert declined.json()["status"] == "cancelled"
    assert await used_count(shop, code) == 0
    # Cancelled by staff while waiting for 3-D Secure: given back as well.
    waiting = (
        await checkout(
            shop, await cart_with_code(shop, sku, code), checkout_body("tok_threeDSecureRequired")
        )
    ).json()
    assert waiting["status"] == "awaiting_payment"
    assert await used_count(shop, code) == 1
    async with shop.orders_admin() as admin:
        cancelled = await admin.post(
            f"/admin/orders/{waiting['id']}/cancel", json={"reason": "asked to"}
        )
    assert cancelled.status_code == 200, cancelled.text
    await wait_for_status(shop, waiting["id"], {"cancelled"})
    assert await used_count(shop, code) == 0
    paid = await checkout(shop, await cart_with_code(shop, sku, code), checkout_body())
    assert paid.json()["status"] == "paid"
    assert await used_count(shop, code) == 1
    await assert_books_balance(shop)


async def test_prices_in_another_currency_are_never_added_up(shop: Commerce) -> None:
    """A JPY price in a EUR store was charged as EUR 1,000.00: the catalog refuses
    it, and a line priced so (say, stored before that check) can't be carted,
    counts in no total and can't be bought."""
    code = uuid.uuid4().hex[:8].upper()
    async with shop.catalog_admin() as admin:
        refused = await admin.post(
            "/admin/products",
            json={
                "slug": f"yen-item-{code.lower()}",
                "name": f"Yen Item {code}",
                "category": "checkout-goods",
                "variants": [
                    {"sku": f"JP-{code}", "price_minor": 100_000, "currency": "JPY", "stock": 5}
                ],
            },
        )
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith(PROBLEM_JSON)
    assert "EUR" in refused.json()["detail"]
    euro, yen = await new_product(shop, stock=5, price=1000), await new_product(shop, stock=5)
    cart_id = await fill_cart(shop, {euro: 1, yen: 1})
    catalog = shop.catalog.app.state.catalog
    async with catalog.db.write() as session:
        await session.execute(
            text("UPDATE variants SET currency = 'JPY', price_minor = 100000 WHERE sku = :sku"),
            {"sku": yen},
        )
    catalog.reads.invalidate()
    async with shop.client(shop.cart) as client:
        seen = (await client.get("/cart", headers={"X-Cart-Id": cart_id})).json()
        added = await client.post("/cart/items", json={"sku": yen, "quantity": 1})
    lines = {line["sku"]: line for line in seen["lines"]}
    assert lines[yen]["problem"] == "unavailable"
    assert lines[yen]["currency"] == "JPY"
    assert seen["subtotal_minor"] == 1000
    assert added.status_code == 409
    assert "JPY" in added.json()["detail"]
    response = await checkout(shop, cart_id, checkout_body())
    assert response.status_code == 409
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.json()["skus"] == [yen]
    assert await orders_placed_with(shop, yen) == []
    assert await stock_of(shop, euro) == 5
    await assert_books_balance(shop)


async def test_a_refund_made_at_the_payment_service_reaches_its_order(shop: Commerce) -> None:
    """Staff refunding a payment directly (not through the order) used to leave
    the order saying nothing was refunded, and the books disagreeing."""
    sku = await new_product(shop, stock=5, price=2000)
    order = (await checkout(shop, await fill_cart(shop, {sku: 1}), checkout_body())).json()
    assert order["status"] == "paid"

    async def refund_directly(amount: int) -> None:
        async with shop.payments_admin() as payments:
            answer = await payments.post(
                f"/payments/{order['payment_id']}/refunds",
                json={"amount_minor": amount, "reason": "goodwill"},
                headers={"Idempotency-Key": "direct-" + uuid.uuid4().hex},
            )
        assert answer.status_code == 201, answer.text

    async def refunded(amount: int) -> dict[str, Any]:
        for _ in range(150):
            seen = await order_of(shop, order["id"])
            if seen["refunded_minor"] == amount:
                return seen
            await asyncio.sleep(0.1)
        raise AssertionError(f"the order shows {seen['refunded_minor']} refunded, not {amount}")

    await refund_directly(500)
    partly = await refunded(500)
    assert partly["status"] == "paid"  # still to be packed and shipped
    assert "refunded 500 at the payment service: goodwill" in partly["history"][-1]["note"]
    events = await published(shop, "order.refunded", order["id"], 1)
    assert [event.payload["refund_minor"] for event in events] == [500]
    await assert_books_balance(shop)
    # The rest of it: nothing is left to ship, the order is off.
    await refund_directly(order["total_minor"] - 500)
    whole = await refunded(order["total_minor"])
    assert whole["status"] == "cancelled"
    assert whole["cancel_reason"] == "refunded"
    cancelled = await published(shop, "order.cancelled", order["id"], 1)
    assert cancelled[0].payload["refund_minor"] == order["total_minor"] - 500
    await assert_books_balance(shop)


async def test_refunds_the_order_asked_for_are_counted_once(shop: Commerce) -> None:
    sku = await new_product(shop, stock=5, price=2000)
    order = (await checkout(shop, await fill_cart(shop, {sku: 1}), checkout_body())).json()
    async with shop.orders_admin() as admin:
        cancelled = await admin.post(f"/admin/orders/{order['id']}/cancel", json={})
    assert cancelled.status_code == 200, cancelled.text
    await published(shop, "payment.refunded", order["id"], 1)
    await asyncio.sleep(0.3)
    seen = await order_of(shop, order["id"])
    assert seen["refunded_minor"] == order["total_minor"]
    assert len(await published(shop, "order.cancelled", order["id"], 1)) == 1
    await assert_books_balance(shop)
