"""The vendor's sub-orders: the list, and marking one shipped."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from storefleet.runtime.storefront.answers import readable
from storefleet.runtime.storefront.pages.account.deps import AccountPagesDep
from storefleet.runtime.storefront.pages.vendor.portal import (
    SUBORDER_ID,
    VendorsDep,
    call,
    person,
    show,
)
from storefleet.runtime.storefront.viewers import Viewer

router = APIRouter()


@router.get("/vendor/orders", response_class=HTMLResponse, include_in_schema=False)
async def orders(request: Request, pages: AccountPagesDep, vendors: VendorsDep) -> Response:
    viewer = await person(pages, request)
    if not isinstance(viewer, Viewer):
        return viewer
    listed = await call(vendors, viewer, "GET", "/vendor/suborders?per_page=50")
    return await show(
        pages,
        vendors,
        request,
        viewer,
        "vendor_orders.html",
        "orders",
        suborders=listed.json()["items"] if listed.status_code == 200 else [],
        error=None if listed.status_code == 200 else readable(listed),
    )


@router.post("/vendor/orders/{suborder_id}/ship", include_in_schema=False)
async def ship(
    request: Request, suborder_id: str, pages: AccountPagesDep, vendors: VendorsDep
) -> Response:
    _, form = await pages.form(request)
    viewer = await person(pages, request)
    if not isinstance(viewer, Viewer):
        return viewer
    if not SUBORDER_ID.match(suborder_id):
        raise StarletteHTTPException(404)
    answer = await call(
        vendors,
        viewer,
        "POST",
        f"/vendor/suborders/{suborder_id}/ship",
        {
            "carrier": form.get("carrier", "").strip()[:100],
            "tracking_number": form.get("tracking_number", "").strip()[:100],
        },
    )
    flash = "Marked as shipped." if answer.status_code == 200 else readable(answer)
    return pages.go("/vendor/orders", flash=flash)
