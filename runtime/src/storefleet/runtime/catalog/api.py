"""The catalog's HTTP API: public browsing and search, inventory, and admin.

Module-level routers (``router`` includes them all); what a route needs
arrives as a named dependency: the catalog (``CatalogDep``, the app's
``CatalogService``), whose stock counts the caller may see (``Viewer``), and
the permission checks the app was built with (``guard``, a ``RouteGuards``).
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, status

from storefleet.runtime.catalog import availability
from storefleet.runtime.catalog import schemas as s
from storefleet.runtime.catalog.availability import StockViewer
from storefleet.runtime.catalog.service import CatalogService
from storefleet.runtime.platform.identity import auth
from storefleet.runtime.platform.identity.permissions import (
    SERVICE_ONLY_PREFIX,
    STORE_ADMIN,
    VENDOR_ADMIN,
    VENDOR_STAFF,
    RouteGuards,
    caller_of,
)
from storefleet.runtime.platform.identity.permissions import public as public_rule
from storefleet.runtime.platform.identity.tokens import Principal, authenticator_of
from storefleet.runtime.platform.web.errors import PROBLEM_RESPONSES, ProblemError

VENDOR_ROLES = frozenset({VENDOR_ADMIN, VENDOR_STAFF})

ProductKey = Annotated[str, Path(min_length=1, max_length=120, description="Slug or id")]
SkuPath = Annotated[str, Path(pattern=r"^[A-Z0-9][A-Z0-9._-]{0,63}$")]
SlugPath = Annotated[str, Path(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=80)]
ReservationId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
Limit = Annotated[int, Query(ge=1, le=50)]

# Every permission a route here asks for; the app builds one check of each.
guard = RouteGuards("catalog_checks")


def get_catalog(request: Request) -> CatalogService:
    catalog: CatalogService = request.app.state.catalog
    return catalog


CatalogDep = Annotated[CatalogService, Depends(get_catalog)]


async def stock_viewer(
    request: Request, catalog: CatalogDep, authorization: Annotated[str | None, Header()] = None
) -> StockViewer:
    """Whose counts this caller may see. A public read never needs a token,
    so one that is missing, invalid or expired only means "the levels"; and
    development mode never opens the counts (they are not a staff route)."""
    settings = catalog.settings
    token = auth.bearer(authorization)
    if not token:
        return availability.ANONYMOUS
    if settings.admin_token and hmac.compare_digest(token.encode(), settings.admin_token.encode()):
        return availability.EVERYTHING
    if caller_of(token, settings.caller_tokens) is not None:
        return availability.EVERYTHING
    return availability.viewer_of(await authenticator_of(request.app).authenticate(token))


Viewer = Annotated[StockViewer, Depends(stock_viewer)]


public = APIRouter(responses=PROBLEM_RESPONSES, dependencies=[Depends(public_rule)])


@public.get("/products", response_model=s.SearchResult, tags=["browse"])
async def search_products(
    catalog: CatalogDep,
    q: Annotated[str, Query(max_length=200)] = "",
    category: Annotated[str | None, Query(max_length=80)] = None,
    brand: Annotated[list[str], Query(max_length=20)] = [],  # noqa: B006
    min_price: Annotated[int | None, Query(ge=0, le=1_000_000_000)] = None,
    max_price: Annotated[int | None, Query(ge=0, le=1_000_000_000)] = None,
    in_stock: bool = False,
    sort: s.SortOrder = "relevance",
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 24,
) -> s.SearchResult:
    """Full-text, typo-tolerant search with filters, facets and sorting."""
    return await catalog.listing.search(
        q=q,
        category=category,
        brands=brand,
        min_price=min_price,
        max_price=max_price,
        in_stock=in_stock,
        sort=sort,
        page=page,
        per_page=per_page,
    )


@public.get("/products/{key}", response_model=s.ProductDetail, tags=["browse"])
async def get_product(catalog: CatalogDep, key: ProductKey, viewer: Viewer) -> s.ProductDetail:
    """Variants carry an availability level; ``stock`` only for those who may count."""
    return availability.product_for(viewer, await catalog.browse.product(key))


@public.get(
    "/products/{key}/similar", response_model=list[s.ProductSummary], tags=["recommendations"]
)
async def similar_products(
    catalog: CatalogDep, key: ProductKey, limit: Limit = 8
) -> list[s.ProductSummary]:
    return await catalog.recommendations.similar(key, limit)


@public.get(
    "/products/{key}/also-bought",
    response_model=list[s.ProductSummary],
    tags=["recommendations"],
)
async def also_bought(
    catalog: CatalogDep, key: ProductKey, limit: Limit = 8
) -> list[s.ProductSummary]:
    """Customers who bought this also bought: counted from placed orders."""
    return await catalog.recommendations.also_bought(key, limit)


@public.get("/categories", response_model=list[s.CategoryNode], tags=["browse"])
async def category_tree(catalog: CatalogDep) -> list[s.CategoryNode]:
    return await catalog.browse.category_tree()


@public.get("/categories/{slug}", response_model=s.CategoryDetail, tags=["browse"])
async def get_category(catalog: CatalogDep, slug: SlugPath) -> s.CategoryDetail:
    return await catalog.browse.category(slug)


@public.get("/brands", response_model=list[s.BrandRef], tags=["browse"])
async def list_brands(catalog: CatalogDep) -> list[s.BrandRef]:
    return await catalog.browse.brands()


@public.get("/variants/{sku}", response_model=s.VariantStock, tags=["inventory"])
async def get_variant(catalog: CatalogDep, sku: SkuPath, viewer: Viewer) -> s.VariantStock:
    result = await catalog.browse.lookup_skus([sku])
    if not result.items:
        raise ProblemError(404, f"no SKU '{sku}'")
    return availability.variant_for(viewer, result.items[0])


@public.post("/variant-lookup", response_model=s.SkuLookupResult, tags=["inventory"])
async def lookup_variants(
    catalog: CatalogDep, body: s.SkuLookup, viewer: Viewer
) -> s.SkuLookupResult:
    """Current price and availability of many SKUs at once; ``stock`` only
    for those who may count."""
    return availability.lookup_for(viewer, await catalog.browse.lookup_skus(body.skus))


# Exact counts for the cart's live check (it sends the token the catalog gave it; on a
# laptop in development mode, without one, as every staff route).
counting = APIRouter(
    prefix="/admin",
    tags=["inventory"],
    responses=PROBLEM_RESPONSES,
    dependencies=[Depends(guard("inventory:read"))],
)


@counting.post("/variant-lookup", response_model=s.SkuLookupResult)
async def count_variants(catalog: CatalogDep, body: s.SkuLookup) -> s.SkuLookupResult:
    """Current price and exact stock of many SKUs at once."""
    return await catalog.browse.lookup_skus(body.skus)


# Holding stock is for the orders service (with the token the catalog gave it): a
# shopper who could reserve could take the stock off the shelf for good, or
# release the hold of someone else's order.
reserving = APIRouter(
    prefix=f"{SERVICE_ONLY_PREFIX}/reservations",
    tags=["inventory"],
    responses=PROBLEM_RESPONSES,
    dependencies=[Depends(guard("inventory:reserve"))],
)


@reserving.post("", response_model=s.ReservationOut, status_code=status.HTTP_201_CREATED)
async def reserve(catalog: CatalogDep, body: s.ReservationIn) -> s.ReservationOut:
    """Hold stock for a while; all lines or none. It expires unless committed."""
    return await catalog.inventory.reserve(body)


@reserving.get("/{reservation_id}", response_model=s.ReservationOut)
async def get_reservation(catalog: CatalogDep, reservation_id: ReservationId) -> s.ReservationOut:
    return await catalog.inventory.reservation(reservation_id)


@reserving.post("/{reservation_id}/release", response_model=s.ReservationOut)
async def release(catalog: CatalogDep, reservation_id: ReservationId) -> s.ReservationOut:
    return await catalog.inventory.release(reservation_id)


@reserving.post("/{reservation_id}/commit", response_model=s.ReservationOut)
async def commit(catalog: CatalogDep, reservation_id: ReservationId) -> s.ReservationOut:
    return await catalog.inventory.commit(reservation_id)


Writer = Annotated[Principal, Depends(guard("catalog:write"))]


async def not_a_vendor_only(principal: Writer) -> None:
    # A marketplace vendor's people write only their own products, through
    # the vendors service (which checks ownership and calls this API).
    if principal.roles & VENDOR_ROLES and not principal.roles & {STORE_ADMIN}:
        raise ProblemError(
            403,
            "vendors manage their own products through the vendors API "
            "(/api/vendors/vendor/products)",
        )


admin = APIRouter(
    prefix="/admin",
    tags=["admin"],
    dependencies=[Depends(not_a_vendor_only)],
    responses=PROBLEM_RESPONSES,
)


@admin.post("/brands", response_model=s.BrandRef, status_code=201)
async def create_brand(catalog: CatalogDep, body: s.BrandIn) -> s.BrandRef:
    return await catalog.admin.create_brand(body)


@admin.post("/categories", response_model=s.CategoryDetail, status_code=201)
async def create_category(catalog: CatalogDep, body: s.CategoryIn) -> s.CategoryDetail:
    return await catalog.admin.create_category(body)


@admin.patch("/categories/{slug}", response_model=s.CategoryDetail)
async def update_category(
    catalog: CatalogDep, slug: SlugPath, body: s.CategoryPatch
) -> s.CategoryDetail:
    return await catalog.admin.update_category(slug, body)


@admin.delete("/categories/{slug}", status_code=204)
async def delete_category(catalog: CatalogDep, slug: SlugPath) -> None:
    await catalog.admin.delete_category(slug)


@admin.post("/products", response_model=s.ProductDetail, status_code=201)
async def create_product(catalog: CatalogDep, body: s.ProductIn) -> s.ProductDetail:
    return await catalog.admin.create_product(body)


@admin.get("/products/{key}", response_model=s.ProductDetail)
async def admin_get_product(catalog: CatalogDep, key: ProductKey) -> s.ProductDetail:
    return await catalog.browse.product(key, include_inactive=True)


@admin.patch("/products/{key}", response_model=s.ProductDetail)
async def update_product(
    catalog: CatalogDep, key: ProductKey, body: s.ProductPatch
) -> s.ProductDetail:
    return await catalog.admin.update_product(key, body)


@admin.delete("/products/{key}", status_code=204)
async def archive_product(catalog: CatalogDep, key: ProductKey) -> None:
    """Archive: hidden from shoppers, kept for orders that refer to it."""
    await catalog.admin.archive_product(key)


@admin.patch("/variants/{sku}", response_model=s.VariantStock)
async def update_variant(catalog: CatalogDep, sku: SkuPath, body: s.VariantPatch) -> s.VariantStock:
    return await catalog.admin.update_variant(sku, body)


@admin.post("/variants/{sku}/stock", response_model=s.VariantStock)
async def adjust_stock(
    catalog: CatalogDep, sku: SkuPath, body: s.StockAdjustment
) -> s.VariantStock:
    return await catalog.inventory.adjust_stock(sku, body.delta)


router = APIRouter()
router.include_router(public)
router.include_router(counting)
router.include_router(reserving)
router.include_router(admin)
