"""Sub-orders: each vendor's part of an order, and its shipping."""

from __future__ import annotations

from sqlalchemy import func, select

from storefleet.runtime.platform.events.outbox import OutboxRelay, utcnow
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.errors import Conflict, NotFound
from storefleet.runtime.vendors import schemas as s
from storefleet.runtime.vendors.changes import emit
from storefleet.runtime.vendors.models import (
    SubOrder,
)


def suborder_out(o: SubOrder) -> s.SubOrderOut:
    net = o.lines_total_minor - o.refunded_minor
    return s.SubOrderOut(
        id=o.id,
        order_id=o.order_id,
        vendor_id=o.vendor_id,
        status=o.status,  # type: ignore[arg-type]
        currency=o.currency,
        lines=[s.SubOrderLine(**line) for line in o.lines],
        lines_total_minor=o.lines_total_minor,
        refunded_minor=o.refunded_minor,
        commission_minor=o.commission_minor,
        vendor_share_minor=net - o.commission_minor,
        carrier=o.carrier,
        tracking_number=o.tracking_number,
        created_at=o.created_at,
        shipped_at=o.shipped_at,
    )


class SubOrders:
    """Vendors' parts of orders."""

    def __init__(self, db: Database, relay: OutboxRelay) -> None:
        self.db = db
        self.relay = relay

    async def page(
        self, vendor_id: str, status: str | None, page: int, per_page: int
    ) -> s.SubOrderPage:
        async with self.db.read() as session:
            query = select(SubOrder).where(SubOrder.vendor_id == vendor_id)
            if status:
                query = query.where(SubOrder.status == status)
            total = await session.scalar(select(func.count()).select_from(query.subquery()))
            rows = await session.scalars(
                query.order_by(SubOrder.created_at.desc(), SubOrder.id)
                .offset((page - 1) * per_page)
                .limit(per_page)
            )
            return s.SubOrderPage(items=[suborder_out(o) for o in rows], total=int(total or 0))

    async def suborder(self, vendor_id: str | None, suborder_id: str) -> s.SubOrderOut:
        async with self.db.read() as session:
            found = await session.get(SubOrder, suborder_id)
        if found is None or (vendor_id is not None and found.vendor_id != vendor_id):
            raise NotFound(f"no sub-order '{suborder_id}'")
        return suborder_out(found)

    async def ship(self, vendor_id: str | None, suborder_id: str, body: s.ShipIn) -> s.SubOrderOut:
        async with self.db.write() as session:
            found = await session.get(SubOrder, suborder_id)
            if found is None or (vendor_id is not None and found.vendor_id != vendor_id):
                raise NotFound(f"no sub-order '{suborder_id}'")
            if found.status == "shipped":
                if (found.carrier, found.tracking_number) == (body.carrier, body.tracking_number):
                    return suborder_out(found)
                raise Conflict("this sub-order was shipped already", suborder_status=found.status)
            if found.status != "open":
                raise Conflict(
                    f"a {found.status} sub-order can't be shipped", suborder_status=found.status
                )
            found.status = "shipped"
            found.carrier = body.carrier
            found.tracking_number = body.tracking_number
            found.shipped_at = utcnow()
            await emit(
                session,
                "vendor.suborder_shipped",
                {
                    "suborder_id": found.id,
                    "order_id": found.order_id,
                    "vendor_id": found.vendor_id,
                    "carrier": body.carrier,
                    "tracking_number": body.tracking_number,
                },
            )
            out = suborder_out(found)
        self.relay.wake()
        return out
