"""Staff's routes under ``/admin``: fulfilment, reviews, cancellations, returns,
refunds and the checkouts' sagas."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from storefleet.runtime.orders import schemas as s
from storefleet.runtime.orders.api.deps import Key, OrderId, Orders, Page, PerPage, ReturnId, guard
from storefleet.runtime.orders.states import Status
from storefleet.runtime.platform.web.errors import PROBLEM_RESPONSES

router = APIRouter(prefix="/admin", tags=["admin"], responses=PROBLEM_RESPONSES)
READ = [Depends(guard("orders:read"))]
FULFIL = [Depends(guard("orders:fulfil"))]
MANAGE = [Depends(guard("orders:manage"))]


@router.get("/orders", response_model=s.OrderPage, dependencies=READ)
async def list_orders(
    orders: Orders, status: Status | None = None, page: Page = 1, per_page: PerPage = 20
) -> s.OrderPage:
    return await orders.queries.orders(
        status=status.value if status else None, page=page, per_page=per_page
    )


@router.get("/orders/{order_id}", response_model=s.OrderOut, dependencies=READ)
async def admin_order(orders: Orders, order_id: OrderId) -> s.OrderOut:
    return await orders.queries.order(order_id)


@router.post("/orders/{order_id}/fulfil", response_model=s.OrderOut, dependencies=FULFIL)
async def fulfil(orders: Orders, order_id: OrderId) -> s.OrderOut:
    """Start packing a paid order."""
    return await orders.fulfilment.start(order_id)


@router.post("/orders/{order_id}/ship", response_model=s.OrderOut, dependencies=FULFIL)
async def ship(orders: Orders, order_id: OrderId, body: s.ShipIn) -> s.OrderOut:
    return await orders.fulfilment.ship(order_id, body)


@router.post("/orders/{order_id}/deliver", response_model=s.OrderOut, dependencies=FULFIL)
async def deliver(orders: Orders, order_id: OrderId) -> s.OrderOut:
    return await orders.fulfilment.deliver(order_id)


@router.post("/orders/{order_id}/approve", response_model=s.OrderOut, dependencies=MANAGE)
async def approve(orders: Orders, order_id: OrderId, body: s.DecisionIn) -> s.OrderOut:
    """Release an order held for review: the checkout goes on to capture."""
    return await orders.fulfilment.approve(order_id, body.note)


@router.post("/orders/{order_id}/reject", response_model=s.OrderOut, dependencies=MANAGE)
async def reject(orders: Orders, order_id: OrderId, body: s.DecisionIn) -> s.OrderOut:
    """Refuse a held order: the authorization is voided and the stock released."""
    return await orders.fulfilment.reject(order_id, body.note)


@router.post("/orders/{order_id}/cancel", response_model=s.OrderOut, dependencies=MANAGE)
async def cancel(orders: Orders, order_id: OrderId, body: s.CancelIn) -> s.OrderOut:
    """Before shipping: unpaid orders are unwound, paid ones refunded in full."""
    return await orders.fulfilment.cancel(order_id, body.reason)


@router.post(
    "/orders/{order_id}/returns/{return_id}/receive",
    response_model=s.OrderOut,
    dependencies=MANAGE,
)
async def receive_return(orders: Orders, order_id: OrderId, return_id: ReturnId) -> s.OrderOut:
    return await orders.returns.receive(order_id, return_id)


@router.post(
    "/orders/{order_id}/returns/{return_id}/decline",
    response_model=s.OrderOut,
    dependencies=MANAGE,
)
async def decline_return(
    orders: Orders, order_id: OrderId, return_id: ReturnId, body: s.DecisionIn
) -> s.OrderOut:
    return await orders.returns.decline(order_id, return_id, body.note)


@router.post(
    "/orders/{order_id}/refunds",
    response_model=s.OrderOut,
    dependencies=[Depends(guard("payments:refund"))],
)
async def refund(orders: Orders, order_id: OrderId, body: s.RefundIn, key: Key) -> s.OrderOut:
    """Refund a returned order, fully (the default) or in part."""
    return await orders.refunds.refund(order_id, body, key)


@router.get("/sagas", response_model=s.SagaOverview, dependencies=READ)
async def sagas(orders: Orders) -> s.SagaOverview:
    """How many checkouts are running, waiting, compensating, done, failed."""
    return await orders.queries.saga_overview()
