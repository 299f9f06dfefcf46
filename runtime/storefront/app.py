"""The storefront: HTML pages that work without JavaScript.

Every page is rendered on the server from the catalog's and cart's HTTP APIs.
Forms post and redirect (post/redirect/get), so reload and back behave; a few
lines of script only auto-submit the filter form. Every form carries the
browser's CSRF token and every cookie is HttpOnly, SameSite=Lax and Secure
(``browser_guard``); pages may run only the shop's own script and styles
(the Content-Security-Policy below).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import httpx
import jinja2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware

from storefleet.runtime.platform.config.settings import StoreSettings
from storefleet.runtime.platform.resilience.calls import CircuitBreaker, ServiceClient
from storefleet.runtime.platform.storage.readcache import ReadCache
from storefleet.runtime.platform.web.app import create_service_app
from storefleet.runtime.platform.web.browser_guard import BrowserGuard, csrf_token
from storefleet.runtime.platform.web.errors import ProblemError, UpstreamUnavailable
from storefleet.runtime.platform.web.http_guards import csp_nonce
from storefleet.runtime.storefront.assets import StaticAssets
from storefleet.runtime.storefront.formatting import money, placeholder_svg, readable_on
from storefleet.runtime.storefront.settings import StorefrontSettings

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
FLASH_COOKIE = "sf_flash"
# The shop's own script file and styles, plus the one <style> with the store's
# colours (by the request's nonce); product and logo images may be anywhere on
# https. No form-action: sign-out and checkout end in redirects to Keycloak and
# the payment provider, which form-action would stop.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'nonce-{nonce}'; "
    "img-src 'self' data: https:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; frame-ancestors 'none'"
)
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


def _int(value: str | None, default: int | None = None, low: int = 0, high: int = 10**9) -> Any:
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


class _NotCached(Exception):
    """An answer other than 200: passed on, never remembered."""

    def __init__(self, status_code: int) -> None:
        super().__init__(status_code)
        self.status_code = status_code


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
    navigation: dict[str, Any] = {"at": 0.0, "tree": []}
    # What changes rarely and harms nothing when a minute old: category headers
    # and recommendations. Products, prices, stock and listings come fresh from
    # the catalog (whose own cache its writes empty) on every page.
    reference = ReadCache(settings.navigation_ttl_seconds)

    async def catalog_reference(path: str, **params: Any) -> Any:
        """The catalog's answer to a GET, cached; None (and not cached) unless 200."""

        async def load() -> Any:
            response = await catalog.get(path, params=params or None)
            if response.status_code != 200:
                raise _NotCached(response.status_code)
            return response.json()

        try:
            return await reference.get_or_load((path, *sorted(params.items())), load)
        except _NotCached:
            return None

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await catalog.close()
            await cart.close()

    async def refuse(request: Request, status_code: int, message: str) -> Response:
        return await error_page(request, status_code, message)

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

    async def categories() -> list[dict[str, Any]]:
        if time.monotonic() - navigation["at"] < settings.navigation_ttl_seconds:
            tree: list[dict[str, Any]] = navigation["tree"]
            return tree
        response = await catalog.get("/categories")
        if response.status_code == 200:
            navigation.update(at=time.monotonic(), tree=response.json())
        return list(navigation["tree"])

    def cart_headers(request: Request) -> dict[str, str]:
        cart_id = request.cookies.get(settings.cookie_name, "")
        return {"X-Cart-Id": cart_id} if cart_id else {}

    async def cart_summary(request: Request) -> dict[str, Any] | None:
        if not request.cookies.get(settings.cookie_name):
            return None
        try:
            response = await cart.get("/cart", headers=cart_headers(request))
        except UpstreamUnavailable:
            return None
        return response.json() if response.status_code == 200 else None

    async def signed_in_feed(request: Request) -> str:
        pages = getattr(app.state, "account_pages", None)
        try:
            return await pages.inbox_feed(request) if pages is not None else ""
        except Exception:
            # In-app toasts are an extra: a session store that is down must not
            # take the shop's pages with it.
            log.warning("cannot tell whether the shopper is signed in", exc_info=True)
            return ""

    async def render(
        request: Request, template: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        nav, summary, inbox_feed = await asyncio.gather(
            categories(), cart_summary(request), signed_in_feed(request)
        )
        flash = request.cookies.get(FLASH_COOKIE)
        response = templates.TemplateResponse(
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

    def redirect(to: str, flash: str | None = None) -> RedirectResponse:
        response = RedirectResponse(to, status_code=303)
        if flash:
            # Secure (outside localhost) comes from the BrowserGuard, for every cookie.
            response.set_cookie(
                FLASH_COOKIE, flash[:300], max_age=60, httponly=True, samesite="lax"
            )
        return response

    async def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
        try:
            return await render(request, "error.html", status_code, message=message)
        except ProblemError:
            # Even navigation failed: a bare page still beats a stack trace.
            return HTMLResponse(
                f"<!doctype html><title>{status_code}</title><h1>{message}</h1>",
                status_code=status_code,
            )

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProblemError)
        if exc.status >= 500:
            return await error_page(
                request, 503, "The shop is having trouble right now. Please try again shortly."
            )
        return await error_page(request, exc.status, exc.detail)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        message = "We couldn't find that page." if exc.status_code == 404 else str(exc.detail)
        return await error_page(request, exc.status_code, message)

    async def on_invalid(request: Request, exc: Exception) -> Response:
        return await error_page(request, 400, "That request didn't make sense to us.")

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_invalid)

    # ---------------------------------------------------------------- pages

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def home(request: Request) -> HTMLResponse:
        newest, tree = await asyncio.gather(
            catalog.get("/products", params={"sort": "newest", "in_stock": "true", "per_page": 8}),
            categories(),
        )
        products = newest.json()["items"] if newest.status_code == 200 else []
        return await render(request, "home.html", products=products, featured=tree)

    def listing_params(request: Request) -> dict[str, Any]:
        query = request.query_params
        params: dict[str, Any] = {"per_page": settings.page_size}
        params["page"] = _int(query.get("page"), 1, 1, 1000)
        sort = query.get("sort", "")
        if sort in SORTS:
            params["sort"] = sort
        brands = [b for b in query.getlist("brand") if b and len(b) <= 80][:20]
        if brands:
            params["brand"] = brands
        price = query.get("price", "")
        if "-" in price:
            low, high = price.split("-", 1)
            if (minimum := _int(low)) is not None:
                params["min_price"] = minimum
            if high and (maximum := _int(high)) is not None and maximum > 0:
                params["max_price"] = maximum - 1
        if query.get("in_stock"):
            params["in_stock"] = "true"
        return params

    def page_url(request: Request, **changes: Any) -> str:
        items = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
        items += [(k, str(v)) for k, v in changes.items() if v is not None]
        return f"{request.url.path}?{urlencode(items)}"

    async def listing(
        request: Request, template: str, params: dict[str, Any], **context: Any
    ) -> HTMLResponse:
        response = await catalog.get("/products", params=params)
        if response.status_code == 404:
            raise StarletteHTTPException(404)
        if response.status_code != 200:
            raise StarletteHTTPException(400, "Those filters don't work together.")
        result = response.json()
        pages = max(1, -(-result["total"] // result["per_page"]))
        return await render(
            request,
            template,
            result=result,
            pages=pages,
            selected_price=request.query_params.get("price", ""),
            in_stock=bool(request.query_params.get("in_stock")),
            sort=params.get("sort", "relevance"),
            page_url=lambda page: page_url(request, page=page),
            **context,
        )

    @app.get("/c/{slug}", response_class=HTMLResponse, include_in_schema=False)
    async def category_page(request: Request, slug: str) -> HTMLResponse:
        detail = await catalog_reference(f"/categories/{quote(slug, safe='')}")
        if detail is None:
            raise StarletteHTTPException(404)
        params = listing_params(request) | {"category": slug}
        params.setdefault("sort", "newest")
        return await listing(request, "listing.html", params, category=detail)

    @app.get("/search", response_class=HTMLResponse, include_in_schema=False)
    async def search_page(request: Request) -> HTMLResponse:
        q = request.query_params.get("q", "")[:200]
        params = listing_params(request) | {"q": q}
        return await listing(request, "listing.html", params, category=None)

    @app.get("/p/{slug}", response_class=HTMLResponse, include_in_schema=False)
    async def product_page(request: Request, slug: str) -> HTMLResponse:
        key = quote(slug, safe="")
        answers = await asyncio.gather(
            catalog.get(f"/products/{key}"),
            catalog_reference(f"/products/{key}/similar", limit=4),
            catalog_reference(f"/products/{key}/also-bought", limit=4),
            return_exceptions=True,
        )
        product, similar, also = answers
        if isinstance(product, BaseException):
            raise product
        if product.status_code != 200:
            raise StarletteHTTPException(404)

        def items(result: Any) -> list[Any]:
            # Recommendations are a nicety: the page stands without them.
            if isinstance(result, BaseException) or result is None:
                return []
            return list(result)

        detail = product.json()
        # A marketplace vendor's product shows who sells it and their rating.
        vendor_summary = getattr(app.state, "vendor_summary", None)
        vendor_reviews = None
        if vendor_summary is not None and detail.get("vendor_id"):
            vendor_reviews = await vendor_summary(str(detail["vendor_id"]))
        return await render(
            request,
            "product.html",
            product=detail,
            vendor_reviews=vendor_reviews,
            similar=items(similar),
            also_bought=items(also),
        )

    @app.get("/img/{slug}.svg", include_in_schema=False)
    async def image(slug: str) -> Response:
        words = [word for word in slug.split("-") if word and not word.isdigit()]
        return Response(
            placeholder_svg(slug, " ".join(words)),
            media_type="image/svg+xml",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    # ----------------------------------------------------------------- cart

    @app.get("/cart", response_class=HTMLResponse, include_in_schema=False)
    async def cart_page(request: Request) -> HTMLResponse:
        summary = await cart_summary(request)
        return await render(request, "cart.html", cart=summary)

    def remember_cart(response: Response, upstream: Any) -> None:
        cart_id = upstream.headers.get("x-cart-id")
        if cart_id:
            response.set_cookie(
                settings.cookie_name,
                cart_id,
                max_age=settings.cart_cookie_max_age,
                httponly=True,
                samesite="lax",
            )

    def problem_text(upstream: Any) -> str:
        try:
            return str(upstream.json().get("detail", "That didn't work."))
        except ValueError:
            return "That didn't work."

    @app.post("/cart/add", include_in_schema=False)
    async def add_to_cart(request: Request) -> Response:
        form = await read_form(request)
        sku = form.get("sku", "")
        quantity = _int(form.get("quantity"), 1, 1, 1000)
        back = form.get("back", "")
        upstream = await cart.post(
            "/cart/items", json={"sku": sku, "quantity": quantity}, headers=cart_headers(request)
        )
        if upstream.status_code != 200:
            target = back if back.startswith("/p/") else "/cart"
            return redirect(target, problem_text(upstream))
        response = redirect("/cart", "Added to your cart.")
        remember_cart(response, upstream)
        return response

    @app.post("/cart/update", include_in_schema=False)
    async def update_cart(request: Request) -> Response:
        form = await read_form(request)
        sku = quote(form.get("sku", "") or "-", safe="")
        quantity = _int(form.get("quantity"), 0, 0, 1000)
        upstream = await cart.request(
            "PUT", f"/cart/items/{sku}", json={"quantity": quantity}, headers=cart_headers(request)
        )
        if upstream.status_code != 200:
            return redirect("/cart", problem_text(upstream))
        return redirect("/cart", "Your cart was updated.")

    @app.post("/cart/remove", include_in_schema=False)
    async def remove_from_cart(request: Request) -> Response:
        form = await read_form(request)
        sku = quote(form.get("sku", "") or "-", safe="")
        upstream = await cart.request("DELETE", f"/cart/items/{sku}", headers=cart_headers(request))
        if upstream.status_code != 200:
            return redirect("/cart", problem_text(upstream))
        return redirect("/cart", "Removed from your cart.")

    @app.post("/cart/promo", include_in_schema=False)
    async def apply_promo(request: Request) -> Response:
        form = await read_form(request)
        if form.get("action") == "remove":
            upstream = await cart.request("DELETE", "/cart/promo", headers=cart_headers(request))
            return redirect("/cart", "Code removed." if upstream.status_code == 200 else None)
        upstream = await cart.post(
            "/cart/promo", json={"code": form.get("code", "")}, headers=cart_headers(request)
        )
        if upstream.status_code != 200:
            return redirect("/cart", problem_text(upstream))
        return redirect("/cart", "Code applied.")

    # Account pages and the store-admin console live in their own modules.
    from storefleet.runtime.storefront.admin_console import install_admin_console
    from storefleet.runtime.storefront.pages import account as account_pages
    from storefleet.runtime.storefront.viewers import build_account_pages

    accounts = build_account_pages(
        app,
        render=render,
        redirect=redirect,
        read_form=read_form,
        client=client,
        has_orders="orders" in (transports or {}),
    )
    app.state.account_pages = accounts
    app.include_router(account_pages.router)
    install_admin_console(app, accounts, catalog=catalog, cart=cart, client=client, store=store)
    from storefleet.runtime.storefront.vendor_portal import install_vendor_portal

    app.state.vendor_summary = install_vendor_portal(
        app, accounts, client=client, catalog=catalog, store=store
    )
    from storefleet.runtime.storefront.checkout import register as install_checkout_pages

    install_checkout_pages(
        app,
        render=render,
        redirect=redirect,
        read_form=read_form,
        cart=cart,
        cart_headers=cart_headers,
        settings=settings,
        transports=transports,
    )
    return app
