"""The order rows as every use case changes them: an order under a row lock,
its lines, and the one way its status changes (checked against the table in
states.py, logged in its history and announced through the outbox in the
caller's transaction)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.orders.models import Order, OrderHistory, OrderLine, outbox
from storefleet.runtime.orders.queries import lines_of
from storefleet.runtime.orders.states import EVENTS, Status, can_transition
from storefleet.runtime.platform.events.outbox import Event, OutboxRelay, enqueue, utcnow
from storefleet.runtime.platform.web.errors import Conflict, NotFound

SOURCE = "orders"


def order_payload(
    order: Order, lines: list[OrderLine] | None = None, **extra: Any
) -> dict[str, Any]:
    """What every order event carries; amounts in minor units."""
    payload: dict[str, Any] = {
        "order_id": order.id,
        "store": order.store,
        "customer_id": order.customer_id,
        "email": order.email,
        "status": order.status,
        "currency": order.currency,
        "subtotal_minor": order.subtotal_minor,
        "discount_minor": order.discount_minor,
        "shipping_minor": order.shipping_minor,
        "tax_minor": order.tax_minor,
        "total_minor": order.total_minor,
        "authorized_minor": order.authorized_minor,
        "captured_minor": order.captured_minor,
        "refunded_minor": order.refunded_minor,
    }
    if lines is not None:
        payload["product_ids"] = sorted(
            {line.product_id for line in lines if line.product_id is not None}
        )
        payload["lines"] = [
            {
                "sku": line.sku,
                "product_id": line.product_id,
                "product_slug": line.product_slug,
                "product_name": line.product_name,
                "variant_name": line.variant_name,
                "quantity": line.quantity,
                "unit_price_minor": line.unit_price_minor,
                "line_total_minor": line.line_total_minor,
            }
            for line in lines
        ]
    payload.update(extra)
    return payload


class OrderBook:
    def __init__(self, relay: OutboxRelay | None = None) -> None:
        self.relay = relay

    def after_commit(self) -> None:
        if self.relay is not None:
            self.relay.wake()

    @staticmethod
    async def lines_of(session: AsyncSession, order_id: str) -> list[OrderLine]:
        return await lines_of(session, order_id)

    @staticmethod
    async def locked(session: AsyncSession, order_id: str) -> Order:
        order = (
            await session.execute(select(Order).where(Order.id == order_id).with_for_update())
        ).scalar_one_or_none()
        if order is None:
            raise NotFound(f"no order '{order_id}'")
        return order

    async def transition(
        self,
        session: AsyncSession,
        order: Order,
        target: Status,
        note: str = "",
        *,
        with_lines: bool = False,
        announce: bool = True,
        **extra: Any,
    ) -> None:
        """The one way an order's status changes: checked against the table, logged
        in the history and announced through the outbox, in the caller's transaction."""
        current = Status(order.status)
        if not can_transition(current, target):
            raise Conflict(
                f"an order that is {current.value} cannot become {target.value}",
                order_status=current.value,
            )
        order.status = target.value
        order.updated_at = utcnow()
        session.add(
            OrderHistory(
                order_id=order.id,
                from_status=current.value,
                to_status=target.value,
                note=note[:500],
                at=utcnow(),
            )
        )
        event_type = EVENTS.get(target)
        if event_type is not None and announce:
            lines = await self.lines_of(session, order.id) if with_lines else None
            await enqueue(
                session,
                outbox,
                Event(event_type, order_payload(order, lines, **extra), source=SOURCE),
            )
