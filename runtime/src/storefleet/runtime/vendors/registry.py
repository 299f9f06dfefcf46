"""The vendors themselves: registering, updating, suspending and offboarding
them, and keeping the catalog's view of their products in step."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from storefleet.runtime.platform.events.outbox import OutboxRelay, utcnow
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.errors import NotFound, ProblemError
from storefleet.runtime.vendors import schemas as s
from storefleet.runtime.vendors.catalog_link import CatalogLink
from storefleet.runtime.vendors.changes import emit
from storefleet.runtime.vendors.models import (
    Vendor,
    VendorProduct,
)
from storefleet.runtime.vendors.money import EXPONENTS, percent_to_bps, to_minor


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


class Registry:
    """Vendors and their state."""

    def __init__(self, db: Database, relay: OutboxRelay, catalog: CatalogLink) -> None:
        self.db = db
        self.relay = relay
        self.catalog = catalog

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
            await emit(session, event, {"vendor_id": vendor_id, "status": desired})
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
                await emit(session, "vendor.offboarded", {"vendor_id": vendor_id})
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
                "PATCH", f"/admin/products/{product.product_id}", json={"active": visible}
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
