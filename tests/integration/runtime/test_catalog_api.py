"""The catalog's HTTP API, against real servers, on every backend."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from marketplace_harness import paid_order

from storefleet.runtime.platform.events import contracts

DEMO_PRODUCTS = 150
ProductFactory = Callable[..., Awaitable[dict[str, Any]]]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


pytestmark = pytest.mark.asyncio(loop_scope="session")


async def search(catalog: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await catalog.get("/products", params=params)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_demo_catalog_is_browsable(catalog: httpx.AsyncClient) -> None:
    everything = await search(catalog, per_page=1)
    assert everything["total"] >= DEMO_PRODUCTS
    tree = (await catalog.get("/categories")).json()
    electronics = next(node for node in tree if node["slug"] == "electronics")
    assert {"headphones", "laptops"} <= {child["slug"] for child in electronics["children"]}
    assert len((await catalog.get("/brands")).json()) >= 10


async def test_search_corrects_typos(catalog: httpx.AsyncClient) -> None:
    result = await search(catalog, q="hedphones")
    assert result["corrected_query"] == "headphones"
    assert result["total"] > 0
    assert all(item["category"]["slug"] == "headphones" for item in result["items"])


async def test_search_matches_prefixes_and_brands(catalog: httpx.AsyncClient) -> None:
    result = await search(catalog, q="headph")
    assert result["total"] > 0
    by_brand = await search(catalog, q="acme")
    assert by_brand["total"] > 0
    assert all(item["brand"]["slug"] == "acme" for item in by_brand["items"])


async def test_nonsense_finds_nothing(catalog: httpx.AsyncClient) -> None:
    result = await search(catalog, q="qqqzzzxxyy")
    assert result["total"] == 0
    assert result["items"] == []


async def test_filters_narrow_results_and_facets_count_them(catalog: httpx.AsyncClient) -> None:
    whole = await search(catalog, category="electronics", per_page=100)
    assert whole["total"] > 0
    leaves = {"headphones", "speakers", "laptops", "keyboards", "monitors", "cameras"}
    assert {item["category"]["slug"] for item in whole["items"]} <= leaves
    # Every product with a brand is counted under it (products other tests of this
    # module made may have none, so the count is of those that do).
    assert whole["total"] == len(whole["items"])
    branded = sum(1 for item in whole["items"] if item.get("brand"))
    assert branded > 0
    assert sum(f["count"] for f in whole["facets"]["brand"]) == branded

    brand = whole["facets"]["brand"][0]["value"]
    narrowed = await search(
        catalog,
        category="electronics",
        brand=brand,
        min_price=1000,
        max_price=100_000,
        in_stock="true",
        per_page=100,
    )
    assert 0 < narrowed["total"] <= whole["total"]
    for item in narrowed["items"]:
        assert item["brand"]["slug"] == brand
        assert 1000 <= item["price_minor"] <= 100_000
        assert item["in_stock"]
    # The brand facet ignores the brand filter, so other brands stay selectable.
    assert len(narrowed["facets"]["brand"]) >= 1
    assert any(f["selected"] for f in narrowed["facets"]["brand"])


@pytest.mark.parametrize(("sort", "reverse"), [("price_asc", False), ("price_desc", True)])
async def test_sorting_by_price(catalog: httpx.AsyncClient, sort: str, reverse: bool) -> None:
    result = await search(catalog, sort=sort, per_page=50)
    prices = [item["price_minor"] for item in result["items"]]
    assert prices == sorted(prices, reverse=reverse)


async def test_paging_is_stable(catalog: httpx.AsyncClient) -> None:
    first = await search(catalog, sort="name", per_page=10, page=1)
    second = await search(catalog, sort="name", per_page=10, page=2)
    assert not {i["id"] for i in first["items"]} & {i["id"] for i in second["items"]}


@pytest.mark.parametrize("key", ["\u00b2", "\u0663", "12\u00b3"])
async def test_a_key_of_non_ascii_digits_is_no_product_not_a_server_error(
    catalog: httpx.AsyncClient, key: str
) -> None:
    """str.isdigit() holds for superscripts and Arabic-Indic digits, which int() refuses."""
    for path in (f"/products/{key}", f"/products/{key}/similar", f"/admin/products/{key}"):
        response = await catalog.get(path)
        assert response.status_code == 404, (path, response.status_code, response.text[:200])
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_product_detail_and_breadcrumbs(
    catalog: httpx.AsyncClient, new_product: ProductFactory
) -> None:
    product = await new_product(variants=2)
    response = await catalog.get(f"/products/{product['slug']}")
    assert response.status_code == 200
    detail = response.json()
    assert [crumb["slug"] for crumb in detail["breadcrumbs"]] == ["electronics", "headphones"]
    assert len(detail["variants"]) == 2
    assert detail["price_minor"] == min(v["price_minor"] for v in detail["variants"])
    assert detail["vendor_id"] is None


async def test_unknown_things_are_404_problems(catalog: httpx.AsyncClient) -> None:
    for path in ("/products/no-such-thing", "/categories/nope", "/variants/NOPE-1"):
        response = await catalog.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"variants": []}, "variants"),
        ({"slug": "Not A Slug"}, "slug"),
        ({"variants": [{"sku": "OK-1", "price_minor": -1, "currency": "EUR"}]}, "price_minor"),
        ({"variants": [{"sku": "OK-1", "price_minor": 100, "currency": "euro"}]}, "currency"),
        ({"variants": [{"sku": "lower", "price_minor": 100, "currency": "EUR"}]}, "sku"),
    ],
)
async def test_admin_rejects_invalid_products(
    catalog: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    body = {
        "slug": unique("bad"),
        "name": "Bad",
        "category": "headphones",
        "variants": [{"sku": "OK-1", "price_minor": 100, "currency": "EUR"}],
    } | change
    response = await catalog.post("/admin/products", json=body)
    assert response.status_code == 422
    assert field in response.json()["detail"]


async def test_admin_refuses_duplicates_and_unknown_references(
    catalog: httpx.AsyncClient, new_product: ProductFactory
) -> None:
    product = await new_product()
    sku = product["variants"][0]["sku"]
    again = {
        "slug": unique("dup"),
        "name": "Dup",
        "category": "headphones",
        "variants": [{"sku": sku, "price_minor": 100, "currency": "EUR"}],
    }
    duplicate_sku = await catalog.post("/admin/products", json=again)
    assert duplicate_sku.status_code == 409
    assert sku in duplicate_sku.json()["detail"]
    unknown_category = await catalog.post(
        "/admin/products",
        json=again
        | {
            "category": "no-such-category",
            "variants": [{"sku": "FRESH-1", "price_minor": 1, "currency": "EUR"}],
        },
    )
    assert unknown_category.status_code == 409
    assert "no-such-category" in unknown_category.json()["detail"]


async def test_admin_edits_show_up_in_search(
    catalog: httpx.AsyncClient, new_product: ProductFactory
) -> None:
    product = await new_product(price=5000)
    slug = product["slug"]
    word = "zanzibarian"
    patched = await catalog.patch(f"/admin/products/{slug}", json={"name": f"The {word} lamp"})
    assert patched.status_code == 200
    found = await search(catalog, q=word)
    assert [item["slug"] for item in found["items"]] == [slug]
    sku = product["variants"][0]["sku"]
    cheaper = await catalog.patch(f"/admin/variants/{sku}", json={"price_minor": 1234})
    assert cheaper.status_code == 200
    assert (await catalog.get(f"/products/{slug}")).json()["price_minor"] == 1234

    archived = await catalog.delete(f"/admin/products/{slug}")
    assert archived.status_code == 204
    assert (await catalog.get(f"/products/{slug}")).status_code == 404
    assert (await search(catalog, q=word))["total"] == 0
    assert (await catalog.get(f"/admin/products/{slug}")).json()["active"] is False


async def test_category_tree_admin(catalog: httpx.AsyncClient) -> None:
    parent = unique("cat")
    child = unique("sub")
    assert (
        await catalog.post("/admin/categories", json={"slug": parent, "name": "P"})
    ).status_code == 201
    created = await catalog.post(
        "/admin/categories", json={"slug": child, "name": "C", "parent": parent}
    )
    assert created.status_code == 201
    assert [c["slug"] for c in created.json()["breadcrumbs"]] == [parent, child]
    in_use = await catalog.delete(f"/admin/categories/{parent}")
    assert in_use.status_code == 409
    assert (await catalog.delete(f"/admin/categories/{child}")).status_code == 204
    assert (await catalog.delete(f"/admin/categories/{parent}")).status_code == 204


async def test_similar_products_share_the_category(catalog: httpx.AsyncClient) -> None:
    product = (await search(catalog, category="laptops", per_page=1))["items"][0]
    similar = (await catalog.get(f"/products/{product['slug']}/similar")).json()
    assert similar
    assert product["id"] not in {item["id"] for item in similar}
    assert similar[0]["category"]["slug"] == "laptops"


async def test_also_bought_learns_from_order_events(
    catalog: httpx.AsyncClient, new_product: ProductFactory, shop: Any
) -> None:
    first = await new_product()
    second = await new_product()
    order = contracts.event(
        "order.paid", paid_order(None, [(first, 1), (second, 1)]), source="orders"
    )
    await shop.bus.publish(order)
    await shop.bus.publish(order)  # redelivered: must not count twice
    also = (await catalog.get(f"/products/{first['slug']}/also-bought")).json()
    assert [item["id"] for item in also] == [second["id"]]


async def stock_of(catalog: httpx.AsyncClient, sku: str, staff: dict[str, str]) -> int:
    """The exact count, as the store's staff see it (shoppers see a level)."""
    response = await catalog.get(f"/variants/{sku}", headers=staff)
    assert response.status_code == 200
    stock: int = response.json()["stock"]
    return stock


