"""Reading orders: one order with its lines, timeline and returns, a page of
orders, who owns an order, and how the checkouts' sagas stand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.orders import schemas as s
from storefleet.runtime.orders.models import (
    Order,
    OrderHistory,
    OrderLine,
    ReturnRequest,
    Saga,
)
from storefleet.runtime.orders.states import LABELS, Status
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.errors import NotFound


def as_utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def lines_of(session: AsyncSession, order_id: str) -> list[OrderLine]:
    return list(
        (
            await session.execute(
                select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.id)
            )
        ).scalars()
    )


class OrderQueries:
    """What shoppers and staff read of orders."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def order(self, order_id: str) -> s.OrderOut:
        async with self.db.read() as session:
            order = await session.get(Order, order_id)
            if order is None:
                raise NotFound(f"no order '{order_id}'")
            lines = await lines_of(session, order_id)
            history = (
                await session.execute(
                    select(OrderHistory)
                    .where(OrderHistory.order_id == order_id)
                    .order_by(OrderHistory.id)
                )
            ).scalars()
            returns = (
                await session.execute(
                    select(ReturnRequest)
                    .where(ReturnRequest.order_id == order_id)
                    .order_by(ReturnRequest.created_at)
                )
            ).scalars()
            saga = await session.get(Saga, order_id)
            return s.OrderOut(
                id=order.id,
                store=order.store,
                status=order.status,
                status_label=LABELS[Status(order.status)],
                customer_id=order.customer_id,
                email=order.email,
                currency=order.currency,
                lines=[
                    s.OrderLineOut(
                        sku=line.sku,
                        product_slug=line.product_slug,
                        product_name=line.product_name,
                        variant_name=line.variant_name,
                        quantity=line.quantity,
                        unit_price_minor=line.unit_price_minor,
                        line_total_minor=line.line_total_minor,
                        returned_quantity=line.returned_quantity,
                    )
                    for line in lines
                ],
                subtotal_minor=order.subtotal_minor,
                discount_minor=order.discount_minor,
                shipping_minor=order.shipping_minor,
                tax_minor=order.tax_minor,
                total_minor=order.total_minor,
                shipping_method=order.shipping_method,
                shipping_address={k: str(v) for k, v in order.shipping_address.items()},
                billing_country=order.billing_country,
                card_brand=order.card_brand,
                card_last4=order.card_last4,
                payment_id=order.payment_id,
                next_action_url=order.payment_action_url,
                authorized_minor=order.authorized_minor,
                captured_minor=order.captured_minor,
                refunded_minor=order.refunded_minor,
                cancel_reason=order.cancel_reason,
                failure_detail=order.failure_detail,
                hold_reasons=list(order.hold_reasons or []),
                carrier=order.carrier,
                tracking_number=order.tracking_number,
                checkout_step=saga.step if saga else "",
                checkout_state=saga.state if saga else "",
                history=[
                    s.HistoryEntry(
                        status=entry.to_status,
                        label=LABELS[Status(entry.to_status)],
                        note=entry.note,
                        at=as_utc(entry.at),
                    )
                    for entry in history
                ],
                returns=[
                    s.ReturnOut(
                        id=r.id,
                        status=cast(Any, r.status),
                        lines=[s.ReturnLine(**line) for line in r.lines],
                        reason=r.reason,
                        value_minor=r.value_minor,
                        created_at=as_utc(r.created_at),
                    )
                    for r in returns
                ],
                created_at=as_utc(order.created_at),
                updated_at=as_utc(order.updated_at),
            )

    async def orders(
        self,
        *,
        customer_id: str | None = None,
        status: str | None = None,
        page: int = 1,
        per_page: int = 20,
    ) -> s.OrderPage:
        conditions = []
        if customer_id is not None:
            conditions.append(Order.customer_id == customer_id)
        if status is not None:
            conditions.append(Order.status == status)
        async with self.db.read() as session:
            total = (
                await session.execute(select(func.count()).select_from(Order).where(*conditions))
            ).scalar_one()
            counts = (
                select(OrderLine.order_id, func.sum(OrderLine.quantity).label("quantity"))
                .group_by(OrderLine.order_id)
                .subquery()
            )
            rows = (
                await session.execute(
                    select(Order, counts.c.quantity)
                    .join(counts, counts.c.order_id == Order.id)
                    .where(*conditions)
                    .order_by(Order.created_at.desc(), Order.id)
                    .offset((page - 1) * per_page)
                    .limit(per_page)
                )
            ).all()
        return s.OrderPage(
            total=int(total),
            items=[
                s.OrderSummary(
                    id=order.id,
                    status=order.status,
                    status_label=LABELS[Status(order.status)],
                    currency=order.currency,
                    total_minor=order.total_minor,
                    item_count=int(items or 0),
                    created_at=as_utc(order.created_at),
                )
                for order, items in rows
            ],
        )

    async def owner_of(self, order_id: str) -> tuple[str | None, str]:
        async with self.db.read() as session:
            row = (
                await session.execute(
                    select(Order.customer_id, Order.email).where(Order.id == order_id)
                )
            ).one_or_none()
        if row is None:
            raise NotFound(f"no order '{order_id}'")
        return row[0], row[1]

    async def saga_overview(self) -> s.SagaOverview:
        async with self.db.read() as session:
            rows = dict(
                (await session.execute(select(Saga.state, func.count()).group_by(Saga.state))).all()
            )
        return s.SagaOverview(
            running=int(rows.get("running", 0)),
            waiting=int(rows.get("waiting", 0)),
            compensating=int(rows.get("compensating", 0)),
            done=int(rows.get("done", 0)),
            failed=int(rows.get("failed", 0)),
        )
