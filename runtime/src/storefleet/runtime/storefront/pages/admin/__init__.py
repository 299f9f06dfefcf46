"""The store-admin console under /admin: catalog, orders, promotions,
customers and settings, rendered on the server.

Staff sign in like shoppers (the embedded accounts service, or the realm's
``admin-console`` client in cluster mode). The console calls each service's
admin API with the staff member's own access token, so the services' own
``require(permission)`` rules decide; the console only hides what a role can't use.
"""

from __future__ import annotations

from fastapi import APIRouter

from storefleet.runtime.storefront.pages.admin import (
    catalog,
    customers,
    dashboard,
    orders,
    promotions,
    settings,
)

router = APIRouter()
for section in (dashboard, catalog, promotions, customers, settings):
    router.include_router(section.router)
# Only once the storefront knows where the orders service is.
orders_router = orders.router
