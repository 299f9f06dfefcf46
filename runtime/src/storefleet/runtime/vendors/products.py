"""A vendor's products: written to the catalog on the vendor's behalf, owned
here (which vendor, listed or not, the product limit)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from storefleet.runtime.platform.events.outbox import OutboxRelay, utcnow
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.platform.web.errors import Conflict, NotFound, ProblemError
from storefleet.runtime.vendors import schemas as s
from storefleet.runtime.vendors.catalog_link import CatalogLink
from storefleet.runtime.vendors.changes import emit
from storefleet.runtime.vendors.models import (
    Vendor,
    VendorProduct,
)


class Products:
    """Each vendor's own products, stock and variants."""

    def __init__(
        self, db: Database, relay: OutboxRelay, catalog: CatalogLink, currency: str
    ) -> None:
        self.db = db
        self.relay = relay
        self.catalog = catalog
        # The store's currency: a vendor's prices must be in it (the catalog checks too).
        self.currency = currency

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
            created = await self.catalog.call(
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
            await emit(
                session,
                "vendor.product_created",
                {"vendor_id": vendor.id, "product_id": owned.product_id, "slug": owned.slug},
            )
        self.relay.wake()
        return self._product_out(created, owned)

    async def product(self, vendor_id: str, product_id: int) -> s.VendorProductOut:
        owned = await self._owned(vendor_id, product_id)
        data = await self.catalog.call("GET", f"/admin/products/{product_id}")
        return self._product_out(data, owned)

    async def page(self, vendor_id: str, page: int, per_page: int) -> s.VendorProductPage:
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
            data = await self.catalog.call("GET", f"/admin/products/{owned.product_id}")
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
        data = await self.catalog.call("PATCH", f"/admin/products/{product_id}", patch)
        return self._product_out(data, owned)

    async def archive_product(self, vendor: Vendor, product_id: int) -> None:
        await self._owned(vendor.id, product_id)
        await self.catalog.call("DELETE", f"/admin/products/{product_id}")
        async with self.db.write() as session:
            await session.execute(
                update(VendorProduct)
                .where(VendorProduct.product_id == product_id)
                .values(listed=False)
            )

    async def _check_sku(self, vendor_id: str, product_id: int, sku: str) -> None:
        await self._owned(vendor_id, product_id)
        data = await self.catalog.call("GET", f"/admin/products/{product_id}")
        if sku not in {v["sku"] for v in data.get("variants", [])}:
            raise NotFound(f"product {product_id} has no SKU '{sku}'")

    async def update_variant(
        self, vendor: Vendor, product_id: int, sku: str, body: s.VariantPatch
    ) -> s.VendorProductOut:
        await self._check_sku(vendor.id, product_id, sku)
        await self.catalog.call(
            "PATCH", f"/admin/variants/{sku}", body.model_dump(exclude_unset=True)
        )
        return await self.product(vendor.id, product_id)

    async def adjust_stock(
        self, vendor: Vendor, product_id: int, sku: str, delta: int
    ) -> s.VendorProductOut:
        await self._check_sku(vendor.id, product_id, sku)
        await self.catalog.call("POST", f"/admin/variants/{sku}/stock", {"delta": delta})
        return await self.product(vendor.id, product_id)
