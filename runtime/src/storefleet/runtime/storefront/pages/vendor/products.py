"""The vendor's products: the list, adding one, and adjusting a variant's stock."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from storefleet.runtime.storefront.answers import readable
from storefleet.runtime.storefront.form_values import category_choices, minor_units, whole
from storefleet.runtime.storefront.pages.account.deps import AccountPagesDep
from storefleet.runtime.storefront.pages.deps import SiteDep
from storefleet.runtime.storefront.pages.vendor.portal import VendorsDep, call, person, show
from storefleet.runtime.storefront.viewers import Viewer

router = APIRouter()


@router.get("/vendor/products", response_class=HTMLResponse, include_in_schema=False)
async def products(
    request: Request, pages: AccountPagesDep, vendors: VendorsDep, site: SiteDep
) -> Response:
    viewer = await person(pages, request)
    if not isinstance(viewer, Viewer):
        return viewer
    listed = await call(vendors, viewer, "GET", "/vendor/products?per_page=50")
    categories = await site.catalog.get("/categories")
    return await show(
        pages,
        vendors,
        request,
        viewer,
        "vendor_products.html",
        "products",
        products=listed.json()["items"] if listed.status_code == 200 else [],
        categories=category_choices(categories.json() if categories.status_code == 200 else []),
        error=None if listed.status_code == 200 else readable(listed),
    )


@router.post("/vendor/products", include_in_schema=False)
async def create_product(
    request: Request, pages: AccountPagesDep, vendors: VendorsDep, site: SiteDep
) -> Response:
    _, form = await pages.form(request)
    viewer = await person(pages, request)
    if not isinstance(viewer, Viewer):
        return viewer
    name = form.get("name", "").strip()[:200]
    slug = "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split())[:60]
    body = {
        "slug": slug or "product",
        "name": name,
        "category": form.get("category", "").strip(),
        "description": form.get("description", "")[:2000],
        "variants": [
            {
                "sku": form.get("sku", "").strip().upper(),
                "price_minor": minor_units(form.get("price", "")),
                "currency": site.store.currency,
                "stock": whole(form.get("stock", "0")),
            }
        ],
    }
    answer = await call(vendors, viewer, "POST", "/vendor/products", body)
    flash = f"Added {name}." if answer.status_code == 201 else readable(answer)
    return pages.go("/vendor/products", flash=flash)


@router.post("/vendor/products/{product_id}/stock", include_in_schema=False)
async def adjust_stock(
    request: Request, product_id: int, pages: AccountPagesDep, vendors: VendorsDep
) -> Response:
    _, form = await pages.form(request)
    viewer = await person(pages, request)
    if not isinstance(viewer, Viewer):
        return viewer
    sku = quote(form.get("sku", "").strip().upper()[:64], safe="")
    answer = await call(
        vendors,
        viewer,
        "POST",
        f"/vendor/products/{product_id}/variants/{sku}/stock",
        {"delta": whole(form.get("delta", ""), default=0)},
    )
    flash = "Stock updated." if answer.status_code == 200 else readable(answer)
    return pages.go("/vendor/products", flash=flash)
