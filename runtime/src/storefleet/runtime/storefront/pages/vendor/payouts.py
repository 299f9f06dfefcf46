"""The vendor's payouts and ledger, for the vendor's admins."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from storefleet.runtime.platform.identity.permissions import VENDOR_ADMIN
from storefleet.runtime.storefront.pages.account.deps import AccountPagesDep
from storefleet.runtime.storefront.pages.vendor.portal import VendorsDep, call, person, show
from storefleet.runtime.storefront.viewers import Viewer

router = APIRouter()


@router.get("/vendor/payouts", response_class=HTMLResponse, include_in_schema=False)
async def payouts(request: Request, pages: AccountPagesDep, vendors: VendorsDep) -> Response:
    viewer = await person(pages, request)
    if not isinstance(viewer, Viewer):
        return viewer
    if VENDOR_ADMIN not in viewer.roles:
        raise StarletteHTTPException(403, "Payouts are for the vendor's admins.")
    paid = await call(vendors, viewer, "GET", "/vendor/payouts")
    books = await call(vendors, viewer, "GET", "/vendor/ledger?limit=50")
    return await show(
        pages,
        vendors,
        request,
        viewer,
        "vendor_payouts.html",
        "payouts",
        payouts=paid.json()["items"] if paid.status_code == 200 else [],
        ledger=books.json() if books.status_code == 200 else None,
    )
