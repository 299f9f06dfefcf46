"""What the orders service's events mean here: a paid order becomes sub-orders
and ledger postings; returns, refunds and refunded cancellations take them back."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.platform.events.consumer import PermanentError
from storefleet.runtime.platform.events.outbox import Event, utcnow
from storefleet.runtime.vendors import ledger
from storefleet.runtime.vendors.changes import emit
from storefleet.runtime.vendors.models import (
    SubOrder,
    Vendor,
    VendorProduct,
)

CONSUMED: Final = ("order.paid", "order.returned", "order.refunded", "order.cancelled")


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return default
    return value


class Sales:
    """Sub-orders and postings from order events, in the consumer's transaction."""

    async def handle_event(self, event: Event, session: AsyncSession) -> None:
        data = event.payload
        order_id = data.get("order_id")
        if not isinstance(order_id, str) or not order_id:
            raise PermanentError(f"{event.type} without an order_id")
        if event.version != 1:
            raise PermanentError(f"{event.type} dataversion {event.version} is not understood")
        if event.type == "order.paid":
            await self._order_paid(event, session, order_id)
        elif event.type == "order.returned":
            await self._order_returned(session, order_id, data)
        elif event.type == "order.refunded":
            full = data.get("status") == "refunded"
            await self._order_refunded(
                event, session, order_id, _int(data.get("refund_minor")), full
            )
        elif event.type == "order.cancelled" and _int(data.get("refund_minor")) > 0:
            await self._order_refunded(event, session, order_id, 0, True, cancel=True)

    async def _order_paid(self, event: Event, session: AsyncSession, order_id: str) -> None:
        data = event.payload
        lines = [line for line in data.get("lines") or [] if isinstance(line, dict)]
        product_ids = {
            line["product_id"] for line in lines if isinstance(line.get("product_id"), int)
        }
        if not product_ids:
            return
        owners = {
            row.product_id: row.vendor_id
            for row in await session.execute(
                select(VendorProduct.product_id, VendorProduct.vendor_id).where(
                    VendorProduct.product_id.in_(product_ids)
                )
            )
        }
        by_vendor: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for line in lines:
            owner = owners.get(line.get("product_id"))
            if owner is None:
                continue  # the store's own product
            quantity = max(_int(line.get("quantity")), 0)
            unit = max(_int(line.get("unit_price_minor")), 0)
            by_vendor[owner].append(
                {
                    "sku": str(line.get("sku", "")),
                    "product_id": line.get("product_id"),
                    "product_name": str(line.get("product_name", "")),
                    "variant_name": str(line.get("variant_name", "")),
                    "quantity": quantity,
                    "unit_price_minor": unit,
                    "line_total_minor": max(_int(line.get("line_total_minor"), quantity * unit), 0),
                    "returned_quantity": 0,
                }
            )
        currency = str(data.get("currency") or "EUR")[:3]
        customer = data.get("customer_id")
        for vendor_id, vendor_lines in sorted(by_vendor.items()):
            existing = await session.scalar(
                select(SubOrder.id).where(
                    SubOrder.order_id == order_id, SubOrder.vendor_id == vendor_id
                )
            )
            if existing is not None:
                continue
            vendor = await session.get(Vendor, vendor_id)
            if vendor is None:
                continue
            amount = sum(line["line_total_minor"] for line in vendor_lines)
            commission = ledger.commission_of(amount, vendor.commission_bps)
            suborder = SubOrder(
                id=uuid.uuid4().hex,
                order_id=order_id,
                vendor_id=vendor_id,
                customer_id=customer if isinstance(customer, str) else None,
                status="open",
                currency=currency,
                lines=vendor_lines,
                lines_total_minor=amount,
                refunded_minor=0,
                pending_return_minor=0,
                commission_bps=vendor.commission_bps,
                commission_minor=commission,
                created_at=utcnow(),
            )
            session.add(suborder)
            await session.flush()
            owed = (await ledger.balances(session, [ledger.receivable(vendor_id)], lock=True))[
                ledger.receivable(vendor_id)
            ]
            await ledger.post(
                session,
                kind="sale",
                reference=f"{event.id}:{vendor_id}",
                vendor_id=vendor_id,
                currency=currency,
                order_id=order_id,
                suborder_id=suborder.id,
                lines=ledger.sale_lines(vendor_id, amount, commission, owed),
                memo=f"order {order_id} paid",
            )
            await emit(
                session,
                "vendor.suborder_created",
                {
                    "suborder_id": suborder.id,
                    "order_id": order_id,
                    "vendor_id": vendor_id,
                    "currency": currency,
                    "lines_total_minor": amount,
                    "commission_minor": commission,
                    "lines": vendor_lines,
                },
            )

    async def _order_returned(
        self, session: AsyncSession, order_id: str, data: dict[str, Any]
    ) -> None:
        returned: dict[str, int] = defaultdict(int)
        for line in data.get("return_lines") or []:
            if isinstance(line, dict) and isinstance(line.get("sku"), str):
                returned[line["sku"]] += max(_int(line.get("quantity")), 0)
        if not returned:
            return
        suborders = list(
            await session.scalars(
                select(SubOrder).where(SubOrder.order_id == order_id).order_by(SubOrder.vendor_id)
            )
        )
        for suborder in suborders:
            lines = [dict(line) for line in suborder.lines]
            value = 0
            for line in lines:
                want = returned.get(line["sku"], 0)
                if want <= 0:
                    continue
                can = min(want, line["quantity"] - line["returned_quantity"])
                if can <= 0:
                    continue
                line["returned_quantity"] += can
                returned[line["sku"]] -= can
                value += can * line["unit_price_minor"]
            if value:
                suborder.lines = lines
                remaining = (
                    suborder.lines_total_minor
                    - suborder.refunded_minor
                    - suborder.pending_return_minor
                )
                suborder.pending_return_minor += min(value, max(remaining, 0))

    async def _order_refunded(
        self,
        event: Event,
        session: AsyncSession,
        order_id: str,
        refund_minor: int,
        full: bool,
        *,
        cancel: bool = False,
    ) -> None:
        """Allocate a refund to the vendors' lines: a full refund (or a paid
        order cancelled) reverses everything left; a partial one goes to the
        returned items not refunded yet. What is left of it (shipping, tax,
        goodwill) is the store's own."""
        suborders = list(
            await session.scalars(
                select(SubOrder).where(SubOrder.order_id == order_id).order_by(SubOrder.vendor_id)
            )
        )
        budget = refund_minor
        for suborder in suborders:
            net = suborder.lines_total_minor - suborder.refunded_minor
            if full:
                amount = net
            else:
                amount = min(suborder.pending_return_minor, budget, net)
                budget -= amount
            if amount <= 0:
                if full and cancel and suborder.status == "open":
                    suborder.status = "cancelled"
                continue
            new_net = net - amount
            new_commission = ledger.commission_of(new_net, suborder.commission_bps)
            commission_back = suborder.commission_minor - new_commission
            available = (
                await ledger.balances(session, [ledger.payable(suborder.vendor_id)], lock=True)
            )[ledger.payable(suborder.vendor_id)]
            await ledger.post(
                session,
                kind="refund",
                reference=f"{event.id}:{suborder.vendor_id}",
                vendor_id=suborder.vendor_id,
                currency=suborder.currency,
                order_id=order_id,
                suborder_id=suborder.id,
                lines=ledger.refund_lines(suborder.vendor_id, amount, commission_back, available),
                memo=f"order {order_id} {'cancelled' if cancel else 'refunded'}",
            )
            suborder.refunded_minor += amount
            suborder.pending_return_minor = max(0, suborder.pending_return_minor - amount)
            suborder.commission_minor = new_commission
            if suborder.refunded_minor == suborder.lines_total_minor:
                suborder.status = (
                    "cancelled" if cancel and suborder.status == "open" else "refunded"
                )
            await emit(
                session,
                "vendor.suborder_refunded",
                {
                    "suborder_id": suborder.id,
                    "order_id": order_id,
                    "vendor_id": suborder.vendor_id,
                    "currency": suborder.currency,
                    "refund_minor": amount,
                    "refunded_minor": suborder.refunded_minor,
                    "commission_minor": suborder.commission_minor,
                },
            )