async def test_reservations_hold_release_and_commit_stock(
    catalog: httpx.AsyncClient, new_product: ProductFactory, staff: dict[str, str]
) -> None:
    product = await new_product(stock=5)
    sku = product["variants"][0]["sku"]
    held = await catalog.post(
        "/internal/reservations", json={"items": [{"sku": sku, "quantity": 3}]}
    )
    assert held.status_code == 201
    reservation = held.json()
    assert await stock_of(catalog, sku, staff) == 2

    too_many = await catalog.post(
        "/internal/reservations", json={"items": [{"sku": sku, "quantity": 3}]}
    )
    assert too_many.status_code == 409
    # How many are left is the store's business, not the caller's.
    assert too_many.json()["detail"] == f"not enough of {sku} in stock"
    assert "available" not in too_many.json()

    released = await catalog.post(f"/internal/reservations/{reservation['id']}/release")
    assert released.json()["status"] == "released"
    assert await stock_of(catalog, sku, staff) == 5
    again = await catalog.post(f"/internal/reservations/{reservation['id']}/release")
    assert again.status_code == 200
    assert await stock_of(catalog, sku, staff) == 5, "a second release returns nothing twice"

    kept = (
        await catalog.post("/internal/reservations", json={"items": [{"sku": sku, "quantity": 1}]})
    ).json()
    committed = await catalog.post(f"/internal/reservations/{kept['id']}/commit")
    assert committed.json()["status"] == "committed"
    assert (await catalog.post(f"/internal/reservations/{kept['id']}/release")).status_code == 409
    assert await stock_of(catalog, sku, staff) == 4


