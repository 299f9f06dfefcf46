"""Cards: the sandbox's tokens and a customer's saved payment methods."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from storefleet.runtime.payments import schemas as s
from storefleet.runtime.payments.api.deps import CustomerId, MethodId, PaymentsDep, guard
from storefleet.runtime.platform.identity.permissions import public
from storefleet.runtime.platform.web.errors import PROBLEM_RESPONSES

router = APIRouter(tags=["cards"], responses=PROBLEM_RESPONSES)


@router.post("/tokens", response_model=s.TokenOut, status_code=201, dependencies=[Depends(public)])
async def tokenize(payments: PaymentsDep, body: s.CardIn) -> s.TokenOut:
    """Sandbox only: exchange card details for a token. The number is not kept."""
    return await payments.tokenize(body)


@router.get(
    "/customers/{customer_id}/payment-methods",
    response_model=list[s.PaymentMethodOut],
    dependencies=[Depends(guard("payments:read"))],
)
async def list_methods(payments: PaymentsDep, customer_id: CustomerId) -> list[s.PaymentMethodOut]:
    return await payments.methods(customer_id)


@router.post(
    "/customers/{customer_id}/payment-methods",
    response_model=s.PaymentMethodOut,
    status_code=201,
    dependencies=[Depends(guard("payments:refund"))],
)
async def save_method(
    payments: PaymentsDep, customer_id: CustomerId, body: s.SavePaymentMethod
) -> s.PaymentMethodOut:
    return await payments.save_method(customer_id, body.token)


@router.delete(
    "/customers/{customer_id}/payment-methods/{method_id}",
    status_code=204,
    dependencies=[Depends(guard("payments:refund"))],
)
async def delete_method(
    payments: PaymentsDep, customer_id: CustomerId, method_id: MethodId
) -> None:
    await payments.delete_method(customer_id, method_id)
