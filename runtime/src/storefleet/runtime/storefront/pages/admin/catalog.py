"""The console's catalog section: the newest products or a search, and adding one."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from storefleet.runtime.storefront.answers import readable
from storefleet.runtime.storefront.form_values import category_choices, minor_units, whole
from storefleet.runtime.storefront.pages.account.deps import AccountPagesDep
from storefleet.runtime.storefront.pages.admin.console import bearer, show, staff
from storefleet.runtime.storefront.pages.deps import SiteDep
from storefleet.runtime.storefront.viewers import Viewer

router = APIRouter()


@router.get("/admin/catalog", response_class=HTMLResponse, include_in_schema=False)
async def catalog_page(request: Request, pages: AccountPagesDep, site: SiteDep) -> Response:
    viewer = await staff(pages, request, "catalog:write")
    if not isinstance(viewer, Viewer):
        return viewer
    q = request.query_params.get("q", "")[:200]
    listed = await site.catalog.get(
        "/products", params={"q": q, "sort": "newest" if not q else "relevance", "per_page": 50}
    )
    result = listed.json() if listed.status_code == 200 else {"items": [], "total": 0}
    categories = await site.catalog.get("/categories")
    return await show(
        pages,
        request,
        viewer,
        "admin_catalog.html",
        "catalog",
        result=result,
        q=q,
        categories=category_choices(categories.json() if categories.status_code == 200 else []),
    )


@router.post("/admin/catalog", include_in_schema=False)
async def create_product(request: Request, pages: AccountPagesDep, site: SiteDep) -> Response:
    _, form = await pages.form(request)
    viewer = await staff(pages, request, "catalog:write")
    if not isinstance(viewer, Viewer):
        return viewer
    name = form.get("name", "").strip()[:200]
    slug = (
        "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split())[:60]
        or f"product-{uuid.uuid4().hex[:6]}"
    )
    body = {
        "slug": slug,
        "name": name,
        "category": form.get("category", ""),
        "variants": [
            {
                "sku": form.get("sku", "").strip().upper(),
                "name": "Standard",
                "price_minor": minor_units(form.get("price", "")),
                "currency": site.store.currency,
                "stock": whole(form.get("stock", "0")),
            }
        ],
    }
    answer = await site.catalog.post("/admin/products", json=body, headers=bearer(viewer))
    flash = f"Created {name}." if answer.status_code == 201 else readable(answer)
    return pages.go("/admin/catalog", flash=flash)
