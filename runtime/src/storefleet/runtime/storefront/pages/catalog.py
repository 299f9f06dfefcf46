"""Browsing the catalog: the home page, categories, search, a product, and the
placeholder images of products without a photo."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from storefleet.runtime.storefront.formatting import placeholder_svg
from storefleet.runtime.storefront.pages.deps import SiteDep
from storefleet.runtime.storefront.site import SORTS, Site, bounded_int

router = APIRouter()


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def home(request: Request, site: SiteDep) -> HTMLResponse:
    newest, tree = await asyncio.gather(
        site.catalog.get("/products", params={"sort": "newest", "in_stock": "true", "per_page": 8}),
        site.categories(),
    )
    products = newest.json()["items"] if newest.status_code == 200 else []
    return await site.render(request, "home.html", products=products, featured=tree)


def listing_params(site: Site, request: Request) -> dict[str, Any]:
    query = request.query_params
    params: dict[str, Any] = {"per_page": site.settings.page_size}
    params["page"] = bounded_int(query.get("page"), 1, 1, 1000)
    sort = query.get("sort", "")
    if sort in SORTS:
        params["sort"] = sort
    brands = [b for b in query.getlist("brand") if b and len(b) <= 80][:20]
    if brands:
        params["brand"] = brands
    price = query.get("price", "")
    if "-" in price:
        low, high = price.split("-", 1)
        if (minimum := bounded_int(low)) is not None:
            params["min_price"] = minimum
        if high and (maximum := bounded_int(high)) is not None and maximum > 0:
            params["max_price"] = maximum - 1
    if query.get("in_stock"):
        params["in_stock"] = "true"
    return params


def page_url(request: Request, **changes: Any) -> str:
    items = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    items += [(k, str(v)) for k, v in changes.items() if v is not None]
    return f"{request.url.path}?{urlencode(items)}"


async def listing(
    site: Site, request: Request, template: str, params: dict[str, Any], **context: Any
) -> HTMLResponse:
    response = await site.catalog.get("/products", params=params)
    if response.status_code == 404:
        raise StarletteHTTPException(404)
    if response.status_code != 200:
        raise StarletteHTTPException(400, "Those filters don't work together.")
    result = response.json()
    pages = max(1, -(-result["total"] // result["per_page"]))
    return await site.render(
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


@router.get("/c/{slug}", response_class=HTMLResponse, include_in_schema=False)
async def category_page(request: Request, slug: str, site: SiteDep) -> HTMLResponse:
    detail = await site.catalog_reference(f"/categories/{quote(slug, safe='')}")
    if detail is None:
        raise StarletteHTTPException(404)
    params = listing_params(site, request) | {"category": slug}
    params.setdefault("sort", "newest")
    return await listing(site, request, "listing.html", params, category=detail)


@router.get("/search", response_class=HTMLResponse, include_in_schema=False)
async def search_page(request: Request, site: SiteDep) -> HTMLResponse:
    q = request.query_params.get("q", "")[:200]
    params = listing_params(site, request) | {"q": q}
    return await listing(site, request, "listing.html", params, category=None)


def _items(result: Any) -> list[Any]:
    # Recommendations are a nicety: the page stands without them.
    if isinstance(result, BaseException) or result is None:
        return []
    return list(result)


@router.get("/p/{slug}", response_class=HTMLResponse, include_in_schema=False)
async def product_page(request: Request, slug: str, site: SiteDep) -> HTMLResponse:
    key = quote(slug, safe="")
    answers = await asyncio.gather(
        site.catalog.get(f"/products/{key}"),
        site.catalog_reference(f"/products/{key}/similar", limit=4),
        site.catalog_reference(f"/products/{key}/also-bought", limit=4),
        return_exceptions=True,
    )
    product, similar, also = answers
    if isinstance(product, BaseException):
        raise product
    if product.status_code != 200:
        raise StarletteHTTPException(404)
    detail = product.json()
    # A marketplace vendor's product shows who sells it and their rating.
    vendor_summary = getattr(request.app.state, "vendor_summary", None)
    vendor_reviews = None
    if vendor_summary is not None and detail.get("vendor_id"):
        vendor_reviews = await vendor_summary(str(detail["vendor_id"]))
    return await site.render(
        request,
        "product.html",
        product=detail,
        vendor_reviews=vendor_reviews,
        similar=_items(similar),
        also_bought=_items(also),
    )


@router.get("/img/{slug}.svg", include_in_schema=False)
async def image(slug: str) -> Response:
    words = [word for word in slug.split("-") if word and not word.isdigit()]
    return Response(
        placeholder_svg(slug, " ".join(words)),
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )
