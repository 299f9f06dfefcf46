"""Counting events into the read models, and reading reports back.

Each handler runs inside the idempotent consumer's transaction, so an event
delivered twice (same id) is counted once. Beyond that, order milestones are
guarded per order (``analytics_orders``): an order is a sale once and a
checkout once, whatever ids its events carry. Refunds are counted per event,
each being its own money movement.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any, Final, cast

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.analytics import facts
from storefleet.runtime.analytics import schemas as s
from storefleet.runtime.analytics.figures import (
    PeriodError,
    SalesFigures,
    conversion_rate,
    period,
    totals_by_currency,
)
from storefleet.runtime.analytics.models import (
    DailyFunnel,
    DailyProductSales,
    DailySales,
    OrderSeen,
    Product,
)
from storefleet.runtime.analytics.settings import AnalyticsSettings
from storefleet.runtime.platform.events.consumer import PermanentError
from storefleet.runtime.platform.events.outbox import Event, utcnow
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.errors import ProblemError

SUPPORTED_DATA_VERSION: Final = 1
Handler = Callable[[Event, AsyncSession], Awaitable[None]]


class AnalyticsService:
    def __init__(self, db: Database, settings: AnalyticsSettings) -> None:
        self.db = db
        self.settings = settings
        self._handlers: dict[str, Handler] = {
            "order.placed": self._placed,
            "order.paid": self._paid,
            "order.cancelled": self._cancelled,
            "order.refunded": self._refunded,
            "payment.failed": self._payment_failed,
            "cart.abandoned": self._abandoned,
            "catalog.product_created": self._product_published,
            "catalog.product_updated": self._product_published,
            "catalog.product_archived": self._product_archived,
        }

    def event_types(self) -> list[str]:
        return sorted(self._handlers)

    # -- events -> read models -------------------------------------------

    async def handle_event(self, event: Event, session: AsyncSession) -> None:
        """The consumer's handler: runs in the processed-event transaction."""
        handler = self._handlers.get(event.type)
        if handler is None:
            return
        if event.version > SUPPORTED_DATA_VERSION:
            # A payload shape this code does not know: refuse it (dead letter)
            # rather than count it wrong.
            raise PermanentError(f"{event.type} dataversion {event.version} is not supported")
        try:
            await handler(event, session)
        except facts.BadEvent as exc:
            raise PermanentError(f"{event.type}: {exc}") from exc

    def day_of(self, event: Event) -> dt.date:
        return event.occurred_at.astimezone(self.settings.zone).date()

    def _insert(self, table: Any) -> postgresql.Insert | sqlite.Insert:
        if self.db.is_postgres:
            return postgresql.insert(table)
        return sqlite.insert(table)

    async def _add(
        self, session: AsyncSession, model: Any, keys: dict[str, Any], counts: dict[str, int]
    ) -> None:
        """Add ``counts`` to the row at ``keys``, creating it: one atomic statement."""
        table = model.__table__
        statement = self._insert(table).values(**keys, **counts)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=list(keys),
                set_={name: table.c[name] + statement.excluded[name] for name in counts},
            )
        )

    async def _funnel(self, session: AsyncSession, day: dt.date, step: str) -> None:
        steps = dict.fromkeys(
            ("checkouts", "paid", "cancelled", "payment_failures", "carts_abandoned"), 0
        )
        steps[step] = 1
        await self._add(session, DailyFunnel, {"day": day}, steps)

    async def _first_time(
        self, session: AsyncSession, order_id: str, milestone: str, day: dt.date, **values: Any
    ) -> bool:
        """Mark the order's milestone (placed/paid/cancelled); False if already marked."""
        await session.execute(
            self._insert(OrderSeen)
            .values(order_id=order_id, total_minor=0, refunded_minor=0, updated_at=utcnow())
            .on_conflict_do_nothing(index_elements=["order_id"])
        )
        column = getattr(OrderSeen, milestone)
        result = await session.execute(
            update(OrderSeen)
            .where(OrderSeen.order_id == order_id, column.is_(None))
            .values({milestone: day, "updated_at": utcnow(), **values})
        )
        return int(cast(CursorResult[Any], result).rowcount) == 1

    async def _placed(self, event: Event, session: AsyncSession) -> None:
        day = self.day_of(event)
        if await self._first_time(session, facts.order_id(event.payload), "placed_on", day):
            await self._funnel(session, day, "checkouts")

    async def _paid(self, event: Event, session: AsyncSession) -> None:
        order = facts.paid_order(event.payload)
        day = self.day_of(event)
        first = await self._first_time(
            session,
            order.order_id,
            "paid_on",
            day,
            currency=order.currency,
            total_minor=order.total_minor,
        )
        if not first:
            return
        await self._funnel(session, day, "paid")
        await self._add(
            session,
            DailySales,
            {"day": day, "currency": order.currency},
            {
                "orders": 1,
                "units": order.units,
                "gross_minor": order.total_minor,
                "refunds_minor": 0,
                "refund_count": 0,
            },
        )
        for line in order.lines:
            await self._add(
                session,
                DailyProductSales,
                {"day": day, "product_key": line.product_key, "currency": order.currency},
                {"units": line.units, "revenue_minor": line.revenue_minor},
            )
            statement = self._insert(Product).values(
                product_key=line.product_key,
                product_id=line.product_id,
                sku=line.sku,
                name=line.name,
                slug=line.slug,
                archived=False,
                updated_at=utcnow(),
            )
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=["product_key"],
                    set_={
                        "sku": statement.excluded.sku,
                        "name": statement.excluded.name,
                        "slug": func.coalesce(Product.__table__.c.slug, statement.excluded.slug),
                        "updated_at": statement.excluded.updated_at,
                    },
                )
            )

    async def _refund(self, event: Event, session: AsyncSession, amount: int) -> None:
        data = event.payload
        order_id, currency = facts.order_id(data), facts.currency(data)
        await self._add(
            session,
            DailySales,
            {"day": self.day_of(event), "currency": currency},
            {
                "orders": 0,
                "units": 0,
                "gross_minor": 0,
                "refunds_minor": amount,
                "refund_count": 1,
            },
        )
        await session.execute(
            update(OrderSeen)
            .where(OrderSeen.order_id == order_id)
            .values(refunded_minor=OrderSeen.refunded_minor + amount, updated_at=utcnow())
        )

    async def _refunded(self, event: Event, session: AsyncSession) -> None:
        amount = facts.refund(event.payload)
        if amount > 0:
            await self._refund(event, session, amount)

    async def _cancelled(self, event: Event, session: AsyncSession) -> None:
        day = self.day_of(event)
        if await self._first_time(session, facts.order_id(event.payload), "cancelled_on", day):
            await self._funnel(session, day, "cancelled")
        # Staff cancelling a paid order refund what was captured.
        amount = facts.refund(event.payload)
        if amount > 0:
            await self._refund(event, session, amount)

    async def _payment_failed(self, event: Event, session: AsyncSession) -> None:
        await self._funnel(session, self.day_of(event), "payment_failures")

    async def _abandoned(self, event: Event, session: AsyncSession) -> None:
        await self._funnel(session, self.day_of(event), "carts_abandoned")

    async def _catalog_product(
        self, session: AsyncSession, data: dict[str, Any], **changes: Any
    ) -> None:
        product_id = data.get("product_id")
        if not isinstance(product_id, int) or isinstance(product_id, bool) or product_id < 0:
            raise facts.BadEvent(f"product_id must be an integer, not {product_id!r}")
        statement = self._insert(Product).values(
            product_key=facts.product_key(product_id, ""),
            product_id=product_id,
            updated_at=utcnow(),
            **changes,
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["product_key"],
                set_={name: statement.excluded[name] for name in (*changes, "updated_at")},
            )
        )

    async def _product_published(self, event: Event, session: AsyncSession) -> None:
        slug = event.payload.get("slug")
        changes = {"slug": slug[:200]} if isinstance(slug, str) and slug else {}
        await self._catalog_product(session, event.payload, archived=False, **changes)

    async def _product_archived(self, event: Event, session: AsyncSession) -> None:
        await self._catalog_product(session, event.payload, archived=True)

    # -- reports -----------------------------------------------------------

    def period(self, start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
        try:
            return period(
                start,
                end,
                today=dt.datetime.now(self.settings.zone).date(),
                default_days=self.settings.default_report_days,
                max_days=self.settings.max_report_days,
            )
        except PeriodError as exc:
            raise ProblemError(422, str(exc), field="from") from None

    async def sales(
        self, start: dt.date | None, end: dt.date | None, currency: str | None
    ) -> s.SalesReport:
        start, end = self.period(start, end)
        query = (
            select(DailySales)
            .where(DailySales.day >= start, DailySales.day <= end)
            .order_by(DailySales.day, DailySales.currency)
        )
        if currency:
            query = query.where(DailySales.currency == currency)
        async with self.db.read() as session:
            rows = (await session.scalars(query)).all()
        days = [
            (
                row.day,
                SalesFigures(
                    row.currency,
                    row.orders,
                    row.units,
                    row.gross_minor,
                    row.refunds_minor,
                    row.refund_count,
                ),
            )
            for row in rows
        ]
        return s.SalesReport(
            from_=start,
            to=end,
            timezone=self.settings.timezone,
            currency=currency,
            days=[
                s.SalesDay(day=day, **s.SalesLine.of(figures).model_dump()) for day, figures in days
            ],
            totals=[s.SalesLine.of(total) for total in totals_by_currency(f for _, f in days)],
        )

    async def top_products(
        self,
        start: dt.date | None,
        end: dt.date | None,
        *,
        by: s.Ranking,
        limit: int,
        currency: str | None,
    ) -> s.TopProducts:
        start, end = self.period(start, end)
        d = DailyProductSales
        units = func.sum(d.units).label("units")
        revenue = func.sum(d.revenue_minor).label("revenue")
        first, second = (units, revenue) if by == "units" else (revenue, units)
        query = (
            select(d.product_key, d.currency, units, revenue)
            .where(d.day >= start, d.day <= end)
            .group_by(d.product_key, d.currency)
            .order_by(first.desc(), second.desc(), d.product_key, d.currency)
            .limit(limit)
        )
        if currency:
            query = query.where(d.currency == currency)
        async with self.db.read() as session:
            ranked = (await session.execute(query)).all()
            keys = {row.product_key for row in ranked}
            products = {
                product.product_key: product
                for product in (
                    await session.scalars(select(Product).where(Product.product_key.in_(keys)))
                ).all()
            }
        items = []
        for row in ranked:
            product = products.get(row.product_key)
            items.append(
                s.ProductFigures(
                    product_key=row.product_key,
                    product_id=product.product_id if product else None,
                    sku=product.sku if product else None,
                    name=product.name if product else None,
                    slug=product.slug if product else None,
                    archived=bool(product and product.archived),
                    currency=row.currency,
                    units=int(row.units or 0),
                    revenue_minor=int(row.revenue or 0),
                )
            )
        return s.TopProducts(
            from_=start, to=end, timezone=self.settings.timezone, by=by, items=items
        )

    async def funnel(self, start: dt.date | None, end: dt.date | None) -> s.Funnel:
        start, end = self.period(start, end)
        f = DailyFunnel
        query = select(
            func.coalesce(func.sum(f.checkouts), 0),
            func.coalesce(func.sum(f.paid), 0),
            func.coalesce(func.sum(f.cancelled), 0),
            func.coalesce(func.sum(f.payment_failures), 0),
            func.coalesce(func.sum(f.carts_abandoned), 0),
        ).where(f.day >= start, f.day <= end)
        async with self.db.read() as session:
            checkouts, paid, cancelled, failures, abandoned = (
                int(value) for value in (await session.execute(query)).one()
            )
        return s.Funnel(
            from_=start,
            to=end,
            timezone=self.settings.timezone,
            checkouts_started=checkouts,
            orders_paid=paid,
            orders_cancelled=cancelled,
            payment_failures=failures,
            carts_abandoned=abandoned,
            conversion_rate=conversion_rate(paid, checkouts),
        )
