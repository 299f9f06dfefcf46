"""The console's customers section: the customer list and recent security events."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from storefleet.runtime.storefront.pages.account.deps import AccountPagesDep
from storefleet.runtime.storefront.pages.admin.console import bearer, show, staff
from storefleet.runtime.storefront.viewers import Viewer

router = APIRouter()


@router.get("/admin/customers", response_class=HTMLResponse, include_in_schema=False)
async def customers_page(request: Request, pages: AccountPagesDep) -> Response:
    viewer = await staff(pages, request, "customers:read")
    if not isinstance(viewer, Viewer):
        return viewer
    q = request.query_params.get("q", "")[:100]
    listed = await pages.accounts.get(
        "/admin/customers", params={"q": q, "limit": 100}, headers=bearer(viewer)
    )
    events = await pages.accounts.get(
        "/admin/security-events", params={"limit": 20}, headers=bearer(viewer)
    )
    return await show(
        pages,
        request,
        viewer,
        "admin_customers.html",
        "customers",
        q=q,
        customers=listed.json() if listed.status_code == 200 else {"items": [], "total": 0},
        events=events.json() if events.status_code == 200 else [],
    )
