"""The generated demo catalog a fresh shop starts with."""

from __future__ import annotations

from storefleet.runtime.catalog.demo import TREE, generate


def test_default_demo_catalog_is_big_varied_and_consistent() -> None:
    brands, categories, products = generate()
    assert len(products) >= 500
    assert len({p.slug for p in products}) == len(products)
    skus = [v.sku for p in products for v in p.variants]
    assert len(set(skus)) == len(skus)
    leaves = {leaf.slug for children in TREE.values() for leaf in children}
    assert {p.category for p in products} == leaves, "every category has products"
    assert {p.brand for p in products} <= {b.slug for b in brands}
    assert {c.slug for c in categories} >= leaves
    assert any(v.stock == 0 for p in products for v in p.variants), "some things sell out"
    assert all(v.price_minor > 0 and v.currency == "EUR" for p in products for v in p.variants)


def test_demo_catalog_is_the_same_every_time() -> None:
    assert generate(50, seed=3)[2] == generate(50, seed=3)[2]
    assert generate(50, seed=3)[2] != generate(50, seed=4)[2]
