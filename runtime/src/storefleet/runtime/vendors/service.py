"""The vendors context's behaviour: vendors, their products, sub-orders, the
ledger and payouts, reviews."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Final

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.runtime.platform.events.consumer import PermanentError
from storefleet.runtime.platform.events.outbox import Event, OutboxRelay, enqueue, utcnow
from storefleet.runtime.platform.resilience.client import ServiceClient
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.errors import Conflict, NotFound, ProblemError
from storefleet.runtime.vendors import ledger
from storefleet.runtime.vendors import schemas as s
from storefleet.runtime.vendors.models import (
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Member,
    Payout,
    Review,
    SubOrder,
    Vendor,
    VendorProduct,
    outbox,
)

log = logging.getLogger(__name__)
SOURCE: Final = "vendors"
# Minor units per major unit differ by currency (ISO 4217 exponents).
EXPONENTS: Final = {
    "BHD": 3,
    "CLP": 0,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "OMR": 3,
    "TND": 3,
    "UGX": 0,
    "VND": 0,
}
CONSUMED: Final = ("order.paid", "order.returned", "order.refunded", "order.cancelled")


def to_minor(amount: float, currency: str) -> int:
    exponent = EXPONENTS.get(currency, 2)
    value = Decimal(str(amount)).scaleb(exponent).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(value)


def percent_to_bps(percent: float) -> int:
    try:
        bps = Decimal(str(percent)) * 100
    except InvalidOperation:
        raise ProblemError(422, "commission_percent must be a number from 0 to 100") from None
    if bps != bps.to_integral_value():
        raise ProblemError(422, "commission_percent takes at most two decimals (12.5, 7.25)")
    return int(bps)


def period_of(schedule: str, day: dt.date) -> str:
    if schedule == "Daily":
        return day.isoformat()
    if schedule == "Weekly":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year}-{day.month:02d}"


def vendor_out(v: Vendor) -> s.VendorOut:
    exponent = EXPONENTS.get(v.payout_currency, 2)
    return s.VendorOut(
        id=v.id,
        display_name=v.display_name,
        contact_email=v.contact_email,
        commission_percent=v.commission_bps / 100,
        payout=s.PayoutSettingsOut(
            currency=v.payout_currency,
            schedule=v.payout_schedule,
            minimum_amount=float(Decimal(v.payout_minimum_minor).scaleb(-exponent)),
            minimum_amount_minor=v.payout_minimum_minor,
        ),
        product_limit=v.product_limit,
        product_count=v.product_count,
        suspended=v.status == "suspended",
        status=v.status,  # type: ignore[arg-type]
        catalog_synced=v.catalog_synced,
        created_at=v.created_at,
        updated_at=v.updated_at,
    )


def suborder_out(o: SubOrder) -> s.SubOrderOut:
    net = o.lines_total_minor - o.refunded_minor
    return s.SubOrderOut(
        id=o.id,
        order_id=o.order_id,
        vendor_id=o.vendor_id,
        status=o.status,  # type: ignore[arg-type]
        currency=o.currency,
        lines=[s.SubOrderLine(**line) for line in o.lines],
        lines_total_minor=o.lines_total_minor,
        refunded_minor=o.refunded_minor,
        commission_minor=o.commission_minor,
        vendor_share_minor=net - o.commission_minor,
        carrier=o.carrier,
        tracking_number=o.tracking_number,
        created_at=o.created_at,
        shipped_at=o.shipped_at,
    )


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return default
    return value


class VendorService:
    def __init__(
        self,
        db: Database,
        catalog: ServiceClient,
        relay: OutboxRelay,
        catalog_token: str = "",
        currency: str = "EUR",
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.relay = relay
        # The store's currency: a vendor's prices must be in it (the catalog checks too).
        self.currency = currency
        self.catalog_headers = {"Authorization": f"Bearer {catalog_token}"} if catalog_token else {}

    async def _emit(self, session: AsyncSession, type_: str, payload: dict[str, Any]) -> None:
        # One vendor's (or one order's) events stay in order on one partition.
        key = str(payload.get("order_id") or payload.get("vendor_id") or "")
        await enqueue(session, outbox, Event(type=type_, payload=payload, source=SOURCE, key=key))

    # ------------------------------------------------------------ vendors

    async def upsert(self, vendor_id: str, body: s.VendorIn) -> s.VendorOut:
        try:
            return await self._upsert(vendor_id, body)
        except IntegrityError:
            # Two first PUTs at once: the other created it; this one updates it.
            return await self._upsert(vendor_id, body)

    async def _upsert(self, vendor_id: str, body: s.VendorIn) -> s.VendorOut:
        bps = percent_to_bps(body.commission_percent)
        minimum = to_minor(body.payout.minimum_amount, body.payout.currency)
        desired = "suspended" if body.suspended else "active"
        async with self.db.write() as session:
            vendor = await session.get(Vendor, vendor_id)
            if vendor is None:
                vendor = Vendor(
                    id=vendor_id,
                    product_count=0,
                    status=desired,
                    catalog_synced=True,
                    created_at=utcnow(),
                )
                session.add(vendor)
                changed = True
                event = "vendor.registered"
            else:
                changed = vendor.status != desired
                event = "vendor.updated"
                if changed:
                    vendor.catalog_synced = False
                    vendor.offboarded_at = None
            vendor.display_name = body.display_name
            vendor.contact_email = body.contact_email
            vendor.commission_bps = bps
            vendor.payout_currency = body.payout.currency
            vendor.payout_schedule = body.payout.schedule
            vendor.payout_minimum_minor = minimum
            # A lower limit keeps the products a vendor has; it just can't add more.
            vendor.product_limit = body.product_limit
            vendor.status = desired
            vendor.updated_at = utcnow()
            await session.flush()
            if changed and event == "vendor.updated":
                event = "vendor.suspended" if desired == "suspended" else "vendor.reinstated"
            await self._emit(session, event, {"vendor_id": vendor_id, "status": desired})
        self.relay.wake()
        await self.sync_catalog(vendor_id)
        return await self.get(vendor_id)

    async def get(self, vendor_id: str) -> s.VendorOut:
        async with self.db.read() as session:
            vendor = await session.get(Vendor, vendor_id)
            if vendor is None:
                raise NotFound(f"no vendor '{vendor_id}'")
            return vendor_out(vendor)

    async def vendor(self, vendor_id: str) -> Vendor | None:
        async with self.db.read() as session:
            return await session.get(Vendor, vendor_id)

    async def list_vendors(self, page: int, per_page: int) -> s.VendorPage:
        async with self.db.read() as session:
            total = await session.scalar(select(func.count()).select_from(Vendor))
            rows = await session.scalars(
                select(Vendor).order_by(Vendor.id).offset((page - 1) * per_page).limit(per_page)
            )
            return s.VendorPage(items=[vendor_out(v) for v in rows], total=int(total or 0))

    async def offboard(self, vendor_id: str) -> bool:
        """Offboard: its products leave the shop, its people can no longer act;
        its open sub-orders stay (store staff can fulfil them) and what the
        store owes it stays in the ledger. False if there was no such vendor."""
        async with self.db.write() as session:
            vendor = await session.get(Vendor, vendor_id)
            if vendor is None:
                return False
            if vendor.status != "offboarded":
                vendor.status = "offboarded"
                vendor.catalog_synced = False
                vendor.offboarded_at = utcnow()
                vendor.updated_at = utcnow()
                await self._emit(session, "vendor.offboarded", {"vendor_id": vendor_id})
        self.relay.wake()
        await self.sync_catalog(vendor_id)
        return True

    async def sync_catalog(self, vendor_id: str) -> None:
        """Make the catalog show the vendor's listed products exactly while the
        vendor is active. Level-triggered: repeated until it succeeds once."""
        async with self.db.read() as session:
            vendor = await session.get(Vendor, vendor_id)
            if vendor is None or vendor.catalog_synced:
                return
            status = vendor.status
            products = list(
                await session.scalars(
                    select(VendorProduct).where(VendorProduct.vendor_id == vendor_id)
                )
            )
        for product in products:
            visible = status == "active" and product.listed
            response = await self.catalog.request(
                "PATCH",
                f"/admin/products/{product.product_id}",
                json={"active": visible},
                headers=self.catalog_headers,
            )
            if response.status_code not in (200, 404):
                raise ProblemError(
                    503,
                    f"the catalog refused to {'show' if visible else 'hide'} product "
                    f"{product.product_id} ({response.status_code}); try again",
                    headers={"Retry-After": "5"},
                )
        async with self.db.write() as session:
            await session.execute(
                update(Vendor)
                .where(Vendor.id == vendor_id, Vendor.status == status)
                .values(catalog_synced=True)
            )

    # ------------------------------------------------------------ members

    async def add_member(self, vendor_id: str, user_id: str) -> s.MemberOut:
        async with self.db.write() as session:
            if await session.get(Vendor, vendor_id) is None:
                raise NotFound(f"no vendor '{vendor_id}'")
            member = await session.get(Member, user_id)
            if member is None:
                member = Member(user_id=user_id, vendor_id=vendor_id, added_at=utcnow())
                session.add(member)
            elif member.vendor_id != vendor_id:
                raise Conflict(f"user '{user_id}' works for vendor '{member.vendor_id}'")
            await session.flush()
            return s.MemberOut(user_id=user_id, vendor_id=vendor_id, added_at=member.added_at)

    async def remove_member(self, vendor_id: str, user_id: str) -> None:
        async with self.db.write() as session:
            member = await session.get(Member, user_id)
            if member is not None and member.vendor_id == vendor_id:
                await session.delete(member)

    async def members(self, vendor_id: str) -> list[s.MemberOut]:
        async with self.db.read() as session:
            rows = await session.scalars(
                select(Member).where(Member.vendor_id == vendor_id).order_by(Member.user_id)
            )
            return [
                s.MemberOut(user_id=m.user_id, vendor_id=m.vendor_id, added_at=m.added_at)
                for m in rows
            ]

    async def vendor_of_member(self, user_id: str) -> str | None:
        async with self.db.read() as session:
            member = await session.get(Member, user_id)
            return member.vendor_id if member is not None else None

    # ----------------------------------------------------------- products

    async def _catalog(self, method: str, path: str, json: Any = None) -> dict[str, Any]:
        response = await self.catalog.request(method, path, json=json, headers=self.catalog_headers)
        if response.status_code >= 400:
            try:
                detail = str(response.json().get("detail", ""))
            except ValueError:
                detail = ""
            status = response.status_code
            if status in (401, 403) or status >= 500:
                raise ProblemError(502, f"the catalog answered {status}: {detail}")
            raise ProblemError(status, detail or f"the catalog answered {status}")
        if response.status_code == 204:
            return {}
        result: dict[str, Any] = response.json()
        return result

    async def _owned(self, vendor_id: str, product_id: int) -> VendorProduct:
        async with self.db.read() as session:
            product = await session.get(VendorProduct, product_id)
        if product is None or product.vendor_id != vendor_id:
            raise NotFound(f"no product {product_id} of yours")
        return product

    @staticmethod
    def _product_out(data: dict[str, Any], owned: VendorProduct) -> s.VendorProductOut:
        return s.VendorProductOut(
            id=int(data["id"]),
            slug=str(data["slug"]),
            name=str(data["name"]),
            vendor_id=owned.vendor_id,
            listed=owned.listed,
            active=bool(data.get("active", False)),
            variants=[
                s.VariantOut(
                    sku=v["sku"],
                    name=v.get("name", ""),
                    price_minor=v["price_minor"],
                    currency=v["currency"],
                    stock=v["stock"],
                )
                for v in data.get("variants", [])
            ],
        )

    async def create_product(self, vendor: Vendor, body: s.VendorProductIn) -> s.VendorProductOut:
        foreign = sorted({v.currency for v in body.variants} - {self.currency})
        if foreign:
            raise ProblemError(
                422,
                f"this store sells in {self.currency}; prices in {', '.join(foreign)} "
                "can't be added (convert them first)",
                title="Wrong currency",
                currency=self.currency,
            )
        # Claim a slot under the product limit first (a conditional update, so
        # concurrent creations can't pass it), give it back if the catalog refuses.
        async with self.db.write() as session:
            claimed = await session.execute(
                update(Vendor)
                .where(
                    Vendor.id == vendor.id,
                    (Vendor.product_limit.is_(None))
                    | (Vendor.product_count < Vendor.product_limit),
                )
                .values(product_count=Vendor.product_count + 1)
            )
            if getattr(claimed, "rowcount", 0) != 1:
                raise Conflict(
                    f"your product limit ({vendor.product_limit}) is reached",
                    type_="product_limit_reached",
                )
        payload = body.model_dump()
        payload["vendor_id"] = vendor.id
        # The catalog shows it only while the vendor is active.
        try:
            created = await self._catalog(
                "POST",
                "/admin/products",
                {**payload, "active": body.active and vendor.status == "active"},
            )
        except BaseException:
            async with self.db.write() as session:
                await session.execute(
                    update(Vendor)
                    .where(Vendor.id == vendor.id)
                    .values(product_count=Vendor.product_count - 1)
                )
            raise
        owned = VendorProduct(
            product_id=int(created["id"]),
            vendor_id=vendor.id,
            slug=str(created["slug"]),
            listed=body.active,
            created_at=utcnow(),
        )
        async with self.db.write() as session:
            session.add(owned)
            await self._emit(
                session,
                "vendor.product_created",
                {"vendor_id": vendor.id, "product_id": owned.product_id, "slug": owned.slug},
            )
        self.relay.wake()
        return self._product_out(created, owned)

    async def product(self, vendor_id: str, product_id: int) -> s.VendorProductOut:
        owned = await self._owned(vendor_id, product_id)
        data = await self._catalog("GET", f"/admin/products/{product_id}")
        return self._product_out(data, owned)

    async def products(self, vendor_id: str, page: int, per_page: int) -> s.VendorProductPage:
        async with self.db.read() as session:
            total = await session.scalar(
                select(func.count())
                .select_from(VendorProduct)
                .where(VendorProduct.vendor_id == vendor_id)
            )
            rows = list(
                await session.scalars(
                    select(VendorProduct)
                    .where(VendorProduct.vendor_id == vendor_id)
                    .order_by(VendorProduct.created_at.desc(), VendorProduct.product_id.desc())
                    .offset((page - 1) * per_page)
                    .limit(per_page)
                )
            )
        items = []
        for owned in rows:
            data = await self._catalog("GET", f"/admin/products/{owned.product_id}")
            items.append(self._product_out(data, owned))
        return s.VendorProductPage(items=items, total=int(total or 0), page=page, per_page=per_page)

    async def update_product(
        self, vendor: Vendor, product_id: int, body: s.VendorProductPatch
    ) -> s.VendorProductOut:
        owned = await self._owned(vendor.id, product_id)
        patch = body.model_dump(exclude_unset=True)
        if "active" in patch:
            async with self.db.write() as session:
                await session.execute(
                    update(VendorProduct)
                    .where(VendorProduct.product_id == product_id)
                    .values(listed=bool(patch["active"]))
                )
            owned.listed = bool(patch["active"])
            patch["active"] = owned.listed and vendor.status == "active"
        data = await self._catalog("PATCH", f"/admin/products/{product_id}", patch)
        return self._product_out(data, owned)

    async def archive_product(self, vendor: Vendor, product_id: int) -> None:
        await self._owned(vendor.id, product_id)
        await self._catalog("DELETE", f"/admin/products/{product_id}")
        async with self.db.write() as session:
            await session.execute(
                update(VendorProduct)
                .where(VendorProduct.product_id == product_id)
                .values(listed=False)
            )

    async def _check_sku(self, vendor_id: str, product_id: int, sku: str) -> None:
        await self._owned(vendor_id, product_id)
        data = await self._catalog("GET", f"/admin/products/{product_id}")
        if sku not in {v["sku"] for v in data.get("variants", [])}:
            raise NotFound(f"product {product_id} has no SKU '{sku}'")

    async def update_variant(
        self, vendor: Vendor, product_id: int, sku: str, body: s.VariantPatch
    ) -> s.VendorProductOut:
        await self._check_sku(vendor.id, product_id, sku)
        await self._catalog("PATCH", f"/admin/variants/{sku}", body.model_dump(exclude_unset=True))
        return await self.product(vendor.id, product_id)

    async def adjust_stock(
        self, vendor: Vendor, product_id: int, sku: str, delta: int
    ) -> s.VendorProductOut:
        await self._check_sku(vendor.id, product_id, sku)
        await self._catalog("POST", f"/admin/variants/{sku}/stock", {"delta": delta})
        return await self.product(vendor.id, product_id)

    # --------------------------------------------------------- sub-orders

    async def suborders(
        self, vendor_id: str, status: str | None, page: int, per_page: int
    ) -> s.SubOrderPage:
        async with self.db.read() as session:
            query = select(SubOrder).where(SubOrder.vendor_id == vendor_id)
            if status:
                query = query.where(SubOrder.status == status)
            total = await session.scalar(select(func.count()).select_from(query.subquery()))
            rows = await session.scalars(
                query.order_by(SubOrder.created_at.desc(), SubOrder.id)
                .offset((page - 1) * per_page)
                .limit(per_page)
            )
            return s.SubOrderPage(items=[suborder_out(o) for o in rows], total=int(total or 0))

    async def suborder(self, vendor_id: str | None, suborder_id: str) -> s.SubOrderOut:
        async with self.db.read() as session:
            found = await session.get(SubOrder, suborder_id)
        if found is None or (vendor_id is not None and found.vendor_id != vendor_id):
            raise NotFound(f"no sub-order '{suborder_id}'")
        return suborder_out(found)

    async def ship(self, vendor_id: str | None, suborder_id: str, body: s.ShipIn) -> s.SubOrderOut:
        async with self.db.write() as session:
            found = await session.get(SubOrder, suborder_id)
            if found is None or (vendor_id is not None and found.vendor_id != vendor_id):
                raise NotFound(f"no sub-order '{suborder_id}'")
            if found.status == "shipped":
                if (found.carrier, found.tracking_number) == (body.carrier, body.tracking_number):
                    return suborder_out(found)
                raise Conflict("this sub-order was shipped already", suborder_status=found.status)
            if found.status != "open":
                raise Conflict(
                    f"a {found.status} sub-order can't be shipped", suborder_status=found.status
                )
            found.status = "shipped"
            found.carrier = body.carrier
            found.tracking_number = body.tracking_number
            found.shipped_at = utcnow()
            await self._emit(
                session,
                "vendor.suborder_shipped",
                {
                    "suborder_id": found.id,
                    "order_id": found.order_id,
                    "vendor_id": found.vendor_id,
                    "carrier": body.carrier,
                    "tracking_number": body.tracking_number,
                },
            )
            out = suborder_out(found)
        self.relay.wake()
        return out

    # ------------------------------------------------------------- events

    async def handle_event(self, event: Event, session: AsyncSession) -> None:
        data = event.payload
        order_id = data.get("order_id")
        if not isinstance(order_id, str) or not order_id:
            raise PermanentError(f"{event.type} without an order_id")
        if event.version != 1:
            raise PermanentError(f"{event.type} dataversion {event.version} is not understood")
        if event.type == "order.paid":
            await self._order_paid(event, session, order_id)
        elif event.type == "order.returned":
            await self._order_returned(session, order_id, data)
        elif event.type == "order.refunded":
            full = data.get("status") == "refunded"
            await self._order_refunded(
                event, session, order_id, _int(data.get("refund_minor")), full
            )
        elif event.type == "order.cancelled" and _int(data.get("refund_minor")) > 0:
            await self._order_refunded(event, session, order_id, 0, True, cancel=True)

    async def _order_paid(self, event: Event, session: AsyncSession, order_id: str) -> None:
        data = event.payload
        lines = [line for line in data.get("lines") or [] if isinstance(line, dict)]
        product_ids = {
            line["product_id"] for line in lines if isinstance(line.get("product_id"), int)
        }
        if not product_ids:
            return
        owners = {
            row.product_id: row.vendor_id
            for row in await session.execute(
                select(VendorProduct.product_id, VendorProduct.vendor_id).where(
                    VendorProduct.product_id.in_(product_ids)
                )
            )
        }
        by_vendor: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for line in lines:
            owner = owners.get(line.get("product_id"))
            if owner is None:
                continue  # the store's own product
            quantity = max(_int(line.get("quantity")), 0)
            unit = max(_int(line.get("unit_price_minor")), 0)
            by_vendor[owner].append(
                {
                    "sku": str(line.get("sku", "")),
                    "product_id": line.get("product_id"),
                    "product_name": str(line.get("product_name", "")),
                    "variant_name": str(line.get("variant_name", "")),
                    "quantity": quantity,
                    "unit_price_minor": unit,
                    "line_total_minor": max(_int(line.get("line_total_minor"), quantity * unit), 0),
                    "returned_quantity": 0,
                }
            )
        currency = str(data.get("currency") or "EUR")[:3]
        customer = data.get("customer_id")
        for vendor_id, vendor_lines in sorted(by_vendor.items()):
            existing = await session.scalar(
                select(SubOrder.id).where(
                    SubOrder.order_id == order_id, SubOrder.vendor_id == vendor_id
                )
            )
            if existing is not None:
                continue
            vendor = await session.get(Vendor, vendor_id)
            if vendor is None:
                continue
            amount = sum(line["line_total_minor"] for line in vendor_lines)
            commission = ledger.commission_of(amount, vendor.commission_bps)
            suborder = SubOrder(
                id=uuid.uuid4().hex,
                order_id=order_id,
                vendor_id=vendor_id,
                customer_id=customer if isinstance(customer, str) else None,
                status="open",
                currency=currency,
                lines=vendor_lines,
                lines_total_minor=amount,
                refunded_minor=0,
                pending_return_minor=0,
                commission_bps=vendor.commission_bps,
                commission_minor=commission,
                created_at=utcnow(),
            )
            session.add(suborder)
            await session.flush()
            owed = (await ledger.balances(session, [ledger.receivable(vendor_id)], lock=True))[
                ledger.receivable(vendor_id)
            ]
            await ledger.post(
                session,
                kind="sale",
                reference=f"{event.id}:{vendor_id}",
                vendor_id=vendor_id,
                currency=currency,
                order_id=order_id,
                suborder_id=suborder.id,
                lines=ledger.sale_lines(vendor_id, amount, commission, owed),
                memo=f"order {order_id} paid",
            )
            await self._emit(
                session,
                "vendor.suborder_created",
                {
                    "suborder_id": suborder.id,
                    "order_id": order_id,
                    "vendor_id": vendor_id,
                    "currency": currency,
                    "lines_total_minor": amount,
                    "commission_minor": commission,
                    "lines": vendor_lines,
                },
            )

    async def _order_returned(
        self, session: AsyncSession, order_id: str, data: dict[str, Any]
    ) -> None:
        returned: dict[str, int] = defaultdict(int)
        for line in data.get("return_lines") or []:
            if isinstance(line, dict) and isinstance(line.get("sku"), str):
                returned[line["sku"]] += max(_int(line.get("quantity")), 0)
        if not returned:
            return
        suborders = list(
            await session.scalars(
                select(SubOrder).where(SubOrder.order_id == order_id).order_by(SubOrder.vendor_id)
            )
        )
        for suborder in suborders:
            lines = [dict(line) for line in suborder.lines]
            value = 0
            for line in lines:
                want = returned.get(line["sku"], 0)
                if want <= 0:
                    continue
                can = min(want, line["quantity"] - line["returned_quantity"])
                if can <= 0:
                    continue
                line["returned_quantity"] += can
                returned[line["sku"]] -= can
                value += can * line["unit_price_minor"]
            if value:
                suborder.lines = lines
                remaining = (
                    suborder.lines_total_minor
                    - suborder.refunded_minor
                    - suborder.pending_return_minor
                )
                suborder.pending_return_minor += min(value, max(remaining, 0))

    async def _order_refunded(
        self,
        event: Event,
        session: AsyncSession,
        order_id: str,
        refund_minor: int,
        full: bool,
        *,
        cancel: bool = False,
    ) -> None:
        """Allocate a refund to the vendors' lines: a full refund (or a paid
        order cancelled) reverses everything left; a partial one goes to the
        returned items not refunded yet. What is left of it (shipping, tax,
        goodwill) is the store's own."""
        suborders = list(
            await session.scalars(
                select(SubOrder).where(SubOrder.order_id == order_id).order_by(SubOrder.vendor_id)
            )
        )
        budget = refund_minor
        for suborder in suborders:
            net = suborder.lines_total_minor - suborder.refunded_minor
            if full:
                amount = net
            else:
                amount = min(suborder.pending_return_minor, budget, net)
                budget -= amount
            if amount <= 0:
                if full and cancel and suborder.status == "open":
                    suborder.status = "cancelled"
                continue
            new_net = net - amount
            new_commission = ledger.commission_of(new_net, suborder.commission_bps)
            commission_back = suborder.commission_minor - new_commission
            available = (
                await ledger.balances(session, [ledger.payable(suborder.vendor_id)], lock=True)
            )[ledger.payable(suborder.vendor_id)]
            await ledger.post(
                session,
                kind="refund",
                reference=f"{event.id}:{suborder.vendor_id}",
                vendor_id=suborder.vendor_id,
                currency=suborder.currency,
                order_id=order_id,
                suborder_id=suborder.id,
                lines=ledger.refund_lines(suborder.vendor_id, amount, commission_back, available),
                memo=f"order {order_id} {'cancelled' if cancel else 'refunded'}",
            )
            suborder.refunded_minor += amount
            suborder.pending_return_minor = max(0, suborder.pending_return_minor - amount)
            suborder.commission_minor = new_commission
            if suborder.refunded_minor == suborder.lines_total_minor:
                suborder.status = (
                    "cancelled" if cancel and suborder.status == "open" else "refunded"
                )
            await self._emit(
                session,
                "vendor.suborder_refunded",
                {
                    "suborder_id": suborder.id,
                    "order_id": order_id,
                    "vendor_id": suborder.vendor_id,
                    "currency": suborder.currency,
                    "refund_minor": amount,
                    "refunded_minor": suborder.refunded_minor,
                    "commission_minor": suborder.commission_minor,
                },
            )

    # ------------------------------------------------------------- ledger

    async def vendor_ledger(self, vendor_id: str, limit: int) -> s.LedgerOut:
        accounts = [ledger.payable(vendor_id), ledger.receivable(vendor_id)]
        async with self.db.read() as session:
            found = await ledger.balances(session, accounts, lock=False)
            transactions = list(
                await session.scalars(
                    select(LedgerTransaction)
                    .where(LedgerTransaction.vendor_id == vendor_id)
                    .order_by(LedgerTransaction.created_at.desc(), LedgerTransaction.id)
                    .limit(limit)
                )
            )
            entries: dict[str, list[s.EntryOut]] = defaultdict(list)
            if transactions:
                for entry in await session.scalars(
                    select(LedgerEntry)
                    .where(LedgerEntry.transaction_id.in_([t.id for t in transactions]))
                    .order_by(LedgerEntry.id)
                ):
                    entries[entry.transaction_id].append(
                        s.EntryOut(
                            account=entry.account,
                            debit_minor=entry.debit_minor,
                            credit_minor=entry.credit_minor,
                        )
                    )
        return s.LedgerOut(
            vendor_id=vendor_id,
            payable_minor=found[accounts[0]],
            receivable_minor=found[accounts[1]],
            transactions=[
                s.TransactionOut(
                    id=t.id,
                    kind=t.kind,
                    reference=t.reference,
                    order_id=t.order_id,
                    vendor_id=t.vendor_id,
                    currency=t.currency,
                    memo=t.memo,
                    created_at=t.created_at,
                    entries=entries[t.id],
                )
                for t in transactions
            ],
        )

    async def trial_balance(self) -> s.TrialBalance:
        async with self.db.read() as session:
            accounts = {
                row.name: int(row.balance_minor)
                for row in await session.execute(
                    select(LedgerAccount.name, LedgerAccount.balance_minor).order_by(
                        LedgerAccount.name
                    )
                )
            }
            sums = (
                await session.execute(
                    select(
                        func.coalesce(func.sum(LedgerEntry.debit_minor), 0),
                        func.coalesce(func.sum(LedgerEntry.credit_minor), 0),
                    )
                )
            ).one()
        debits, credits = int(sums[0]), int(sums[1])
        return s.TrialBalance(
            accounts=accounts,
            debits_minor=debits,
            credits_minor=credits,
            balanced=debits == credits,
        )

    # ------------------------------------------------------------ payouts

    async def run_payouts(self, day: dt.date) -> list[s.PayoutOut]:
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
            await self._emit(
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

    async def payouts(self, vendor_id: str) -> s.PayoutPage:
        async with self.db.read() as session:
            rows = await session.scalars(
                select(Payout)
                .where(Payout.vendor_id == vendor_id)
                .order_by(Payout.created_at.desc())
                .limit(200)
            )
            return s.PayoutPage(items=[self._payout_out(p) for p in rows])

    # ------------------------------------------------------------ reviews

    async def review(self, vendor_id: str, customer_id: str, body: s.ReviewIn) -> s.ReviewOut:
        async with self.db.write() as session:
            vendor = await session.get(Vendor, vendor_id)
            if vendor is None or vendor.status == "offboarded":
                raise NotFound(f"no vendor '{vendor_id}'")
            bought = await session.scalar(
                select(SubOrder.id)
                .where(SubOrder.vendor_id == vendor_id, SubOrder.customer_id == customer_id)
                .limit(1)
            )
            if bought is None:
                raise ProblemError(
                    403,
                    "only shoppers who bought from this vendor can rate it",
                    type_="not_a_buyer",
                )
            review = await session.get(Review, (vendor_id, customer_id))
            now = utcnow()
            if review is None:
                review = Review(vendor_id=vendor_id, customer_id=customer_id, created_at=now)
                session.add(review)
            review.rating = body.rating
            review.comment = body.comment.strip()
            review.author = body.author.strip()
            review.updated_at = now
            await session.flush()
            await self._emit(
                session,
                "vendor.reviewed",
                {"vendor_id": vendor_id, "customer_id": customer_id, "rating": body.rating},
            )
            out = s.ReviewOut(
                vendor_id=vendor_id,
                rating=review.rating,
                comment=review.comment,
                author=review.author,
                created_at=review.created_at,
                updated_at=review.updated_at,
            )
        self.relay.wake()
        return out

    async def reviews(self, vendor_id: str, limit: int) -> s.ReviewPage:
        async with self.db.read() as session:
            vendor = await session.get(Vendor, vendor_id)
            if vendor is None or vendor.status == "offboarded":
                raise NotFound(f"no vendor '{vendor_id}'")
            summary = (
                await session.execute(
                    select(func.avg(Review.rating), func.count()).where(
                        Review.vendor_id == vendor_id
                    )
                )
            ).one()
            rows = await session.scalars(
                select(Review)
                .where(Review.vendor_id == vendor_id)
                .order_by(Review.updated_at.desc())
                .limit(limit)
            )
            return s.ReviewPage(
                vendor_id=vendor_id,
                display_name=vendor.display_name,
                rating_average=round(float(summary[0]), 2) if summary[0] is not None else None,
                rating_count=int(summary[1]),
                items=[
                    s.ReviewOut(
                        vendor_id=r.vendor_id,
                        rating=r.rating,
                        comment=r.comment,
                        author=r.author,
                        created_at=r.created_at,
                        updated_at=r.updated_at,
                    )
                    for r in rows
                ],
            )
