"""What the vendors routes share: the service, the path and query parameters,
the permission checks, and the vendor a vendor's person works for."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request

from storefleet.runtime.platform.identity.permissions import RouteGuards
from storefleet.runtime.platform.identity.tokens import Principal
from storefleet.runtime.platform.web.errors import ProblemError
from storefleet.runtime.vendors import schemas as s
from storefleet.runtime.vendors.models import Vendor
from storefleet.runtime.vendors.service import VendorService

VendorId = Annotated[str, Path(pattern=s.VENDOR_ID, max_length=63)]
SubOrderId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
ProductId = Annotated[int, Path(ge=1, le=2_147_483_647)]
SkuPath = Annotated[str, Path(pattern=r"^[A-Z0-9][A-Z0-9._-]{0,63}$")]
UserId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.@:-]{1,100}$")]
Page = Annotated[int, Query(ge=1, le=1000)]
PerPage = Annotated[int, Query(ge=1, le=50)]
LedgerLimit = Annotated[int, Query(ge=1, le=500)]
SubOrderStatus = Annotated[str | None, Query(pattern=r"^(open|shipped|cancelled|refunded)$")]

# Store staff's routes, which the operator's admin token may also call.
staff = RouteGuards("vendors_staff_checks")
# Routes of people (a vendor's, shoppers): no static token acts for them.
people = RouteGuards("vendors_people_checks")


def get_vendors(request: Request) -> VendorService:
    vendors: VendorService = request.app.state.vendors
    return vendors


Vendors = Annotated[VendorService, Depends(get_vendors)]


async def _vendor_of(vendors: VendorService, principal: Principal) -> Vendor:
    # The token's claim (Keycloak attribute), else the store's membership list.
    vendor_id = principal.vendor_id or await vendors.members.vendor_of_member(principal.subject)
    if vendor_id is None:
        raise ProblemError(403, "this account works for no vendor (ask the store to add it)")
    vendor = await vendors.registry.vendor(vendor_id)
    if vendor is None or vendor.status == "offboarded":
        raise ProblemError(403, f"vendor '{vendor_id}' is not (or no longer) trading here")
    return vendor


async def my_vendor(
    vendors: Vendors, principal: Annotated[Principal, Depends(people("vendor:work"))]
) -> Vendor:
    return await _vendor_of(vendors, principal)


async def my_vendor_as_admin(
    vendors: Vendors, principal: Annotated[Principal, Depends(people("vendor:manage-own"))]
) -> Vendor:
    return await _vendor_of(vendors, principal)


Mine = Annotated[Vendor, Depends(my_vendor)]
MineAsAdmin = Annotated[Vendor, Depends(my_vendor_as_admin)]


def writable(vendor: Vendor) -> Vendor:
    if vendor.status != "active":
        raise ProblemError(403, f"vendor '{vendor.id}' is {vendor.status}: read only")
    return vendor
