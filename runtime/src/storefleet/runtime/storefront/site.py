"""What every storefront page shares: the store's settings, the catalog and
cart clients, the templates, the cached navigation, and rendering a page or a redirect with the
chrome around it (navigation, cart count, flash message, CSRF token).

The app factory builds one ``Site`` and sets it on ``app.state.site``; pages
receive it through ``pages.deps.SiteDep``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from storefleet.runtime.platform.config.settings import StoreSettings
from storefleet.runtime.platform.resilience.client import ServiceClient
from storefleet.runtime.platform.storage.readcache import ReadCache
from storefleet.runtime.platform.web.browser_guard import csrf_token
from storefleet.runtime.platform.web.errors import ProblemError, UpstreamUnavailable
from storefleet.runtime.platform.web.http_guards import csp_nonce
from storefleet.runtime.storefront.assets import StaticAssets
from storefleet.runtime.storefront.formatting import money, readable_on
from storefleet.runtime.storefront.settings import StorefrontSettings

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
FLASH_COOKIE = "sf_flash"
SORTS = {
    "relevance": "Best match",
    "newest": "Newest",
    "price_asc": "Price: low to high",
    "price_desc": "Price: high to low",
    "name": "Name",
}
PROBLEM_MESSAGES = {
    "out_of_stock": "Out of stock",
    "insufficient_stock": "Not enough in stock",
    "unavailable": "No longer available",
    "unknown": "No longer available",
}


def bounded_int(
    value: str | None, default: int | None = None, low: int = 0, high: int = 10**9
) -> Any:
    """A number from a query or form field, within [low, high]; default if unreadable."""
    try:
        number = int(value) if value is not None else default
    except ValueError:
        return default
    if number is None:
        return None
    return max(low, min(high, number))


async def read_form(request: Request) -> dict[str, str]:
    """URL-encoded forms only; that is all these pages post."""
    body = await request.body()
    if len(body) > 16_384:
        raise StarletteHTTPException(413, "Form too large")
    try:
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=50)
    except ValueError as exc:
        raise StarletteHTTPException(400, "Too many form fields") from exc
    return {key: values[-1] for key, values in fields.items()}


def redirect(to: str, flash: str | None = None) -> RedirectResponse:
    response = RedirectResponse(to, status_code=303)
    if flash:
        # Secure (outside localhost) comes from the BrowserGuard, for every cookie.
        response.set_cookie(FLASH_COOKIE, flash[:300], max_age=60, httponly=True, samesite="lax")
    return response


def templates_for(settings: StorefrontSettings, store: StoreSettings) -> Jinja2Templates:
    # Templates change with a deploy, not while serving: no stat() per render.
    templates = Jinja2Templates(
        env=jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=jinja2.select_autoescape(),
            auto_reload=settings.reload_templates,
        )
    )
    StaticAssets(HERE / "static").install(templates.env)
    templates.env.filters["money"] = money
    templates.env.filters["readable_on"] = readable_on
    templates.env.globals.update(store=store, sorts=SORTS, problems=PROBLEM_MESSAGES)
    return templates


class _NotCached(Exception):
    """An answer other than 200: passed on, never remembered."""

    def __init__(self, status_code: int) -> None:
        super().__init__(status_code)
        self.status_code = status_code


class Site:
    def __init__(
        self,
        settings: StorefrontSettings,
        store: StoreSettings,
        *,
        catalog: ServiceClient,
        cart: ServiceClient,
        templates: Jinja2Templates,
    ) -> None:
        self.settings = settings
        self.store = store
        self.catalog = catalog
        self.cart = cart
        self.templates = templates
        self._navigation: dict[str, Any] = {"at": 0.0, "tree": []}
        # What changes rarely and harms nothing when a minute old: category headers
        # and recommendations. Products, prices, stock and listings come fresh from
        # the catalog (whose own cache its writes empty) on every page.
        self._reference = ReadCache(settings.navigation_ttl_seconds)

    async def close(self) -> None:
        await self.catalog.close()
        await self.cart.close()

    # ------------------------------------------------------------ catalog

    async def catalog_reference(self, path: str, **params: Any) -> Any:
        """The catalog's answer to a GET, cached; None (and not cached) unless 200."""

        async def load() -> Any:
            response = await self.catalog.get(path, params=params or None)
            if response.status_code != 200:
                raise _NotCached(response.status_code)
            return response.json()

        try:
            return await self._reference.get_or_load((path, *sorted(params.items())), load)
        except _NotCached:
            return None

    async def categories(self) -> list[dict[str, Any]]:
        navigation = self._navigation
        if time.monotonic() - navigation["at"] < self.settings.navigation_ttl_seconds:
            tree: list[dict[str, Any]] = navigation["tree"]
            return tree
        response = await self.catalog.get("/categories")
        if response.status_code == 200:
            navigation.update(at=time.monotonic(), tree=response.json())
        return list(navigation["tree"])

    # --------------------------------------------------------------- cart

    def cart_headers(self, request: Request) -> dict[str, str]:
        cart_id = request.cookies.get(self.settings.cookie_name, "")
        return {"X-Cart-Id": cart_id} if cart_id else {}

    async def cart_summary(self, request: Request) -> dict[str, Any] | None:
        if not request.cookies.get(self.settings.cookie_name):
            return None
        try:
            response = await self.cart.get("/cart", headers=self.cart_headers(request))
        except UpstreamUnavailable:
            return None
        return response.json() if response.status_code == 200 else None

    # -------------------------------------------------------------- pages

    async def signed_in_feed(self, request: Request) -> str:
        pages = getattr(request.app.state, "account_pages", None)
        try:
            return await pages.inbox_feed(request) if pages is not None else ""
        except Exception:
            # In-app toasts are an extra: a session store that is down must not
            # take the shop's pages with it.
            log.warning("cannot tell whether the shopper is signed in", exc_info=True)
            return ""

    async def render(
        self, request: Request, template: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        nav, summary, inbox_feed = await asyncio.gather(
            self.categories(), self.cart_summary(request), self.signed_in_feed(request)
        )
        flash = request.cookies.get(FLASH_COOKIE)
        response = self.templates.TemplateResponse(
            request,
            template,
            {
                "nav": nav,
                "cart_count": summary["item_count"] if summary else 0,
                "flash": flash,
                "q": request.query_params.get("q", ""),
                "inbox_feed": inbox_feed,
                "csrf": csrf_token(request),
                "csp_nonce": csp_nonce(request.scope),
                **context,
            },
            status_code=status_code,
        )
        response.headers["Cache-Control"] = "private, no-cache"
        if flash:
            response.delete_cookie(FLASH_COOKIE)
        return response

    async def error_page(self, request: Request, status_code: int, message: str) -> HTMLResponse:
        try:
            return await self.render(request, "error.html", status_code, message=message)
        except ProblemError:
            # Even navigation failed: a bare page still beats a stack trace.
            return HTMLResponse(
                f"<!doctype html><title>{status_code}</title><h1>{message}</h1>",
                status_code=status_code,
            )