async def test_reservations_are_all_or_nothing(
    catalog: httpx.AsyncClient, new_product: ProductFactory, staff: dict[str, str]
) -> None:
    plenty = (await new_product(stock=10))["variants"][0]["sku"]
    scarce = (await new_product(stock=1))["variants"][0]["sku"]
    response = await catalog.post(
        "/internal/reservations",
        json={"items": [{"sku": plenty, "quantity": 2}, {"sku": scarce, "quantity": 2}]},
    )
    assert response.status_code == 409
    assert response.json()["sku"] == scarce
    assert await stock_of(catalog, plenty, staff) == 10


async def test_expired_reservations_give_stock_back(
    catalog: httpx.AsyncClient, new_product: ProductFactory, staff: dict[str, str]
) -> None:
    sku = (await new_product(stock=4))["variants"][0]["sku"]
    held = await catalog.post(
        "/internal/reservations", json={"items": [{"sku": sku, "quantity": 4}], "ttl_seconds": 1}
    )
    assert held.status_code == 201
    assert await stock_of(catalog, sku, staff) == 0
    for _ in range(100):
        if await stock_of(catalog, sku, staff) == 4:
            break
        await asyncio.sleep(0.1)
    assert await stock_of(catalog, sku, staff) == 4
    reservation = (await catalog.get(f"/internal/reservations/{held.json()['id']}")).json()
    assert reservation["status"] == "expired"
    late = await catalog.post(f"/internal/reservations/{reservation['id']}/commit")
    assert late.status_code == 409


async def test_concurrent_reservers_never_oversell(
    catalog: httpx.AsyncClient, new_product: ProductFactory, staff: dict[str, str]
) -> None:
    stock, reservers = 20, 60
    sku = (await new_product(stock=stock))["variants"][0]["sku"]

    async def reserve() -> int:
        response = await catalog.post(
            "/internal/reservations", json={"items": [{"sku": sku, "quantity": 1}]}
        )
        return response.status_code

    statuses = await asyncio.gather(*(reserve() for _ in range(reservers)))
    assert statuses.count(201) == stock
    assert statuses.count(409) == reservers - stock
    assert await stock_of(catalog, sku, staff) == 0


