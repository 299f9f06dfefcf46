"""The console's settings section: how the store signs people in."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from storefleet.runtime.storefront.pages.account.deps import AccountPagesDep
from storefleet.runtime.storefront.pages.admin.console import show, staff
from storefleet.runtime.storefront.viewers import Viewer

router = APIRouter()


@router.get("/admin/settings", response_class=HTMLResponse, include_in_schema=False)
async def settings_page(request: Request, pages: AccountPagesDep) -> Response:
    viewer = await staff(pages, request, "settings:manage")
    if not isinstance(viewer, Viewer):
        return viewer
    return await show(
        pages,
        request,
        viewer,
        "admin_settings.html",
        "settings",
        mode="Keycloak realm" if pages.oidc_mode else "built-in accounts",
    )
