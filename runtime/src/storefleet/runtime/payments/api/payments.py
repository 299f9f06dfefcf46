"""Authorizations and what follows them: capture, void, refund."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, status

from storefleet.runtime.payments import schemas as s
from storefleet.runtime.payments.api.deps import Key, PaymentId, PaymentsDep, guard
from storefleet.runtime.platform.web.errors import PROBLEM_RESPONSES

router = APIRouter(tags=["payments"], responses=PROBLEM_RESPONSES)


@router.post(
    "/payments",
    response_model=s.PaymentOut,
    status_code=201,
    dependencies=[Depends(guard("payments:refund"))],
)
async def authorize(payments: PaymentsDep, body: s.AuthorizeIn, key: Key) -> s.PaymentOut:
    """Authorize an amount on a card (token or saved method), after fraud rules.

    ``status`` tells the outcome: authorized, requires_action (send the shopper
    to ``action_url``), or failed (``decline_code``/``failure_reason``)."""
    return await payments.authorize(body, key)


@router.get(
    "/payments/{payment_id}",
    response_model=s.PaymentOut,
    dependencies=[Depends(guard("payments:read"))],
)
async def get_payment(payments: PaymentsDep, payment_id: PaymentId) -> s.PaymentOut:
    return await payments.refresh(payment_id)


@router.get(
    "/orders/{order_id}/payments",
    response_model=list[s.PaymentOut],
    dependencies=[Depends(guard("payments:read"))],
)
async def order_payments(
    payments: PaymentsDep,
    order_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")],
) -> list[s.PaymentOut]:
    return await payments.for_order(order_id)


@router.post(
    "/payments/{payment_id}/capture",
    response_model=s.PaymentOut,
    dependencies=[Depends(guard("payments:refund"))],
)
async def capture(
    payments: PaymentsDep, payment_id: PaymentId, body: s.CaptureIn, key: Key
) -> s.PaymentOut:
    return await payments.capture(payment_id, body.amount_minor, key)


@router.post(
    "/payments/{payment_id}/void",
    response_model=s.PaymentOut,
    dependencies=[Depends(guard("payments:refund"))],
)
async def void(payments: PaymentsDep, payment_id: PaymentId, key: Key) -> s.PaymentOut:
    return await payments.void(payment_id, key)


@router.post(
    "/payments/{payment_id}/refunds",
    response_model=s.RefundOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(guard("payments:refund"))],
)
async def refund(
    payments: PaymentsDep, payment_id: PaymentId, body: s.RefundIn, key: Key
) -> s.RefundOut:
    return await payments.refund(payment_id, body.amount_minor, key, body.reason)
