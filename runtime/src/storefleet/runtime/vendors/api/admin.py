"""Store staff and the operator (``/admin``): register, update, suspend and
offboard vendors, their members, sub-orders and ledgers, payout runs, the
trial balance."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Response

from storefleet.runtime.platform.web.errors import PROBLEM_RESPONSES, ProblemError
from storefleet.runtime.vendors import schemas as s
from storefleet.runtime.vendors.api.deps import (
    LedgerLimit,
    Page,
    PerPage,
    SubOrderId,
    SubOrderStatus,
    UserId,
    VendorId,
    Vendors,
    staff,
)

router = APIRouter(prefix="/admin", tags=["admin"], responses=PROBLEM_RESPONSES)
READ = [Depends(staff("vendors:read"))]
MANAGE = [Depends(staff("vendors:manage"))]


@router.put("/vendors/{vendor_id}", response_model=s.VendorOut, dependencies=MANAGE)
async def put_vendor(vendors: Vendors, vendor_id: VendorId, body: s.VendorIn) -> s.VendorOut:
    """Create or update a vendor to exactly this state (idempotent). ``suspended``
    hides its products and stops its people from changing them."""
    return await vendors.registry.upsert(vendor_id, body)


@router.get("/vendors/{vendor_id}", response_model=s.VendorOut, dependencies=READ)
async def get_vendor(vendors: Vendors, vendor_id: VendorId) -> s.VendorOut:
    return await vendors.registry.get(vendor_id)


@router.get("/vendors", response_model=s.VendorPage, dependencies=READ)
async def list_vendors(vendors: Vendors, page: Page = 1, per_page: PerPage = 50) -> s.VendorPage:
    return await vendors.registry.list_vendors(page, per_page)


@router.delete("/vendors/{vendor_id}", status_code=204, dependencies=MANAGE)
async def offboard_vendor(vendors: Vendors, vendor_id: VendorId) -> Response:
    """Offboard (idempotent; 204 also for a vendor that was never there): its
    products leave the shop, its people can no longer act, its open
    sub-orders stay for the store to fulfil, the ledger keeps what it is owed."""
    await vendors.registry.offboard(vendor_id)
    return Response(status_code=204)


@router.get("/vendors/{vendor_id}/suborders", response_model=s.SubOrderPage, dependencies=READ)
async def vendor_suborders(
    vendors: Vendors,
    vendor_id: VendorId,
    status: SubOrderStatus = None,
    page: Page = 1,
    per_page: PerPage = 50,
) -> s.SubOrderPage:
    return await vendors.suborders.page(vendor_id, status, page, per_page)


@router.post("/suborders/{suborder_id}/ship", response_model=s.SubOrderOut, dependencies=MANAGE)
async def admin_ship(vendors: Vendors, suborder_id: SubOrderId, body: s.ShipIn) -> s.SubOrderOut:
    """Store staff ship a sub-order themselves (an offboarded vendor's open ones)."""
    return await vendors.suborders.ship(None, suborder_id, body)


@router.get("/vendors/{vendor_id}/ledger", response_model=s.LedgerOut, dependencies=READ)
async def admin_vendor_ledger(
    vendors: Vendors, vendor_id: VendorId, limit: LedgerLimit = 100
) -> s.LedgerOut:
    return await vendors.statements.vendor_ledger(vendor_id, limit)


@router.get("/vendors/{vendor_id}/payouts", response_model=s.PayoutPage, dependencies=READ)
async def admin_vendor_payouts(vendors: Vendors, vendor_id: VendorId) -> s.PayoutPage:
    return await vendors.payouts.of_vendor(vendor_id)


@router.get("/vendors/{vendor_id}/members", response_model=list[s.MemberOut], dependencies=READ)
async def members(vendors: Vendors, vendor_id: VendorId) -> list[s.MemberOut]:
    return await vendors.members.of_vendor(vendor_id)


@router.put(
    "/vendors/{vendor_id}/members/{user_id}", response_model=s.MemberOut, dependencies=MANAGE
)
async def add_member(vendors: Vendors, vendor_id: VendorId, user_id: UserId) -> s.MemberOut:
    """This signed-in person (their token's subject) works for the vendor; their
    role (vendor-admin or vendor-staff) comes from their token."""
    return await vendors.members.add_member(vendor_id, user_id)


@router.delete("/vendors/{vendor_id}/members/{user_id}", status_code=204, dependencies=MANAGE)
async def remove_member(vendors: Vendors, vendor_id: VendorId, user_id: UserId) -> Response:
    await vendors.members.remove_member(vendor_id, user_id)
    return Response(status_code=204)


@router.get("/ledger", response_model=s.TrialBalance, dependencies=READ)
async def trial_balance(vendors: Vendors) -> s.TrialBalance:
    """Every account's balance; total debits equal total credits."""
    return await vendors.statements.trial_balance()


@router.post("/payouts/run", response_model=list[s.PayoutOut], dependencies=MANAGE)
async def run_payouts(vendors: Vendors, body: s.PayoutRunIn) -> list[s.PayoutOut]:
    """Pay every vendor due in the period (of its schedule) containing ``as_of``;
    once per vendor and period however often it runs."""
    try:
        day = dt.date.fromisoformat(body.as_of) if body.as_of else dt.datetime.now(dt.UTC).date()
    except ValueError:
        raise ProblemError(422, "as_of must be a real date (YYYY-MM-DD)") from None
    return await vendors.payouts.run(day)
