"""Returns: a shopper's request (what may still be sent back, and its value),
then staff receiving it (the lines count as returned) or declining it (the
order is delivered again, without a second announcement)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.orders import schemas as s
from storefleet.runtime.orders.book import OrderBook
from storefleet.runtime.orders.models import ReturnRequest
from storefleet.runtime.orders.queries import OrderQueries
from storefleet.runtime.orders.states import Status
from storefleet.runtime.platform.events.outbox import utcnow
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.errors import Conflict, NotFound, ProblemError


class Returns:
    def __init__(self, db: Database, book: OrderBook, queries: OrderQueries) -> None:
        self.db = db
        self.book = book
        self.queries = queries

    async def request(self, order_id: str, data: s.ReturnIn) -> s.OrderOut:
        async with self.db.write() as session:
            order = await self.book.locked(session, order_id)
            lines = {line.sku: line for line in await self.book.lines_of(session, order_id)}
            value = 0
            for wanted in data.lines:
                line = lines.get(wanted.sku)
                if line is None:
                    raise ProblemError(422, f"'{wanted.sku}' is not in this order", sku=wanted.sku)
                if wanted.quantity > line.quantity - line.returned_quantity:
                    raise ProblemError(
                        422,
                        f"only {line.quantity - line.returned_quantity} of {wanted.sku} "
                        "can be returned",
                        sku=wanted.sku,
                    )
                value += line.unit_price_minor * wanted.quantity
            request = ReturnRequest(
                id=uuid.uuid4().hex,
                order_id=order_id,
                status="requested",
                lines=[line.model_dump() for line in data.lines],
                reason=data.reason,
                value_minor=value,
                created_at=utcnow(),
            )
            await self.book.transition(
                session,
                order,
                Status.RETURN_REQUESTED,
                data.reason or "return requested",
                return_id=request.id,
                return_lines=request.lines,
                return_value_minor=value,
            )
            session.add(request)
        self.book.after_commit()
        return await self.queries.order(order_id)

    async def _open_return(
        self, session: AsyncSession, order_id: str, return_id: str
    ) -> ReturnRequest:
        request = await session.get(ReturnRequest, return_id)
        if request is None or request.order_id != order_id:
            raise NotFound(f"no return '{return_id}' for this order")
        if request.status != "requested":
            raise Conflict(f"the return is already {request.status}")
        return request

    async def receive(self, order_id: str, return_id: str) -> s.OrderOut:
        async with self.db.write() as session:
            order = await self.book.locked(session, order_id)
            request = await self._open_return(session, order_id, return_id)
            request.status = "received"
            lines = {line.sku: line for line in await self.book.lines_of(session, order_id)}
            for item in request.lines:
                lines[item["sku"]].returned_quantity += int(item["quantity"])
            await self.book.transition(
                session,
                order,
                Status.RETURNED,
                "return received",
                return_id=return_id,
                return_lines=request.lines,
                return_value_minor=request.value_minor,
            )
        self.book.after_commit()
        return await self.queries.order(order_id)

    async def decline(self, order_id: str, return_id: str, note: str) -> s.OrderOut:
        async with self.db.write() as session:
            order = await self.book.locked(session, order_id)
            request = await self._open_return(session, order_id, return_id)
            request.status = "declined"
            # Back to delivered, but not announced as a delivery again.
            await self.book.transition(
                session, order, Status.DELIVERED, note or "return declined", announce=False
            )
        self.book.after_commit()
        return await self.queries.order(order_id)
