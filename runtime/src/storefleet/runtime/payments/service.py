"""Payments use cases: authorize, capture, void, refund, saved cards;
subscriptions are their own part (:mod:`.subscriptions`).

Every money-moving call is idempotent twice over: the client's idempotency key
names the payment (or operation) here, and a key derived from it goes to the
processor, so a retry after a timeout or a crash resumes instead of charging
again. A payment row is written *before* the processor is called (``pending``),
so a crash between the two is resumed by the next call with the same key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.payments import schemas as s
from storefleet.runtime.payments.fraud import Assessment, FraudRules, FraudSignals, assess
from storefleet.runtime.payments.gateway import (
    GatewayRejected,
    GatewayResult,
    GatewayUnavailable,
    PaymentGateway,
)
from storefleet.runtime.payments.models import (
    Payment,
    PaymentMethod,
    PaymentOperation,
    WebhookEvent,
    as_utc,
    outbox,
)
from storefleet.runtime.payments.sandbox import CardInvalid, SandboxGateway
from storefleet.runtime.payments.settings import PaymentsSettings
from storefleet.runtime.payments.subscriptions import Subscriptions
from storefleet.runtime.platform.events.outbox import Event, OutboxRelay, enqueue, utcnow
from storefleet.runtime.platform.resilience.backoff import RetryableError, retry
from storefleet.runtime.platform.resilience.breaker import CircuitBreaker
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.errors import (
    Conflict,
    NotFound,
    ProblemError,
    UpstreamUnavailable,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


def payment_out(row: Payment) -> s.PaymentOut:
    status = "failed" if row.status == "pending" else row.status
    return s.PaymentOut(
        id=row.id,
        order_id=row.order_id,
        status=cast(Any, status),
        amount_minor=row.amount_minor,
        currency=row.currency,
        captured_minor=row.captured_minor,
        refunded_minor=row.refunded_minor,
        gateway=row.gateway,
        card_brand=row.card_brand,
        card_last4=row.card_last4,
        action_url=row.action_url,
        risk_score=row.risk_score,
        risk_decision=cast(Any, row.risk_decision),
        risk_reasons=list(row.risk_reasons or []),
        decline_code=row.decline_code,
        failure_reason=row.failure_reason,
        created_at=as_utc(row.created_at),
    )


def _hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


class PaymentsService:
    def __init__(
        self,
        db: Database,
        gateway: PaymentGateway,
        settings: PaymentsSettings,
        relay: OutboxRelay | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.db = db
        self.gateway = gateway
        self.settings = settings
        self.relay = relay
        self.breaker = breaker or CircuitBreaker(
            "gateway",
            failure_threshold=settings.breaker_failure_threshold,
            reset_timeout=settings.breaker_reset_seconds,
        )
        self.rules = FraudRules(
            high_amount_minor=settings.fraud_high_amount_minor,
            review_at=settings.fraud_review_at,
            block_at=settings.fraud_block_at,
        )
        self.subscriptions = Subscriptions(db, settings, self)

    # ------------------------------------------------------------- plumbing

    async def _gateway(self, operation: Callable[[], Awaitable[T]]) -> T:
        """A processor call: retried with the same idempotency key on transient
        failures, behind a circuit breaker that fails fast while it is down."""

        async def attempt() -> T:
            if not self.breaker.allow():
                raise UpstreamUnavailable("gateway", "the payment processor is unavailable")
            try:
                result = await operation()
            except GatewayUnavailable as exc:
                self.breaker.record_failure()
                raise RetryableError(str(exc)) from exc
            self.breaker.record_success()
            return result

        try:
            return await retry(attempt, retries=self.settings.gateway_retries)
        except RetryableError as exc:
            raise UpstreamUnavailable(
                "gateway", f"the payment processor did not answer: {exc}"
            ) from exc
        except GatewayRejected as exc:
            raise Conflict(str(exc), code=exc.code) from exc

    async def _emit(
        self, session: AsyncSession, event_type: str, row: Payment, **extra: Any
    ) -> None:
        payload: dict[str, Any] = {
            "payment_id": row.id,
            "order_id": row.order_id,
            "store": row.store,
            "customer_id": row.customer_id,
            "email": row.email,
            "currency": row.currency,
            "amount_minor": row.amount_minor,
            "captured_minor": row.captured_minor,
            "refunded_minor": row.refunded_minor,
            "gateway": row.gateway,
        }
        payload.update(extra)
        await enqueue(session, outbox, Event(event_type, payload, source="payments"))

    def _after_commit(self) -> None:
        if self.relay is not None:
            self.relay.wake()

    async def _load(self, payment_id: str) -> Payment:
        async with self.db.read() as session:
            row = await session.get(Payment, payment_id)
        if row is None:
            raise NotFound(f"no payment '{payment_id}'")
        return row

    async def get(self, payment_id: str) -> s.PaymentOut:
        return payment_out(await self._load(payment_id))

    async def for_order(self, order_id: str) -> list[s.PaymentOut]:
        async with self.db.read() as session:
            rows = (
                await session.execute(
                    select(Payment).where(Payment.order_id == order_id).order_by(Payment.created_at)
                )
            ).scalars()
            return [payment_out(row) for row in rows]

    # ---------------------------------------------------------------- cards

    async def tokenize(self, card: s.CardIn) -> s.TokenOut:
        if not isinstance(self.gateway, SandboxGateway):
            raise ProblemError(
                404, "this store's processor tokenizes cards in the browser, not here"
            )
        try:
            token = await self.gateway.tokenize(
                card.number, card.exp_month, card.exp_year, card.cvc
            )
        except CardInvalid as exc:
            raise ProblemError(422, str(exc), title="Invalid card") from exc
        return s.TokenOut(
            token=token.token,
            brand=token.brand,
            last4=token.last4,
            exp_month=token.exp_month,
            exp_year=token.exp_year,
        )

    async def _card_facts(self, token: str) -> tuple[str, str, str, int, int]:
        """(fingerprint, brand, last4, exp month, exp year) where the gateway tells."""
        if isinstance(self.gateway, SandboxGateway):
            try:
                card = await self.gateway.card(token)
            except CardInvalid as exc:
                raise ProblemError(422, str(exc), title="Invalid card") from exc
            return card.fingerprint, card.brand, card.last4, card.exp_month, card.exp_year
        return "", "", "", 0, 0

    async def save_method(self, customer_id: str, token: str) -> s.PaymentMethodOut:
        _, brand, last4, month, year = await self._card_facts(token)
        async with self.db.write() as session:
            existing = (
                await session.execute(
                    select(PaymentMethod).where(
                        PaymentMethod.customer_id == customer_id, PaymentMethod.token == token
                    )
                )
            ).scalar_one_or_none()
            if existing is None:
                existing = PaymentMethod(
                    id=uuid.uuid4().hex,
                    customer_id=customer_id,
                    token=token,
                    brand=brand,
                    last4=last4,
                    exp_month=month,
                    exp_year=year,
                    created_at=utcnow(),
                )
                session.add(existing)
            return self._method_out(existing)

    @staticmethod
    def _method_out(row: PaymentMethod) -> s.PaymentMethodOut:
        return s.PaymentMethodOut(
            id=row.id,
            customer_id=row.customer_id,
            brand=row.brand,
            last4=row.last4,
            exp_month=row.exp_month,
            exp_year=row.exp_year,
            created_at=as_utc(row.created_at),
        )

    async def methods(self, customer_id: str) -> list[s.PaymentMethodOut]:
        async with self.db.read() as session:
            rows = (
                await session.execute(
                    select(PaymentMethod)
                    .where(PaymentMethod.customer_id == customer_id)
                    .order_by(PaymentMethod.created_at)
                )
            ).scalars()
            return [self._method_out(row) for row in rows]

    async def delete_method(self, customer_id: str, method_id: str) -> None:
        async with self.db.write() as session:
            row = await session.get(PaymentMethod, method_id)
            if row is None or row.customer_id != customer_id:
                raise NotFound(f"no saved payment method '{method_id}'")
            await session.delete(row)

    async def method_token(self, customer_id: str | None, method_id: str) -> str:
        async with self.db.read() as session:
            row = await session.get(PaymentMethod, method_id)
        if row is None or customer_id is None or row.customer_id != customer_id:
            raise NotFound(f"no saved payment method '{method_id}' for this customer")
        return row.token

    # ---------------------------------------------------------------- fraud

    async def _signals(
        self, session: AsyncSession, data: s.AuthorizeIn, fingerprint: str
    ) -> FraudSignals:
        now = utcnow()
        who = [Payment.email == data.email]
        if data.customer_id:
            who.append(Payment.customer_id == data.customer_id)
        velocity = (
            await session.execute(
                select(func.count())
                .select_from(Payment)
                .where(
                    or_(*who),
                    Payment.created_at
                    >= now - timedelta(minutes=self.rules.velocity_window_minutes),
                )
            )
        ).scalar_one()
        if fingerprint:
            who.append(Payment.card_fingerprint == fingerprint)
        declines = (
            await session.execute(
                select(func.count())
                .select_from(Payment)
                .where(
                    or_(*who),
                    Payment.status == "failed",
                    Payment.decline_code != "",
                    Payment.created_at
                    >= now - timedelta(minutes=self.rules.decline_window_minutes),
                )
            )
        ).scalar_one()
        return FraudSignals(
            amount_minor=data.amount_minor,
            billing_country=data.billing_country or "",
            shipping_country=data.shipping_country or "",
            recent_payments=int(velocity),
            recent_declines=int(declines),
        )

    # ------------------------------------------------------------ authorize

    async def authorize(self, data: s.AuthorizeIn, idempotency_key: str) -> s.PaymentOut:
        request_hash = _hash(data.model_dump())
        async with self.db.read() as session:
            existing = (
                await session.execute(
                    select(Payment).where(Payment.idempotency_key == idempotency_key)
                )
            ).scalar_one_or_none()
        if existing is not None:
            if existing.request_hash != request_hash:
                raise Conflict("this Idempotency-Key was used with a different request")
            if existing.status != "pending":
                return payment_out(existing)
            return await self._authorize_at_gateway(existing, data)
        token = data.token or await self.method_token(
            data.customer_id, data.payment_method_id or ""
        )
        fingerprint, brand, last4, _, _ = await self._card_facts(token)
        payment_id = uuid.uuid4().hex
        try:
            async with self.db.write() as session:
                assessment: Assessment = assess(
                    await self._signals(session, data, fingerprint), self.rules
                )
                row = Payment(
                    id=payment_id,
                    idempotency_key=idempotency_key,
                    request_hash=request_hash,
                    order_id=data.order_id,
                    store=data.store,
                    customer_id=data.customer_id,
                    email=data.email,
                    currency=data.currency,
                    amount_minor=data.amount_minor,
                    status="pending",
                    gateway=self.gateway.name,
                    card_fingerprint=fingerprint,
                    card_brand=brand,
                    card_last4=last4,
                    risk_score=assessment.score,
                    risk_decision=assessment.decision,
                    risk_reasons=assessment.reasons,
                    billing_country=data.billing_country or "",
                    shipping_country=data.shipping_country or "",
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
                if assessment.decision == "block":
                    row.status = "failed"
                    row.failure_reason = "blocked by fraud rules: " + "; ".join(assessment.reasons)
                session.add(row)
                await session.flush()
                if row.status == "failed":
                    await self._emit(session, "payment.failed", row, reason=row.failure_reason)
        except IntegrityError:
            # The same key, concurrently: the other request's payment is the answer.
            return await self.authorize(data, idempotency_key)
        self._after_commit()
        if row.status == "failed":
            return payment_out(row)
        return await self._authorize_at_gateway(row, data, token)

    async def _authorize_at_gateway(
        self, row: Payment, data: s.AuthorizeIn, token: str | None = None
    ) -> s.PaymentOut:
        token = (
            token
            or data.token
            or await self.method_token(data.customer_id, data.payment_method_id or "")
        )
        result = await self._gateway(
            lambda: self.gateway.authorize(
                amount_minor=row.amount_minor,
                currency=row.currency,
                token=token,
                idempotency_key=f"{row.id}:authorize",
                description=f"order {row.order_id}",
            )
        )
        out = await self._record_authorization(row.id, result)
        if out.status == "authorized" and data.save_payment_method and data.customer_id:
            await self.save_method(data.customer_id, token)
        return out

    async def _record_authorization(self, payment_id: str, result: GatewayResult) -> s.PaymentOut:
        async with self.db.write() as session:
            row = await session.get(Payment, payment_id)
            assert row is not None
            if row.status not in {"pending", "requires_action"}:
                return payment_out(row)
            row.gateway_ref = result.reference or row.gateway_ref
            row.card_brand = row.card_brand or result.card_brand
            row.card_last4 = row.card_last4 or result.card_last4
            row.updated_at = utcnow()
            if result.outcome == "approved":
                row.status = "authorized"
                row.action_url = ""
                await self._emit(
                    session,
                    "payment.authorized",
                    row,
                    risk_decision=row.risk_decision,
                    risk_score=row.risk_score,
                )
            elif result.outcome == "requires_action":
                row.status = "requires_action"
                row.action_url = result.action_url
            else:
                row.status = "failed"
                row.decline_code = result.decline_code or "declined"
                row.failure_reason = f"declined by the card issuer ({row.decline_code})"
                await self._emit(
                    session,
                    "payment.failed",
                    row,
                    reason=row.failure_reason,
                    decline_code=row.decline_code,
                )
            out = payment_out(row)
        self._after_commit()
        return out

    async def refresh(self, payment_id: str) -> s.PaymentOut:
        """Ask the processor about a payment waiting for 3-D Secure."""
        row = await self._load(payment_id)
        if row.status != "requires_action" or not row.gateway_ref:
            return payment_out(row)
        result = await self._gateway(lambda: self.gateway.authorization(row.gateway_ref))
        return await self._record_authorization(row.id, result)

    # ------------------------------------------------- capture, void, refund

    async def _operation(
        self, session: AsyncSession, key: str, payment_id: str, kind: str
    ) -> PaymentOperation | None:
        op = await session.get(PaymentOperation, key)
        if op is not None and (op.payment_id != payment_id or op.kind != kind):
            raise Conflict("this Idempotency-Key was used for another operation")
        return op

    async def capture(
        self, payment_id: str, amount_minor: int | None, idempotency_key: str
    ) -> s.PaymentOut:
        key = f"{payment_id}:capture:{idempotency_key}"
        try:
            return await self._capture(payment_id, amount_minor, key)
        except IntegrityError:
            # The same capture, concurrently: the other request recorded it first.
            return await self._capture(payment_id, amount_minor, key)

    async def _capture(self, payment_id: str, amount_minor: int | None, key: str) -> s.PaymentOut:
        async with self.db.write() as session:
            row = await session.get(Payment, payment_id)
            if row is None:
                raise NotFound(f"no payment '{payment_id}'")
            op = await self._operation(session, key, payment_id, "capture")
            if op is not None and op.status == "done":
                return payment_out(row)
            if row.status == "captured":
                return payment_out(row)
            if row.status != "authorized":
                raise Conflict(f"payment is {row.status}; only an authorized payment is captured")
            amount = amount_minor or row.amount_minor
            if amount > row.amount_minor:
                raise ProblemError(
                    422, f"cannot capture {amount}; {row.amount_minor} was authorized"
                )
            if op is None:
                session.add(
                    PaymentOperation(
                        idempotency_key=key,
                        payment_id=payment_id,
                        kind="capture",
                        amount_minor=amount,
                        status="pending",
                    )
                )
            reference = row.gateway_ref
        await self._gateway(
            lambda: self.gateway.capture(reference, amount_minor=amount, idempotency_key=key)
        )
        async with self.db.write() as session:
            row = await session.get(Payment, payment_id)
            assert row is not None
            op = await session.get(PaymentOperation, key)
            assert op is not None
            op.status = "done"
            if row.status == "authorized":
                row.status = "captured"
                row.captured_minor = amount
                row.updated_at = utcnow()
                await self._emit(session, "payment.captured", row)
            out = payment_out(row)
        self._after_commit()
        return out

    async def void(self, payment_id: str, idempotency_key: str) -> s.PaymentOut:
        key = f"{payment_id}:void:{idempotency_key}"
        row = await self._load(payment_id)
        if row.status in {"voided", "failed", "pending"}:
            if row.status == "pending":
                # Never reached the processor (or we don't know): close it here.
                async with self.db.write() as session:
                    await session.execute(
                        update(Payment)
                        .where(Payment.id == payment_id, Payment.status == "pending")
                        .values(status="failed", failure_reason="abandoned before authorization")
                    )
                row = await self._load(payment_id)
                if row.status != "failed":
                    return await self.void(payment_id, idempotency_key)
            return payment_out(row)
        if row.status == "captured":
            raise Conflict("a captured payment is refunded, not voided")
        reference = row.gateway_ref
        await self._gateway(lambda: self.gateway.void(reference, idempotency_key=key))
        async with self.db.write() as session:
            current = await session.get(Payment, payment_id)
            assert current is not None
            if current.status in {"authorized", "requires_action"}:
                current.status = "voided"
                current.updated_at = utcnow()
                await self._emit(session, "payment.voided", current)
            out = payment_out(current)
        self._after_commit()
        return out

    async def refund(
        self, payment_id: str, amount_minor: int, idempotency_key: str, reason: str = ""
    ) -> s.RefundOut:
        key = f"{payment_id}:refund:{idempotency_key}"
        async with self.db.write() as session:
            row = await session.get(Payment, payment_id)
            if row is None:
                raise NotFound(f"no payment '{payment_id}'")
            op = await self._operation(session, key, payment_id, "refund")
            if op is not None and op.status == "done":
                return s.RefundOut(
                    payment=payment_out(row), refund_id=op.gateway_ref, amount_minor=op.amount_minor
                )
            if op is None:
                if row.status != "captured":
                    raise Conflict(f"payment is {row.status}; only a captured payment is refunded")
                # Reserve the amount first: two refunds at once can't exceed the capture.
                taken = await session.execute(
                    update(Payment)
                    .where(
                        Payment.id == payment_id,
                        Payment.refunded_minor + amount_minor <= Payment.captured_minor,
                    )
                    .values(refunded_minor=Payment.refunded_minor + amount_minor)
                    .returning(Payment.id)
                )
                if taken.scalar_one_or_none() is None:
                    left = row.captured_minor - row.refunded_minor
                    raise Conflict(
                        f"cannot refund {amount_minor}; {left} is left to refund",
                        refundable_minor=left,
                    )
                session.add(
                    PaymentOperation(
                        idempotency_key=key,
                        payment_id=payment_id,
                        kind="refund",
                        amount_minor=amount_minor,
                        status="pending",
                    )
                )
            else:
                amount_minor = op.amount_minor
            reference = row.gateway_ref
        try:
            result = await self._gateway(
                lambda: self.gateway.refund(
                    reference, amount_minor=amount_minor, idempotency_key=key
                )
            )
        except Conflict:
            # The processor refused: give the reserved amount back.
            async with self.db.write() as session:
                await session.execute(
                    update(Payment)
                    .where(Payment.id == payment_id)
                    .values(refunded_minor=Payment.refunded_minor - amount_minor)
                )
                op_row = await session.get(PaymentOperation, key)
                if op_row is not None:
                    await session.delete(op_row)
            raise
        async with self.db.write() as session:
            row = await session.get(Payment, payment_id)
            op = await session.get(PaymentOperation, key)
            assert row is not None
            assert op is not None
            if op.status != "done":
                op.status = "done"
                op.gateway_ref = result.reference
                row.updated_at = utcnow()
                await self._emit(
                    session,
                    "payment.refunded",
                    row,
                    refund_id=result.reference,
                    refund_minor=amount_minor,
                    reason=reason,
                    # The caller's key: the orders service knows its own refunds by it.
                    refund_key=idempotency_key,
                )
            out = s.RefundOut(
                payment=payment_out(row), refund_id=op.gateway_ref, amount_minor=op.amount_minor
            )
        self._after_commit()
        return out

    # -------------------------------------------------------------- webhooks

    async def apply_webhook(self, event_id: str, event_type: str, reference: str) -> bool:
        """Apply a processor's event once; returns False for a repeat delivery."""
        try:
            async with self.db.write() as session:
                session.add(WebhookEvent(id=event_id, type=event_type))
        except IntegrityError:
            return False
        async with self.db.read() as session:
            payment_id = (
                await session.execute(select(Payment.id).where(Payment.gateway_ref == reference))
            ).scalar_one_or_none()
        if payment_id is not None:
            await self.refresh(payment_id)
        return True

    # ---------------------------------------------------------------- ledger

    async def ledger(self) -> s.Ledger:
        p = Payment
        async with self.db.read() as session:
            row = (
                await session.execute(
                    select(
                        func.coalesce(
                            func.sum(p.amount_minor).filter(
                                p.status.in_(["authorized", "captured"])
                            ),
                            0,
                        ),
                        func.coalesce(func.sum(p.captured_minor), 0),
                        func.coalesce(func.sum(p.refunded_minor), 0),
                        func.count().filter(p.status == "voided"),
                        func.count().filter(p.status == "authorized"),
                    )
                )
            ).one()
        gateway: dict[str, int] = {}
        if isinstance(self.gateway, SandboxGateway):
            gateway = await self.gateway.ledger()
        return s.Ledger(
            gateway=gateway,
            payments={
                "authorized_minor": int(row[0]),
                "captured_minor": int(row[1]),
                "refunded_minor": int(row[2]),
                "voided": int(row[3]),
                "open_authorizations": int(row[4]),
            },
        )
