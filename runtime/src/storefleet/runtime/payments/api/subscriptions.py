"""Subscriptions: recurring charges on a saved card."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from storefleet.runtime.payments import schemas as s
from storefleet.runtime.payments.api.deps import PaymentId, PaymentsDep, guard
from storefleet.runtime.platform.web.errors import PROBLEM_RESPONSES

router = APIRouter(tags=["subscriptions"], responses=PROBLEM_RESPONSES)


@router.post(
    "/subscriptions",
    response_model=s.SubscriptionOut,
    status_code=201,
    dependencies=[Depends(guard("payments:refund"))],
)
async def create_subscription(payments: PaymentsDep, body: s.SubscriptionIn) -> s.SubscriptionOut:
    return await payments.subscriptions.create_subscription(body)


@router.get(
    "/subscriptions/{subscription_id}",
    response_model=s.SubscriptionOut,
    dependencies=[Depends(guard("payments:read"))],
)
async def get_subscription(payments: PaymentsDep, subscription_id: PaymentId) -> s.SubscriptionOut:
    return await payments.subscriptions.subscription(subscription_id)


@router.post(
    "/subscriptions/{subscription_id}/cancel",
    response_model=s.SubscriptionOut,
    dependencies=[Depends(guard("payments:refund"))],
)
async def cancel_subscription(
    payments: PaymentsDep, subscription_id: PaymentId
) -> s.SubscriptionOut:
    return await payments.subscriptions.cancel_subscription(subscription_id)
