"""Subscriptions: a saved card charged each period, on a schedule; a period
whose charge fails is past due and tried again a day later, and the
subscription is cancelled after too many failures."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import select, update

from storefleet.runtime.payments import schemas as s
from storefleet.runtime.payments.models import (
    Subscription,
    SubscriptionCharge,
    as_utc,
)
from storefleet.runtime.payments.settings import PaymentsSettings
from storefleet.runtime.platform.events.outbox import utcnow
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.errors import (
    NotFound,
    ProblemError,
)

log = logging.getLogger(__name__)


class Charger(Protocol):
    """What charging a period needs of the payments service."""

    async def authorize(self, data: s.AuthorizeIn, idempotency_key: str) -> s.PaymentOut: ...

    async def capture(
        self, payment_id: str, amount_minor: int | None, idempotency_key: str
    ) -> s.PaymentOut: ...

    async def method_token(self, customer_id: str | None, method_id: str) -> str: ...


class Subscriptions:
    """Customers' subscriptions and the runs that charge them."""

    def __init__(self, db: Database, settings: PaymentsSettings, charger: Charger) -> None:
        self.db = db
        self.settings = settings
        # The payments service itself: a period is charged as any payment is.
        self.charger = charger

    async def create_subscription(self, data: s.SubscriptionIn) -> s.SubscriptionOut:
        await self.charger.method_token(data.customer_id, data.payment_method_id)
        start = data.start_at or utcnow()
        if start.tzinfo is None:
            raise ProblemError(422, "start_at needs a time zone (e.g. 2026-01-01T00:00:00Z)")
        row = Subscription(
            id=uuid.uuid4().hex,
            customer_id=data.customer_id,
            email=data.email,
            plan=data.plan,
            payment_method_id=data.payment_method_id,
            amount_minor=data.amount_minor,
            currency=data.currency,
            interval_days=data.interval_days,
            status="active",
            current_period=0,
            next_charge_at=start,
            failed_attempts=0,
            created_at=utcnow(),
        )
        async with self.db.write() as session:
            session.add(row)
        return await self.subscription(row.id)

    async def subscription(self, subscription_id: str) -> s.SubscriptionOut:
        async with self.db.read() as session:
            row = await session.get(Subscription, subscription_id)
            if row is None:
                raise NotFound(f"no subscription '{subscription_id}'")
            charges = (
                await session.execute(
                    select(SubscriptionCharge)
                    .where(SubscriptionCharge.subscription_id == subscription_id)
                    .order_by(SubscriptionCharge.period)
                )
            ).scalars()
            return s.SubscriptionOut(
                id=row.id,
                customer_id=row.customer_id,
                plan=row.plan,
                amount_minor=row.amount_minor,
                currency=row.currency,
                interval_days=row.interval_days,
                status=cast(Any, row.status),
                current_period=row.current_period,
                next_charge_at=as_utc(row.next_charge_at),
                failed_attempts=row.failed_attempts,
                charges=[
                    s.SubscriptionChargeOut(
                        period=c.period,
                        payment_id=c.payment_id,
                        status=c.status,
                        charged_at=as_utc(c.charged_at),
                    )
                    for c in charges
                ],
            )

    async def cancel_subscription(self, subscription_id: str) -> s.SubscriptionOut:
        async with self.db.write() as session:
            row = await session.get(Subscription, subscription_id)
            if row is None:
                raise NotFound(f"no subscription '{subscription_id}'")
            row.status = "cancelled"
        return await self.subscription(subscription_id)

    async def charge_due(self, now: datetime | None = None, batch: int = 100) -> s.ChargeRun:
        """Charge every subscription whose period is due. Safe to run concurrently
        and repeatedly: each period's charge has its own idempotency key, and a
        period advances only by a conditional update."""
        moment = now or utcnow()
        async with self.db.read() as session:
            due = list(
                (
                    await session.execute(
                        select(Subscription)
                        .where(
                            Subscription.status.in_(["active", "past_due"]),
                            Subscription.next_charge_at <= moment,
                        )
                        .order_by(Subscription.next_charge_at)
                        .limit(batch)
                    )
                ).scalars()
            )
        charged = failed = 0
        for sub in due:
            try:
                if await self._charge_period(sub, moment):
                    charged += 1
                else:
                    failed += 1
            except ProblemError as exc:
                # The processor is down: try this one again at the next pass.
                log.warning("subscription charge deferred: %s", exc.detail)
                break
        return s.ChargeRun(charged=charged, failed=failed)

    async def _charge_period(self, sub: Subscription, moment: datetime) -> bool:
        period = sub.current_period
        key = f"sub:{sub.id}:{period}:{sub.failed_attempts}"
        payment = await self.charger.authorize(
            s.AuthorizeIn(
                order_id=f"sub-{sub.id}-{period}",
                amount_minor=sub.amount_minor,
                currency=sub.currency,
                payment_method_id=sub.payment_method_id,
                customer_id=sub.customer_id,
                email=sub.email,
                store=sub.store,
            ),
            key,
        )
        if payment.status == "authorized":
            payment = await self.charger.capture(payment.id, None, "subscription")
        async with self.db.write() as session:
            if payment.status == "captured":
                advanced = await session.execute(
                    update(Subscription)
                    .where(Subscription.id == sub.id, Subscription.current_period == period)
                    .values(
                        current_period=period + 1,
                        next_charge_at=as_utc(sub.next_charge_at)
                        + timedelta(days=sub.interval_days),
                        failed_attempts=0,
                        status="active",
                    )
                    .returning(Subscription.id)
                )
                if advanced.scalar_one_or_none() is not None:
                    session.add(
                        SubscriptionCharge(
                            subscription_id=sub.id,
                            period=period,
                            payment_id=payment.id,
                            status="paid",
                            charged_at=moment,
                        )
                    )
                return True
            failures = sub.failed_attempts + 1
            await session.execute(
                update(Subscription)
                .where(
                    Subscription.id == sub.id,
                    Subscription.current_period == period,
                    Subscription.failed_attempts == sub.failed_attempts,
                )
                .values(
                    failed_attempts=failures,
                    status=(
                        "cancelled"
                        if failures >= self.settings.subscription_max_failures
                        else "past_due"
                    ),
                    next_charge_at=moment + timedelta(days=1),
                )
            )
            return False
