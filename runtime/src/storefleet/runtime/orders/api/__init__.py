"""The orders HTTP API: module-level routers for shoppers and for staff.

Shoppers (:mod:`.shoppers`): ``POST /checkout`` (with an ``Idempotency-Key``;
the cart named by ``X-Cart-Id``, else the signed-in shopper's own; a sign-in
token makes the order theirs), then their order by id — as its signed-in owner,
or with the e-mail it was placed with (``?email=``, the guest's tracking link) —
their history (signed in), and return requests. Staff (:mod:`.admin`):
``/admin/orders/...`` for fulfilment, reviews, cancellations and refunds. A
route reaches the app's ``OrderService`` through ``Orders`` and its permission
through ``guard`` (both in :mod:`.deps`).
"""

from fastapi import APIRouter

from storefleet.runtime.orders.api import admin, shoppers
from storefleet.runtime.orders.api.deps import guard

router = APIRouter()
router.include_router(shoppers.router)
router.include_router(admin.router)

__all__ = ["guard", "router"]
