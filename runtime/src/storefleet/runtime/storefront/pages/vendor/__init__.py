"""The vendor portal under /vendor, and vendors' public pages and ratings.

A vendor's people (roles vendor-admin and vendor-staff) sign in like shoppers
(the embedded accounts service, or the realm's storefront client) and
see their vendor's products and stock, sub-orders (marking them shipped) and,
for vendor admins, payouts and the ledger. Every page calls the vendors API
with the person's own token, so the vendors service decides what they may see.
Shoppers see a vendor's rating on its products and at ``/vendors/{id}``, where
those who bought from it rate it.
"""

from __future__ import annotations

from fastapi import APIRouter

from storefleet.runtime.storefront.pages.vendor import orders, overview, payouts, products, public

router = APIRouter()
for section in (overview, products, orders, payouts, public):
    router.include_router(section.router)
