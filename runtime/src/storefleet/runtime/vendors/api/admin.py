"""The vendors HTTP API.

Store staff and the operator (``/admin``): register, update, suspend and
offboard vendors (``PUT``/``GET``/``DELETE /admin/vendors/{id}``, idempotent),
their sub-orders and ledgers, payout runs, the trial balance. A vendor's
people (``/vendor``, roles vendor-admin and vendor-staff with a ``vendor_id``
claim): their own products, stock, sub-orders, payouts and ledger. Shoppers:
a vendor's reviews (public) and their own rating of a vendor they bought from.
"""

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from storefleet.runtime.platform.identity.permissions import public, require
from storefleet.runtime.platform.identity.tokens import Principal
from storefleet.runtime.platform.web.errors import PROBLEM_RESPONSES, ProblemError
from storefleet.runtime.vendors import schemas as s
from storefleet.runtime.vendors.models import Vendor
from storefleet.runtime.vendors.service import VendorService
from storefleet.runtime.vendors.settings import VendorsSettings

VendorId = Annotated[str, Path(pattern=s.VENDOR_ID, max_length=63)]
SubOrderId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
ProductId = Annotated[int, Path(ge=1, le=2_147_483_647)]
SkuPath = Annotated[str, Path(pattern=r"^[A-Z0-9][A-Z0-9._-]{0,63}$")]
UserId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.@:-]{1,100}$")]
Page = Annotated[int, Query(ge=1, le=1000)]
PerPage = Annotated[int, Query(ge=1, le=50)]
SubOrderStatus = Annotated[str | None, Query(pattern=r"^(open|shipped|cancelled|refunded)$")]


