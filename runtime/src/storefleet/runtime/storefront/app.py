"""The storefront: HTML pages that work without JavaScript.

Every page is rendered on the server from the catalog's and cart's HTTP APIs.
Forms post and redirect (post/redirect/get), so reload and back behave; a few
lines of script only auto-submit the filter form. Every form carries the
browser's CSRF token and every cookie is HttpOnly, SameSite=Lax and Secure
(``browser_guard``); pages may run only the shop's own script and styles
(the Content-Security-Policy below).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware import Middleware

from storefleet.runtime.platform.config.settings import StoreSettings
from storefleet.runtime.platform.resilience.breaker import CircuitBreaker
from storefleet.runtime.platform.resilience.client import ServiceClient
from storefleet.runtime.platform.web.app import create_service_app
from storefleet.runtime.platform.web.browser_guard import BrowserGuard
from storefleet.runtime.storefront.ordering import build_ordering
from storefleet.runtime.storefront.pages import account as account_pages
from storefleet.runtime.storefront.pages import admin as admin_pages
from storefleet.runtime.storefront.pages import cart as cart_pages
from storefleet.runtime.storefront.pages import catalog as catalog_pages
from storefleet.runtime.storefront.pages import checkout as checkout_pages
from storefleet.runtime.storefront.pages import orders as order_pages
from storefleet.runtime.storefront.pages import vendor as vendor_pages
from storefleet.runtime.storefront.pages.admin.console import ConsoleSettings
from storefleet.runtime.storefront.pages.errors import install_error_pages
from storefleet.runtime.storefront.pages.vendor.portal import VendorPortalSettings, vendor_summary
from storefleet.runtime.storefront.settings import StorefrontSettings
from storefleet.runtime.storefront.site import HERE, Site, read_form, redirect, templates_for
from storefleet.runtime.storefront.viewers import build_account_pages

# The shop's own script file and styles, plus the one <style> with the store's
# colours (by the request's nonce); product and logo images may be anywhere on
# https. No form-action: sign-out and checkout end in redirects to Keycloak and
# the payment provider, which form-action would stop.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'nonce-{nonce}'; "
    "img-src 'self' data: https:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; frame-ancestors 'none'"
)


def create_app(
    settings: StorefrontSettings | None = None,
    store: StoreSettings | None = None,
    transports: dict[str, httpx.AsyncBaseTransport] | None = None,
) -> FastAPI:
    settings = settings or StorefrontSettings()
    store = store or StoreSettings()

    def client(name: str, url: str) -> ServiceClient:
        return ServiceClient(
            name,
            url,
            timeout=settings.http_timeout_seconds,
            retries=settings.http_retries,
            breaker=CircuitBreaker(
                name,
                failure_threshold=settings.breaker_failure_threshold,
                reset_timeout=settings.breaker_reset_seconds,
            ),
            transport=(transports or {}).get(name),
        )

    catalog = client("catalog", settings.catalog_url)
    cart = client("cart", settings.cart_url)
    site = Site(
        settings, store, catalog=catalog, cart=cart, templates=templates_for(settings, store)
    )
    ordering = build_ordering(settings, transports)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await ordering.close()
            await site.close()

    async def refuse(request: Request, status_code: int, message: str) -> Response:
        return await site.error_page(request, status_code, message)

    app = create_service_app(
        "storefront",
        title="Storefleet Storefront",
        description="Server-rendered shop pages.",
        lifespan=lifespan,
        log_requests=settings.access_log,
        content_security_policy=CONTENT_SECURITY_POLICY,
        middleware=[
            Middleware(
                BrowserGuard,
                secure=settings.cookie_secure,
                refuse=refuse,
                allowed_origins=settings.form_origins(),
            )
        ],
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.state.site = site
    install_error_pages(app)
    app.include_router(catalog_pages.router)
    app.include_router(cart_pages.router)

    accounts = build_account_pages(
        app,
        render=site.render,
        redirect=redirect,
        read_form=read_form,
        client=client,
        has_orders="orders" in (transports or {}),
    )
    app.state.account_pages = accounts
    app.include_router(account_pages.router)
    app.state.analytics = client("analytics", ConsoleSettings().analytics_url)
    app.include_router(admin_pages.router)
    if accounts.orders is not None:
        app.include_router(admin_pages.orders_router)
    vendors = client("vendors", VendorPortalSettings().vendors_url)
    app.state.vendors = vendors
    # Product pages show a marketplace vendor's name and rating.
    app.state.vendor_summary = functools.partial(vendor_summary, vendors)
    app.include_router(vendor_pages.router)
    app.state.ordering = ordering
    app.include_router(checkout_pages.router)
    app.include_router(order_pages.router)
    return app
