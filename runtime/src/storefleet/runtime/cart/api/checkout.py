"""The orders service's routes, under the service-only prefix: counting a
promo code's redemptions, and claiming, releasing and spending a cart."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from storefleet.runtime.cart import schemas as s
from storefleet.runtime.cart.api.deps import CartIdPath, Carts, CodePath, OrderIdPath, guard, named
from storefleet.runtime.platform.identity.permissions import SERVICE_ONLY_PREFIX
from storefleet.runtime.platform.web.errors import PROBLEM_RESPONSES

# Counting redemptions is for the orders service, as it places an order.
redemptions = APIRouter(prefix=SERVICE_ONLY_PREFIX, tags=["checkout"], responses=PROBLEM_RESPONSES)
REDEEM = [Depends(guard("promotions:redeem"))]


@redemptions.post("/promos/{code}/redemptions", response_model=s.PromoOut, dependencies=REDEEM)
async def redeem(carts: Carts, code: CodePath, body: s.Redemption) -> s.PromoOut:
    """Count a use when an order is placed; repeating it for one order is harmless."""
    return await carts.redeem(code, body.order_id)


@redemptions.delete(
    "/promos/{code}/redemptions/{order_id}", response_model=s.PromoOut, dependencies=REDEEM
)
async def give_back(carts: Carts, code: CodePath, order_id: OrderIdPath) -> s.PromoOut:
    """The order was not paid for: its use no longer counts (once, however often asked)."""
    return await carts.give_back(code, order_id)


# Checkout: the cart is named in the path, because the call carries the
# service's token rather than the shopper's.
claims = APIRouter(
    prefix=SERVICE_ONLY_PREFIX + "/carts/{owner}/{cart_id}",
    tags=["checkout"],
    responses=PROBLEM_RESPONSES,
    dependencies=[Depends(guard("carts:checkout"))],
)


@claims.post("/claims", response_model=s.Cart)
async def claim(carts: Carts, owner: s.CartOwner, cart_id: CartIdPath, body: s.Claim) -> s.Cart:
    """Hold the cart for an order and answer with what it holds; 409 when
    another order holds it or has bought it."""
    return await carts.claim(named(owner, cart_id), body.order_id)


@claims.post("/claims/{order_id}/release", response_model=s.Cart)
async def release_claim(
    carts: Carts, owner: s.CartOwner, cart_id: CartIdPath, order_id: OrderIdPath
) -> s.Cart:
    """The order was not placed: the shopper may change the cart and try again."""
    return await carts.release_claim(named(owner, cart_id), order_id)


@claims.post("/claims/{order_id}/consume", response_model=s.Cart)
async def consume(
    carts: Carts, owner: s.CartOwner, cart_id: CartIdPath, order_id: OrderIdPath
) -> s.Cart:
    """The order is placed: the cart is spent."""
    return await carts.consume(named(owner, cart_id), order_id)
