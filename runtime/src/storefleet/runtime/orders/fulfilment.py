"""Staff's work on an order after checkout: packing, shipping and delivery, the
decision on an order held for review, the shopper's return from 3-D Secure, and
cancellation (unwound by the saga before payment, refunded in full after it)."""

from __future__ import annotations

import contextlib
from typing import Any

from sqlalchemy.exc import IntegrityError

from storefleet.runtime.orders import schemas as s
from storefleet.runtime.orders.book import OrderBook
from storefleet.runtime.orders.models import Order, Refund
from storefleet.runtime.orders.queries import OrderQueries
from storefleet.runtime.orders.refunds import Refunds
from storefleet.runtime.orders.saga import SagaRunner
from storefleet.runtime.orders.states import Status, can_transition
from storefleet.runtime.platform.events.outbox import utcnow
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.errors import Conflict, NotFound


class Fulfilment:
    def __init__(
        self,
        db: Database,
        book: OrderBook,
        queries: OrderQueries,
        saga: SagaRunner,
        refunds: Refunds,
    ) -> None:
        self.db = db
        self.book = book
        self.queries = queries
        self.saga = saga
        self.refunds = refunds

    async def _simple(self, order_id: str, target: Status, note: str, **changes: Any) -> s.OrderOut:
        async with self.db.write() as session:
            order = await self.book.locked(session, order_id)
            for key, value in changes.items():
                setattr(order, key, value)
            await self.book.transition(session, order, target, note, **changes)
        self.book.after_commit()
        return await self.queries.order(order_id)

    async def start(self, order_id: str) -> s.OrderOut:
        return await self._simple(order_id, Status.FULFILLING, "packing started")

    async def ship(self, order_id: str, data: s.ShipIn) -> s.OrderOut:
        return await self._simple(
            order_id,
            Status.SHIPPED,
            f"shipped with {data.carrier}, tracking {data.tracking_number}",
            carrier=data.carrier,
            tracking_number=data.tracking_number,
        )

    async def deliver(self, order_id: str) -> s.OrderOut:
        return await self._simple(order_id, Status.DELIVERED, "delivered")

    async def approve(self, order_id: str, note: str) -> s.OrderOut:
        await self.saga.review(order_id, approve=True, note=note)
        return await self.queries.order(order_id)

    async def reject(self, order_id: str, note: str) -> s.OrderOut:
        await self.saga.review(order_id, approve=False, note=note)
        return await self.queries.order(order_id)

    async def payment_returned(self, order_id: str) -> s.OrderOut:
        """The shopper is back from 3-D Secure: look at the payment now."""
        await self.saga.poke(order_id)
        return await self.queries.order(order_id)

    async def cancel(self, order_id: str, reason: str) -> s.OrderOut:
        """Before payment, the saga undoes its work; after it, the capture is refunded."""
        async with self.db.read() as session:
            order = await session.get(Order, order_id)
            if order is None:
                raise NotFound(f"no order '{order_id}'")
            status = Status(order.status)
        if status in {Status.PENDING, Status.AWAITING_PAYMENT, Status.ON_HOLD}:
            await self.saga.abort(order_id, "cancelled", reason)
            return await self.queries.order(order_id)
        if not can_transition(status, Status.CANCELLED):
            raise Conflict(
                f"an order that is {status.value} cannot be cancelled", order_status=status.value
            )
        left = order.captured_minor - order.refunded_minor
        if left > 0:
            key = f"cancel:{order_id}"
            # Recorded first, so the payment's refund event is known as this one.
            with contextlib.suppress(IntegrityError):
                async with self.db.write() as session:
                    session.add(
                        Refund(
                            id=key,
                            order_id=order_id,
                            amount_minor=left,
                            reason=reason[:300],
                            status="pending",
                            created_at=utcnow(),
                        )
                    )
            await self.refunds.refund_payment(order_id, left, key, reason)
        async with self.db.write() as session:
            order = await self.book.locked(session, order_id)
            if (refund := await session.get(Refund, f"cancel:{order_id}")) is not None:
                refund.status = "done"
            if order.status != Status.CANCELLED.value:
                order.cancel_reason = "cancelled"
                order.failure_detail = reason
                order.refunded_minor += left
                await self.book.transition(
                    session, order, Status.CANCELLED, reason, reason="cancelled", refund_minor=left
                )
        self.book.after_commit()
        return await self.queries.order(order_id)
