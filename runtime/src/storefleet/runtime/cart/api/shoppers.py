"""The shopper's own cart (``/cart``): anonymous (cookie or ``X-Cart-Id``) or
signed in (bearer token); merged into the account's cart after sign-in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response

from storefleet.runtime.cart import schemas as s
from storefleet.runtime.cart.api.deps import (
    CartCookie,
    Carts,
    Current,
    Settings,
    SkuPath,
    anonymous_ref,
    user_of,
    writable,
)
from storefleet.runtime.cart.service import CartRef
from storefleet.runtime.platform.identity.permissions import public
from storefleet.runtime.platform.web.errors import PROBLEM_RESPONSES, ProblemError

router = APIRouter(
    prefix="/cart",
    tags=["cart"],
    responses=PROBLEM_RESPONSES,
    dependencies=[Depends(public)],
)


@router.get("", response_model=s.Cart)
async def get_cart(carts: Carts, caller: Current) -> s.Cart:
    """The cart with live prices and availability; lines that can't be bought
    are flagged."""
    return await carts.view(caller.ref, counts=caller.counts)


@router.post("/items", response_model=s.Cart)
async def add_item(
    carts: Carts, settings: Settings, body: s.AddItem, caller: Current, response: Response
) -> s.Cart:
    ref = writable(caller.ref, settings, response)
    return await carts.add_item(ref, body.sku, body.quantity, counts=caller.counts)


@router.put("/items/{sku}", response_model=s.Cart)
async def set_quantity(carts: Carts, sku: SkuPath, body: s.SetQuantity, caller: Current) -> s.Cart:
    return await carts.set_quantity(caller.ref, sku, body.quantity, counts=caller.counts)


@router.delete("/items/{sku}", response_model=s.Cart)
async def remove_item(carts: Carts, sku: SkuPath, caller: Current) -> s.Cart:
    return await carts.remove_item(caller.ref, sku, counts=caller.counts)


@router.delete("", response_model=s.Cart)
async def clear_cart(carts: Carts, caller: Current) -> s.Cart:
    return await carts.clear(caller.ref)


@router.post("/promo", response_model=s.Cart)
async def apply_promo(carts: Carts, body: s.ApplyPromo, caller: Current) -> s.Cart:
    return await carts.apply_promo(caller.ref, body.code, counts=caller.counts)


@router.delete("/promo", response_model=s.Cart)
async def remove_promo(carts: Carts, caller: Current) -> s.Cart:
    return await carts.remove_promo(caller.ref, counts=caller.counts)


@router.post("/merge", response_model=s.Cart)
async def merge(
    carts: Carts,
    settings: Settings,
    request: Request,
    response: Response,
    authorization: Annotated[str | None, Header()] = None,
    # Not length-checked here, as the cookie: a stale id means "no cart yet".
    x_cart_id: Annotated[str | None, Header()] = None,
    sf_cart: CartCookie = None,
) -> s.Cart:
    """After sign-in: move the anonymous cart's items into the user's cart."""
    signed_in = await user_of(request, settings, authorization)
    if signed_in is None:
        raise ProblemError(401, "sign in to merge carts", headers={"WWW-Authenticate": "Bearer"})
    user, counts = signed_in
    guest = anonymous_ref(x_cart_id, sf_cart)
    if guest is None:
        return await carts.view(CartRef("user", user), counts=counts)
    response.delete_cookie(settings.cookie_name)
    return await carts.merge(guest, CartRef("user", user), counts=counts)
