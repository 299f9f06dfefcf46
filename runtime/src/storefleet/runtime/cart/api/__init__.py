"""The cart's HTTP API: module-level routers, one per audience.

Shoppers (:mod:`.shoppers`, ``/cart``): an anonymous cart is named by the
cart cookie (browsers) or the ``X-Cart-Id`` header (the storefront, calling on
a shopper's behalf); a signed-in shopper's cart by the bearer token. Shoppers
are told a line's availability level, never how many units are left; store
staff (``inventory:read``) and the orders service are told the count too.
Staff (:mod:`.admin`, ``/admin``): promo codes and the abandoned-cart sweep.
The orders service (:mod:`.checkout`, under ``/internal``): redemptions, and
claiming, releasing and spending the cart it buys. A route reaches the app's
``CartService`` through ``Carts``, its settings through ``Settings`` and its
permission through ``guard`` (all in :mod:`.deps`).
"""

from fastapi import APIRouter

from storefleet.runtime.cart.api import admin, checkout, shoppers
from storefleet.runtime.cart.api.deps import guard

router = APIRouter()
router.include_router(shoppers.router)
router.include_router(admin.router)
router.include_router(checkout.redemptions)
router.include_router(checkout.claims)

__all__ = ["guard", "router"]
