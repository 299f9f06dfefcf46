"""Stateful fuzzing of the JSON APIs: schemathesis creates something, then acts
on what it created, following the links declared here (stateful_harness.py).

Each test serves its services on the embedded backend, in this process, and
runs one state machine against one API with the credentials its routes need
(each service's own token for its staff and service routes, a vendor's staff, a
signed-in shopper). No answer may be a 5xx, disagree with the published
schema, or refuse without problem+json; where the harness can tell, the money
and the stock still add up afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from accounts_harness import Accounts, running_accounts
from conftest import Backend, Server
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from marketplace_harness import CATEGORY, Marketplace, marketplace, vendor_body
from orders_harness import (
    CART_ADMIN,
    CATALOG_ADMIN,
    ORDERS_ADMIN,
    PAYMENTS_ADMIN,
    Commerce,
    assert_books_balance,
    checkout,
    checkout_body,
    databases,
    fill_cart,
    new_product,
    running_commerce,
    stock_of,
)
from pydantic import BaseModel
from stateful_harness import (
    Case,
    Link,
    assert_went_past,
    drop,
    linked,
    narrow,
    require,
    run_stateful,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def commerce(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Commerce]:
    with databases(request, tmp_path, "embedded") as dbs:
        async with running_commerce("embedded", dbs) as running:
            yield running


async def openapi(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        response = await client.get("/openapi.json")
    response.raise_for_status()
    document: dict[str, Any] = response.json()
    return document


def bearer(token: str) -> dict[str, str | None]:
    return {"authorization": f"Bearer {token}"}


# ---------------------------------------------------------------- catalog

PRODUCT = "POST /admin/products"
CATALOG_LINKS = [
    Link(PRODUCT, 201, "GET /products/{key}", {"path.key": "$response.body#/slug"}),
    Link(PRODUCT, 201, "GET /admin/products/{key}", {"path.key": "$response.body#/id"}),
    Link(PRODUCT, 201, "PATCH /admin/products/{key}", {"path.key": "$response.body#/slug"}),
    Link(PRODUCT, 201, "DELETE /admin/products/{key}", {"path.key": "$response.body#/id"}),
    Link(PRODUCT, 201, "GET /products/{key}/similar", {"path.key": "$response.body#/slug"}),
    Link(PRODUCT, 201, "GET /variants/{sku}", {"path.sku": "$response.body#/variants/0/sku"}),
    Link(
        PRODUCT, 201, "PATCH /admin/variants/{sku}", {"path.sku": "$response.body#/variants/0/sku"}
    ),
    Link(
        PRODUCT,
        201,
        "POST /admin/variants/{sku}/stock",
        {"path.sku": "$response.body#/variants/0/sku"},
    ),
    Link(
        PRODUCT,
        201,
        "POST /internal/reservations",
        body={"items": [{"sku": "$response.body#/variants/0/sku", "quantity": 1}]},
    ),
    Link(
        "PATCH /admin/products/{key}",
        200,
        "GET /admin/products/{key}",
        {"path.key": "$response.body#/slug"},
    ),
    Link(
        "PATCH /admin/variants/{sku}",
        200,
        "POST /admin/variants/{sku}/stock",
        {"path.sku": "$request.path.sku"},
    ),
    *(
        Link(
            "POST /internal/reservations",
            201,
            target,
            {"path.reservation_id": "$response.body#/id"},
        )
        for target in (
            "GET /internal/reservations/{reservation_id}",
            "POST /internal/reservations/{reservation_id}/release",
            "POST /internal/reservations/{reservation_id}/commit",
        )
    ),
    *(
        Link("POST /admin/categories", 201, target, {"path.slug": "$response.body#/slug"})
        for target in (
            "GET /categories/{slug}",
            "PATCH /admin/categories/{slug}",
            "DELETE /admin/categories/{slug}",
        )
    ),
]


async def test_catalog_products_variants_and_reservations(commerce: Commerce) -> None:
    document = linked(await openapi(commerce.catalog.url), CATALOG_LINKS)
    # The shop's own category and currency, so that most creates succeed.
    narrow(document, "ProductIn", "category", {"enum": ["checkout-goods"]})
    narrow(document, "VariantIn", "currency", {"enum": ["EUR"]})
    answers = await asyncio.to_thread(
        run_stateful,
        document,
        commerce.catalog.url,
        headers=lambda case: bearer(CATALOG_ADMIN),
    )
    assert_went_past(answers, PRODUCT)


# ---------------------------------------------------------------- cart

ADD = "POST /cart/items"
CART = {"header.x-cart-id": "$response.header.X-Cart-Id"}
LINE = {"path.sku": "$request.body#/sku", **CART}
SAME_CART = {"header.x-cart-id": "$request.header.x-cart-id"}
CART_LINKS = [
    Link(ADD, 200, "PUT /cart/items/{sku}", LINE),
    Link(ADD, 200, "DELETE /cart/items/{sku}", LINE),
    *(
        Link(ADD, 200, target, CART)
        for target in ("GET /cart", "DELETE /cart", ADD, "POST /cart/promo", "DELETE /cart/promo")
    ),
    Link(
        "PUT /cart/items/{sku}",
        200,
        "DELETE /cart/items/{sku}",
        {"path.sku": "$request.path.sku", **SAME_CART},
    ),
    Link("PUT /cart/items/{sku}", 200, "GET /cart", SAME_CART),
    Link("POST /cart/promo", 200, "DELETE /cart/promo", SAME_CART),
    *(
        Link("POST /admin/promos", 201, target, {"path.code": "$response.body#/code"})
        for target in ("GET /admin/promos/{code}", "PATCH /admin/promos/{code}")
    ),
]


def cart_caller(case: Case) -> dict[str, str | None]:
    """The cart's token for its staff routes; shoppers' carts are anonymous."""
    if case.path.startswith("/admin/"):
        return bearer(CART_ADMIN)
    return {"authorization": None, "sf_cart": None}


async def test_cart_lines_quantities_and_promos(commerce: Commerce) -> None:
    # A few SKUs to put in carts, one with too little stock for most quantities.
    skus = [await new_product(commerce, stock=stock) for stock in (50, 50, 2)]
    document = linked(await openapi(commerce.cart.url), CART_LINKS)
    narrow(document, "AddItem", "sku", {"enum": skus})
    # Up to a little over the per-line limit (10), so most changes are allowed.
    narrow(document, "AddItem", "quantity", {"type": "integer", "minimum": 1, "maximum": 12})
    narrow(document, "SetQuantity", "quantity", {"type": "integer", "minimum": 0, "maximum": 12})
    answers = await asyncio.to_thread(
        run_stateful, document, commerce.cart.url, headers=cart_caller
    )
    assert_went_past(answers, ADD)
    # Carts hold no stock: nothing a cart did moved it.
    assert [await stock_of(commerce, sku) for sku in skus] == [50, 50, 2]


# ---------------------------------------------------------------- orders

CHECKOUT = "POST /checkout"
PLACED = {"path.order_id": "$response.body#/id"}
AS_GUEST = {**PLACED, "query.email": "$response.body#/email"}
SAME_ORDER = {"path.order_id": "$request.path.order_id"}
RETURN_LINE = {"lines": [{"sku": "$response.body#/lines/0/sku", "quantity": 1}]}
# Packed, shipped, delivered, taken back, refunded.
AFTER_SALE = [
    Link(
        "POST /admin/orders/{order_id}/fulfil",
        200,
        "POST /admin/orders/{order_id}/ship",
        SAME_ORDER,
    ),
    Link(
        "POST /admin/orders/{order_id}/ship",
        200,
        "POST /admin/orders/{order_id}/deliver",
        SAME_ORDER,
    ),
    Link(
        "POST /admin/orders/{order_id}/deliver",
        200,
        "POST /orders/{order_id}/returns",
        AS_GUEST,
        RETURN_LINE,
        merge=False,
    ),
    *(
        Link(
            "POST /orders/{order_id}/returns",
            201,
            f"POST /admin/orders/{{order_id}}/returns/{{return_id}}/{action}",
            {**PLACED, "path.return_id": "$response.body#/returns/0/id"},
        )
        for action in ("receive", "decline")
    ),
    Link(
        "POST /admin/orders/{order_id}/returns/{return_id}/receive",
        200,
        "POST /admin/orders/{order_id}/refunds",
        SAME_ORDER,
    ),
]
ORDER_LINKS = [
    Link(CHECKOUT, 201, "GET /orders/{order_id}", AS_GUEST),
    Link(CHECKOUT, 201, "POST /orders/{order_id}/payment-return", AS_GUEST),
    Link(CHECKOUT, 201, "POST /orders/{order_id}/returns", AS_GUEST, RETURN_LINE, merge=False),
    *(
        Link(CHECKOUT, 201, f"{method} /admin/orders/{{order_id}}{action}", PLACED)
        for method, action in (
            ("GET", ""),
            ("POST", "/fulfil"),
            ("POST", "/approve"),
            ("POST", "/reject"),
            ("POST", "/cancel"),
            ("POST", "/refunds"),
        )
    ),
    Link(
        "POST /admin/orders/{order_id}/fulfil",
        200,
        "POST /admin/orders/{order_id}/cancel",
        SAME_ORDER,
    ),
    *AFTER_SALE,
]
# A second run goes straight from a paid checkout down the after-sale chain,
# with nothing else to choose from, so that it gets to the end.
PAID_TO_REFUNDED = [
    Link(CHECKOUT, 201, "POST /admin/orders/{order_id}/fulfil", PLACED),
    *AFTER_SALE,
]
# The sandbox's cards: paid, declined, 3-D Secure, a transient failure.
CARDS = ["tok_visa", "tok_mastercard", "tok_chargeDeclined", "tok_threeDSecureRequired",
         "tok_transientFailure"]  # fmt: skip


def order_caller(commerce: Commerce, skus: list[str]) -> Any:
    def headers(case: Case) -> dict[str, str | None]:
        """A checkout buys a cart filled just before (as the shop's pages do);
        staff routes carry the orders service's token; a shopper is a guest
        with the order's e-mail."""
        key = {"Idempotency-Key": uuid.uuid4().hex}
        if case.path == "/checkout":
            return {"authorization": None, "x-cart-id": filled_cart(commerce, skus), **key}
        if case.path.startswith("/admin/"):
            return {**bearer(ORDERS_ADMIN), **key}
        return {"authorization": None}

    return headers


def filled_cart(commerce: Commerce, skus: list[str]) -> str:
    with httpx.Client(base_url=commerce.cart.url, timeout=30) as client:
        response = client.post("/cart/items", json={"sku": skus[len(skus) % 2], "quantity": 1})
        cart_id = response.headers["x-cart-id"]
        client.post("/cart/items", json={"sku": skus[0], "quantity": 2},
                    headers={"X-Cart-Id": cart_id})  # fmt: skip
    return cart_id


async def test_orders_checkout_fulfilment_cancellation_and_returns(commerce: Commerce) -> None:
    skus = [await new_product(commerce, stock=1000, price=price) for price in (1999, 450)]
    published = await openapi(commerce.orders.url)
    runs: tuple[tuple[list[Link], list[str], dict[str, Any]], ...] = (
        (ORDER_LINKS, CARDS, {"scenarios": 8}),
        # Seven steps from the checkout to the refund, and only valid ones.
        (PAID_TO_REFUNDED, ["tok_visa"], {"scenarios": 4, "steps": 12, "invalid": False}),
    )
    for links, cards, budget in runs:
        document = linked(published, links)
        # A card, not a saved method (the payments test saves those).
        narrow(document, "PaymentIn", "token", {"enum": cards})
        require(document, "PaymentIn", "token")
        drop(document, "PaymentIn", "payment_method_id")
        drop(document, "CheckoutIn", "cart_id")
        answers = await asyncio.to_thread(
            run_stateful,
            document,
            commerce.orders.url,
            headers=order_caller(commerce, skus),
            **budget,
        )
        assert_went_past(answers, CHECKOUT)
    await settled(commerce)
    await assert_books_balance(commerce)
    # Every unit is on the shelf, held for an open order or sold (a paid
    # order's stock stays sold when it is cancelled): none lost, none made.
    taken = dict.fromkeys(skus, 0)
    async with commerce.orders_admin() as client:
        for page in range(1, 1000):
            params = {"page": page, "per_page": 100}
            listing = (await client.get("/admin/orders", params=params)).json()
            for summary in listing["items"]:
                order = (await client.get(f"/admin/orders/{summary['id']}")).json()
                if order["status"] != "cancelled" or order["captured_minor"] > 0:
                    for line in order["lines"]:
                        taken[line["sku"]] += line["quantity"]
            if page * 100 >= listing["total"]:
                break
    for sku in skus:
        assert await stock_of(commerce, sku) + taken[sku] == 1000, sku


async def settled(commerce: Commerce) -> None:
    """Wait until no checkout is running or compensating."""
    async with commerce.orders_admin() as client:
        for _ in range(300):
            overview = (await client.get("/admin/sagas")).json()
            if not overview.get("running") and not overview.get("compensating"):
                return
            await asyncio.sleep(0.1)
    raise AssertionError(f"checkouts still moving: {overview}")


# ---------------------------------------------------------------- payments

AUTHORIZE = "POST /payments"
PAYMENT = {"path.payment_id": "$response.body#/id"}
SAME_PAYMENT = {"path.payment_id": "$request.path.payment_id"}
SAVE = "POST /customers/{customer_id}/payment-methods"
PAYMENT_LINKS = [
    Link("POST /tokens", 201, AUTHORIZE, body={"token": "$response.body#/token"}),
    Link("POST /tokens", 201, SAVE, body={"token": "$response.body#/token"}),
    *(
        Link(AUTHORIZE, 201, target, PAYMENT)
        for target in (
            "GET /payments/{payment_id}",
            "POST /payments/{payment_id}/capture",
            "POST /payments/{payment_id}/void",
            "POST /payments/{payment_id}/refunds",
        )
    ),
    Link(
        AUTHORIZE,
        201,
        "GET /orders/{order_id}/payments",
        {"path.order_id": "$response.body#/order_id"},
    ),
    *(
        Link("POST /payments/{payment_id}/capture", 200, target, SAME_PAYMENT)
        for target in (
            "POST /payments/{payment_id}/refunds",
            "POST /payments/{payment_id}/void",
            "GET /payments/{payment_id}",
        )
    ),
    Link(
        SAVE,
        201,
        "GET /customers/{customer_id}/payment-methods",
        {"path.customer_id": "$request.path.customer_id"},
    ),
    Link(
        SAVE,
        201,
        "DELETE /customers/{customer_id}/payment-methods/{method_id}",
        {"path.customer_id": "$request.path.customer_id", "path.method_id": "$response.body#/id"},
    ),
    Link(
        SAVE,
        201,
        "POST /subscriptions",
        body={
            "customer_id": "$request.path.customer_id",
            "payment_method_id": "$response.body#/id",
        },
    ),
    *(
        Link("POST /subscriptions", 201, target, {"path.subscription_id": "$response.body#/id"})
        for target in (
            "GET /subscriptions/{subscription_id}",
            "POST /subscriptions/{subscription_id}/cancel",
        )
    ),
]
# The sandbox's test card numbers (stateful_harness narrows tokenizing to them).
CARD_NUMBERS = ["4242424242424242", "5555555555554444", "4000000000000002",
                "4000000000003220", "4000000000000119"]  # fmt: skip


def payments_caller(case: Case) -> dict[str, str | None]:
    """The orders service calls with the payments service's token, and a key
    on everything that moves money."""
    if case.path == "/tokens":
        return {"authorization": None}
    return {**bearer(PAYMENTS_ADMIN), "Idempotency-Key": uuid.uuid4().hex}


async def test_payments_authorize_capture_void_refund(commerce: Commerce) -> None:
    document = linked(await openapi(commerce.payments.url), PAYMENT_LINKS)
    narrow(document, "CardIn", "number", {"enum": CARD_NUMBERS})
    narrow(document, "AuthorizeIn", "token", {"enum": CARDS})
    require(document, "AuthorizeIn", "token")
    narrow(document, "AuthorizeIn", "currency", {"enum": ["EUR", "USD"]})
    drop(document, "AuthorizeIn", "payment_method_id")
    answers = await asyncio.to_thread(
        run_stateful, document, commerce.payments.url, headers=payments_caller
    )
    assert_went_past(answers, AUTHORIZE)
    # The processor's books and the payments records agree.
    async with commerce.payments_admin() as client:
        books = (await client.get("/admin/ledger")).json()
    gateway, payments = books["gateway"], books["payments"]
    for figure in ("authorized_minor", "captured_minor", "refunded_minor"):
        assert gateway[figure] == payments[figure], figure
    assert payments["refunded_minor"] <= payments["captured_minor"]


# ---------------------------------------------------------------- accounts

REGISTER = "POST /register"
SIGN_IN = "POST /sign-in"
SIGNED_IN = {"header.authorization": "Bearer {$response.body#/access_token}"}
STILL_SIGNED_IN = {"header.authorization": "$request.header.authorization"}
REFRESH = {"refresh_token": "$response.body#/refresh_token"}
ACCOUNT_LINKS = [
    Link(
        REGISTER,
        202,
        SIGN_IN,
        body={"email": "$request.body#/email", "password": "$request.body#/password"},
    ),
    *(
        Link(SIGN_IN, 200, target, SIGNED_IN)
        for target in (
            "GET /me",
            "PATCH /me",
            "PUT /me/password",
            "POST /me/mfa",
            "GET /me/addresses",
            "POST /me/addresses",
            "GET /me/export",
            "GET /me/security-events",
            "POST /me/erase",
        )
    ),
    Link(SIGN_IN, 200, "POST /token/refresh", body=REFRESH),
    Link(SIGN_IN, 200, "POST /sign-out", body=REFRESH),
    Link("POST /token/refresh", 200, "GET /me", SIGNED_IN),
    Link("POST /token/refresh", 200, "POST /sign-out", body=REFRESH),
    Link("POST /me/mfa", 200, "POST /me/mfa/confirm", STILL_SIGNED_IN),
    *(
        Link(
            "POST /me/addresses",
            201,
            target,
            {"path.address_id": "$response.body#/id", **STILL_SIGNED_IN},
        )
        for target in ("PUT /me/addresses/{address_id}", "DELETE /me/addresses/{address_id}")
    ),
]


@pytest_asyncio.fixture(loop_scope="session")
async def accounts(tmp_path: Path) -> AsyncIterator[Accounts]:
    async with running_accounts(
        f"sqlite:///{tmp_path / 'accounts.db'}", attempts_per_minute=100_000
    ) as running:
        yield running


def follow_the_emailed_link(accounts: Accounts) -> Any:
    def after(case: Case, response: Any) -> None:
        """A shopper who registered opens the verification link we sent."""
        if case.operation.label != REGISTER or response.status_code != 202:
            return
        token = None
        for _ in range(40):
            token = verification_token(accounts, str(case.body["email"]))  # type: ignore[index, call-overload]
            if token:
                break
            time.sleep(0.05)
        if token is None:
            return  # verified already: registering again sends no link
        with httpx.Client(base_url=accounts.url, timeout=30) as client:
            verified = client.post("/verify-email", json={"token": token})
        assert verified.status_code == 200, verified.text

    return after


def verification_token(accounts: Accounts, email: str) -> str | None:
    """The token of the last verification link mailed to this address (the
    service keeps the address as the shopper wrote it, or lower case)."""
    for event in reversed(accounts.bus.recent):
        sent_to = str(event.payload.get("email", ""))
        if event.type == "account.verification_requested" and sent_to.lower() == email.lower():
            return str(event.payload["link"]).split("token=", 1)[1]
    return None


async def test_accounts_register_sign_in_and_the_account(accounts: Accounts) -> None:
    document = linked(await openapi(accounts.url), ACCOUNT_LINKS)
    answers = await asyncio.to_thread(
        run_stateful,
        document,
        accounts.url,
        after=follow_the_emailed_link(accounts),
        # Not from a made-up token (every one is a 401): from a new account.
        roots=[REGISTER],
    )
    assert_went_past(answers, REGISTER)
    assert answers[SIGN_IN, 200]


# ---------------------------------------------------------------- vendors

VENDOR = "tea-house"
MADE = "POST /vendor/products"
VENDOR_PRODUCT = {"path.product_id": "$response.body#/id"}
VENDOR_VARIANT = {**VENDOR_PRODUCT, "path.sku": "$response.body#/variants/0/sku"}
VENDOR_LINKS = [
    *(
        Link(MADE, 201, f"{method} /vendor/products/{{product_id}}", VENDOR_PRODUCT)
        for method in ("GET", "PATCH", "DELETE")
    ),
    Link(MADE, 201, "PATCH /vendor/products/{product_id}/variants/{sku}", VENDOR_VARIANT),
    Link(MADE, 201, "POST /vendor/products/{product_id}/variants/{sku}/stock", VENDOR_VARIANT),
    Link(
        "PATCH /vendor/products/{product_id}",
        200,
        "GET /vendor/products/{product_id}",
        VENDOR_PRODUCT,
    ),
    Link(
        "PATCH /vendor/products/{product_id}/variants/{sku}",
        200,
        "POST /vendor/products/{product_id}/variants/{sku}/stock",
        VENDOR_VARIANT,
    ),
]


@pytest_asyncio.fixture(loop_scope="session")
async def market(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    make_backend: Callable[..., contextlib.AbstractContextManager[Backend]],
) -> AsyncIterator[Marketplace]:
    async with marketplace(make_backend, request, tmp_path, "embedded") as running:
        async with httpx.AsyncClient(base_url=running.vendors.url, timeout=30) as client:
            made = await client.put(
                f"/admin/vendors/{VENDOR}", json=vendor_body(), headers=running.admin
            )
            assert made.status_code in (200, 201), made.text
        yield running


async def test_vendors_products_and_their_variants(market: Marketplace) -> None:
    staff = market.vendor_staff(VENDOR)

    def vendor_caller(case: Case) -> dict[str, str | None]:
        """The vendor's own people; the operator's token for its routes."""
        if case.path.startswith("/admin/"):
            return {"authorization": market.admin["Authorization"]}
        return {"authorization": staff["Authorization"]}

    document = linked(await openapi(market.vendors.url), VENDOR_LINKS)
    narrow(document, "VendorProductIn", "category", {"enum": [CATEGORY]})
    narrow(document, "VariantIn", "currency", {"enum": ["EUR"]})
    answers = await asyncio.to_thread(
        run_stateful, document, market.vendors.url, headers=vendor_caller
    )
    assert_went_past(answers, MADE)
    # The catalog holds what the vendor made, as the vendor's.
    async with httpx.AsyncClient(base_url=market.vendors.url, timeout=30) as client:
        listing = (
            await client.get("/vendor/products", params={"per_page": 50}, headers=staff)
        ).json()
    async with httpx.AsyncClient(base_url=market.catalog.url, timeout=30) as client:
        for product in listing["items"]:
            found = await client.get(
                f"/admin/products/{product['id']}", headers=market.headers(market.catalog_token)
            )
            assert found.status_code == 200, found.text
            assert found.json()["vendor_id"] == VENDOR


# ---------------------------------------------------------------- the harness


class Thing(BaseModel):
    name: str


def refusing_app() -> FastAPI:
    """Creates things, then refuses to show them (and refuses bad input, as
    FastAPI does by default) in plain JSON, not problem+json."""
    app = FastAPI()

    @app.post("/things", status_code=201)
    async def make(thing: Thing) -> dict[str, str]:
        return {"id": uuid.uuid4().hex}

    @app.get("/things/{thing_id}", responses={404: {"description": "gone"}})
    async def show(thing_id: str) -> JSONResponse:
        return JSONResponse({"error": "gone"}, status_code=404)

    return app


async def test_the_harness_reports_a_refusal_that_is_not_a_problem(
    serve: Callable[[FastAPI], contextlib.AbstractAsyncContextManager[Server]],
) -> None:
    async with serve(refusing_app()) as server:
        document = linked(
            await openapi(server.url),
            [
                Link(
                    "POST /things",
                    201,
                    "GET /things/{thing_id}",
                    {"path.thing_id": "$response.body#/id"},
                )
            ],
        )
        with pytest.raises(BaseExceptionGroup, match="problem") as raised:
            await asyncio.to_thread(run_stateful, document, server.url, scenarios=5)
    found = [str(failure) for failure in raised.value.exceptions]
    assert any("answered as application/json" in failure for failure in found), found


# ---------------------------------------------------------------- found by the fuzzing


async def test_an_email_address_with_control_characters_is_refused(commerce: Commerce) -> None:
    """The fuzzer's checkouts had addresses such as "\\x1cshopper@example.com":
    taken (the pattern's \\s is not Python's), and then the guest's own
    tracking link, which strips the address it is given, never matched it."""
    sku = await new_product(commerce, stock=5)
    cart_id = await fill_cart(commerce, {sku: 1})
    for email in ("\x1cshopper@example.com", "shopper@example.com\x1f", "sho\x07pper@example.com"):
        refused = await checkout(commerce, cart_id, checkout_body(email=email))
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        async with commerce.payments_admin() as client:
            authorizing = await client.post(
                "/payments",
                json={
                    "order_id": "o-1",
                    "amount_minor": 100,
                    "currency": "EUR",
                    "token": "tok_visa",
                    "email": email,
                },
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
        assert authorizing.status_code == 422, authorizing.text
    assert await stock_of(commerce, sku) == 5
    placed = await checkout(commerce, cart_id, checkout_body(email="Shopper@Example.com"))
    assert placed.status_code == 201, placed.text
    async with commerce.client(commerce.orders) as client:
        tracked = await client.get(
            f"/orders/{placed.json()['id']}", params={"email": " shopper@example.com "}
        )
    assert tracked.status_code == 200, tracked.text
