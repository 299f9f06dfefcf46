"""The checkout saga: reserve stock → authorize payment → confirm → capture.

Orchestrated and persisted: the ``checkout_sagas`` row holds the step, so a
process that dies mid-way is resumed by the next one (on start-up and by a
poller). Each step is a call another service makes idempotent — the
reservation is named by the order id, each payment call carries an
idempotency key derived from it — so repeating a step whose outcome was lost
in a crash does its work once. A failure compensates: void the authorization,
release the stock, and cancel the order with the reason stored.

A runner holds a short lease on a saga while it works on it, so replicas (or
a request and the poller) never run the same saga at once; a dead runner's
lease simply runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry import trace
from sqlalchemy import or_, select, update

from storefleet.runtime.orders.book import OrderBook
from storefleet.runtime.orders.cart_link import CartLink
from storefleet.runtime.orders.clients import Answer, Upstreams, call
from storefleet.runtime.orders.models import Order, Saga
from storefleet.runtime.orders.settings import OrdersSettings
from storefleet.runtime.orders.states import Status
from storefleet.runtime.platform.events.outbox import utcnow
from storefleet.runtime.platform.identity.permissions import SERVICE_ONLY_PREFIX
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.telemetry.tracing import parent_context, tracer
from storefleet.runtime.platform.web.errors import Conflict, NotFound

log = logging.getLogger(__name__)
ACTIVE = ("running", "compensating", "waiting")
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


def as_utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Advance:
    """Record the step's outcome: the saga's next step/state and order changes."""

    step: str
    state: str = "running"
    order_status: Status | None = None
    order_changes: dict[str, Any] | None = None
    note: str = ""
    wait_seconds: float = 0.0
    event_extra: dict[str, Any] | None = None


@dataclass(frozen=True)
class Retry:
    detail: str


@dataclass(frozen=True)
class Fail:
    reason: str
    detail: str


Outcome = Advance | Retry | Fail
StepHook = Callable[[str], Awaitable[None]]


class SagaRunner:
    """Runs checkouts' sagas, with only what the steps need: the database and
    settings, the order rows and their status changes (``book``), the catalog
    and payments (``upstreams``) and the cart's promo code uses (``cart_link``)."""

    def __init__(
        self,
        db: Database,
        settings: OrdersSettings,
        book: OrderBook,
        upstreams: Upstreams,
        cart_link: CartLink,
    ) -> None:
        self.db = db
        self.settings = settings
        self.book = book
        self.upstreams = upstreams
        self.cart_link = cart_link
        self._task: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()
        self._inflight: dict[str, asyncio.Task[None]] = {}
        # A test seam, set in-process by the crash tests (tests/integration/
        # runtime/crashing_shop.py): awaited with the step's name between a
        # step's remote call and its record ("compensate" before compensation
        # records its outcome). Never set by settings, so no environment can
        # hold a checkout.
        self.after_step: StepHook | None = None

    # ------------------------------------------------------------ leases

    async def _claim(self, order_id: str, *, force: bool = False) -> Saga | None:
        now = utcnow()
        conditions = [
            Saga.order_id == order_id,
            Saga.state.in_(ACTIVE),
            or_(Saga.lease_until.is_(None), Saga.lease_until < now),
        ]
        if not force:
            conditions.append(Saga.next_attempt_at <= now)
        async with self.db.write() as session:
            claimed = await session.execute(
                update(Saga)
                .where(*conditions)
                .values(lease_until=now + timedelta(seconds=self.settings.saga_lease_seconds))
                .returning(Saga.order_id)
            )
            if claimed.scalar_one_or_none() is None:
                return None
            return await session.get(Saga, order_id)

    async def _release(self, order_id: str) -> None:
        async with self.db.write() as session:
            await session.execute(
                update(Saga).where(Saga.order_id == order_id).values(lease_until=None)
            )

    # ----------------------------------------------------------- driving

    async def drive(self, order_id: str, *, force: bool = False) -> None:
        """Run the saga's due steps until it waits, finishes, or must retry later.

        The lease is taken once and renewed with each recorded step, so a saga
        running straight through costs no extra claims."""
        saga = await self._claim(order_id, force=force)
        if saga is None:
            return
        # Under the request that drives it, or else (the poller: a retry, a
        # resume after a restart) under the checkout's own trace.
        inside_request = trace.get_current_span().get_span_context().is_valid
        with tracer().start_as_current_span(
            "checkout saga",
            context=None if inside_request else parent_context(saga.traceparent, saga.tracestate),
            attributes={"storefleet.order_id": order_id, "storefleet.saga.step": saga.step},
        ):
            await self._drive(saga)

    async def _drive(self, claimed: Saga) -> None:
        saga: Saga | None = claimed
        while saga is not None:
            current = saga
            try:
                if current.state == "compensating":
                    await self._compensate(current)
                    return
                saga = await self._step(current)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("saga step failed unexpectedly", extra={"order_id": current.order_id})
                await self._schedule_retry(current, "unexpected error")
                return

    async def settle(self, order_id: str, seconds: float) -> None:
        """Drive the saga, and if another runner (the poller) holds it, wait until
        it is done, waiting or failed, for at most about ``seconds``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            await self.drive(order_id)
            async with self.db.read() as session:
                row = await session.get(Saga, order_id)
            if row is None or row.state not in ("running", "compensating"):
                return
            if loop.time() > deadline:
                return
            await asyncio.sleep(0.05)

    async def _step_done(self, step: str) -> None:
        """A step's remote call succeeded and is not recorded yet: the moment a
        crash matters most. ``after_step`` (None unless a test set it on the
        runner) runs here; nothing configures it."""
        if self.after_step is not None:
            await self.after_step(step)

    async def _step(self, saga: Saga) -> Saga | None:
        """Do the saga's step; returns the saga, still leased, if its next step is due now."""
        handler = {
            "reserve": self._reserve,
            "authorize": self._authorize,
            "review": self._review_wait,
            "confirm": self._confirm,
            "capture": self._capture,
        }[saga.step]
        outcome = await handler(saga)
        if isinstance(outcome, Advance):
            await self._step_done(saga.step)
            return await self._record(saga, outcome)
        if isinstance(outcome, Retry):
            await self._retry_or_fail(saga, outcome)
        else:
            await self._start_compensation(saga, outcome)
        return None

    # ----------------------------------------------------------- the steps

    async def _order(self, order_id: str) -> Order:
        async with self.db.read() as session:
            order = await session.get(Order, order_id)
        if order is None:
            raise NotFound(f"no order '{order_id}'")
        return order

    async def _reserve(self, saga: Saga) -> Outcome:
        async with self.db.read() as session:
            lines = await self.book.lines_of(session, saga.order_id)
        answer = await call(
            self.upstreams.catalog,
            "POST",
            f"{SERVICE_ONLY_PREFIX}/reservations",
            headers=self.upstreams.catalog_headers(),
            json={
                "id": saga.reservation_id,
                "reference": f"order:{saga.order_id}",
                "items": [{"sku": line.sku, "quantity": line.quantity} for line in lines],
                "ttl_seconds": self.settings.reservation_ttl_seconds,
            },
        )
        if answer.ok:
            if answer.body.get("status") != "active":
                return Fail("reservation_expired", "the stock hold ran out before payment")
            return Advance("authorize", order_status=Status.AWAITING_PAYMENT, note="stock reserved")
        if answer.transient:
            return Retry(answer.detail or "catalog unavailable")
        if answer.status == 409:
            return Fail("out_of_stock", answer.detail)
        return Fail("unavailable", answer.detail or f"catalog answered {answer.status}")

    def _payment_outcome(self, saga: Saga, answer: Answer, order: Order) -> Outcome:
        if answer.transient:
            return Retry(answer.detail or "payments unavailable")
        if not answer.ok:
            return Fail("payment_failed", answer.detail or f"payments answered {answer.status}")
        payment = answer.body
        card = {
            "payment_id": payment["id"],
            "card_brand": payment.get("card_brand", ""),
            "card_last4": payment.get("card_last4", ""),
        }
        status = payment.get("status")
        if status == "authorized":
            changes = card | {
                "authorized_minor": int(payment["amount_minor"]),
                "payment_action_url": "",
            }
            if payment.get("risk_decision") == "review":
                reasons = list(payment.get("risk_reasons") or [])
                return Advance(
                    "review",
                    state="waiting",
                    order_status=Status.ON_HOLD,
                    order_changes=changes | {"hold_reasons": reasons},
                    note="held for review: " + "; ".join(reasons),
                    wait_seconds=-1,
                    event_extra={"hold_reasons": reasons, "risk_score": payment.get("risk_score")},
                )
            return Advance("confirm", order_changes=changes, note="payment authorized")
        if status == "requires_action":
            return Advance(
                "authorize",
                state="waiting",
                order_changes=card | {"payment_action_url": payment.get("action_url", "")},
                note="" if order.payment_action_url else "waiting for 3-D Secure",
                wait_seconds=2.0,
            )
        reason = payment.get("failure_reason") or "the payment was declined"
        if payment.get("risk_decision") == "block":
            return Fail("fraud_blocked", reason)
        decline = payment.get("decline_code") or ""
        return Fail("payment_declined" if decline else "payment_failed", reason)

    async def _authorize(self, saga: Saga) -> Outcome:
        order = await self._order(saga.order_id)
        if saga.state == "waiting" and order.payment_id:
            if (
                as_utc(saga.step_started_at)
                + timedelta(seconds=self.settings.action_deadline_seconds)
                < utcnow()
            ):
                return Fail("payment_not_completed", "3-D Secure was not completed in time")
            answer = await call(
                self.upstreams.payments,
                "GET",
                f"/payments/{order.payment_id}",
                headers=self.upstreams.payment_headers(),
            )
            return self._payment_outcome(saga, answer, order)
        address = order.shipping_address
        body: dict[str, Any] = {
            "order_id": order.id,
            "amount_minor": order.total_minor,
            "currency": order.currency,
            "email": order.email,
            "store": order.store,
            "billing_country": order.billing_country,
            "shipping_country": address.get("country"),
        }
        if order.customer_id:
            body["customer_id"] = order.customer_id
        if saga.payment_method_id:
            body["payment_method_id"] = saga.payment_method_id
        else:
            body["token"] = saga.token
        if saga.save_payment_method and order.customer_id:
            body["save_payment_method"] = True
        answer = await call(
            self.upstreams.payments,
            "POST",
            "/payments",
            json=body,
            headers=self.upstreams.payment_headers(f"order-{order.id}-authorize"),
        )
        return self._payment_outcome(saga, answer, order)

    async def _review_wait(self, saga: Saga) -> Outcome:
        # Only a person moves a held order on (``review``); nothing to poll.
        return Advance("review", state="waiting", wait_seconds=-1)

    async def _confirm(self, saga: Saga) -> Outcome:
        answer = await call(
            self.upstreams.catalog,
            "POST",
            f"{SERVICE_ONLY_PREFIX}/reservations/{saga.reservation_id}/commit",
            headers=self.upstreams.catalog_headers(),
        )
        if answer.ok:
            return Advance("capture", note="stock committed")
        if answer.transient:
            return Retry(answer.detail or "catalog unavailable")
        return Fail("reservation_expired", answer.detail or "the stock hold ran out")

    async def _capture(self, saga: Saga) -> Outcome:
        order = await self._order(saga.order_id)
        answer = await call(
            self.upstreams.payments,
            "POST",
            f"/payments/{order.payment_id}/capture",
            json={},
            headers=self.upstreams.payment_headers(f"order-{order.id}-capture"),
        )
        if answer.transient:
            return Retry(answer.detail or "payments unavailable")
        if not answer.ok or answer.body.get("status") != "captured":
            # Stock is committed by now: a person must sort this out.
            return Fail("capture_failed", answer.detail or "the capture was refused")
        return Advance(
            "done",
            state="done",
            order_status=Status.PAID,
            order_changes={"captured_minor": int(answer.body["captured_minor"])},
            note="payment captured",
        )

    # ---------------------------------------------------------- recording

    async def _record(self, saga: Saga, outcome: Advance) -> Saga | None:
        now = utcnow()
        go_on = outcome.state == "running" and outcome.wait_seconds == 0
        async with self.db.write() as session:
            order = await self.book.locked(session, saga.order_id)
            row = await session.get(Saga, saga.order_id)
            assert row is not None
            if row.step != saga.step or row.state not in ACTIVE:
                return None  # someone else moved it on (a staff decision, say)
            for key, value in (outcome.order_changes or {}).items():
                setattr(order, key, value)
            order.updated_at = now
            if outcome.order_status is not None and order.status != outcome.order_status.value:
                await self.book.transition(
                    session,
                    order,
                    outcome.order_status,
                    outcome.note,
                    with_lines=outcome.order_status is Status.PAID,
                    **(outcome.event_extra or {}),
                )
            if row.step != outcome.step:
                row.step_started_at = now
                row.attempts = 0
            row.step = outcome.step
            row.state = outcome.state
            # Keep (renew) the lease when this runner goes straight on to the next step.
            row.lease_until = (
                now + timedelta(seconds=self.settings.saga_lease_seconds) if go_on else None
            )
            row.updated_at = now
            if outcome.wait_seconds < 0:
                row.next_attempt_at = FAR_FUTURE
            else:
                row.next_attempt_at = now + timedelta(seconds=outcome.wait_seconds)
        self.book.after_commit()
        return row if go_on else None

    def _backoff(self, attempts: int) -> float:
        cap = min(
            self.settings.saga_retry_max_seconds,
            self.settings.saga_retry_base_seconds * 2 ** min(attempts, 10),
        )
        return random.uniform(cap / 2, cap)

    async def _schedule_retry(self, saga: Saga, detail: str) -> None:
        async with self.db.write() as session:
            row = await session.get(Saga, saga.order_id)
            assert row is not None
            row.attempts += 1
            row.failure_detail = detail[:500]
            row.next_attempt_at = utcnow() + timedelta(seconds=self._backoff(row.attempts))
            row.lease_until = None
            row.updated_at = utcnow()

    async def _retry_or_fail(self, saga: Saga, outcome: Retry) -> None:
        # Before the stock is committed, an upstream that stays down fails the
        # checkout cleanly; from then on the saga must finish, so it keeps trying.
        if saga.step in ("reserve", "authorize"):
            deadline = as_utc(saga.step_started_at) + timedelta(
                seconds=self.settings.payment_deadline_seconds
            )
            if utcnow() > deadline:
                reason = "payment_unavailable" if saga.step == "authorize" else "unavailable"
                await self._start_compensation(saga, Fail(reason, outcome.detail))
                return
        await self._schedule_retry(saga, outcome.detail)

    # -------------------------------------------------------- compensation

    async def _start_compensation(self, saga: Saga, failure: Fail) -> None:
        async with self.db.write() as session:
            row = await session.get(Saga, saga.order_id)
            assert row is not None
            row.state = "compensating"
            row.failure_reason = failure.reason
            row.failure_detail = failure.detail[:500]
            row.next_attempt_at = utcnow()
            row.updated_at = utcnow()
            # Keep the lease: this runner goes straight on to compensate.
        row.state = "compensating"
        await self._compensate(row)

    async def _compensate(self, saga: Saga) -> None:
        order = await self._order(saga.order_id)
        if order.payment_id:
            answer = await call(
                self.upstreams.payments,
                "POST",
                f"/payments/{order.payment_id}/void",
                headers=self.upstreams.payment_headers(f"order-{order.id}-void"),
            )
            if answer.transient:
                await self._schedule_retry(saga, answer.detail or "payments unavailable")
                return
            if not answer.ok and answer.status != 404:
                log.error(
                    "voiding the authorization was refused",
                    extra={"order_id": order.id, "detail": answer.detail},
                )
        if saga.step != "capture":
            # The reservation may exist even if its answer was lost: release by name.
            answer = await call(
                self.upstreams.catalog,
                "POST",
                f"{SERVICE_ONLY_PREFIX}/reservations/{saga.reservation_id}/release",
                headers=self.upstreams.catalog_headers(),
            )
            if answer.transient:
                await self._schedule_retry(saga, answer.detail or "catalog unavailable")
                return
            if answer.status in (401, 403):
                # The catalog's token is wrong: the stock would stay held.
                await self._schedule_retry(saga, answer.detail or f"catalog {answer.status}")
                return
        # Not paid for: the promo code's use is given back (once, by order id).
        if order.promo_code and not await self.cart_link.give_back_promo(
            order.promo_code, order.id
        ):
            await self._schedule_retry(saga, "cart unavailable")
            return
        await self._step_done("compensate")
        async with self.db.write() as session:
            locked = await self.book.locked(session, saga.order_id)
            row = await session.get(Saga, saga.order_id)
            assert row is not None
            if row.state != "compensating":
                return
            if locked.status != Status.CANCELLED.value:
                locked.cancel_reason = row.failure_reason
                locked.failure_detail = row.failure_detail
                locked.payment_action_url = ""
                await self.book.transition(
                    session,
                    locked,
                    Status.CANCELLED,
                    f"{row.failure_reason}: {row.failure_detail}",
                    reason=row.failure_reason,
                    detail=row.failure_detail,
                )
            row.state = "failed"
            row.lease_until = None
            row.updated_at = utcnow()
        self.book.after_commit()

    # ------------------------------------------------------ outside input

    async def review(self, order_id: str, *, approve: bool, note: str) -> None:
        async with self.db.write() as session:
            row = await session.get(Saga, order_id)
            if row is None or row.step != "review" or row.state != "waiting":
                raise Conflict("this order is not waiting for a review")
            if approve:
                row.step = "confirm"
                row.state = "running"
                row.step_started_at = utcnow()
            else:
                row.state = "compensating"
                row.failure_reason = "rejected_in_review"
                row.failure_detail = note or "rejected after a fraud review"
            row.next_attempt_at = utcnow()
        await self.drive(order_id, force=True)

    async def abort(self, order_id: str, reason: str, detail: str) -> None:
        async with self.db.write() as session:
            row = await session.get(Saga, order_id)
            if row is None or row.state not in ACTIVE:
                raise Conflict("this order's checkout is over; cancel it as a paid order")
            if row.step in ("confirm", "capture"):
                raise Conflict("the payment is being captured; cancel the order once it is paid")
            row.state = "compensating"
            row.failure_reason = reason
            row.failure_detail = detail
            row.next_attempt_at = utcnow()
        await self.drive(order_id, force=True)

    async def poke(self, order_id: str) -> None:
        async with self.db.write() as session:
            await session.execute(
                update(Saga)
                .where(Saga.order_id == order_id, Saga.state == "waiting", Saga.step == "authorize")
                .values(next_attempt_at=utcnow())
            )
        await self.drive(order_id)

    # ------------------------------------------------------------ polling

    async def run_due(self, batch: int = 50) -> int:
        """Drive every saga that is due; on start-up this resumes interrupted ones."""
        now = utcnow()
        async with self.db.read() as session:
            due = list(
                (
                    await session.execute(
                        select(Saga.order_id)
                        .where(
                            Saga.state.in_(ACTIVE),
                            Saga.next_attempt_at <= now,
                            or_(Saga.lease_until.is_(None), Saga.lease_until < now),
                        )
                        .order_by(Saga.next_attempt_at)
                        .limit(batch)
                    )
                ).scalars()
            )
        started = 0
        for order_id in due:
            if order_id in self._inflight:
                continue
            task = asyncio.create_task(self.drive(order_id), name=f"saga-{order_id}")
            self._inflight[order_id] = task
            task.add_done_callback(functools.partial(self._forget, order_id))
            started += 1
        return started

    def _forget(self, order_id: str, _: asyncio.Task[None]) -> None:
        self._inflight.pop(order_id, None)

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("saga poll failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self.settings.saga_poll_seconds)
            self._wakeup.clear()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="checkout-sagas")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._inflight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None
