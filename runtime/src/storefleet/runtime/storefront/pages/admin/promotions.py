"""The console's promotions section: the cart's promo codes, and adding one."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from storefleet.runtime.platform.identity.permissions import allows
from storefleet.runtime.storefront.answers import readable
from storefleet.runtime.storefront.form_values import minor_units, whole
from storefleet.runtime.storefront.pages.account.deps import AccountPagesDep
from storefleet.runtime.storefront.pages.admin.console import bearer, show, staff
from storefleet.runtime.storefront.pages.deps import SiteDep
from storefleet.runtime.storefront.viewers import Viewer

router = APIRouter()


@router.get("/admin/promotions", response_class=HTMLResponse, include_in_schema=False)
async def promotions_page(request: Request, pages: AccountPagesDep, site: SiteDep) -> Response:
    viewer = await staff(pages, request, "promotions:read")
    if not isinstance(viewer, Viewer):
        return viewer
    listed = await site.cart.get("/admin/promos", headers=bearer(viewer))
    return await show(
        pages,
        request,
        viewer,
        "admin_promotions.html",
        "promotions",
        promos=listed.json() if listed.status_code == 200 else [],
        can_manage=allows(viewer.roles, "promotions:manage"),
    )


@router.post("/admin/promotions", include_in_schema=False)
async def create_promotion(request: Request, pages: AccountPagesDep, site: SiteDep) -> Response:
    _, form = await pages.form(request)
    viewer = await staff(pages, request, "promotions:manage")
    if not isinstance(viewer, Viewer):
        return viewer
    kind = form.get("kind", "percent")
    value = (
        whole(form.get("value", "0")) if kind == "percent" else minor_units(form.get("value", ""))
    )
    body = {
        "code": form.get("code", "").strip().upper()[:40],
        "kind": kind,
        "value": value,
        "description": form.get("description", "")[:300],
    }
    answer = await site.cart.post("/admin/promos", json=body, headers=bearer(viewer))
    flash = f"Created code {body['code']}." if answer.status_code == 201 else readable(answer)
    return pages.go("/admin/promotions", flash=flash)
