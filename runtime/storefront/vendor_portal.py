"""The vendor portal under /vendor, and vendors' public pages and ratings.

A vendor's people (roles vendor-admin and vendor-staff) sign in like shoppers
(the embedded accounts service, or the realm's storefront client) and
see their vendor's products and stock, sub-orders (marking them shipped) and,
for vendor admins, payouts and the ledger. Every page calls the vendors API
with the person's own token, so the vendors service decides what they may see.
Shoppers see a vendor's rating on its products and at ``/vendors/{id}``, where
those who bought from it rate it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from storefleet.runtime.platform.config.settings import StoreSettings, upstream_url
from storefleet.runtime.platform.identity.permissions import VENDOR_ADMIN, VENDOR_STAFF
from storefleet.runtime.platform.resilience.calls import ServiceClient
from storefleet.runtime.platform.web.errors import UpstreamUnavailable
from storefleet.runtime.storefront.answers import readable
from storefleet.runtime.storefront.form_values import category_choices, minor_units, whole
from storefleet.runtime.storefront.viewers import AccountPages, Viewer

VENDOR_ID = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
SUBORDER_ID = re.compile(r"^[0-9a-f]{32}$")
SECTIONS = [("", "Overview"), ("products", "Products"), ("orders", "Orders")]


class VendorPortalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STOREFLEET_STOREFRONT_", extra="ignore")

    vendors_url: str = Field(default_factory=lambda: upstream_url("vendors", 8007))


def install_vendor_portal(
    app: FastAPI,
    pages: AccountPages,
    *,
    client: Callable[[str, str], ServiceClient],
    catalog: ServiceClient,
    store: StoreSettings,
) -> Callable[[str], Awaitable[dict[str, Any] | None]]:
    """Adds the pages; returns what product pages use to show a vendor's rating."""
    settings = VendorPortalSettings()
    vendors = client("vendors", settings.vendors_url)

    async def person(request: Request) -> Viewer | Response:
        viewer = await pages.viewer(request)
        if viewer is None:
            if pages.oidc_mode:
                # The storefront's client: the sign-in pages take no other
                # client than it and the admin console's yet.
                here = quote(request.url.path, safe="")
                return pages.go(f"/account/oidc/start?next={here}")
            return pages.to_sign_in(request)
        if not viewer.roles & {VENDOR_ADMIN, VENDOR_STAFF}:
            raise StarletteHTTPException(403, "The vendor portal is for vendors' staff.")
        return viewer

    def bearer(viewer: Viewer) -> dict[str, str]:
        return {"Authorization": f"Bearer {viewer.session.data['access']}"}

    async def call(viewer: Viewer, method: str, path: str, json: Any = None) -> Any:
        try:
            return await vendors.request(method, path, json=json, headers=bearer(viewer))
        except UpstreamUnavailable as exc:
            raise StarletteHTTPException(503, "The vendor service is not answering.") from exc

    async def show(
        request: Request, viewer: Viewer, template: str, section: str, **context: Any
    ) -> Response:
        me = await call(viewer, "GET", "/vendor/me")
        if me.status_code != 200:
            raise StarletteHTTPException(403, readable(me))
        sections = list(SECTIONS)
        if VENDOR_ADMIN in viewer.roles:
            sections.append(("payouts", "Payouts"))
        return await pages.page(
            request,
            template,
            viewer.session,
            vendor=me.json(),
            vendor_sections=sections,
            section=section,
            viewer_email=viewer.email,
            **context,
        )

    @app.get("/vendor", response_class=HTMLResponse, include_in_schema=False)
    async def overview(request: Request) -> Response:
        viewer = await person(request)
        if not isinstance(viewer, Viewer):
            return viewer
        open_orders = await call(viewer, "GET", "/vendor/suborders?status=open")
        return await show(
            request,
            viewer,
            "vendor_overview.html",
            "",
            open_orders=open_orders.json().get("total", 0) if open_orders.status_code == 200 else 0,
        )

    @app.get("/vendor/products", response_class=HTMLResponse, include_in_schema=False)
    async def products(request: Request) -> Response:
        viewer = await person(request)
        if not isinstance(viewer, Viewer):
            return viewer
        listed = await call(viewer, "GET", "/vendor/products?per_page=50")
        categories = await catalog.get("/categories")
        return await show(
            request,
            viewer,
            "vendor_products.html",
            "products",
            products=listed.json()["items"] if listed.status_code == 200 else [],
            categories=category_choices(categories.json() if categories.status_code == 200 else []),
            error=None if listed.status_code == 200 else readable(listed),
        )

    @app.post("/vendor/products", include_in_schema=False)
    async def create_product(request: Request) -> Response:
        _, form = await pages.form(request)
        viewer = await person(request)
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
                    "currency": store.currency,
                    "stock": whole(form.get("stock", "0")),
                }
            ],
        }
        answer = await call(viewer, "POST", "/vendor/products", body)
        flash = f"Added {name}." if answer.status_code == 201 else readable(answer)
        return pages.go("/vendor/products", flash=flash)

    @app.post("/vendor/products/{product_id}/stock", include_in_schema=False)
    async def adjust_stock(request: Request, product_id: int) -> Response:
        _, form = await pages.form(request)
        viewer = await person(request)
        if not isinstance(viewer, Viewer):
            return viewer
        sku = quote(form.get("sku", "").strip().upper()[:64], safe="")
        answer = await call(
            viewer,
            "POST",
            f"/vendor/products/{product_id}/variants/{sku}/stock",
            {"delta": whole(form.get("delta", ""), default=0)},
        )
        flash = "Stock updated." if answer.status_code == 200 else readable(answer)
        return pages.go("/vendor/products", flash=flash)

    @app.get("/vendor/orders", response_class=HTMLResponse, include_in_schema=False)
    async def orders(request: Request) -> Response:
        viewer = await person(request)
        if not isinstance(viewer, Viewer):
            return viewer
        listed = await call(viewer, "GET", "/vendor/suborders?per_page=50")
        return await show(
            request,
            viewer,
            "vendor_orders.html",
            "orders",
            suborders=listed.json()["items"] if listed.status_code == 200 else [],
            error=None if listed.status_code == 200 else readable(listed),
        )

    @app.post("/vendor/orders/{suborder_id}/ship", include_in_schema=False)
    async def ship(request: Request, suborder_id: str) -> Response:
        _, form = await pages.form(request)
        viewer = await person(request)
        if not isinstance(viewer, Viewer):
            return viewer
        if not SUBORDER_ID.match(suborder_id):
            raise StarletteHTTPException(404)
        answer = await call(
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

    @app.get("/vendor/payouts", response_class=HTMLResponse, include_in_schema=False)
    async def payouts(request: Request) -> Response:
        viewer = await person(request)
        if not isinstance(viewer, Viewer):
            return viewer
        if VENDOR_ADMIN not in viewer.roles:
            raise StarletteHTTPException(403, "Payouts are for the vendor's admins.")
        paid = await call(viewer, "GET", "/vendor/payouts")
        books = await call(viewer, "GET", "/vendor/ledger?limit=50")
        return await show(
            request,
            viewer,
            "vendor_payouts.html",
            "payouts",
            payouts=paid.json()["items"] if paid.status_code == 200 else [],
            ledger=books.json() if books.status_code == 200 else None,
        )

    # ------------------------------------------------------------ shoppers

    async def summary(vendor_id: str) -> dict[str, Any] | None:
        """A vendor's name and rating for its product pages; None if unknown."""
        if not VENDOR_ID.match(vendor_id):
            return None
        try:
            answer = await vendors.get(f"/vendors/{vendor_id}/reviews", params={"limit": 3})
        except UpstreamUnavailable:
            return None
        return dict(answer.json()) if answer.status_code == 200 else None

    @app.get("/vendors/{vendor_id}", response_class=HTMLResponse, include_in_schema=False)
    async def vendor_page(request: Request, vendor_id: str) -> Response:
        if not VENDOR_ID.match(vendor_id):
            raise StarletteHTTPException(404)
        try:
            answer = await vendors.get(f"/vendors/{vendor_id}/reviews", params={"limit": 50})
        except UpstreamUnavailable as exc:
            raise StarletteHTTPException(503, "The vendor service is not answering.") from exc
        if answer.status_code != 200:
            raise StarletteHTTPException(404)
        viewer = await pages.viewer(request)
        session = viewer.session if viewer else await pages.sessions.load(request)
        return await pages.page(
            request, "vendor_public.html", session, reviews=answer.json(), signed_in=bool(viewer)
        )

    @app.post("/vendors/{vendor_id}/reviews", include_in_schema=False)
    async def rate(request: Request, vendor_id: str) -> Response:
        _, form = await pages.form(request)
        if not VENDOR_ID.match(vendor_id):
            raise StarletteHTTPException(404)
        viewer = await pages.viewer(request)
        if viewer is None:
            return pages.to_sign_in(request)
        answer = await vendors.request(
            "PUT",
            f"/vendors/{vendor_id}/reviews/mine",
            json={
                "rating": whole(form.get("rating", ""), default=0),
                "comment": form.get("comment", "")[:2000],
                "author": form.get("author", "")[:100],
            },
            headers=bearer(viewer),
        )
        flash = "Thank you for your rating." if answer.status_code == 200 else readable(answer)
        return pages.go(f"/vendors/{vendor_id}", flash=flash)

    return summary
