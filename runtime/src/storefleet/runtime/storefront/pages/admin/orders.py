"""The console's orders section; the app includes it once the storefront
knows where the orders service is."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from storefleet.runtime.storefront.answers import readable
from storefleet.runtime.storefront.pages.account.deps import AccountPagesDep
from storefleet.runtime.storefront.pages.admin.console import bearer, show, staff
from storefleet.runtime.storefront.viewers import Viewer

router = APIRouter()


@router.get("/admin/orders", response_class=HTMLResponse, include_in_schema=False)
async def orders_page(request: Request, pages: AccountPagesDep) -> Response:
    viewer = await staff(pages, request, "orders:read")
    if not isinstance(viewer, Viewer):
        return viewer
    assert pages.orders is not None  # the app includes this router only then
    listed = await pages.orders.get("/admin/orders", headers=bearer(viewer))
    page = listed.json() if listed.status_code == 200 else {}
    return await show(
        pages,
        request,
        viewer,
        "admin_orders.html",
        "orders",
        orders=page.get("items", []) if isinstance(page, dict) else [],
        error=None if listed.status_code == 200 else readable(listed),
    )
