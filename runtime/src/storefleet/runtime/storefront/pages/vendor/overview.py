"""The vendor portal's front page: how many sub-orders are open."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from storefleet.runtime.storefront.pages.account.deps import AccountPagesDep
from storefleet.runtime.storefront.pages.vendor.portal import VendorsDep, call, person, show
from storefleet.runtime.storefront.viewers import Viewer

router = APIRouter()


@router.get("/vendor", response_class=HTMLResponse, include_in_schema=False)
async def overview(request: Request, pages: AccountPagesDep, vendors: VendorsDep) -> Response:
    viewer = await person(pages, request)
    if not isinstance(viewer, Viewer):
        return viewer
    open_orders = await call(vendors, viewer, "GET", "/vendor/suborders?status=open")
    return await show(
        pages,
        vendors,
        request,
        viewer,
        "vendor_overview.html",
        "",
        open_orders=open_orders.json().get("total", 0) if open_orders.status_code == 200 else 0,
    )