async def test_stock_adjustments_cannot_go_negative(
    catalog: httpx.AsyncClient, new_product: ProductFactory
) -> None:
    sku = (await new_product(stock=2))["variants"][0]["sku"]
    refused = await catalog.post(f"/admin/variants/{sku}/stock", json={"delta": -3})
    assert refused.status_code == 409
    added = await catalog.post(f"/admin/variants/{sku}/stock", json={"delta": 5})
    assert added.json()["stock"] == 7


async def levels_and_counts(
    catalog: httpx.AsyncClient, product: dict[str, Any], headers: dict[str, str]
) -> dict[str, list[tuple[str, int | None]]]:
    """(availability, stock) of each variant, from each public read."""
    skus = [variant["sku"] for variant in product["variants"]]
    detail = await catalog.get(f"/products/{product['slug']}", headers=headers)
    lookup = await catalog.post("/variant-lookup", json={"skus": skus}, headers=headers)
    one = [(await catalog.get(f"/variants/{sku}", headers=headers)) for sku in skus]
    for answer in (detail, lookup, *one):
        assert answer.status_code == 200, answer.text
    return {
        "product": [(v["availability"], v["stock"]) for v in detail.json()["variants"]],
        "lookup": [(v["availability"], v["stock"]) for v in lookup.json()["items"]],
        "variant": [(a.json()["availability"], a.json()["stock"]) for a in one],
    }


async def test_shoppers_see_a_level_and_staff_the_count(
    shop: Any, catalog: httpx.AsyncClient, new_product: ProductFactory, staff: dict[str, str]
) -> None:
    """How many units the store holds is its own business: anyone sees whether
    a variant is in stock, running low (5 or fewer) or out; the store's staff
    see the count. Before, every caller read the exact stock."""
    product = await new_product(stock=3, variants=2)
    sku = product["variants"][0]["sku"]
    assert (await catalog.post(f"/admin/variants/{sku}/stock", json={"delta": 47})).is_success
    second = product["variants"][1]["sku"]
    assert (await catalog.post(f"/admin/variants/{second}/stock", json={"delta": -3})).is_success

    # Staff first: the catalog's read cache must not hand their answer to others.
    counted = await levels_and_counts(catalog, product, staff)
    assert all(answer == [("in_stock", 50), ("out_of_stock", 0)] for answer in counted.values()), (
        counted
    )
    support = await levels_and_counts(catalog, product, shop.bearer("support"))
    assert support == counted

    levels = {"product": [("in_stock", None), ("out_of_stock", None)]}
    levels |= {"lookup": levels["product"], "variant": levels["product"]}
    shopper = shop.bearer("customer")
    for headers in ({}, shopper, {"Authorization": "Bearer not-a-token"}):
        assert await levels_and_counts(catalog, product, headers) == levels, headers

    low = await new_product(stock=5)
    answer = (await catalog.get(f"/variants/{low['variants'][0]['sku']}")).json()
    assert (answer["availability"], answer["stock"]) == ("low_stock", None)


async def test_a_vendor_counts_its_own_products_only(shop: Any, catalog: httpx.AsyncClient) -> None:
    code = uuid.uuid4().hex[:8].upper()
    body = {
        "slug": f"vendor-lamp-{code.lower()}",
        "name": f"Vendor Lamp {code}",
        "category": "headphones",
        "vendor_id": f"v-{code.lower()}",
        "variants": [{"sku": f"VL-{code}", "price_minor": 900, "currency": "EUR", "stock": 2}],
    }
    made = await catalog.post("/admin/products", json=body)
    assert made.status_code == 201, made.text
    own = shop.bearer("vendor-admin", vendor_id=body["vendor_id"])
    other = shop.bearer("vendor-staff", vendor_id="v-someone-else")
    counted = await levels_and_counts(catalog, made.json(), own)
    assert all(answer == [("low_stock", 2)] for answer in counted.values()), counted
    hidden = await levels_and_counts(catalog, made.json(), other)
    assert all(answer == [("low_stock", None)] for answer in hidden.values()), hidden


async def test_bad_query_parameters_are_problems_not_crashes(catalog: httpx.AsyncClient) -> None:
    for params in ({"page": 0}, {"per_page": 1000}, {"sort": "random"}, {"min_price": -5}):
        response = await catalog.get("/products", params=params)
        assert response.status_code == 422, params
        assert response.headers["content-type"] == "application/problem+json"
    weird = await catalog.get("/products", params={"q": '"*) OR 1=1 -- NEAR( ^'})
    assert weird.status_code == 200
