"""Shoppers' routes: checkout, their orders, the way back from 3-D Secure, returns.

Shoppers may be guests: these routes check ownership themselves (``Shopper``).
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response

from storefleet.runtime.orders import schemas as s
from storefleet.runtime.orders.api.deps import Key, Orders, Page, PerPage, Shopper, user_of
from storefleet.runtime.orders.clients import CartName
from storefleet.runtime.platform.identity.permissions import public
from storefleet.runtime.platform.web.errors import PROBLEM_RESPONSES, ProblemError

_CART_ID = re.compile(r"^[0-9a-f]{32}$")

router = APIRouter(tags=["orders"], dependencies=[Depends(public)], responses=PROBLEM_RESPONSES)


def cart_of(cart_id: str | None, customer_id: str | None) -> CartName:
    """The cart bought. A named cart is the one bought, by a guest or by a
    signed-in shopper whose shop keeps the cart in a cookie; the order is theirs
    either way. A signed-in shopper who names none buys their account's cart."""
    if cart_id:
        if not _CART_ID.match(cart_id):
            raise ProblemError(422, "name the cart: cart_id or an X-Cart-Id header")
        return CartName("anonymous", cart_id)
    if customer_id is not None:
        return CartName("user", customer_id)
    raise ProblemError(422, "name the cart: cart_id or an X-Cart-Id header")


@router.post("/checkout", response_model=s.OrderOut, status_code=201)
async def checkout(
    request: Request,
    orders: Orders,
    body: s.CheckoutIn,
    key: Key,
    response: Response,
    authorization: Annotated[str | None, Header()] = None,
    x_cart_id: Annotated[str | None, Header()] = None,
) -> s.OrderOut:
    """Place an order from the cart: reserve stock, authorize, confirm, capture.

    Answers when the checkout is settled (or after a few seconds, with the
    order as it stands; it goes on). ``status`` is ``paid`` on success,
    ``awaiting_payment`` with ``next_action_url`` for 3-D Secure, ``on_hold``
    for a fraud review, ``cancelled`` with ``cancel_reason`` on failure.
    Repeating the request with the same key returns the same order."""
    customer_id = await user_of(request, orders, authorization)
    cart = cart_of(body.cart_id or x_cart_id, customer_id)
    order, created = await orders.checkout.place(body, key, customer_id=customer_id, cart=cart)
    if not created:
        response.status_code = 200
    return order


@router.get("/orders", response_model=s.OrderPage)
async def my_orders(
    request: Request,
    orders: Orders,
    authorization: Annotated[str | None, Header()] = None,
    page: Page = 1,
    per_page: PerPage = 20,
) -> s.OrderPage:
    """The signed-in shopper's orders, newest first."""
    user = await user_of(request, orders, authorization)
    if user is None:
        raise ProblemError(
            401, "sign in to see your orders", headers={"WWW-Authenticate": "Bearer"}
        )
    return await orders.queries.orders(customer_id=user, page=page, per_page=per_page)


@router.get("/orders/{order_id}", response_model=s.OrderOut)
async def get_order(orders: Orders, order_id: Shopper) -> s.OrderOut:
    """An order with its tracking timeline."""
    return await orders.queries.order(order_id)


@router.post("/orders/{order_id}/payment-return", response_model=s.OrderOut)
async def payment_return(orders: Orders, order_id: Shopper) -> s.OrderOut:
    """The shopper is back from 3-D Secure: check the payment now."""
    return await orders.fulfilment.payment_returned(order_id)


@router.post("/orders/{order_id}/returns", response_model=s.OrderOut, status_code=201)
async def request_return(orders: Orders, order_id: Shopper, body: s.ReturnIn) -> s.OrderOut:
    return await orders.returns.request(order_id, body)
