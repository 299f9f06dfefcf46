"""The store-admin console under /admin: catalog, orders, promotions,
customers and settings, rendered on the server.

Staff sign in like shoppers (the embedded accounts service, or the realm's
``admin-console`` client in cluster mode). The console calls each service's
admin API with the staff member's own access token, so the services' own
``require(permission)`` rules decide; the console only hides what a role can't use.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from storefleet.runtime.platform.config.settings import StoreSettings, upstream_url
from storefleet.runtime.platform.identity.permissions import STAFF, allows
from storefleet.runtime.platform.resilience.calls import ServiceClient
from storefleet.runtime.platform.web.errors import UpstreamUnavailable
from storefleet.runtime.storefront.answers import readable
from storefleet.runtime.storefront.viewers import AccountPages, Viewer

SECTIONS = [
    ("catalog", "Catalog", "catalog:write"),
    ("orders", "Orders", "orders:read"),
    ("promotions", "Promotions", "promotions:read"),
    ("customers", "Customers", "customers:read"),
    ("settings", "Settings", "settings:manage"),
]
# The analytics service's reports are guarded by this permission.
REPORTS_PERMISSION = "reports:read"
DASHBOARD_DAYS = 30


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STOREFLEET_STOREFRONT_", extra="ignore")

    analytics_url: str = Field(default_factory=lambda: upstream_url("analytics", 8008))


def install_admin_console(
    app: FastAPI,
    pages: AccountPages,
    *,
    catalog: ServiceClient,
    cart: ServiceClient,
    client: Callable[[str, str], ServiceClient],
    store: StoreSettings,
) -> None:
    # The orders section appears once the storefront knows where orders are.
    orders = pages.orders
    analytics = client("analytics", ConsoleSettings().analytics_url)

    def sections(viewer: Viewer) -> list[tuple[str, str]]:
        return [
            (key, label)
            for key, label, permission in SECTIONS
            if allows(viewer.roles, permission) and (key != "orders" or orders is not None)
        ]

    async def staff(request: Request, permission: str | None = None) -> Viewer | Response:
        viewer = await pages.viewer(request)
        if viewer is None:
            if pages.oidc_mode:
                here = quote(request.url.path, safe="")
                return pages.go(f"/account/oidc/start?client=admin-console&next={here}")
            return pages.to_sign_in(request)
        if not viewer.roles & STAFF or (permission and not allows(viewer.roles, permission)):
            raise StarletteHTTPException(403, "Your role can't open this part of the console.")
        return viewer

    def bearer(viewer: Viewer) -> dict[str, str]:
        return {"Authorization": f"Bearer {viewer.session.data['access']}"}

    async def show(
        request: Request, viewer: Viewer, template: str, section: str, **context: Any
    ) -> Response:
        return await pages.page(
            request,
            template,
            viewer.session,
            sections=sections(viewer),
            section=section,
            viewer_email=viewer.email,
            **context,
        )

    @app.get("/admin", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard(request: Request) -> Response:
        viewer = await staff(request)
        if not isinstance(viewer, Viewer):
            return viewer
        figures: dict[str, Any] = {}
        if allows(viewer.roles, REPORTS_PERMISSION):
            figures = await last_days(viewer)
        return await show(
            request, viewer, "admin_dashboard.html", "", days=DASHBOARD_DAYS, **figures
        )

    async def last_days(viewer: Viewer) -> dict[str, Any]:
        """The analytics service's figures for the last days; an empty dict when
        it does not answer (the dashboard then says so, and still renders)."""
        today = dt.datetime.now(dt.UTC).date()
        period = {"from": str(today - dt.timedelta(days=DASHBOARD_DAYS - 1)), "to": str(today)}
        try:
            sales = await analytics.get("/reports/sales", params=period, headers=bearer(viewer))
            funnel = await analytics.get("/reports/funnel", params=period, headers=bearer(viewer))
            top = await analytics.get(
                "/reports/top-products", params={**period, "limit": 5}, headers=bearer(viewer)
            )
        except UpstreamUnavailable:
            return {"reports_error": "Sales figures are not available right now."}
        for answer in (sales, funnel, top):
            if answer.status_code != 200:
                return {"reports_error": readable(answer)}
        return {
            "sales": sales.json().get("totals", []),
            "funnel": funnel.json(),
            "top_products": top.json().get("items", []),
        }

    # ------------------------------------------------------------ catalog

    @app.get("/admin/catalog", response_class=HTMLResponse, include_in_schema=False)
    async def catalog_page(request: Request) -> Response:
        viewer = await staff(request, "catalog:write")
        if not isinstance(viewer, Viewer):
            return viewer
        q = request.query_params.get("q", "")[:200]
        listed = await catalog.get(
            "/products", params={"q": q, "sort": "newest" if not q else "relevance", "per_page": 50}
        )
        result = listed.json() if listed.status_code == 200 else {"items": [], "total": 0}
        categories = await catalog.get("/categories")
        return await show(
            request,
            viewer,
            "admin_catalog.html",
            "catalog",
            result=result,
            q=q,
            categories=_flatten(categories.json() if categories.status_code == 200 else []),
        )

    @app.post("/admin/catalog", include_in_schema=False)
    async def create_product(request: Request) -> Response:
        _, form = await pages.form(request)
        viewer = await staff(request, "catalog:write")
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
                    "price_minor": _minor(form.get("price", "")),
                    "currency": store.currency,
                    "stock": _int(form.get("stock", "0")),
                }
            ],
        }
        answer = await catalog.post("/admin/products", json=body, headers=bearer(viewer))
        flash = f"Created {name}." if answer.status_code == 201 else readable(answer)
        return pages.go("/admin/catalog", flash=flash)

    # ------------------------------------------------------------- orders

    if orders is not None:
        orders_client = orders

        @app.get("/admin/orders", response_class=HTMLResponse, include_in_schema=False)
        async def orders_page(request: Request) -> Response:
            viewer = await staff(request, "orders:read")
            if not isinstance(viewer, Viewer):
                return viewer
            listed = await orders_client.get("/admin/orders", headers=bearer(viewer))
            page = listed.json() if listed.status_code == 200 else {}
            return await show(
                request,
                viewer,
                "admin_orders.html",
                "orders",
                orders=page.get("items", []) if isinstance(page, dict) else [],
                error=None if listed.status_code == 200 else readable(listed),
            )

    # --------------------------------------------------------- promotions

    @app.get("/admin/promotions", response_class=HTMLResponse, include_in_schema=False)
    async def promotions_page(request: Request) -> Response:
        viewer = await staff(request, "promotions:read")
        if not isinstance(viewer, Viewer):
            return viewer
        listed = await cart.get("/admin/promos", headers=bearer(viewer))
        return await show(
            request,
            viewer,
            "admin_promotions.html",
            "promotions",
            promos=listed.json() if listed.status_code == 200 else [],
            can_manage=allows(viewer.roles, "promotions:manage"),
        )

    @app.post("/admin/promotions", include_in_schema=False)
    async def create_promotion(request: Request) -> Response:
        _, form = await pages.form(request)
        viewer = await staff(request, "promotions:manage")
        if not isinstance(viewer, Viewer):
            return viewer
        kind = form.get("kind", "percent")
        value = _int(form.get("value", "0")) if kind == "percent" else _minor(form.get("value", ""))
        body = {
            "code": form.get("code", "").strip().upper()[:40],
            "kind": kind,
            "value": value,
            "description": form.get("description", "")[:300],
        }
        answer = await cart.post("/admin/promos", json=body, headers=bearer(viewer))
        flash = f"Created code {body['code']}." if answer.status_code == 201 else readable(answer)
        return pages.go("/admin/promotions", flash=flash)

    # ---------------------------------------------------------- customers

    @app.get("/admin/customers", response_class=HTMLResponse, include_in_schema=False)
    async def customers_page(request: Request) -> Response:
        viewer = await staff(request, "customers:read")
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
            request,
            viewer,
            "admin_customers.html",
            "customers",
            q=q,
            customers=listed.json() if listed.status_code == 200 else {"items": [], "total": 0},
            events=events.json() if events.status_code == 200 else [],
        )

    # ----------------------------------------------------------- settings

    @app.get("/admin/settings", response_class=HTMLResponse, include_in_schema=False)
    async def settings_page(request: Request) -> Response:
        viewer = await staff(request, "settings:manage")
        if not isinstance(viewer, Viewer):
            return viewer
        return await show(
            request,
            viewer,
            "admin_settings.html",
            "settings",
            mode="Keycloak realm" if pages.oidc_mode else "built-in accounts",
        )


def _flatten(tree: list[dict[str, Any]], depth: int = 0) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for node in tree:
        found.append((node["slug"], "— " * depth + node["name"]))
        found += _flatten(node.get("children", []), depth + 1)
    return found


def _int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        return -1


def _minor(text: str) -> int:
    """'12.50' -> 1250; anything unreadable -> -1, which the API refuses."""
    try:
        whole, _, cents = text.strip().replace(",", ".").partition(".")
        return int(whole or "0") * 100 + int((cents + "00")[:2])
    except ValueError:
        return -1
