"""Orders use cases: checkout, fulfilment, returns and refunds; reading orders
is ``queries`` (:mod:`.queries`).

Every status change goes through ``_transition`` (the table in states.py) and
writes its event to the outbox in the same transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.orders import schemas as s
from storefleet.runtime.orders.clients import CartName, call
from storefleet.runtime.orders.models import (
    Order,
    OrderHistory,
    OrderLine,
    Refund,
    ReturnRequest,
    Saga,
    outbox,
)
from storefleet.runtime.orders.queries import OrderQueries, lines_of
from storefleet.runtime.orders.saga import SagaRunner
from storefleet.runtime.orders.settings import OrdersSettings
from storefleet.runtime.orders.states import EVENTS, Status, can_transition
from storefleet.runtime.platform.events.outbox import Event, OutboxRelay, enqueue, utcnow
from storefleet.runtime.platform.identity.permissions import SERVICE_ONLY_PREFIX
from storefleet.runtime.platform.resilience.client import ServiceClient
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.telemetry.tracing import trace_context
from storefleet.runtime.platform.web.errors import Conflict, NotFound, ProblemError

log = logging.getLogger(__name__)


# Order ids are derived from the checkout's idempotency key, so every call a
# checkout makes on the shopper's behalf (the cart's hold, the promo code's use,
# the reservation) names the same order even when two requests race with one key.
ORDER_IDS = uuid.UUID("5d0c4c1e-6a43-4b8e-9a55-0d7c8f1e2b37")


def order_id_for(store: str, idempotency_key: str) -> str:
    return uuid.uuid5(ORDER_IDS, f"{store}:{idempotency_key}").hex


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def order_payload(
    order: Order, lines: list[OrderLine] | None = None, **extra: Any
) -> dict[str, Any]:
    """What every order event carries; amounts in minor units."""
    payload: dict[str, Any] = {
        "order_id": order.id,
        "store": order.store,
        "customer_id": order.customer_id,
        "email": order.email,
        "status": order.status,
        "currency": order.currency,
        "subtotal_minor": order.subtotal_minor,
        "discount_minor": order.discount_minor,
        "shipping_minor": order.shipping_minor,
        "tax_minor": order.tax_minor,
        "total_minor": order.total_minor,
        "authorized_minor": order.authorized_minor,
        "captured_minor": order.captured_minor,
        "refunded_minor": order.refunded_minor,
    }
    if lines is not None:
        payload["product_ids"] = sorted(
            {line.product_id for line in lines if line.product_id is not None}
        )
        payload["lines"] = [
            {
                "sku": line.sku,
                "product_id": line.product_id,
                "product_slug": line.product_slug,
                "product_name": line.product_name,
                "variant_name": line.variant_name,
                "quantity": line.quantity,
                "unit_price_minor": line.unit_price_minor,
                "line_total_minor": line.line_total_minor,
            }
            for line in lines
        ]
    payload.update(extra)
    return payload


class OrderService:
    def __init__(
        self,
        db: Database,
        settings: OrdersSettings,
        catalog: ServiceClient,
        cart: ServiceClient,
        payments: ServiceClient,
        relay: OutboxRelay | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.catalog = catalog
        self.cart = cart
        self.payments = payments
        self.relay = relay
        # Reading orders (shoppers' views, staff lists) is its own part.
        self.queries = OrderQueries(db)
        self.saga = SagaRunner(self)

    def payment_headers(self, idempotency_key: str | None = None) -> dict[str, str]:
        headers = _bearer(self.settings.payments_token)
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def catalog_headers(self) -> dict[str, str]:
        """Reservations are for services only: the catalog's token."""
        return _bearer(self.settings.catalog_token)

    def cart_headers(self) -> dict[str, str]:
        """Claiming carts and counting promo code uses: the cart's token."""
        return _bearer(self.settings.cart_token)

    def after_commit(self) -> None:
        if self.relay is not None:
            self.relay.wake()

    # ------------------------------------------------------------ plumbing

    async def lines_of(self, session: AsyncSession, order_id: str) -> list[OrderLine]:
        return await lines_of(session, order_id)

    async def locked(self, session: AsyncSession, order_id: str) -> Order:
        order = (
            await session.execute(select(Order).where(Order.id == order_id).with_for_update())
        ).scalar_one_or_none()
        if order is None:
            raise NotFound(f"no order '{order_id}'")
        return order

    async def transition(
        self,
        session: AsyncSession,
        order: Order,
        target: Status,
        note: str = "",
        *,
        with_lines: bool = False,
        announce: bool = True,
        **extra: Any,
    ) -> None:
        """The one way an order's status changes: checked against the table, logged
        in the history and announced through the outbox, in the caller's transaction."""
        current = Status(order.status)
        if not can_transition(current, target):
            raise Conflict(
                f"an order that is {current.value} cannot become {target.value}",
                order_status=current.value,
            )
        order.status = target.value
        order.updated_at = utcnow()
        session.add(
            OrderHistory(
                order_id=order.id,
                from_status=current.value,
                to_status=target.value,
                note=note[:500],
                at=utcnow(),
            )
        )
        event_type = EVENTS.get(target)
        if event_type is not None and announce:
            lines = await self.lines_of(session, order.id) if with_lines else None
            await enqueue(
                session,
                outbox,
                Event(event_type, order_payload(order, lines, **extra), source="orders"),
            )

    # ------------------------------------------------------------ checkout

    async def checkout(
        self,
        data: s.CheckoutIn,
        idempotency_key: str,
        *,
        customer_id: str | None,
        cart: CartName,
    ) -> tuple[s.OrderOut, bool]:
        """Place an order from the cart and run its saga; returns (order, created).

        The cart is held for this order first (the cart service gives a cart to
        one order at a time, so parallel checkouts of one cart make one order and
        the others a 409), the promo code's use is counted (refused once used
        up), then the order is written and the cart spent; a checkout that fails
        hands the cart back to the shopper."""
        if (existing := await self._order_for_key(idempotency_key)) is not None:
            return await self.queries.order(existing), False
        order_id = order_id_for(self.settings.store, idempotency_key)
        snapshot = await self._claim_cart(cart, order_id)
        redeemed: str | None = None
        try:
            order, order_lines = await self._build_order(
                order_id, snapshot, data, idempotency_key, customer_id
            )
            if order.promo_code:
                await self._redeem(order.promo_code, order_id)
                redeemed = order.promo_code
            placed = await self._persist_placed(order, order_lines, data)
        except BaseException:
            # Nothing was placed: the code's use and the cart go back.
            with contextlib.suppress(Exception):
                if redeemed is not None:
                    await self.give_back_promo(redeemed, order_id)
                await self._cart_step(cart, order_id, "release")
            raise
        if not placed:
            # The same key, concurrently: the other request's order (which holds
            # the same cart and code use, under the same id) is the answer.
            existing = await self._order_for_key(idempotency_key)
            assert existing is not None
            return await self.queries.order(existing), False
        self.after_commit()
        # Placed: the cart is spent at once (not after the payment), so a process
        # that dies from here on never leaves it to be bought a second time.
        await self._cart_step(cart, order_id, "consume")
        task = asyncio.ensure_future(
            self.saga.settle(order_id, self.settings.checkout_wait_seconds)
        )
        # The saga goes on if this request stops waiting (or is cancelled).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.shield(task), timeout=self.settings.checkout_wait_seconds
            )
        result = await self.queries.order(order_id)
        if result.status == Status.CANCELLED.value:
            # A failed checkout gives the cart back, to try another card.
            await self._cart_step(cart, order_id, "release")
        return result, True

    async def _cart_step(self, cart: CartName, order_id: str, step: str) -> None:
        answer = await call(
            self.cart, "POST", f"{cart.path}/claims/{order_id}/{step}", headers=self.cart_headers()
        )
        if not answer.ok:
            log.warning(
                "the cart's %s after checkout failed",
                step,
                extra={"order_id": order_id, "detail": answer.detail},
            )

    async def _order_for_key(self, idempotency_key: str) -> str | None:
        async with self.db.read() as session:
            found: str | None = (
                await session.execute(
                    select(Order.id).where(Order.idempotency_key == idempotency_key)
                )
            ).scalar_one_or_none()
        return found

    async def _claim_cart(self, cart: CartName, order_id: str) -> dict[str, Any]:
        """The cart's lines and totals, held for this order."""
        answer = await call(
            self.cart,
            "POST",
            f"{cart.path}/claims",
            json={"order_id": order_id},
            headers=self.cart_headers(),
        )
        if answer.ok:
            return answer.body
        if answer.transient:
            raise ProblemError(
                503, "the cart is unavailable; try again shortly", headers={"Retry-After": "5"}
            )
        if answer.status == 409:
            raise Conflict(answer.detail or "this cart is being checked out already")
        if answer.status in (401, 403):
            log.error("the cart refused the orders service's token (STOREFLEET_ORDERS_CART_TOKEN)")
            raise ProblemError(503, "checkout is unavailable; try again shortly")
        raise ProblemError(answer.status if answer.status < 500 else 503, answer.detail)

    async def _redeem(self, code: str, order_id: str) -> None:
        answer = await call(
            self.cart,
            "POST",
            f"{SERVICE_ONLY_PREFIX}/promos/{code}/redemptions",
            json={"order_id": order_id},
            headers=self.cart_headers(),
        )
        if answer.ok:
            return
        if answer.transient:
            raise ProblemError(
                503, "the cart is unavailable; try again shortly", headers={"Retry-After": "5"}
            )
        if answer.status in (404, 409):
            raise Conflict(
                f"promo code {code} can't be used any more; remove it from the cart",
                title="Promo code used up",
                code=code,
            )
        log.error("counting a promo code's use failed", extra={"detail": answer.detail})
        raise ProblemError(503, "checkout is unavailable; try again shortly")

    async def give_back_promo(self, code: str, order_id: str) -> bool:
        """The order was not paid for: the code's use counts no more. False if the
        cart could not be reached (try again later)."""
        answer = await call(
            self.cart,
            "DELETE",
            f"{SERVICE_ONLY_PREFIX}/promos/{code}/redemptions/{order_id}",
            headers=self.cart_headers(),
        )
        if answer.transient:
            return False
        if not answer.ok and answer.status != 404:
            log.error(
                "giving back a promo code's use was refused",
                extra={"order_id": order_id, "detail": answer.detail},
            )
        return True

    async def _build_order(
        self,
        order_id: str,
        cart: dict[str, Any],
        data: s.CheckoutIn,
        idempotency_key: str,
        customer_id: str | None,
    ) -> tuple[Order, list[OrderLine]]:
        """The order the cart's answer describes, or the problem that stops it."""
        lines = cart.get("lines") or []
        if not lines:
            raise ProblemError(422, "the cart is empty", title="Empty cart")
        if not cart.get("stock_checked", False):
            raise ProblemError(
                503, "stock could not be checked; try again shortly", headers={"Retry-After": "5"}
            )
        problems = [line["sku"] for line in lines if line.get("problem")]
        if problems:
            raise Conflict(
                f"some items can't be bought as they are: {', '.join(problems)}",
                title="Cart needs attention",
                skus=problems,
            )
        currency = str(cart["currency"])
        foreign = sorted(
            str(line["sku"]) for line in lines if line.get("currency", currency) != currency
        )
        if foreign:
            # Minor units of two currencies don't add up to anything.
            raise Conflict(
                f"some items are priced in another currency than {currency}: " + ", ".join(foreign),
                title="Mixed currencies",
                skus=foreign,
            )
        product_ids = await self._product_ids([str(line["sku"]) for line in lines])
        surcharge = (
            self.settings.express_surcharge_minor if data.shipping_method == "express" else 0
        )
        now = utcnow()
        promo = cart.get("promo") or {}
        order = Order(
            id=order_id,
            idempotency_key=idempotency_key,
            store=self.settings.store,
            customer_id=customer_id,
            email=data.email,
            status=Status.PENDING.value,
            currency=currency,
            subtotal_minor=int(cart["subtotal_minor"]),
            discount_minor=int(cart["discount_minor"]),
            shipping_minor=int(cart["shipping_minor"]) + surcharge,
            tax_minor=int(cart["tax_minor"]),
            total_minor=int(cart["total_minor"]) + surcharge,
            promo_code=promo.get("code") if promo.get("applied") else None,
            shipping_method=data.shipping_method,
            shipping_address=data.shipping_address.model_dump(),
            billing_country=data.billing_country or data.shipping_address.country,
            hold_reasons=[],
            created_at=now,
            updated_at=now,
        )
        order_lines = [
            OrderLine(
                order_id=order_id,
                sku=line["sku"],
                product_id=product_ids.get(line["sku"]),
                product_slug=line["product_slug"],
                product_name=line["product_name"],
                variant_name=line.get("variant_name", ""),
                quantity=int(line["quantity"]),
                unit_price_minor=int(line["unit_price_minor"]),
                line_total_minor=int(line["line_total_minor"]),
                returned_quantity=0,
            )
            for line in lines
        ]
        return order, order_lines

    async def _persist_placed(
        self, order: Order, order_lines: list[OrderLine], data: s.CheckoutIn
    ) -> bool:
        """The order, its lines, history, saga row and ``order.placed``, in one
        transaction; False if an order with this id (the same key) exists."""
        now = order.created_at
        try:
            async with self.db.write() as session:
                session.add(order)
                await session.flush()
                session.add_all(order_lines)
                session.add(
                    OrderHistory(
                        order_id=order.id,
                        from_status=None,
                        to_status=Status.PENDING.value,
                        note="order placed",
                        at=now,
                    )
                )
                traceparent, tracestate = trace_context()
                session.add(
                    Saga(
                        order_id=order.id,
                        traceparent=traceparent,
                        tracestate=tracestate,
                        step="reserve",
                        state="running",
                        token=data.payment.token or "",
                        payment_method_id=data.payment.payment_method_id or "",
                        save_payment_method=data.payment.save,
                        reservation_id=order.id,
                        next_attempt_at=now,
                        step_started_at=now,
                        created_at=now,
                        updated_at=now,
                    )
                )
                await session.flush()
                await enqueue(
                    session,
                    outbox,
                    Event(
                        "order.placed",
                        order_payload(
                            order,
                            order_lines,
                            shipping_method=order.shipping_method,
                            shipping_country=data.shipping_address.country,
                        ),
                        source="orders",
                    ),
                )
        except IntegrityError:
            if await self._order_for_key(order.idempotency_key) is None:
                raise
            return False
        return True

    async def _product_ids(self, skus: list[str]) -> dict[str, int]:
        """The catalog's product id per SKU, for the events; best effort."""
        answer = await call(self.catalog, "POST", "/variant-lookup", json={"skus": skus})
        if not answer.ok:
            return {}
        return {
            str(item["sku"]): int(item["product_id"])
            for item in answer.body.get("items", [])
            if isinstance(item, dict) and "product_id" in item
        }

    # -------------------------------------------------------- fulfilment

    async def _simple(self, order_id: str, target: Status, note: str, **changes: Any) -> s.OrderOut:
        async with self.db.write() as session:
            order = await self.locked(session, order_id)
            for key, value in changes.items():
                setattr(order, key, value)
            await self.transition(session, order, target, note, **changes)
        self.after_commit()
        return await self.queries.order(order_id)

    async def start_fulfilment(self, order_id: str) -> s.OrderOut:
        return await self._simple(order_id, Status.FULFILLING, "packing started")

    async def ship(self, order_id: str, data: s.ShipIn) -> s.OrderOut:
        return await self._simple(
            order_id,
            Status.SHIPPED,
            f"shipped with {data.carrier}, tracking {data.tracking_number}",
            carrier=data.carrier,
            tracking_number=data.tracking_number,
        )

    async def deliver(self, order_id: str) -> s.OrderOut:
        return await self._simple(order_id, Status.DELIVERED, "delivered")

    async def approve(self, order_id: str, note: str) -> s.OrderOut:
        await self.saga.review(order_id, approve=True, note=note)
        return await self.queries.order(order_id)

    async def reject(self, order_id: str, note: str) -> s.OrderOut:
        await self.saga.review(order_id, approve=False, note=note)
        return await self.queries.order(order_id)

    async def payment_returned(self, order_id: str) -> s.OrderOut:
        """The shopper is back from 3-D Secure: look at the payment now."""
        await self.saga.poke(order_id)
        return await self.queries.order(order_id)

    async def cancel(self, order_id: str, reason: str) -> s.OrderOut:
        """Before payment, the saga undoes its work; after it, the capture is refunded."""
        async with self.db.read() as session:
            order = await session.get(Order, order_id)
            if order is None:
                raise NotFound(f"no order '{order_id}'")
            status = Status(order.status)
        if status in {Status.PENDING, Status.AWAITING_PAYMENT, Status.ON_HOLD}:
            await self.saga.abort(order_id, "cancelled", reason)
            return await self.queries.order(order_id)
        if not can_transition(status, Status.CANCELLED):
            raise Conflict(
                f"an order that is {status.value} cannot be cancelled", order_status=status.value
            )
        left = order.captured_minor - order.refunded_minor
        if left > 0:
            key = f"cancel:{order_id}"
            # Recorded first, so the payment's refund event is known as this one.
            with contextlib.suppress(IntegrityError):
                async with self.db.write() as session:
                    session.add(
                        Refund(
                            id=key,
                            order_id=order_id,
                            amount_minor=left,
                            reason=reason[:300],
                            status="pending",
                            created_at=utcnow(),
                        )
                    )
            await self._refund_payment(order_id, left, key, reason)
        async with self.db.write() as session:
            order = await self.locked(session, order_id)
            if (refund := await session.get(Refund, f"cancel:{order_id}")) is not None:
                refund.status = "done"
            if order.status != Status.CANCELLED.value:
                order.cancel_reason = "cancelled"
                order.failure_detail = reason
                order.refunded_minor += left
                await self.transition(
                    session, order, Status.CANCELLED, reason, reason="cancelled", refund_minor=left
                )
        self.after_commit()
        return await self.queries.order(order_id)

    # ----------------------------------------------------- returns, refunds

    async def request_return(self, order_id: str, data: s.ReturnIn) -> s.OrderOut:
        async with self.db.write() as session:
            order = await self.locked(session, order_id)
            lines = {line.sku: line for line in await self.lines_of(session, order_id)}
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
            await self.transition(
                session,
                order,
                Status.RETURN_REQUESTED,
                data.reason or "return requested",
                return_id=request.id,
                return_lines=request.lines,
                return_value_minor=value,
            )
            session.add(request)
        self.after_commit()
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

    async def receive_return(self, order_id: str, return_id: str) -> s.OrderOut:
        async with self.db.write() as session:
            order = await self.locked(session, order_id)
            request = await self._open_return(session, order_id, return_id)
            request.status = "received"
            lines = {line.sku: line for line in await self.lines_of(session, order_id)}
            for item in request.lines:
                lines[item["sku"]].returned_quantity += int(item["quantity"])
            await self.transition(
                session,
                order,
                Status.RETURNED,
                "return received",
                return_id=return_id,
                return_lines=request.lines,
                return_value_minor=request.value_minor,
            )
        self.after_commit()
        return await self.queries.order(order_id)

    async def decline_return(self, order_id: str, return_id: str, note: str) -> s.OrderOut:
        async with self.db.write() as session:
            order = await self.locked(session, order_id)
            request = await self._open_return(session, order_id, return_id)
            request.status = "declined"
            # Back to delivered, but not announced as a delivery again.
            await self.transition(
                session, order, Status.DELIVERED, note or "return declined", announce=False
            )
        self.after_commit()
        return await self.queries.order(order_id)

    async def refund(self, order_id: str, data: s.RefundIn, idempotency_key: str) -> s.OrderOut:
        """Refund a returned order, in full or in part (several partial refunds add up)."""
        refund_id = f"{order_id}:{idempotency_key}"
        async with self.db.read() as session:
            order = await session.get(Order, order_id)
            if order is None:
                raise NotFound(f"no order '{order_id}'")
            done = await session.get(Refund, refund_id)
            if done is not None and done.status == "done":
                return await self.queries.order(order_id)
            status = Status(order.status)
            if status not in {Status.RETURNED, Status.PARTIALLY_REFUNDED}:
                raise Conflict(
                    f"an order that is {status.value} is not refunded; receive a return first",
                    order_status=status.value,
                )
            returned_value = (
                await session.execute(
                    select(func.coalesce(func.sum(ReturnRequest.value_minor), 0)).where(
                        ReturnRequest.order_id == order_id, ReturnRequest.status == "received"
                    )
                )
            ).scalar_one()
            left = order.captured_minor - order.refunded_minor
            suggested = min(left, max(0, int(returned_value) - order.refunded_minor)) or left
        amount = done.amount_minor if done is not None else (data.amount_minor or suggested)
        if amount > left:
            raise Conflict(f"cannot refund {amount}; {left} is left", refundable_minor=left)
        if done is None:
            try:
                async with self.db.write() as session:
                    session.add(
                        Refund(
                            id=refund_id,
                            order_id=order_id,
                            amount_minor=amount,
                            reason=data.reason,
                            status="pending",
                            created_at=utcnow(),
                        )
                    )
            except IntegrityError:
                pass
        await self._refund_payment(order_id, amount, refund_id, data.reason)
        async with self.db.write() as session:
            order = await self.locked(session, order_id)
            refund = await session.get(Refund, refund_id)
            assert refund is not None
            if refund.status != "done":
                refund.status = "done"
                order.refunded_minor += amount
                full = order.refunded_minor >= order.captured_minor
                await self.transition(
                    session,
                    order,
                    Status.REFUNDED if full else Status.PARTIALLY_REFUNDED,
                    f"refunded {amount}" + (f": {data.reason}" if data.reason else ""),
                    refund_minor=amount,
                    reason=data.reason,
                )
        self.after_commit()
        return await self.queries.order(order_id)

    async def payment_refunded(self, event: Event) -> None:
        """A refund made at the payments service directly (by staff there, or the
        processor's dashboard through a webhook) reaches its order: the refunded
        amount, the history and an ``order.refunded`` event. Refunds this service
        asked for itself are already counted (their key is an ``order_refunds``
        row); a redelivered event is applied once (its key becomes one)."""
        payload = event.payload
        order_id, key = payload.get("order_id"), payload.get("refund_key")
        amount = payload.get("refund_minor")
        if not isinstance(order_id, str) or not isinstance(key, str) or not key:
            return
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            log.warning("ignoring a refund event without an amount", extra={"event_id": event.id})
            return
        try:
            async with self.db.write() as session:
                order = (
                    await session.execute(
                        select(Order).where(Order.id == order_id).with_for_update()
                    )
                ).scalar_one_or_none()
                if order is None or await session.get(Refund, key) is not None:
                    return
                reason = str(payload.get("reason") or "")[:300]
                session.add(
                    Refund(
                        id=key,
                        order_id=order_id,
                        amount_minor=amount,
                        reason=reason,
                        status="done",
                        payment_refund_id=str(payload.get("refund_id") or "")[:100],
                        created_at=utcnow(),
                    )
                )
                order.refunded_minor += amount
                note = f"refunded {amount} at the payment service" + (
                    f": {reason}" if reason else ""
                )
                full = order.refunded_minor >= order.captured_minor
                current = Status(order.status)
                target = Status.REFUNDED if full else Status.PARTIALLY_REFUNDED
                if can_transition(current, target):
                    await self.transition(
                        session, order, target, note, refund_minor=amount, reason=reason
                    )
                elif full and can_transition(current, Status.CANCELLED):
                    # All the money back before it shipped: the order is off.
                    order.cancel_reason = "refunded"
                    order.failure_detail = reason or "refunded in full at the payment service"
                    await self.transition(
                        session,
                        order,
                        Status.CANCELLED,
                        note,
                        reason="refunded",
                        refund_minor=amount,
                    )
                else:
                    # A paid order still on its way (goodwill, a price match): it
                    # goes on being fulfilled, with the refund on record.
                    order.updated_at = utcnow()
                    session.add(
                        OrderHistory(
                            order_id=order_id,
                            from_status=order.status,
                            to_status=order.status,
                            note=note[:500],
                            at=utcnow(),
                        )
                    )
                    await enqueue(
                        session,
                        outbox,
                        Event(
                            "order.refunded",
                            order_payload(order, refund_minor=amount, reason=reason),
                            source="orders",
                        ),
                    )
        except IntegrityError:
            return  # the same refund, delivered twice at once
        self.after_commit()

    async def _refund_payment(self, order_id: str, amount: int, key: str, reason: str) -> None:
        async with self.db.read() as session:
            order = await session.get(Order, order_id)
            assert order is not None
            payment_id = order.payment_id
        if payment_id is None:
            raise Conflict("this order has no payment to refund")
        answer = await call(
            self.payments,
            "POST",
            f"/payments/{payment_id}/refunds",
            json={"amount_minor": amount, "reason": reason[:300]},
            headers=self.payment_headers(key),
        )
        if answer.transient:
            raise ProblemError(
                503, "the payment service is unavailable; try again", headers={"Retry-After": "5"}
            )
        if not answer.ok:
            raise Conflict(f"the refund was refused: {answer.detail}")
