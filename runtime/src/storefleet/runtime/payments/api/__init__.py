"""The payments HTTP API: module-level routers, one per concern.

Money-moving requests (authorize, capture, void, refund) require an
``Idempotency-Key`` header: a repeat with the same key is answered with the
first result and moves no money. A route reaches the app's ``PaymentsService``
through ``PaymentsDep`` and its permission through ``guard`` (both in
:mod:`.deps`); the app builds the checks with its settings.
"""

from fastapi import APIRouter

from storefleet.runtime.payments.api import admin, cards, payments, sandbox, subscriptions, webhooks
from storefleet.runtime.payments.api.deps import guard
from storefleet.runtime.payments.api.webhooks import deliver_to

router = APIRouter()
for part in (cards, payments, subscriptions, webhooks, sandbox, admin):
    router.include_router(part.router)

__all__ = ["deliver_to", "guard", "router"]
