"""The catalog's HTTP contract. Prices are integer minor units plus currency."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from storefleet.runtime.platform.web.schema import Input

Slug = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", min_length=1, max_length=80)
]
Sku = Annotated[
    str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9._-]{0,63}$", min_length=1, max_length=64)
]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
MinorUnits = Annotated[int, Field(ge=0, le=1_000_000_000)]
Attributes = dict[
    Annotated[str, StringConstraints(min_length=1, max_length=50)],
    Annotated[str, StringConstraints(max_length=200)],
]

SortOrder = Literal["relevance", "newest", "price_asc", "price_desc", "name"]
# Who is told the exact count (``stock``) and who only this: see availability.py.
STOCK_DESCRIPTION = (
    "Units in stock; null unless the caller may see exact stock (store staff, the "
    "catalog's token, a vendor for its own products)"
)


class StockLevel(StrEnum):
    IN_STOCK = "in_stock"
    LOW_STOCK = "low_stock"  # STOREFLEET_CATALOG_LOW_STOCK_THRESHOLD units or fewer
    OUT_OF_STOCK = "out_of_stock"


class BrandRef(BaseModel):
    slug: str
    name: str


class CategoryRef(BaseModel):
    slug: str
    name: str


class ImageOut(BaseModel):
    url: str
    alt: str


class ProductSummary(BaseModel):
    id: int
    slug: str
    name: str
    brand: BrandRef | None
    category: CategoryRef
    price_minor: int
    currency: str
    in_stock: bool
    image: ImageOut | None
    vendor_id: str | None


class VariantOut(BaseModel):
    sku: str
    name: str
    attributes: dict[str, str]
    price_minor: int
    currency: str
    availability: StockLevel
    stock: int | None = Field(description=STOCK_DESCRIPTION)


class ProductDetail(ProductSummary):
    description: str
    attributes: dict[str, str]
    variants: list[VariantOut]
    images: list[ImageOut]
    breadcrumbs: list[CategoryRef]
    active: bool
    created_at: datetime
    updated_at: datetime


class FacetValue(BaseModel):
    value: str
    label: str
    count: int
    selected: bool = False


class Facets(BaseModel):
    brand: list[FacetValue]
    category: list[FacetValue]
    price: list[FacetValue]
    in_stock: int


class SearchResult(BaseModel):
    query: str
    corrected_query: str | None = Field(
        default=None, description="The query actually run, when typos were corrected"
    )
    total: int
    page: int
    per_page: int
    sort: SortOrder
    items: list[ProductSummary]
    facets: Facets


class CategoryNode(BaseModel):
    slug: str
    name: str
    description: str
    children: list[CategoryNode] = []


class CategoryDetail(BaseModel):
    slug: str
    name: str
    description: str
    breadcrumbs: list[CategoryRef]
    children: list[CategoryRef]


class VariantStock(BaseModel):
    sku: str
    product_id: int
    product_slug: str
    product_name: str
    variant_name: str
    price_minor: int
    currency: str
    availability: StockLevel
    stock: int | None = Field(description=STOCK_DESCRIPTION)
    active: bool
    image: ImageOut | None
    vendor_id: str | None


class SkuLookup(Input):
    skus: list[Sku] = Field(min_length=1, max_length=200)


class SkuLookupResult(BaseModel):
    items: list[VariantStock]
    missing: list[str]


class ReservationItem(Input):
    sku: Sku
    quantity: int = Field(ge=1, le=1000)


class ReservationIn(Input):
    items: list[ReservationItem] = Field(min_length=1, max_length=100)
    id: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{32}$",
        description="Name the reservation to make the request idempotent",
    )
    reference: str = Field(default="", max_length=200)
    ttl_seconds: int | None = Field(default=None, ge=1, le=86_400)

    @field_validator("items")
    @classmethod
    def _merge_repeats(cls, items: list[ReservationItem]) -> list[ReservationItem]:
        # A SKU named twice is one line with the quantities added up.
        merged: dict[str, int] = {}
        for item in items:
            merged[item.sku] = merged.get(item.sku, 0) + item.quantity
        return [ReservationItem(sku=sku, quantity=quantity) for sku, quantity in merged.items()]


class ReservationOut(BaseModel):
    id: str
    reference: str
    status: Literal["active", "released", "expired", "committed"]
    expires_at: datetime
    items: list[ReservationItem]


class ImageIn(Input):
    url: str = Field(min_length=1, max_length=1000, pattern=r"^(https?://|/)\S+$")
    alt: str = Field(default="", max_length=300)


class VariantIn(Input):
    sku: Sku
    name: str = Field(default="", max_length=200)
    attributes: Attributes = Field(default_factory=dict)
    price_minor: MinorUnits
    currency: Currency
    stock: int = Field(default=0, ge=0, le=10_000_000)


class ProductIn(Input):
    slug: Slug
    name: Name
    description: str = Field(default="", max_length=20_000)
    brand: Slug | None = None
    category: Slug
    vendor_id: str | None = Field(default=None, max_length=64)
    attributes: Attributes = Field(default_factory=dict)
    active: bool = True
    images: list[ImageIn] = Field(default=[], max_length=20)
    variants: list[VariantIn] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _consistent_variants(self) -> ProductIn:
        skus = [variant.sku for variant in self.variants]
        if len(set(skus)) != len(skus):
            raise ValueError("variant SKUs must be distinct")
        if len({variant.currency for variant in self.variants}) > 1:
            raise ValueError("all variants of a product share one currency")
        return self


class ProductPatch(Input):
    name: Name | None = None
    description: str | None = Field(default=None, max_length=20_000)
    brand: Slug | None = None
    category: Slug | None = None
    attributes: Attributes | None = None
    active: bool | None = None
    images: list[ImageIn] | None = Field(default=None, max_length=20)


class VariantPatch(Input):
    name: str | None = Field(default=None, max_length=200)
    price_minor: MinorUnits | None = None
    stock: int | None = Field(default=None, ge=0, le=10_000_000)
    attributes: Attributes | None = None


class StockAdjustment(Input):
    delta: int = Field(ge=-10_000_000, le=10_000_000, description="Units to add (or remove)")


class BrandIn(Input):
    slug: Slug
    name: Name


class CategoryIn(Input):
    slug: Slug
    name: Name
    description: str = Field(default="", max_length=2000)
    parent: Slug | None = None
    position: int = Field(default=0, ge=0, le=10_000)


class CategoryPatch(Input):
    name: Name | None = None
    description: str | None = Field(default=None, max_length=2000)
    position: int | None = Field(default=None, ge=0, le=10_000)


class PaidOrder(BaseModel):
    """What the catalog reads from ``order.paid``: which products sold together."""

    product_ids: list[int] = Field(min_length=1, max_length=500)
