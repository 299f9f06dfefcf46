"""Checkout: an order placed from the shopper's cart, in phases. Load (hold the
cart for the order), build (the order the cart's answer describes, or the
problem that stops it), count the promo code's use, persist (the order, its
lines, history, saga row and ``order.placed`` in one transaction), spend the
cart, then settle: run the saga for a few seconds and answer with the order as
it stands.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from storefleet.runtime.orders import schemas as s
from storefleet.runtime.orders.book import SOURCE, OrderBook, order_payload
from storefleet.runtime.orders.cart_link import CartLink
from storefleet.runtime.orders.clients import CartName, Upstreams, call
from storefleet.runtime.orders.models import Order, OrderHistory, OrderLine, Saga, outbox
from storefleet.runtime.orders.queries import OrderQueries
from storefleet.runtime.orders.saga import SagaRunner
from storefleet.runtime.orders.settings import OrdersSettings
from storefleet.runtime.orders.states import Status
from storefleet.runtime.platform.events.outbox import Event, enqueue, utcnow
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.telemetry.tracing import trace_context
from storefleet.runtime.platform.web.errors import Conflict, ProblemError

# Order ids are derived from the checkout's idempotency key, so every call a
# checkout makes on the shopper's behalf (the cart's hold, the promo code's use,
# the reservation) names the same order even when two requests race with one key.
ORDER_IDS = uuid.UUID("5d0c4c1e-6a43-4b8e-9a55-0d7c8f1e2b37")


def order_id_for(store: str, idempotency_key: str) -> str:
    return uuid.uuid5(ORDER_IDS, f"{store}:{idempotency_key}").hex


class Checkout:
    def __init__(
        self,
        db: Database,
        settings: OrdersSettings,
        upstreams: Upstreams,
        cart_link: CartLink,
        book: OrderBook,
        queries: OrderQueries,
        saga: SagaRunner,
    ) -> None:
        self.db = db
        self.settings = settings
        self.upstreams = upstreams
        self.cart_link = cart_link
        self.book = book
        self.queries = queries
        self.saga = saga

    async def place(
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
        snapshot = await self.cart_link.claim(cart, order_id)
        redeemed: str | None = None
        try:
            order, order_lines = await self._build_order(
                order_id, snapshot, data, idempotency_key, customer_id
            )
            if order.promo_code:
                await self.cart_link.redeem(order.promo_code, order_id)
                redeemed = order.promo_code
            placed = await self._persist_placed(order, order_lines, data)
        except BaseException:
            # Nothing was placed: the code's use and the cart go back.
            with contextlib.suppress(Exception):
                if redeemed is not None:
                    await self.cart_link.give_back_promo(redeemed, order_id)
                await self.cart_link.step(cart, order_id, "release")
            raise
        if not placed:
            # The same key, concurrently: the other request's order (which holds
            # the same cart and code use, under the same id) is the answer.
            existing = await self._order_for_key(idempotency_key)
            assert existing is not None
            return await self.queries.order(existing), False
        self.book.after_commit()
        # Placed: the cart is spent at once (not after the payment), so a process
        # that dies from here on never leaves it to be bought a second time.
        await self.cart_link.step(cart, order_id, "consume")
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
            await self.cart_link.step(cart, order_id, "release")
        return result, True

    async def _order_for_key(self, idempotency_key: str) -> str | None:
        async with self.db.read() as session:
            found: str | None = (
                await session.execute(
                    select(Order.id).where(Order.idempotency_key == idempotency_key)
                )
            ).scalar_one_or_none()
        return found

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
                        source=SOURCE,
                    ),
                )
        except IntegrityError:
            if await self._order_for_key(order.idempotency_key) is None:
                raise
            return False
        return True

    async def _product_ids(self, skus: list[str]) -> dict[str, int]:
        """The catalog's product id per SKU, for the events; best effort."""
        answer = await call(self.upstreams.catalog, "POST", "/variant-lookup", json={"skus": skus})
        if not answer.ok:
            return {}
        return {
            str(item["sku"]): int(item["product_id"])
            for item in answer.body.get("items", [])
            if isinstance(item, dict) and "product_id" in item
        }
