"""Payout runs: paying each vendor what it is owed, once per period of its
schedule."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from storefleet.runtime.platform.events.outbox import OutboxRelay, utcnow
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.vendors import ledger
from storefleet.runtime.vendors import schemas as s
from storefleet.runtime.vendors.changes import emit
from storefleet.runtime.vendors.models import (
    Payout,
    Vendor,
)


def period_of(schedule: str, day: dt.date) -> str:
    if schedule == "Daily":
        return day.isoformat()
    if schedule == "Weekly":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year}-{day.month:02d}"


class Payouts:
    """Paying vendors."""

    def __init__(self, db: Database, relay: OutboxRelay) -> None:
        self.db = db
        self.relay = relay

    async def run(self, day: dt.date) -> list[s.PayoutOut]:
        """One payout record per vendor and period (of its schedule) containing
        ``day``: what the store owes it then, if at least its minimum. Running
        it again in the same period changes nothing."""
        async with self.db.read() as session:
            vendor_ids = list(await session.scalars(select(Vendor.id).order_by(Vendor.id)))
        made: list[s.PayoutOut] = []
        for vendor_id in vendor_ids:
            try:
                payout = await self._payout(vendor_id, day)
            except IntegrityError:
                # Another run (a replica, the scheduler) recorded this period first.
                continue
            if payout is not None:
                made.append(payout)
        self.relay.wake()
        return made

    async def _payout(self, vendor_id: str, day: dt.date) -> s.PayoutOut | None:
        async with self.db.write() as session:
            vendor = await session.get(Vendor, vendor_id)
            if vendor is None:
                return None
            period = period_of(vendor.payout_schedule, day)
            exists = await session.scalar(
                select(Payout.id).where(Payout.vendor_id == vendor_id, Payout.period == period)
            )
            if exists is not None:
                return None
            owed = (await ledger.balances(session, [ledger.payable(vendor_id)], lock=True))[
                ledger.payable(vendor_id)
            ]
            if owed <= 0:
                return None
            payout = Payout(
                id=uuid.uuid4().hex,
                vendor_id=vendor_id,
                period=period,
                currency=vendor.payout_currency,
                created_at=utcnow(),
                amount_minor=0,
                status="held",
            )
            if vendor.status == "suspended":
                payout.status = "held"
            elif owed < vendor.payout_minimum_minor:
                payout.status = "below_minimum"
            else:
                payout.status = "issued"
                payout.amount_minor = owed
                payout.transaction_id = await ledger.post(
                    session,
                    kind="payout",
                    reference=f"payout:{vendor_id}:{period}",
                    vendor_id=vendor_id,
                    currency=vendor.payout_currency,
                    lines=ledger.payout_lines(vendor_id, owed),
                    memo=f"payout {period}",
                )
            session.add(payout)
            await session.flush()
            await emit(
                session,
                "vendor.payout_created",
                {
                    "payout_id": payout.id,
                    "vendor_id": vendor_id,
                    "period": period,
                    "status": payout.status,
                    "amount_minor": payout.amount_minor,
                    "currency": payout.currency,
                },
            )
            return self._payout_out(payout)

    @staticmethod
    def _payout_out(p: Payout) -> s.PayoutOut:
        return s.PayoutOut(
            id=p.id,
            vendor_id=p.vendor_id,
            period=p.period,
            status=p.status,  # type: ignore[arg-type]
            amount_minor=p.amount_minor,
            currency=p.currency,
            created_at=p.created_at,
        )

    async def of_vendor(self, vendor_id: str) -> s.PayoutPage:
        async with self.db.read() as session:
            rows = await session.scalars(
                select(Payout)
                .where(Payout.vendor_id == vendor_id)
                .order_by(Payout.created_at.desc())
                .limit(200)
            )
            return s.PayoutPage(items=[self._payout_out(p) for p in rows])
