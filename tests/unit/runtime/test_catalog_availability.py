"""Who sees how much stock: a level for everyone, the count for the store's
staff, the catalog's token and a vendor's people on their own products."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from storefleet.runtime.catalog import schemas as s
from storefleet.runtime.catalog.availability import (
    ANONYMOUS,
    EVERYTHING,
    level_of,
    lookup_for,
    product_for,
    viewer_of,
)
from storefleet.runtime.platform.identity.tokens import Principal


@pytest.mark.parametrize(
    ("stock", "level"),
    [(0, "out_of_stock"), (1, "low_stock"), (5, "low_stock"), (6, "in_stock"), (900, "in_stock")],
)
def test_levels_follow_the_threshold(stock: int, level: str) -> None:
    assert level_of(stock, 5) == level
    assert level_of(stock, 0) == ("out_of_stock" if stock == 0 else "in_stock")


def person(*roles: str, vendor: str | None = None, mfa_pending: bool = False) -> Principal:
    claims = {"vendor_id": vendor} if vendor else {}
    return Principal("someone", "store", frozenset(roles), mfa_pending=mfa_pending, claims=claims)


def test_who_may_count() -> None:
    assert viewer_of(None) == ANONYMOUS
    assert viewer_of(person("customer")) == ANONYMOUS
    assert viewer_of(person("store-admin")) == EVERYTHING
    assert viewer_of(person("support")) == EVERYTHING
    assert viewer_of(Principal.service()) == EVERYTHING
    assert viewer_of(person("store-admin", mfa_pending=True)) == ANONYMOUS
    assert viewer_of(person("vendor-admin")) == ANONYMOUS, "a vendor's people need their vendor"
    vendor = viewer_of(person("vendor-staff", vendor="v-1"))
    assert vendor.sees("v-1")
    assert not vendor.sees("v-2")
    assert not vendor.sees(None)


def variant(sku: str, stock: int, vendor: str | None) -> s.VariantStock:
    return s.VariantStock(
        sku=sku,
        product_id=1,
        product_slug="lamp",
        product_name="Lamp",
        variant_name="",
        price_minor=100,
        currency="EUR",
        availability=level_of(stock, 5),
        stock=stock,
        active=True,
        image=None,
        vendor_id=vendor,
    )


def test_counts_are_taken_out_per_item_and_levels_stay() -> None:
    found = s.SkuLookupResult(
        items=[variant("A-1", 3, "v-1"), variant("B-1", 40, None)], missing=[]
    )
    mine = lookup_for(viewer_of(person("vendor-admin", vendor="v-1")), found)
    assert [(i.stock, i.availability) for i in mine.items] == [(3, "low_stock"), (None, "in_stock")]
    assert lookup_for(EVERYTHING, found) == found
    assert found.items[0].stock == 3, "the cached answer itself is untouched"


def test_a_product_shows_its_counts_to_its_own_vendor_only() -> None:
    now = datetime.now(UTC)
    product = s.ProductDetail(
        id=1,
        slug="lamp",
        name="Lamp",
        brand=None,
        category=s.CategoryRef(slug="lamps", name="Lamps"),
        price_minor=100,
        currency="EUR",
        in_stock=True,
        image=None,
        vendor_id="v-1",
        description="",
        attributes={},
        variants=[
            s.VariantOut(
                sku="A-1",
                name="",
                attributes={},
                price_minor=100,
                currency="EUR",
                availability=s.StockLevel.LOW_STOCK,
                stock=2,
            )
        ],
        images=[],
        breadcrumbs=[],
        active=True,
        created_at=now,
        updated_at=now,
    )
    assert product_for(ANONYMOUS, product).variants[0].stock is None
    assert product_for(ANONYMOUS, product).variants[0].availability == "low_stock"
    assert product_for(viewer_of(person("vendor-staff", vendor="v-1")), product) == product
    assert (
        product_for(viewer_of(person("vendor-staff", vendor="v-2")), product).variants[0].stock
        is None
    )
