"""Refunds: staff refunding a returned order, in full or in part (partial
refunds add up), the payment service's refund call, and refunds made at the
payment service directly reaching their orders through ``payment.refunded``."""

from __future__ import annotations

import contextlib
import logging

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from storefleet.runtime.orders import schemas as s
from storefleet.runtime.orders.book import SOURCE, OrderBook, order_payload
from storefleet.runtime.orders.clients import Upstreams, call
from storefleet.runtime.orders.models import Order, OrderHistory, Refund, ReturnRequest, outbox
from storefleet.runtime.orders.queries import OrderQueries
from storefleet.runtime.orders.states import Status, can_transition
from storefleet.runtime.platform.events.outbox import Event, enqueue, utcnow
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.errors import Conflict, NotFound, ProblemError

log = logging.getLogger(__name__)


class Refunds:
    def __init__(
        self, db: Database, upstreams: Upstreams, book: OrderBook, queries: OrderQueries
    ) -> None:
        self.db = db
        self.upstreams = upstreams
        self.book = book
        self.queries = queries

    async def refund(self, order_id: str, data: s.RefundIn, idempotency_key: str) -> s.OrderOut:
        """Refund a returned order, in full or in part (several partial refunds add up)."""
        refund_id = f"{order_id}:{idempotency_key}"
        async with self.db.read() as session:
            order = await session.get(Order, order_id)
            if order is None:
                raise NotFound(f"no order '{order_id}'")
            done = await session.get(Refund, refund_id)
            if done is not None and done.status == "done":
                return await self.queries.order(order_id)
            status = Status(order.status)
            if status not in {Status.RETURNED, Status.PARTIALLY_REFUNDED}:
                raise Conflict(
                    f"an order that is {status.value} is not refunded; receive a return first",
                    order_status=status.value,
                )
            returned_value = (
                await session.execute(
                    select(func.coalesce(func.sum(ReturnRequest.value_minor), 0)).where(
                        ReturnRequest.order_id == order_id, ReturnRequest.status == "received"
                    )
                )
            ).scalar_one()
            left = order.captured_minor - order.refunded_minor
            suggested = min(left, max(0, int(returned_value) - order.refunded_minor)) or left
        amount = done.amount_minor if done is not None else (data.amount_minor or suggested)
        if amount > left:
            raise Conflict(f"cannot refund {amount}; {left} is left", refundable_minor=left)
        if done is None:
            # A parallel request with the same key may have recorded it first: its
            # row stands, and the refund below is idempotent on refund_id.
            with contextlib.suppress(IntegrityError):
                async with self.db.write() as session:
                    session.add(
                        Refund(
                            id=refund_id,
                            order_id=order_id,
                            amount_minor=amount,
                            reason=data.reason,
                            status="pending",
                            created_at=utcnow(),
                        )
                    )
        await self.refund_payment(order_id, amount, refund_id, data.reason)
        async with self.db.write() as session:
            order = await self.book.locked(session, order_id)
            refund = await session.get(Refund, refund_id)
            assert refund is not None
            if refund.status != "done":
                refund.status = "done"
                order.refunded_minor += amount
                full = order.refunded_minor >= order.captured_minor
                await self.book.transition(
                    session,
                    order,
                    Status.REFUNDED if full else Status.PARTIALLY_REFUNDED,
                    f"refunded {amount}" + (f": {data.reason}" if data.reason else ""),
                    refund_minor=amount,
                    reason=data.reason,
                )
        self.book.after_commit()
        return await self.queries.order(order_id)

    async def payment_refunded(self, event: Event) -> None:
        """A refund made at the payments service directly (by staff there, or the
        processor's dashboard through a webhook) reaches its order: the refunded
        amount, the history and an ``order.refunded`` event. Refunds this service
        asked for itself are already counted (their key is an ``order_refunds``
        row); a redelivered event is applied once (its key becomes one)."""
        payload = event.payload
        order_id, key = payload.get("order_id"), payload.get("refund_key")
        amount = payload.get("refund_minor")
        if not isinstance(order_id, str) or not isinstance(key, str) or not key:
            return
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            log.warning("ignoring a refund event without an amount", extra={"event_id": event.id})
            return
        try:
            async with self.db.write() as session:
                order = (
                    await session.execute(
                        select(Order).where(Order.id == order_id).with_for_update()
                    )
                ).scalar_one_or_none()
                if order is None or await session.get(Refund, key) is not None:
                    return
                reason = str(payload.get("reason") or "")[:300]
                session.add(
                    Refund(
                        id=key,
                        order_id=order_id,
                        amount_minor=amount,
                        reason=reason,
                        status="done",
                        payment_refund_id=str(payload.get("refund_id") or "")[:100],
                        created_at=utcnow(),
                    )
                )
                order.refunded_minor += amount
                note = f"refunded {amount} at the payment service" + (
                    f": {reason}" if reason else ""
                )
                full = order.refunded_minor >= order.captured_minor
                current = Status(order.status)
                target = Status.REFUNDED if full else Status.PARTIALLY_REFUNDED
                if can_transition(current, target):
                    await self.book.transition(
                        session, order, target, note, refund_minor=amount, reason=reason
                    )
                elif full and can_transition(current, Status.CANCELLED):
                    # All the money back before it shipped: the order is off.
                    order.cancel_reason = "refunded"
                    order.failure_detail = reason or "refunded in full at the payment service"
                    await self.book.transition(
                        session,
                        order,
                        Status.CANCELLED,
                        note,
                        reason="refunded",
                        refund_minor=amount,
                    )
                else:
                    # A paid order still on its way (goodwill, a price match): it
                    # goes on being fulfilled, with the refund on record.
                    order.updated_at = utcnow()
                    session.add(
                        OrderHistory(
                            order_id=order_id,
                            from_status=order.status,
                            to_status=order.status,
                            note=note[:500],
                            at=utcnow(),
                        )
                    )
                    await enqueue(
                        session,
                        outbox,
                        Event(
                            "order.refunded",
                            order_payload(order, refund_minor=amount, reason=reason),
                            source=SOURCE,
                        ),
                    )
        except IntegrityError:
            return  # the same refund, delivered twice at once
        self.book.after_commit()

    async def refund_payment(self, order_id: str, amount: int, key: str, reason: str) -> None:
        async with self.db.read() as session:
            order = await session.get(Order, order_id)
            assert order is not None
            payment_id = order.payment_id
        if payment_id is None:
            raise Conflict("this order has no payment to refund")
        answer = await call(
            self.upstreams.payments,
            "POST",
            f"/payments/{payment_id}/refunds",
            json={"amount_minor": amount, "reason": reason[:300]},
            headers=self.upstreams.payment_headers(key),
        )
        if answer.transient:
            raise ProblemError(
                503, "the payment service is unavailable; try again", headers={"Retry-After": "5"}
            )
        if not answer.ok:
            raise Conflict(f"the refund was refused: {answer.detail}")
