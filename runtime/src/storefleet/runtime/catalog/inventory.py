"""Inventory: stock counts, and reservations that hold stock for a checkout
until it is committed, released or, swept, expired."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storefleet.runtime.catalog import schemas as s
from storefleet.runtime.catalog.browse import Browse
from storefleet.runtime.catalog.changes import Changes
from storefleet.runtime.catalog.models import Reservation, ReservationLine
from storefleet.runtime.catalog.settings import CatalogSettings
from storefleet.runtime.catalog.tables import P, R, V, as_utc
from storefleet.runtime.platform.events.outbox import utcnow
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.errors import Conflict, NotFound


class Inventory:
    def __init__(
        self, db: Database, settings: CatalogSettings, changes: Changes, browse: Browse
    ) -> None:
        self.db = db
        self.settings = settings
        self.changes = changes
        # A stock adjustment answers with the variant as a lookup shows it.
        self.browse = browse

    async def adjust_stock(self, sku: str, delta: int) -> s.VariantStock:
        async with self.db.write() as session:
            result = await session.execute(
                update(V)
                .where(V.c.sku == sku, V.c.stock + delta >= 0)
                .values(stock=V.c.stock + delta)
                .returning(V.c.stock)
            )
            stock = result.scalar_one_or_none()
            if stock is None:
                current = (
                    await session.execute(select(V.c.stock).where(V.c.sku == sku))
                ).scalar_one_or_none()
                if current is None:
                    raise NotFound(f"no SKU '{sku}'")
                raise Conflict(
                    f"only {current} in stock; cannot remove {-delta}", available=current
                )
            await self.changes.emit(
                session, "catalog.stock_adjusted", {"sku": sku, "delta": delta, "stock": stock}
            )
        self.changes.committed()
        return (await self.browse.lookup_skus([sku])).items[0]

    async def reserve(self, data: s.ReservationIn) -> s.ReservationOut:
        """Idempotent when the caller names the reservation (``id``, e.g. a checkout
        saga's): a repeat, after a timeout or a crash, answers with the first one."""
        if data.id is None:
            return await self._reserve(data)
        try:
            return await self.reservation(data.id)
        except NotFound:
            pass
        try:
            return await self._reserve(data)
        except IntegrityError:
            # The same id, concurrently: the other request's reservation stands.
            return await self.reservation(data.id)

    async def _reserve(self, data: s.ReservationIn) -> s.ReservationOut:
        """All or nothing. Each line is one conditional UPDATE (stock >= quantity),
        so concurrent reservers can never take stock below zero on either engine."""
        ttl = data.ttl_seconds or self.settings.reservation_ttl_seconds
        wanted = {item.sku: item.quantity for item in data.items}
        async with self.db.write() as session:
            variants = {
                row.sku: row.id
                for row in (
                    await session.execute(
                        select(V.c.id, V.c.sku)
                        .select_from(V.join(P, P.c.id == V.c.product_id))
                        .where(V.c.sku.in_(list(wanted)), P.c.active.is_(True))
                    )
                ).all()
            }
            missing = sorted(set(wanted) - set(variants))
            if missing:
                raise NotFound(f"unknown SKU: {', '.join(missing)}", skus=missing)
            # A fixed lock order: two reservations of the same SKUs can't deadlock.
            for sku in sorted(wanted, key=lambda sku: variants[sku]):
                quantity = wanted[sku]
                taken = await session.execute(
                    update(V)
                    .where(V.c.id == variants[sku], V.c.stock >= quantity)
                    .values(stock=V.c.stock - quantity)
                    .returning(V.c.id)
                )
                if taken.scalar_one_or_none() is None:
                    # Not how many are left: the detail reaches shoppers (an
                    # order's cancel reason), and stock levels are the store's.
                    raise Conflict(
                        f"not enough of {sku} in stock",
                        title="Insufficient stock",
                        sku=sku,
                    )
            reservation = Reservation(
                id=data.id or uuid.uuid4().hex,
                reference=data.reference,
                status="active",
                expires_at=utcnow() + timedelta(seconds=ttl),
                lines=[
                    ReservationLine(variant_id=variants[sku], sku=sku, quantity=quantity)
                    for sku, quantity in wanted.items()
                ],
            )
            session.add(reservation)
            await self.changes.emit(
                session,
                "catalog.stock_reserved",
                {"reservation_id": reservation.id, "reference": data.reference, "items": wanted},
            )
        self.changes.committed()
        return await self.reservation(reservation.id)

    async def reservation(self, reservation_id: str) -> s.ReservationOut:
        async with self.db.read() as session:
            reservation = (
                await session.execute(
                    select(Reservation)
                    .options(selectinload(Reservation.lines))
                    .where(Reservation.id == reservation_id)
                )
            ).scalar_one_or_none()
            if reservation is None:
                raise NotFound(f"no reservation '{reservation_id}'")
            return s.ReservationOut(
                id=reservation.id,
                reference=reservation.reference,
                status=reservation.status,  # type: ignore[arg-type]
                expires_at=as_utc(reservation.expires_at),
                items=[
                    s.ReservationItem(sku=line.sku, quantity=line.quantity)
                    for line in reservation.lines
                ],
            )

    async def _finish(
        self, session: AsyncSession, reservation_id: str, status: str, restock: bool
    ) -> bool:
        """Move an active reservation to ``status``; only the caller who wins the
        conditional update restocks, so stock is returned exactly once."""
        conditions = [R.c.id == reservation_id, R.c.status == "active"]
        if status == "committed":
            conditions.append(R.c.expires_at > utcnow())
        won = await session.execute(
            update(R).where(*conditions).values(status=status).returning(R.c.id)
        )
        if won.scalar_one_or_none() is None:
            return False
        if restock:
            lines = (
                await session.execute(
                    select(ReservationLine.variant_id, ReservationLine.quantity).where(
                        ReservationLine.reservation_id == reservation_id
                    )
                )
            ).all()
            for variant_id, quantity in sorted(lines):
                await session.execute(
                    update(V).where(V.c.id == variant_id).values(stock=V.c.stock + quantity)
                )
        await self.changes.emit(
            session, f"catalog.reservation_{status}", {"reservation_id": reservation_id}
        )
        return True

    async def release(self, reservation_id: str) -> s.ReservationOut:
        async with self.db.write() as session:
            await self._finish(session, reservation_id, "released", restock=True)
        current = await self.reservation(reservation_id)
        if current.status == "committed":
            raise Conflict("reservation is already committed and cannot be released")
        self.changes.committed()
        return current

    async def commit(self, reservation_id: str) -> s.ReservationOut:
        async with self.db.write() as session:
            await self._finish(session, reservation_id, "committed", restock=False)
        current = await self.reservation(reservation_id)
        if current.status != "committed":
            # Expired but not yet swept: sweep it now so its stock goes back.
            if current.status == "active":
                await self.sweep_expired()
                current = await self.reservation(reservation_id)
            raise Conflict(f"reservation is {current.status}", reservation_status=current.status)
        self.changes.committed()
        return current

    async def sweep_expired(self, batch: int = 500) -> int:
        async with self.db.write() as session:
            expired = list(
                (
                    await session.execute(
                        select(R.c.id)
                        .where(R.c.status == "active", R.c.expires_at <= utcnow())
                        .limit(batch)
                    )
                ).scalars()
            )
            count = 0
            for reservation_id in expired:
                count += await self._finish(session, reservation_id, "expired", restock=True)
        if count:
            self.changes.committed()
        return count
