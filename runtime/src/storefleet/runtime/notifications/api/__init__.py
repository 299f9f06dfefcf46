"""The notifications HTTP API: module-level routers, one per audience.

Shoppers (:mod:`.shoppers`, bearer token): their preferences, their in-app
inbox and its live stream (server-sent events). Store admins (:mod:`.admin`,
``/admin``): templates, previews, the delivery log, a shopper's preferences,
resending a failed message. A route reaches the app's
``NotificationService`` through ``Notifications``, its settings through
``Settings`` and its permission through ``guard`` (all in :mod:`.deps`).
"""

from fastapi import APIRouter, Depends

from storefleet.runtime.notifications.api import admin, shoppers
from storefleet.runtime.notifications.api.deps import guard
from storefleet.runtime.platform.identity.permissions import public
from storefleet.runtime.platform.web.errors import PROBLEM_RESPONSES

# Every route is tagged "notifications" and declares the public rule (shoppers'
# routes find the shopper in the token themselves); staff's routes add their
# own tag and permission check.
router = APIRouter(
    tags=["notifications"], dependencies=[Depends(public)], responses=PROBLEM_RESPONSES
)
router.include_router(shoppers.router)
router.include_router(admin.router)

__all__ = ["guard", "router"]
