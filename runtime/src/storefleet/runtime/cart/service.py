"""Cart use cases: carts in the cache, promotions and activity in the database."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from storefleet.runtime.cart import schemas as s
from storefleet.runtime.cart.catalog_client import CatalogClient, StockInfo
from storefleet.runtime.cart.models import CartActivity, PromoCode, PromoRedemption, outbox
from storefleet.runtime.cart.pricing import Promo, PromoKind, ShippingRules, compute_totals
from storefleet.runtime.cart.settings import CartSettings
from storefleet.runtime.platform.config.settings import StoreSettings
from storefleet.runtime.platform.events.outbox import Event, OutboxRelay, enqueue, utcnow
from storefleet.runtime.platform.storage.cache import Cache
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.errors import Conflict, NotFound, ProblemError

log = logging.getLogger(__name__)
ACTIVITY = cast(Table, CartActivity.__table__)
PROMOS = cast(Table, PromoCode.__table__)


def as_utc(value: datetime | None) -> datetime | None:
    # SQLite hands datetimes back naive; everything stored is UTC.
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class CartRef:
    """Whose cart: an anonymous cookie id, or a signed-in user."""

    owner: str  # "anonymous" | "user"
    ident: str | None  # cart id or user id; None for an anonymous shopper without one yet

    @property
    def key(self) -> str:
        kind = "user" if self.owner == "user" else "anon"
        return f"cart:{kind}:{self.ident}"


def new_anonymous() -> CartRef:
    return CartRef("anonymous", uuid.uuid4().hex)


@dataclass
class CartData:
    lines: list[dict[str, Any]]
    promo: str | None = None
    # The order this cart is being checked out for, and until when the hold lasts
    # (a checkout that died mid-way frees the cart then).
    claimed_by: str | None = None
    claimed_until: datetime | None = None
    # The order that bought it: the cart stays, empty, so a late checkout of it
    # is told so instead of buying nothing or something added since. What it
    # held comes back if that order's checkout fails.
    bought_by: str | None = None
    bought_lines: list[dict[str, Any]] | None = None
    bought_promo: str | None = None

    @classmethod
    def parse(cls, raw: bytes | None) -> CartData:
        if raw is None:
            return cls(lines=[])
        data = json.loads(raw)
        until = data.get("claimed_until")
        return cls(
            lines=list(data.get("lines", [])),
            promo=data.get("promo"),
            claimed_by=data.get("claimed_by"),
            claimed_until=datetime.fromisoformat(until) if until else None,
            bought_by=data.get("bought_by"),
            bought_lines=data.get("bought_lines"),
            bought_promo=data.get("bought_promo"),
        )

    def dump(self) -> bytes:
        return json.dumps(
            {
                "lines": self.lines,
                "promo": self.promo,
                "claimed_by": self.claimed_by,
                "claimed_until": self.claimed_until.isoformat() if self.claimed_until else None,
                "bought_by": self.bought_by,
                "bought_lines": self.bought_lines,
                "bought_promo": self.bought_promo,
                "updated_at": utcnow().isoformat(),
            },
            separators=(",", ":"),
        ).encode()

    @property
    def blank(self) -> bool:
        """Nothing worth keeping: no lines, code, hold or purchase."""
        return (
            not self.lines and self.promo is None and self.holder() is None and not self.bought_by
        )

    def holder(self, now: datetime | None = None) -> str | None:
        """The order holding the cart for its checkout, if the hold still lasts."""
        if self.claimed_by is None or self.claimed_until is None:
            return None
        return self.claimed_by if self.claimed_until > (now or utcnow()) else None

    def quantity(self, sku: str) -> int:
        return next((line["quantity"] for line in self.lines if line["sku"] == sku), 0)

    def set_quantity(self, sku: str, quantity: int, unit_price: int | None = None) -> None:
        for line in self.lines:
            if line["sku"] == sku:
                if quantity <= 0:
                    self.lines.remove(line)
                else:
                    line["quantity"] = quantity
                    if unit_price is not None:
                        line["unit_price_minor"] = unit_price
                return
        if quantity > 0:
            self.lines.append(
                {"sku": sku, "quantity": quantity, "unit_price_minor": unit_price or 0}
            )


def promo_from_row(row: PromoCode) -> Promo:
    return Promo(
        code=row.code,
        kind=PromoKind(row.kind),
        value=row.value,
        min_subtotal_minor=row.min_subtotal_minor,
        starts_at=as_utc(row.starts_at),
        expires_at=as_utc(row.expires_at),
        usage_limit=row.usage_limit,
        used_count=row.used_count,
        active=row.active,
    )


def promo_out(row: PromoCode) -> s.PromoOut:
    return s.PromoOut(
        code=row.code,
        kind=PromoKind(row.kind),
        value=row.value,
        description=row.description,
        min_subtotal_minor=row.min_subtotal_minor,
        starts_at=as_utc(row.starts_at),
        expires_at=as_utc(row.expires_at),
        usage_limit=row.usage_limit,
        active=row.active,
        used_count=row.used_count,
    )


class CartService:
    CAS_ATTEMPTS = 8

    def __init__(
        self,
        db: Database,
        cache: Cache,
        catalog: CatalogClient,
        settings: CartSettings,
        store: StoreSettings,
        relay: OutboxRelay | None = None,
    ) -> None:
        self.db = db
        self.cache = cache
        self.catalog = catalog
        self.settings = settings
        self.store = store
        self.relay = relay
        self.rules = ShippingRules(
            tax_rate_bps=store.tax_rate_bps,
            flat_minor=store.shipping_flat_minor,
            free_threshold_minor=store.free_shipping_threshold_minor,
        )

    # ---------------------------------------------------------------- storage

    async def _load(self, ref: CartRef) -> tuple[bytes | None, CartData]:
        if ref.ident is None:
            return None, CartData(lines=[])
        raw = await self.cache.get(ref.key)
        return raw, CartData.parse(raw)

    async def _mutate(
        self, ref: CartRef, change: Callable[[CartData], None], *, checkout: bool = False
    ) -> CartData:
        """Read-modify-write with compare-and-set: concurrent requests on one cart
        (two tabs, a double click) retry instead of losing each other's update.

        A shopper's change to a cart held by a checkout is refused (the order is
        being placed from what the cart holds); a change to a bought cart starts
        a new one. ``checkout``: the orders service's own changes (claim, release,
        consume)."""
        for _ in range(self.CAS_ATTEMPTS):
            raw, data = await self._load(ref)
            if not checkout:
                if data.holder() is not None:
                    raise Conflict(
                        "this cart is being checked out; wait for the order to be placed",
                        title="Checkout in progress",
                    )
                if data.bought_by is not None:
                    data = CartData(lines=[])
            change(data)
            if data.blank:
                if raw is not None:
                    await self.cache.delete(ref.key)
                await self._record_activity(ref, data)
                return data
            stored = await self.cache.compare_and_set(
                ref.key, raw, data.dump(), ttl=self.settings.cart_ttl_seconds
            )
            if stored:
                await self._record_activity(ref, data)
                return data
        raise Conflict("the cart changed concurrently; try again")

    async def _record_activity(self, ref: CartRef, data: CartData) -> None:
        # Best effort: abandoned-cart detection must never cost a shopper their cart.
        try:
            await self._write_activity(ref, data)
        except Exception:
            log.exception("recording cart activity failed", extra={"cart": ref.key})

    async def _write_activity(self, ref: CartRef, data: CartData) -> None:
        table = ACTIVITY
        async with self.db.write() as session:
            if not data.lines:
                await session.execute(delete(table).where(table.c.cart_key == ref.key))
                return
            values = {
                "cart_key": ref.key,
                "owner": f"{ref.owner}:{ref.ident}",
                "item_count": sum(line["quantity"] for line in data.lines),
                "subtotal_minor": sum(
                    line["quantity"] * line.get("unit_price_minor", 0) for line in data.lines
                ),
                "updated_at": utcnow(),
                "notified_at": None,
            }
            dialect = postgresql if self.db.is_postgres else sqlite
            insert = dialect.insert(table).values(**values)
            await session.execute(
                insert.on_conflict_do_update(
                    index_elements=["cart_key"],
                    set_={key: value for key, value in values.items() if key != "cart_key"},
                )
            )

    # ------------------------------------------------------------------ views

    async def view(
        self,
        ref: CartRef,
        data: CartData | None = None,
        known: dict[str, StockInfo] | None = None,
        *,
        counts: bool = False,
    ) -> s.Cart:
        """``known``: stock the caller just looked up, reused if it covers every line.
        ``counts``: the caller may see how many units are left (store staff, the
        orders service); shoppers see the catalog's level only."""
        if data is None:
            _, data = await self._load(ref)
        stock: dict[str, StockInfo] = known or {}
        stock_checked = True
        if data.lines and not all(line["sku"] in stock for line in data.lines):
            try:
                stock = await self.catalog.lookup([line["sku"] for line in data.lines])
            except ProblemError:
                # Show the cart from its own snapshot rather than fail the page.
                stock_checked = False
        lines: list[s.CartLine] = []
        priced: list[tuple[int, int]] = []
        for line in data.lines:
            info = stock.get(line["sku"])
            quantity = line["quantity"]
            problem: s.LineProblem | None = None
            if stock_checked and info is None:
                problem = "unknown"
            elif info is not None and (not info.active or info.currency != self.store.currency):
                # Another currency's minor units would be added up as this one's.
                problem = "unavailable"
            elif info is not None and info.stock == 0:
                problem = "out_of_stock"
            elif info is not None and info.stock < quantity:
                problem = "insufficient_stock"
            unit = info.price_minor if info else line.get("unit_price_minor", 0)
            if problem not in ("unknown", "unavailable", "out_of_stock"):
                priced.append((unit, quantity))
            lines.append(
                s.CartLine(
                    sku=line["sku"],
                    product_slug=info.product_slug if info else "",
                    product_name=info.product_name if info else line["sku"],
                    variant_name=info.variant_name if info else "",
                    image_url=info.image.url if info and info.image else None,
                    image_alt=info.image.alt if info and info.image else "",
                    quantity=quantity,
                    unit_price_minor=unit,
                    currency=info.currency if info else self.store.currency,
                    line_total_minor=unit * quantity,
                    availability=info.availability if info else None,
                    available=info.stock if info and counts else None,
                    problem=problem,
                )
            )
        promo_row = await self._promo_row(data.promo) if data.promo else None
        promo = promo_from_row(promo_row) if promo_row else None
        totals = compute_totals(priced, promo, self.rules, utcnow())
        promo_state = None
        if data.promo:
            promo_state = s.PromoState(
                code=data.promo,
                description=promo_row.description if promo_row else "",
                applied=totals.promo_applied,
                reason=totals.promo_reason if promo_row else "This code does not exist.",
            )
        return s.Cart(
            id=ref.ident if ref.owner == "anonymous" else None,
            owner="user" if ref.owner == "user" else "anonymous",
            lines=lines,
            item_count=sum(line.quantity for line in lines),
            currency=self.store.currency,
            subtotal_minor=totals.subtotal_minor,
            discount_minor=totals.discount_minor,
            shipping_minor=totals.shipping_minor,
            tax_minor=totals.tax_minor,
            total_minor=totals.total_minor,
            promo=promo_state,
            stock_checked=stock_checked,
            free_shipping_threshold_minor=self.store.free_shipping_threshold_minor,
            max_quantity_per_line=self.settings.max_quantity_per_line,
        )

    # -------------------------------------------------------------- mutations

    async def _check_stock(
        self, sku: str, quantity: int, cart: CartData, *, counts: bool = False
    ) -> tuple[StockInfo, dict[str, StockInfo]]:
        """Check one line, looking up the whole cart in the same call so the
        answer can be rendered without asking the catalog again. A refusal
        tells a shopper that there is not enough, never how much there is."""
        skus = list(dict.fromkeys([sku, *(line["sku"] for line in cart.lines)]))
        stock = await self.catalog.lookup(skus)
        info = stock.get(sku)
        if info is None:
            raise NotFound(f"no product with SKU {sku}")
        if not info.active:
            raise Conflict(f"{info.product_name} is no longer sold", sku=sku)
        if info.currency != self.store.currency:
            raise Conflict(
                f"{info.product_name} is priced in {info.currency}; this shop sells in "
                f"{self.store.currency}",
                title="Wrong currency",
                sku=sku,
            )
        if info.stock < quantity:
            if info.stock == 0:
                detail = f"{info.product_name} is out of stock"
            elif counts:
                detail = f"only {info.stock} of {info.product_name} left"
            else:
                detail = f"not enough stock of {info.product_name}"
            shown = {"available": info.stock} if counts else {}
            raise Conflict(
                detail,
                title="Insufficient stock",
                sku=sku,
                availability=info.availability,
                **shown,
            )
        return info, stock

    def _check_limits(self, data: CartData, sku: str, quantity: int) -> None:
        limit = self.settings.max_quantity_per_line
        if quantity > limit:
            raise Conflict(f"at most {limit} of one item per order", sku=sku, max_quantity=limit)
        if data.quantity(sku) == 0 and len(data.lines) >= self.settings.max_lines:
            raise Conflict(f"a cart holds at most {self.settings.max_lines} different items")

    async def add_item(
        self, ref: CartRef, sku: str, quantity: int, *, counts: bool = False
    ) -> s.Cart:
        _, current = await self._load(ref)
        wanted = current.quantity(sku) + quantity
        self._check_limits(current, sku, wanted)
        info, stock = await self._check_stock(sku, wanted, current, counts=counts)

        def change(data: CartData) -> None:
            total = data.quantity(sku) + quantity
            self._check_limits(data, sku, total)
            data.set_quantity(sku, total, info.price_minor)

        return await self.view(ref, await self._mutate(ref, change), stock, counts=counts)

    async def set_quantity(
        self, ref: CartRef, sku: str, quantity: int, *, counts: bool = False
    ) -> s.Cart:
        _, current = await self._load(ref)
        if current.quantity(sku) == 0:
            raise NotFound(f"{sku} is not in the cart")
        unit: int | None = None
        stock: dict[str, StockInfo] | None = None
        if quantity > 0:
            self._check_limits(current, sku, quantity)
            info, stock = await self._check_stock(sku, quantity, current, counts=counts)
            unit = info.price_minor

        def change(data: CartData) -> None:
            data.set_quantity(sku, quantity, unit)

        return await self.view(ref, await self._mutate(ref, change), stock, counts=counts)

    async def remove_item(self, ref: CartRef, sku: str, *, counts: bool = False) -> s.Cart:
        return await self.set_quantity(ref, sku, 0, counts=counts)

    async def clear(self, ref: CartRef) -> s.Cart:
        def change(data: CartData) -> None:
            data.lines.clear()
            data.promo = None

        if ref.ident is not None:
            await self._mutate(ref, change)
        return await self.view(ref, CartData(lines=[]))

    # -------------------------------------------------------------- checkout

    async def claim(self, ref: CartRef, order_id: str) -> s.Cart:
        """Hold the cart for one order while the orders service places it, and
        answer with what it holds. Only one order at a time holds a cart, and a
        bought cart is never bought again: concurrent checkouts of one cart make
        one order, the others get a 409. Claiming again for the same order is
        harmless (a retried call)."""
        now = utcnow()

        def change(data: CartData) -> None:
            if data.bought_by is not None and data.bought_by != order_id and not data.lines:
                raise Conflict(
                    "this cart has already been checked out", title="Cart already bought"
                )
            holder = data.holder(now)
            if holder is not None and holder != order_id:
                raise Conflict(
                    "this cart is being checked out already", title="Checkout in progress"
                )
            data.claimed_by = order_id
            data.claimed_until = now + timedelta(seconds=self.settings.checkout_hold_seconds)

        return await self.view(ref, await self._mutate(ref, change, checkout=True), counts=True)

    async def release_claim(self, ref: CartRef, order_id: str) -> s.Cart:
        """The order was not placed, or its checkout failed: the shopper may try
        again, with what the cart held (unless they started a new one since)."""

        def change(data: CartData) -> None:
            if data.claimed_by == order_id:
                data.claimed_by = data.claimed_until = None
            if data.bought_by == order_id and not data.lines:
                data.lines = list(data.bought_lines or [])
                data.promo = data.bought_promo
                data.bought_by = data.bought_lines = data.bought_promo = None

        return await self.view(ref, await self._mutate(ref, change, checkout=True), counts=True)

    async def consume(self, ref: CartRef, order_id: str) -> s.Cart:
        """The order is placed: the cart is spent (emptied, and remembered as
        bought by it, with what it held in case that checkout fails)."""

        def change(data: CartData) -> None:
            if data.bought_by == order_id:
                return
            holder = data.holder()
            if holder is not None and holder != order_id:
                raise Conflict("another checkout holds this cart", title="Checkout in progress")
            data.bought_lines, data.bought_promo = data.lines, data.promo
            data.lines = []
            data.promo = None
            data.claimed_by = data.claimed_until = None
            data.bought_by = order_id

        return await self.view(ref, await self._mutate(ref, change, checkout=True), counts=True)

    async def apply_promo(self, ref: CartRef, code: str, *, counts: bool = False) -> s.Cart:
        row = await self._promo_row(code)
        if row is None:
            raise NotFound(f"no promo code {code}", code=code)
        _, current = await self._load(ref)
        if not current.lines:
            raise Conflict("add something to the cart before using a code")
        view = await self.view(ref, CartData(lines=current.lines, promo=code))
        assert view.promo is not None
        if not view.promo.applied:
            raise Conflict(view.promo.reason or "this code does not apply", code=code)

        def change(data: CartData) -> None:
            data.promo = code

        return await self.view(ref, await self._mutate(ref, change), counts=counts)

    async def remove_promo(self, ref: CartRef, *, counts: bool = False) -> s.Cart:
        def change(data: CartData) -> None:
            data.promo = None

        return await self.view(ref, await self._mutate(ref, change), counts=counts)

    async def merge(self, anonymous: CartRef, user: CartRef, *, counts: bool = False) -> s.Cart:
        """On sign-in: the anonymous cart's lines join the user's cart.

        Quantities add up, capped by the per-line limit and by current stock, so a
        merge never fails and never creates a line the shopper could not buy.
        """
        _, guest = await self._load(anonymous)
        if not guest.lines:
            return await self.view(user, counts=counts)
        try:
            stock = await self.catalog.lookup([line["sku"] for line in guest.lines])
        except ProblemError:
            stock = {}

        def change(data: CartData) -> None:
            for line in guest.lines:
                sku = line["sku"]
                if data.quantity(sku) == 0 and len(data.lines) >= self.settings.max_lines:
                    continue
                total = min(
                    data.quantity(sku) + line["quantity"], self.settings.max_quantity_per_line
                )
                info = stock.get(sku)
                if info is not None:
                    total = min(total, info.stock)
                if total > 0:
                    data.set_quantity(sku, total, line.get("unit_price_minor"))
            if data.promo is None:
                data.promo = guest.promo

        merged = await self._mutate(user, change)
        await self.cache.delete(anonymous.key)
        await self._record_activity(anonymous, CartData(lines=[]))
        return await self.view(user, merged, counts=counts)

    # ----------------------------------------------------------------- promos

    async def _promo_row(self, code: str) -> PromoCode | None:
        async with self.db.read() as session:
            return await session.get(PromoCode, code.upper())

    async def create_promo(self, data: s.PromoIn) -> s.PromoOut:
        try:
            async with self.db.write() as session:
                row = PromoCode(**data.model_dump(), used_count=0)
                session.add(row)
                await enqueue(
                    session,
                    outbox,
                    Event("cart.promo_created", {"code": data.code}, source="cart"),
                )
        except IntegrityError as exc:
            raise Conflict(f"promo code {data.code} exists") from exc
        self._wake()
        return promo_out(row)

    async def list_promos(self) -> list[s.PromoOut]:
        async with self.db.read() as session:
            rows = (await session.execute(select(PromoCode).order_by(PromoCode.code))).scalars()
            return [promo_out(row) for row in rows]

    async def get_promo(self, code: str) -> s.PromoOut:
        row = await self._promo_row(code)
        if row is None:
            raise NotFound(f"no promo code {code}")
        return promo_out(row)

    async def update_promo(self, code: str, data: s.PromoPatch) -> s.PromoOut:
        async with self.db.write() as session:
            row = await session.get(PromoCode, code.upper())
            if row is None:
                raise NotFound(f"no promo code {code}")
            for field, value in data.model_dump(exclude_unset=True).items():
                # null clears a limit or an expiry; it cannot clear a flag or a text.
                if value is not None or field in ("usage_limit", "expires_at"):
                    setattr(row, field, value)
            starts, expires = as_utc(row.starts_at), as_utc(row.expires_at)
            if starts is not None and expires is not None and expires <= starts:
                raise Conflict("expires_at must be after the code's starts_at")
        return promo_out(row)

    async def redeem(self, code: str, order_id: str) -> s.PromoOut:
        """Count one use for an order; the usage limit holds under concurrency
        (a conditional increment) and a retried redemption counts once."""
        table = PROMOS
        try:
            async with self.db.write() as session:
                row = await session.get(PromoCode, code.upper())
                if row is None:
                    raise NotFound(f"no promo code {code}")
                already = await session.get(PromoRedemption, (row.code, order_id))
                if already is None:
                    limit_ok = (table.c.usage_limit.is_(None)) | (
                        table.c.used_count < table.c.usage_limit
                    )
                    counted = await session.execute(
                        update(table)
                        .where(table.c.code == row.code, table.c.active.is_(True), limit_ok)
                        .values(used_count=table.c.used_count + 1)
                        .returning(table.c.used_count)
                    )
                    if counted.scalar_one_or_none() is None:
                        raise Conflict(
                            f"promo code {row.code} is used up or no longer active",
                            title="Promo code used up",
                            code=row.code,
                        )
                    session.add(PromoRedemption(code=row.code, order_id=order_id))
                    await enqueue(
                        session,
                        outbox,
                        Event(
                            "cart.promo_redeemed",
                            {"code": row.code, "order_id": order_id},
                            source="cart",
                        ),
                    )
        except IntegrityError:
            # The same order, concurrently: the other call counted it.
            pass
        self._wake()
        return await self.get_promo(code)

    async def give_back(self, code: str, order_id: str) -> s.PromoOut:
        """An order that used the code was not paid for (cancelled, declined,
        never placed): its use counts no more. Once per order, however often asked."""
        table = PROMOS
        async with self.db.write() as session:
            row = await session.get(PromoCode, code.upper())
            if row is None:
                raise NotFound(f"no promo code {code}")
            gone = await session.execute(
                delete(PromoRedemption)
                .where(PromoRedemption.code == row.code, PromoRedemption.order_id == order_id)
                .returning(PromoRedemption.order_id)
            )
            if gone.scalar_one_or_none() is not None:
                await session.execute(
                    update(table)
                    .where(table.c.code == row.code, table.c.used_count > 0)
                    .values(used_count=table.c.used_count - 1)
                )
                await enqueue(
                    session,
                    outbox,
                    Event(
                        "cart.promo_given_back",
                        {"code": row.code, "order_id": order_id},
                        source="cart",
                    ),
                )
        self._wake()
        return await self.get_promo(code)

    # ------------------------------------------------------- abandoned carts

    async def sweep_abandoned(self, now: datetime | None = None) -> int:
        """Announce each cart idle for ``abandoned_after_hours``, once per idle spell."""
        now = now or utcnow()
        cutoff = now - timedelta(hours=self.settings.abandoned_after_hours)
        table = ACTIVITY
        async with self.db.write() as session:
            rows = (
                (
                    await session.execute(
                        select(table)
                        .where(table.c.notified_at.is_(None), table.c.updated_at <= cutoff)
                        .limit(500)
                    )
                )
                .mappings()
                .all()
            )
            for row in rows:
                await session.execute(
                    update(table).where(table.c.cart_key == row["cart_key"]).values(notified_at=now)
                )
                updated_at = as_utc(row["updated_at"]) or now
                await enqueue(
                    session,
                    outbox,
                    Event(
                        "cart.abandoned",
                        {
                            "cart": row["cart_key"],
                            "owner": row["owner"],
                            "item_count": row["item_count"],
                            "subtotal_minor": row["subtotal_minor"],
                            "currency": self.store.currency,
                            "idle_hours": round((now - updated_at).total_seconds() / 3600, 2),
                        },
                        source="cart",
                    ),
                )
        if rows:
            self._wake()
        return len(rows)

    def _wake(self) -> None:
        if self.relay is not None:
            self.relay.wake()
