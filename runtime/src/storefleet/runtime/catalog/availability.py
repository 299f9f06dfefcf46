"""Who sees how much stock.

Anyone may know whether a variant can be bought and whether it is running
low; how many units the store holds is its own business (a competitor could
read its sales off the count, a scalper time a drop). So every answer carries
an availability level, and the exact count goes only to callers who work with
the stock: the store's staff (``inventory:read``), the other services with the
catalog's token, and a vendor's people for their own vendor's products.

Pure functions over the catalog's answers: the service builds them once (and
caches them) with the counts; the API takes the counts out per caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from storefleet.runtime.catalog import schemas as s
from storefleet.runtime.catalog.schemas import StockLevel
from storefleet.runtime.platform.identity.permissions import VENDOR_ADMIN, VENDOR_STAFF, allows
from storefleet.runtime.platform.identity.tokens import Principal

VENDOR_ROLES = frozenset({VENDOR_ADMIN, VENDOR_STAFF})
Counted = TypeVar("Counted", s.VariantOut, s.VariantStock)


def level_of(stock: int, low_threshold: int) -> StockLevel:
    """``low_threshold`` units or fewer (but some) are running low."""
    if stock <= 0:
        return StockLevel.OUT_OF_STOCK
    if stock <= low_threshold:
        return StockLevel.LOW_STOCK
    return StockLevel.IN_STOCK


@dataclass(frozen=True)
class StockViewer:
    """What a caller may count: everything, or their own vendor's products."""

    everything: bool = False
    vendor_id: str | None = None

    def sees(self, vendor_id: str | None) -> bool:
        return self.everything or (self.vendor_id is not None and self.vendor_id == vendor_id)


ANONYMOUS = StockViewer()
EVERYTHING = StockViewer(everything=True)


def viewer_of(principal: Principal | None) -> StockViewer:
    if principal is None or principal.mfa_pending:
        return ANONYMOUS
    if allows(principal.roles, "inventory:read"):
        return EVERYTHING
    if principal.roles & VENDOR_ROLES and principal.vendor_id:
        return StockViewer(vendor_id=principal.vendor_id)
    return ANONYMOUS


def without_count(item: Counted) -> Counted:
    return item.model_copy(update={"stock": None})


def product_for(viewer: StockViewer, product: s.ProductDetail) -> s.ProductDetail:
    if viewer.sees(product.vendor_id):
        return product
    return product.model_copy(update={"variants": [without_count(v) for v in product.variants]})


def variant_for(viewer: StockViewer, variant: s.VariantStock) -> s.VariantStock:
    return variant if viewer.sees(variant.vendor_id) else without_count(variant)


def lookup_for(viewer: StockViewer, result: s.SkuLookupResult) -> s.SkuLookupResult:
    if viewer.everything:
        return result
    return result.model_copy(update={"items": [variant_for(viewer, i) for i in result.items]})