def build_router(service: VendorService, settings: VendorsSettings) -> APIRouter:
    def rule(permission: str) -> Any:
        return Depends(require(permission, admin_token=settings.admin_token))

    # ----------------------------------------------------------- store staff

    admin = APIRouter(prefix="/admin", tags=["admin"], responses=PROBLEM_RESPONSES)

    @admin.put(
        "/vendors/{vendor_id}", response_model=s.VendorOut, dependencies=[rule("vendors:manage")]
    )
    async def put_vendor(vendor_id: VendorId, body: s.VendorIn) -> s.VendorOut:
        """Create or update a vendor to exactly this state (idempotent). ``suspended``
        hides its products and stops its people from changing them."""
        return await service.upsert(vendor_id, body)

    @admin.get(
        "/vendors/{vendor_id}", response_model=s.VendorOut, dependencies=[rule("vendors:read")]
    )
    async def get_vendor(vendor_id: VendorId) -> s.VendorOut:
        return await service.get(vendor_id)

    @admin.get("/vendors", response_model=s.VendorPage, dependencies=[rule("vendors:read")])
    async def list_vendors(page: Page = 1, per_page: PerPage = 50) -> s.VendorPage:
        return await service.list_vendors(page, per_page)

    @admin.delete("/vendors/{vendor_id}", status_code=204, dependencies=[rule("vendors:manage")])
    async def offboard_vendor(vendor_id: VendorId) -> Response:
        """Offboard (idempotent; 204 also for a vendor that was never there): its
        products leave the shop, its people can no longer act, its open
        sub-orders stay for the store to fulfil, the ledger keeps what it is owed."""
        await service.offboard(vendor_id)
        return Response(status_code=204)

    @admin.get(
        "/vendors/{vendor_id}/suborders",
        response_model=s.SubOrderPage,
        dependencies=[rule("vendors:read")],
    )
    async def vendor_suborders(
        vendor_id: VendorId, status: SubOrderStatus = None, page: Page = 1, per_page: PerPage = 50
    ) -> s.SubOrderPage:
        return await service.suborders(vendor_id, status, page, per_page)

    @admin.post(
        "/suborders/{suborder_id}/ship",
        response_model=s.SubOrderOut,
        dependencies=[rule("vendors:manage")],
    )
    async def admin_ship(suborder_id: SubOrderId, body: s.ShipIn) -> s.SubOrderOut:
        """Store staff ship a sub-order themselves (an offboarded vendor's open ones)."""
        return await service.ship(None, suborder_id, body)

    @admin.get(
        "/vendors/{vendor_id}/ledger",
        response_model=s.LedgerOut,
        dependencies=[rule("vendors:read")],
    )
    async def admin_vendor_ledger(
        vendor_id: VendorId, limit: Annotated[int, Query(ge=1, le=500)] = 100
    ) -> s.LedgerOut:
        return await service.vendor_ledger(vendor_id, limit)

    @admin.get(
        "/vendors/{vendor_id}/payouts",
        response_model=s.PayoutPage,
        dependencies=[rule("vendors:read")],
    )
    async def admin_vendor_payouts(vendor_id: VendorId) -> s.PayoutPage:
        return await service.payouts(vendor_id)

    @admin.get(
        "/vendors/{vendor_id}/members",
        response_model=list[s.MemberOut],
        dependencies=[rule("vendors:read")],
    )
    async def members(vendor_id: VendorId) -> list[s.MemberOut]:
        return await service.members(vendor_id)

    @admin.put(
        "/vendors/{vendor_id}/members/{user_id}",
        response_model=s.MemberOut,
        dependencies=[rule("vendors:manage")],
    )
    async def add_member(vendor_id: VendorId, user_id: UserId) -> s.MemberOut:
        """This signed-in person (their token's subject) works for the vendor; their
        role (vendor-admin or vendor-staff) comes from their token."""
        return await service.add_member(vendor_id, user_id)

    @admin.delete(
        "/vendors/{vendor_id}/members/{user_id}",
        status_code=204,
        dependencies=[rule("vendors:manage")],
    )
    async def remove_member(vendor_id: VendorId, user_id: UserId) -> Response:
        await service.remove_member(vendor_id, user_id)
        return Response(status_code=204)

    @admin.get("/ledger", response_model=s.TrialBalance, dependencies=[rule("vendors:read")])
    async def trial_balance() -> s.TrialBalance:
        """Every account's balance; total debits equal total credits."""
        return await service.trial_balance()

    @admin.post(
        "/payouts/run", response_model=list[s.PayoutOut], dependencies=[rule("vendors:manage")]
    )
    async def run_payouts(body: s.PayoutRunIn) -> list[s.PayoutOut]:
        """Pay every vendor due in the period (of its schedule) containing ``as_of``;
        once per vendor and period however often it runs."""
        try:
            day = (
                dt.date.fromisoformat(body.as_of) if body.as_of else dt.datetime.now(dt.UTC).date()
            )
        except ValueError:
            raise ProblemError(422, "as_of must be a real date (YYYY-MM-DD)") from None
        return await service.run_payouts(day)

    # ---------------------------------------------------------- a vendor's people

    async def my_vendor(
        principal: Annotated[Principal, Depends(require("vendor:work"))],
    ) -> Vendor:
        return await _vendor_of(principal)

    async def my_vendor_as_admin(
        principal: Annotated[Principal, Depends(require("vendor:manage-own"))],
    ) -> Vendor:
        return await _vendor_of(principal)

    async def _vendor_of(principal: Principal) -> Vendor:
        # The token's claim (Keycloak attribute), else the store's membership list.
        vendor_id = principal.vendor_id or await service.vendor_of_member(principal.subject)
        if vendor_id is None:
            raise ProblemError(403, "this account works for no vendor (ask the store to add it)")
        vendor = await service.vendor(vendor_id)
        if vendor is None or vendor.status == "offboarded":
            raise ProblemError(403, f"vendor '{vendor_id}' is not (or no longer) trading here")
        return vendor

    def writable(vendor: Vendor) -> Vendor:
        if vendor.status != "active":
            raise ProblemError(403, f"vendor '{vendor.id}' is {vendor.status}: read only")
        return vendor

    Mine = Annotated[Vendor, Depends(my_vendor)]
    MineAsAdmin = Annotated[Vendor, Depends(my_vendor_as_admin)]
    vendor = APIRouter(prefix="/vendor", tags=["vendor"], responses=PROBLEM_RESPONSES)

    @vendor.get("/me", response_model=s.VendorOut)
    async def me(mine: Mine) -> s.VendorOut:
        return await service.get(mine.id)

    @vendor.get("/products", response_model=s.VendorProductPage)
    async def my_products(
        mine: Mine, page: Page = 1, per_page: PerPage = 20
    ) -> s.VendorProductPage:
        return await service.products(mine.id, page, per_page)

    @vendor.post("/products", response_model=s.VendorProductOut, status_code=201)
    async def create_product(mine: Mine, body: s.VendorProductIn) -> s.VendorProductOut:
        """A product of this vendor in the shop's catalog (up to its product limit)."""
        return await service.create_product(writable(mine), body)

    @vendor.get("/products/{product_id}", response_model=s.VendorProductOut)
    async def my_product(mine: Mine, product_id: ProductId) -> s.VendorProductOut:
        return await service.product(mine.id, product_id)

    @vendor.patch("/products/{product_id}", response_model=s.VendorProductOut)
    async def update_product(
        mine: Mine, product_id: ProductId, body: s.VendorProductPatch
    ) -> s.VendorProductOut:
        return await service.update_product(writable(mine), product_id, body)

    @vendor.delete("/products/{product_id}", status_code=204)
    async def archive_product(mine: Mine, product_id: ProductId) -> Response:
        await service.archive_product(writable(mine), product_id)
        return Response(status_code=204)

    @vendor.patch("/products/{product_id}/variants/{sku}", response_model=s.VendorProductOut)
    async def update_variant(
        mine: Mine, product_id: ProductId, sku: SkuPath, body: s.VariantPatch
    ) -> s.VendorProductOut:
        return await service.update_variant(writable(mine), product_id, sku, body)

    @vendor.post("/products/{product_id}/variants/{sku}/stock", response_model=s.VendorProductOut)
    async def adjust_stock(
        mine: Mine, product_id: ProductId, sku: SkuPath, body: s.StockAdjustment
    ) -> s.VendorProductOut:
        return await service.adjust_stock(writable(mine), product_id, sku, body.delta)

    @vendor.get("/suborders", response_model=s.SubOrderPage)
    async def my_suborders(
        mine: Mine, status: SubOrderStatus = None, page: Page = 1, per_page: PerPage = 20
    ) -> s.SubOrderPage:
        return await service.suborders(mine.id, status, page, per_page)

    @vendor.get("/suborders/{suborder_id}", response_model=s.SubOrderOut)
    async def my_suborder(mine: Mine, suborder_id: SubOrderId) -> s.SubOrderOut:
        return await service.suborder(mine.id, suborder_id)

    @vendor.post("/suborders/{suborder_id}/ship", response_model=s.SubOrderOut)
    async def ship(mine: Mine, suborder_id: SubOrderId, body: s.ShipIn) -> s.SubOrderOut:
        """Mark this vendor's part of an order shipped (a suspended vendor still may)."""
        return await service.ship(mine.id, suborder_id, body)

    @vendor.get("/payouts", response_model=s.PayoutPage)
    async def my_payouts(mine: MineAsAdmin) -> s.PayoutPage:
        return await service.payouts(mine.id)

    @vendor.get("/ledger", response_model=s.LedgerOut)
    async def my_ledger(
        mine: MineAsAdmin, limit: Annotated[int, Query(ge=1, le=500)] = 100
    ) -> s.LedgerOut:
        return await service.vendor_ledger(mine.id, limit)

    # ------------------------------------------------------------ shoppers

    shoppers = APIRouter(tags=["reviews"], responses=PROBLEM_RESPONSES)

    @shoppers.get(
        "/vendors/{vendor_id}/reviews",
        response_model=s.ReviewPage,
        dependencies=[Depends(public)],
    )
    async def reviews(
        vendor_id: VendorId, limit: Annotated[int, Query(ge=1, le=100)] = 20
    ) -> s.ReviewPage:
        """A vendor's average rating and its latest reviews."""
        return await service.reviews(vendor_id, limit)

    @shoppers.put("/vendors/{vendor_id}/reviews/mine", response_model=s.ReviewOut)
    async def rate(
        vendor_id: VendorId,
        body: s.ReviewIn,
        principal: Annotated[Principal, Depends(require("reviews:write"))],
    ) -> s.ReviewOut:
        """Rate a vendor you bought from, 1-5 with a comment (again: replaces it)."""
        return await service.review(vendor_id, principal.subject, body)

    router = APIRouter()
    router.include_router(admin)
    router.include_router(vendor)
    router.include_router(shoppers)
    return router
