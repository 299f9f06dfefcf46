"""What an order asks of the cart service: to hold the cart for it, to release
or spend it, and to count (or give back) its promo code's use."""

from __future__ import annotations

import logging
from typing import Any

from storefleet.runtime.orders.clients import CartName, Upstreams, call
from storefleet.runtime.platform.identity.permissions import SERVICE_ONLY_PREFIX
from storefleet.runtime.platform.web.errors import Conflict, ProblemError

log = logging.getLogger(__name__)


class CartLink:
    def __init__(self, upstreams: Upstreams) -> None:
        self.upstreams = upstreams

    async def claim(self, cart: CartName, order_id: str) -> dict[str, Any]:
        """The cart's lines and totals, held for this order."""
        answer = await call(
            self.upstreams.cart,
            "POST",
            f"{cart.path}/claims",
            json={"order_id": order_id},
            headers=self.upstreams.cart_headers(),
        )
        if answer.ok:
            return answer.body
        if answer.transient:
            raise ProblemError(
                503, "the cart is unavailable; try again shortly", headers={"Retry-After": "5"}
            )
        if answer.status == 409:
            raise Conflict(answer.detail or "this cart is being checked out already")
        if answer.status in (401, 403):
            log.error("the cart refused the orders service's token (STOREFLEET_ORDERS_CART_TOKEN)")
            raise ProblemError(503, "checkout is unavailable; try again shortly")
        raise ProblemError(answer.status if answer.status < 500 else 503, answer.detail)

    async def step(self, cart: CartName, order_id: str, step: str) -> None:
        """``release`` the cart to the shopper or ``consume`` it; a failure is logged."""
        answer = await call(
            self.upstreams.cart,
            "POST",
            f"{cart.path}/claims/{order_id}/{step}",
            headers=self.upstreams.cart_headers(),
        )
        if not answer.ok:
            log.warning(
                "the cart's %s after checkout failed",
                step,
                extra={"order_id": order_id, "detail": answer.detail},
            )

    async def redeem(self, code: str, order_id: str) -> None:
        answer = await call(
            self.upstreams.cart,
            "POST",
            f"{SERVICE_ONLY_PREFIX}/promos/{code}/redemptions",
            json={"order_id": order_id},
            headers=self.upstreams.cart_headers(),
        )
        if answer.ok:
            return
        if answer.transient:
            raise ProblemError(
                503, "the cart is unavailable; try again shortly", headers={"Retry-After": "5"}
            )
        if answer.status in (404, 409):
            raise Conflict(
                f"promo code {code} can't be used any more; remove it from the cart",
                title="Promo code used up",
                code=code,
            )
        log.error("counting a promo code's use failed", extra={"detail": answer.detail})
        raise ProblemError(503, "checkout is unavailable; try again shortly")

    async def give_back_promo(self, code: str, order_id: str) -> bool:
        """The order was not paid for: the code's use counts no more. False if the
        cart could not be reached (try again later)."""
        answer = await call(
            self.upstreams.cart,
            "DELETE",
            f"{SERVICE_ONLY_PREFIX}/promos/{code}/redemptions/{order_id}",
            headers=self.upstreams.cart_headers(),
        )
        if answer.transient:
            return False
        if not answer.ok and answer.status != 404:
            log.error(
                "giving back a promo code's use was refused",
                extra={"order_id": order_id, "detail": answer.detail},
            )
        return True
