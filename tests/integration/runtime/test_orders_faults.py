"""The payment processor fails: transiently (retries, breakers that open and
close, and the order still completes) or for too long (the checkout fails
cleanly: cancelled, stock back, nothing charged)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

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
    running_commerce,
    stock_of,
    wait_for_status,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Commerce]:
    deadline = getattr(request, "param", 60.0)
    with databases(request, tmp_path_factory.mktemp("faults"), "embedded") as dbs:
        async with running_commerce(
            "embedded", dbs, orders={"payment_deadline_seconds": deadline}
        ) as shop:
            yield shop


async def breaker_metrics(shop: Commerce) -> tuple[dict[str, float], dict[str, float]]:
    """The breakers' gauges and opening counters from /metrics: the payments
    service's to its processor ("gateway") and the orders service's to payments
    ("payments")."""
    async with shop.client(shop.orders) as client:
        text = (await client.get("/metrics")).text

    def series(name: str) -> dict[str, float]:
        found = re.findall(rf'{name}\{{upstream="(\w+)"\}} ([0-9.]+)', text)
        return {upstream: float(value) for upstream, value in found}

    return series("storefleet_circuit_breaker_open"), series(
        "storefleet_circuit_breaker_opens_total"
    )


async def set_faults(shop: Commerce, **faults: float) -> None:
    async with shop.payments_admin() as admin:
        response = await admin.put("/admin/sandbox/faults", json=faults)
    assert response.status_code == 200, response.text


async def test_an_outage_opens_the_breakers_and_the_order_completes_after_it(
    shop: Commerce,
) -> None:
    sku = await new_product(shop, stock=4)
    cart_id = await fill_cart(shop, {sku: 2})
    _, opened_before = await breaker_metrics(shop)
    await set_faults(shop, outage_seconds=3)
    placed = await checkout(shop, cart_id, checkout_body())
    # The saga may still be paying after the checkout has answered.
    order = await wait_for_status(shop, placed.json()["id"], {"paid", "cancelled"})
    assert order["status"] == "paid"
    states, opened = await breaker_metrics(shop)
    assert opened.get("gateway", 0.0) > opened_before.get("gateway", 0.0), (
        "the processor's breaker never opened"
    )
    assert states["gateway"] == 0.0, "the processor's breaker did not close again"
    assert states.get("payments", 0.0) == 0.0
    async with shop.payments_admin() as admin:
        faults = (await admin.get("/admin/sandbox/faults")).json()
    assert faults["failures"] > 0
    assert faults["breaker"] == "closed"
    books = await ledger(shop)
    assert books["gateway"]["captured_minor"] == order["total_minor"]
    assert books["gateway"]["captured"] == 1
    assert await stock_of(shop, sku) == 2
    await assert_books_balance(shop)


async def test_a_flaky_card_network_is_retried_without_a_second_charge(shop: Commerce) -> None:
    sku = await new_product(shop, stock=3)
    cart_id = await fill_cart(shop, {sku: 1})
    response = await checkout(shop, cart_id, checkout_body("tok_transientFailure"))
    order = response.json()
    assert order["status"] == "paid", order
    books = await ledger(shop)
    assert books["gateway"]["captured"] == 1
    assert books["gateway"]["authorized_minor"] == order["total_minor"]
    assert await stock_of(shop, sku) == 2
    await assert_books_balance(shop)


@pytest.mark.parametrize("shop", [1.5], indirect=True)
async def test_an_outage_past_the_deadline_fails_the_checkout_cleanly(shop: Commerce) -> None:
    sku = await new_product(shop, stock=3)
    cart_id = await fill_cart(shop, {sku: 3})
    await set_faults(shop, outage_seconds=30)
    response = await checkout(shop, cart_id, checkout_body())
    order = await wait_for_status(shop, response.json()["id"], {"cancelled", "paid"}, within=30)
    assert order["status"] == "cancelled"
    assert order["cancel_reason"] == "payment_unavailable"
    assert order["captured_minor"] == 0
    assert await stock_of(shop, sku) == 3
    await set_faults(shop, outage_seconds=0)
    books = await ledger(shop)
    assert books["gateway"]["authorized_minor"] == 0
    assert books["gateway"]["captured_minor"] == 0
    async with shop.orders_admin() as admin:
        sagas = (await admin.get("/admin/sagas")).json()
    assert sagas == {"running": 0, "waiting": 0, "compensating": 0, "done": 0, "failed": 1}
    # The cart is still there to try again once the processor is back.
    retry = await checkout(shop, cart_id, checkout_body())
    assert retry.json()["status"] == "paid"
    assert await stock_of(shop, sku) == 0
    await assert_books_balance(shop)
