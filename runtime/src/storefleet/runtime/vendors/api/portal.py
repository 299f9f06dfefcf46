"""A vendor's people (``/vendor``, roles vendor-admin and vendor-staff with a
``vendor_id`` claim or a membership): their own products, stock, sub-orders,
payouts and ledger."""

from __future__ import annotations

from fastapi import APIRouter, Response

from storefleet.runtime.platform.web.errors import PROBLEM_RESPONSES
from storefleet.runtime.vendors import schemas as s
from storefleet.runtime.vendors.api.deps import (
    LedgerLimit,
    Mine,
    MineAsAdmin,
    Page,
    PerPage,
    ProductId,
    SkuPath,
    SubOrderId,
    SubOrderStatus,
    Vendors,
    writable,
)

router = APIRouter(prefix="/vendor", tags=["vendor"], responses=PROBLEM_RESPONSES)


@router.get("/me", response_model=s.VendorOut)
async def me(vendors: Vendors, mine: Mine) -> s.VendorOut:
    return await vendors.registry.get(mine.id)


@router.get("/products", response_model=s.VendorProductPage)
async def my_products(
    vendors: Vendors, mine: Mine, page: Page = 1, per_page: PerPage = 20
) -> s.VendorProductPage:
    return await vendors.products.page(mine.id, page, per_page)


@router.post("/products", response_model=s.VendorProductOut, status_code=201)
async def create_product(
    vendors: Vendors, mine: Mine, body: s.VendorProductIn
) -> s.VendorProductOut:
    """A product of this vendor in the shop's catalog (up to its product limit)."""
    return await vendors.products.create_product(writable(mine), body)


@router.get("/products/{product_id}", response_model=s.VendorProductOut)
async def my_product(vendors: Vendors, mine: Mine, product_id: ProductId) -> s.VendorProductOut:
    return await vendors.products.product(mine.id, product_id)


@router.patch("/products/{product_id}", response_model=s.VendorProductOut)
async def update_product(
    vendors: Vendors, mine: Mine, product_id: ProductId, body: s.VendorProductPatch
) -> s.VendorProductOut:
    return await vendors.products.update_product(writable(mine), product_id, body)


@router.delete("/products/{product_id}", status_code=204)
async def archive_product(vendors: Vendors, mine: Mine, product_id: ProductId) -> Response:
    await vendors.products.archive_product(writable(mine), product_id)
    return Response(status_code=204)


@router.patch("/products/{product_id}/variants/{sku}", response_model=s.VendorProductOut)
async def update_variant(
    vendors: Vendors, mine: Mine, product_id: ProductId, sku: SkuPath, body: s.VariantPatch
) -> s.VendorProductOut:
    return await vendors.products.update_variant(writable(mine), product_id, sku, body)


@router.post("/products/{product_id}/variants/{sku}/stock", response_model=s.VendorProductOut)
async def adjust_stock(
    vendors: Vendors, mine: Mine, product_id: ProductId, sku: SkuPath, body: s.StockAdjustment
) -> s.VendorProductOut:
    return await vendors.products.adjust_stock(writable(mine), product_id, sku, body.delta)


@router.get("/suborders", response_model=s.SubOrderPage)
async def my_suborders(
    vendors: Vendors,
    mine: Mine,
    status: SubOrderStatus = None,
    page: Page = 1,
    per_page: PerPage = 20,
) -> s.SubOrderPage:
    return await vendors.suborders.page(mine.id, status, page, per_page)


@router.get("/suborders/{suborder_id}", response_model=s.SubOrderOut)
async def my_suborder(vendors: Vendors, mine: Mine, suborder_id: SubOrderId) -> s.SubOrderOut:
    return await vendors.suborders.suborder(mine.id, suborder_id)


@router.post("/suborders/{suborder_id}/ship", response_model=s.SubOrderOut)
async def ship(
    vendors: Vendors, mine: Mine, suborder_id: SubOrderId, body: s.ShipIn
) -> s.SubOrderOut:
    """Mark this vendor's part of an order shipped (a suspended vendor still may)."""
    return await vendors.suborders.ship(mine.id, suborder_id, body)


@router.get("/payouts", response_model=s.PayoutPage)
async def my_payouts(vendors: Vendors, mine: MineAsAdmin) -> s.PayoutPage:
    return await vendors.payouts.of_vendor(mine.id)


@router.get("/ledger", response_model=s.LedgerOut)
async def my_ledger(vendors: Vendors, mine: MineAsAdmin, limit: LedgerLimit = 100) -> s.LedgerOut:
    return await vendors.statements.vendor_ledger(mine.id, limit)
