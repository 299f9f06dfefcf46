"""The vendors HTTP API: module-level routers, one per audience.

Store staff and the operator (:mod:`.admin`, ``/admin``): register, update,
suspend and offboard vendors (``PUT``/``GET``/``DELETE /admin/vendors/{id}``,
idempotent), their sub-orders and ledgers, payout runs, the trial balance. A
vendor's people (:mod:`.portal`, ``/vendor``): their own products, stock,
sub-orders, payouts and ledger. Shoppers (:mod:`.reviews`): a vendor's reviews
and their own rating. A route reaches the app's ``VendorService`` through
``Vendors`` and its permission through ``staff`` or ``people`` (in :mod:`.deps`).
"""

from fastapi import APIRouter

from storefleet.runtime.vendors.api import admin, portal, reviews
from storefleet.runtime.vendors.api.deps import people, staff

router = APIRouter()
router.include_router(admin.router)
router.include_router(portal.router)
router.include_router(reviews.router)

__all__ = ["people", "router", "staff"]
