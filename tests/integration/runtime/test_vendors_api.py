"""The vendors API over real servers (catalog + vendors), on SQLite and on the
dev stack's PostgreSQL, with tokens signed as the accounts service signs them.

A vendor sees and changes only its own products, sub-orders and payouts;
another vendor's token finds nothing (404) and a shopper's is refused (403).
The operator's contract (PUT/GET/DELETE /admin/vendors/{id}) is idempotent.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest
import pytest_asyncio
from conftest import Backend
from marketplace_harness import Marketplace, marketplace, paid_order, product_body, vendor_body

from storefleet.runtime.platform.events import contracts

pytestmark = pytest.mark.asyncio(loop_scope="session")
PROBLEM = "application/problem+json"


@pytest_asyncio.fixture(scope="module", loop_scope="session", params=["embedded", "postgres"])
async def market(
    request: pytest.FixtureRequest,
    make_backend: Callable[..., AbstractContextManager[Backend]],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Marketplace]:
    directory = tmp_path_factory.mktemp("marketplace")
    async with marketplace(make_backend, request, directory, request.param) as world:
        yield world


@pytest.fixture(autouse=True)
def events_keep_their_contracts(market: Marketplace) -> Iterator[None]:
    """Every event on the marketplace's bus (the vendors' and the catalog's own,
    and the orders' events the tests sent) keeps its type's contract
    (runtime/src/storefleet/runtime/platform/events/contracts.py)."""
    yield
    broken = []
    for published in list(market.bus.recent):
        try:
            contracts.check_event(published)
        except contracts.ContractViolation as exc:
            broken.append(str(exc))
    assert not broken


@pytest_asyncio.fixture(loop_scope="session")
async def api(market: Marketplace) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=market.vendors.url, timeout=30) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def catalog(market: Marketplace) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=market.catalog.url, timeout=30) as client:
        yield client


def new_id(prefix: str = "v") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def register(api: httpx.AsyncClient, market: Marketplace, **overrides: Any) -> str:
    vendor_id = new_id()
    put = await api.put(
        f"/admin/vendors/{vendor_id}", json=vendor_body(**overrides), headers=market.admin
    )
    assert put.status_code == 200, put.text
    return vendor_id


async def create_product(
    api: httpx.AsyncClient, market: Marketplace, vendor_id: str, **kwargs: Any
) -> dict[str, Any]:
    made = await api.post(
        "/vendor/products", json=product_body(**kwargs), headers=market.vendor_staff(vendor_id)
    )
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    return body


async def test_the_operator_contract_is_idempotent(
    api: httpx.AsyncClient, market: Marketplace
) -> None:
    vendor_id = new_id("acme-tea")
    body = vendor_body(commission_percent=7.25, product_limit=3)
    first = await api.put(f"/admin/vendors/{vendor_id}", json=body, headers=market.admin)
    assert first.status_code == 200, first.text
    vendor = first.json()
    assert vendor["id"] == vendor_id
    assert vendor["portal_path"] == "/vendor"
    assert vendor["commission_percent"] == 7.25
    assert vendor["status"] == "active"
    assert vendor["suspended"] is False
    assert vendor["payout"] == {
        "currency": "EUR",
        "schedule": "Weekly",
        "minimum_amount": 10.0,
        "minimum_amount_minor": 1000,
    }
    again = await api.put(f"/admin/vendors/{vendor_id}", json=body, headers=market.admin)
    assert again.status_code == 200
    assert {k: v for k, v in again.json().items() if k != "updated_at"} == {
        k: v for k, v in vendor.items() if k != "updated_at"
    }
    got = await api.get(f"/admin/vendors/{vendor_id}", headers=market.admin)
    assert got.status_code == 200
    assert got.json()["product_limit"] == 3

    suspended = await api.put(
        f"/admin/vendors/{vendor_id}", json={**body, "suspended": True}, headers=market.admin
    )
    assert suspended.json()["status"] == "suspended"

    missing = await api.get(f"/admin/vendors/{new_id()}", headers=market.admin)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith(PROBLEM)

    for _ in range(2):
        gone = await api.delete(f"/admin/vendors/{vendor_id}", headers=market.admin)
        assert gone.status_code == 204
    assert (await api.get(f"/admin/vendors/{vendor_id}", headers=market.admin)).json()[
        "status"
    ] == "offboarded"
    never = await api.delete(f"/admin/vendors/{new_id()}", headers=market.admin)
    assert never.status_code == 204


async def test_the_admin_api_wants_the_admin_token_or_a_store_admin(
    api: httpx.AsyncClient, market: Marketplace
) -> None:
    path = f"/admin/vendors/{new_id()}"
    assert (await api.put(path, json=vendor_body())).status_code == 401
    wrong = await api.put(path, json=vendor_body(), headers=market.headers("not-the-token"))
    assert wrong.status_code == 401
    shopper = await api.put(path, json=vendor_body(), headers=market.customer("ada"))
    assert shopper.status_code == 403
    assert shopper.headers["content-type"].startswith(PROBLEM)
    vendor = await api.put(path, json=vendor_body(), headers=market.vendor_staff("x"))
    assert vendor.status_code == 403
    boss = market.headers(market.auth.issue_access("boss", {"store-admin"}))
    assert (await api.put(path, json=vendor_body(), headers=boss)).status_code == 200
    support = market.headers(market.auth.issue_access("helper", {"support"}))
    assert (await api.get(path, headers=support)).status_code == 200
    assert (await api.delete(path, headers=support)).status_code == 403


@pytest.mark.parametrize(
    "change",
    [
        {"commission_percent": 101},
        {"commission_percent": -1},
        {"commission_percent": "12"},
        {"commission_percent": 12.345},
        {"commission_percent": True},
        {"contact_email": "not-an-address"},
        {"display_name": ""},
        {"payout": {"currency": "euro", "schedule": "Weekly", "minimum_amount": 1}},
        {"payout": {"currency": "EUR", "schedule": "Hourly", "minimum_amount": 1}},
        {"payout": {"currency": "EUR", "schedule": "Weekly", "minimum_amount": -5}},
        {"product_limit": -1},
        {"product_limit": 2.5},
        {"suspended": "yes"},
        {"surprise": 1},
    ],
)
async def test_bad_vendor_input_is_a_4xx_problem(
    api: httpx.AsyncClient, market: Marketplace, change: dict[str, Any]
) -> None:
    answer = await api.put(
        f"/admin/vendors/{new_id()}", json=vendor_body(**change), headers=market.admin
    )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)


@pytest.mark.parametrize(
    "request_line",
    [
        ("PUT", "/admin/vendors/Bad_Id"),
        ("PUT", "/admin/vendors/-leading-dash"),
        ("PUT", "/admin/vendors/" + "a" * 64),
        ("GET", "/admin/vendors/UPPER"),
        ("POST", "/admin/payouts/run"),
    ],
)
async def test_bad_paths_and_bodies_are_problems_not_500s(
    api: httpx.AsyncClient, market: Marketplace, request_line: tuple[str, str]
) -> None:
    method, path = request_line
    body: Any = vendor_body() if method == "PUT" else {"as_of": "2026-02-30"}
    answer = await api.request(method, path, json=body, headers=market.admin)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    garbage = await api.put(
        f"/admin/vendors/{new_id()}",
        content=b"{not json",
        headers={**market.admin, "content-type": "application/json"},
    )
    assert garbage.status_code == 422


async def test_a_vendor_sees_and_changes_only_its_own_products(
    api: httpx.AsyncClient, catalog: httpx.AsyncClient, market: Marketplace
) -> None:
    tea, coffee = await register(api, market), await register(api, market)
    product = await create_product(api, market, tea, price=990, stock=5)
    assert product["vendor_id"] == tea
    # The catalog has it, tagged with the vendor, for shoppers to see.
    public = await catalog.get(f"/products/{product['slug']}")
    assert public.status_code == 200
    assert public.json()["vendor_id"] == tea

    mine = await api.get("/vendor/products", headers=market.vendor_staff(tea, "vendor-staff"))
    assert [p["id"] for p in mine.json()["items"]] == [product["id"]]
    theirs = await api.get("/vendor/products", headers=market.vendor_staff(coffee))
    assert theirs.status_code == 200
    assert theirs.json()["items"] == []

    other = market.vendor_staff(coffee)
    sku = product["variants"][0]["sku"]
    assert (await api.get(f"/vendor/products/{product['id']}", headers=other)).status_code == 404
    patched = await api.patch(
        f"/vendor/products/{product['id']}", json={"name": "Mine now"}, headers=other
    )
    assert patched.status_code == 404
    stock = await api.post(
        f"/vendor/products/{product['id']}/variants/{sku}/stock",
        json={"delta": -5},
        headers=other,
    )
    assert stock.status_code == 404
    assert (await api.delete(f"/vendor/products/{product['id']}", headers=other)).status_code == 404

    shopper = market.customer("shopper-1")
    assert (await api.get("/vendor/products", headers=shopper)).status_code == 403
    assert (
        await api.post("/vendor/products", json=product_body(), headers=shopper)
    ).status_code == 403
    nobody = market.headers(market.auth.issue_access("loose", {"vendor-admin"}))
    refused = await api.get("/vendor/products", headers=nobody)
    assert refused.status_code == 403
    assert "works for no vendor" in refused.json()["detail"]
    ghost = await api.get("/vendor/products", headers=market.vendor_staff(new_id()))
    assert ghost.status_code == 403

    # The owner manages stock and price; the catalog reflects it.
    own = market.vendor_staff(tea, "vendor-staff")
    added = await api.post(
        f"/vendor/products/{product['id']}/variants/{sku}/stock", json={"delta": 7}, headers=own
    )
    assert added.status_code == 200
    assert added.json()["variants"][0]["stock"] == 12
    priced = await api.patch(
        f"/vendor/products/{product['id']}/variants/{sku}",
        json={"price_minor": 1090},
        headers=own,
    )
    assert priced.status_code == 200
    assert (await catalog.get(f"/variants/{sku}")).json()["price_minor"] == 1090
    foreign_sku = await api.post(
        f"/vendor/products/{product['id']}/variants/NOT-THERE/stock",
        json={"delta": 1},
        headers=own,
    )
    assert foreign_sku.status_code == 404
    bad = await api.post(
        f"/vendor/products/{product['id']}/variants/{sku}/stock",
        json={"delta": "7"},
        headers=own,
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith(PROBLEM)
    # Stock can't go below zero; the catalog's refusal comes back as a 4xx.
    under = await api.post(
        f"/vendor/products/{product['id']}/variants/{sku}/stock",
        json={"delta": -1000},
        headers=own,
    )
    assert 400 <= under.status_code < 500, under.text


async def test_the_product_limit_holds(api: httpx.AsyncClient, market: Marketplace) -> None:
    vendor_id = await register(api, market, product_limit=1)
    await create_product(api, market, vendor_id)
    second = await api.post(
        "/vendor/products", json=product_body(), headers=market.vendor_staff(vendor_id)
    )
    assert second.status_code == 409
    assert "limit" in second.json()["detail"]
    # A product the catalog refuses (unknown category) doesn't use up the limit.
    other = await register(api, market, product_limit=1)
    refused = await api.post(
        "/vendor/products",
        json={**product_body(), "category": "no-such-category"},
        headers=market.vendor_staff(other),
    )
    assert 400 <= refused.status_code < 500
    await create_product(api, market, other)


async def test_orders_split_into_sub_orders_each_vendor_sees_its_own(
    api: httpx.AsyncClient, market: Marketplace
) -> None:
    tea, coffee = await register(api, market), await register(api, market, commission_percent=20)
    green = await create_product(api, market, tea, price=1250)
    beans = await create_product(api, market, coffee, price=1800)
    order = paid_order("shopper-7", [(green, 2), (beans, 1)])
    event = await market.publish("order.paid", order)
    await market.bus.publish(event)  # delivered twice: applied once
    await market.vendors.app.state.feed.drain()

    tea_staff = market.vendor_staff(tea, "vendor-staff")
    tea_orders = (await api.get("/vendor/suborders", headers=tea_staff)).json()["items"]
    assert len(tea_orders) == 1
    sub = tea_orders[0]
    assert sub["order_id"] == order["order_id"]
    assert [(line["sku"], line["quantity"]) for line in sub["lines"]] == [
        (green["variants"][0]["sku"], 2)
    ]
    assert sub["lines_total_minor"] == 2500
    assert sub["commission_minor"] == 313  # 12.5 % of 2500, rounded half up
    assert sub["vendor_share_minor"] == 2187
    coffee_staff = market.vendor_staff(coffee)
    coffee_orders = (await api.get("/vendor/suborders", headers=coffee_staff)).json()["items"]
    assert [o["lines_total_minor"] for o in coffee_orders] == [1800]

    # Another vendor can neither read nor ship it.
    assert (
        await api.get(f"/vendor/suborders/{sub['id']}", headers=coffee_staff)
    ).status_code == 404
    ship = {"carrier": "DHL", "tracking_number": "JD0001"}
    stolen = await api.post(f"/vendor/suborders/{sub['id']}/ship", json=ship, headers=coffee_staff)
    assert stolen.status_code == 404
    shopper = market.customer("shopper-7")
    assert (await api.get("/vendor/suborders", headers=shopper)).status_code == 403

    shipped = await api.post(f"/vendor/suborders/{sub['id']}/ship", json=ship, headers=tea_staff)
    assert shipped.status_code == 200
    assert shipped.json()["status"] == "shipped"
    again = await api.post(f"/vendor/suborders/{sub['id']}/ship", json=ship, headers=tea_staff)
    assert again.status_code == 200
    other = await api.post(
        f"/vendor/suborders/{sub['id']}/ship",
        json={"carrier": "UPS", "tracking_number": "X1"},
        headers=tea_staff,
    )
    assert other.status_code == 409

    # Ledgers: each vendor-admin sees its own; staff don't see money.
    tea_admin = market.vendor_staff(tea)
    ledger = (await api.get("/vendor/ledger", headers=tea_admin)).json()
    assert ledger["vendor_id"] == tea
    assert ledger["payable_minor"] == 2187
    assert {t["vendor_id"] for t in ledger["transactions"]} == {tea}
    for transaction in ledger["transactions"]:
        entries = transaction["entries"]
        assert sum(e["debit_minor"] for e in entries) == sum(e["credit_minor"] for e in entries)
    assert (await api.get("/vendor/ledger", headers=tea_staff)).status_code == 403
    trial = (await api.get("/admin/ledger", headers=market.admin)).json()
    assert trial["balanced"]
    assert trial["debits_minor"] == trial["credits_minor"]

    # Payouts: once per vendor and period, each vendor sees only its own.
    first = await api.post("/admin/payouts/run", json={"as_of": "2030-01-07"}, headers=market.admin)
    assert first.status_code == 200
    paid = {p["vendor_id"]: p for p in first.json()}
    assert paid[tea]["period"] == "2030-W02"
    assert paid[tea]["amount_minor"] == 2187
    assert paid[tea]["status"] == "issued"
    rerun = await api.post("/admin/payouts/run", json={"as_of": "2030-01-09"}, headers=market.admin)
    assert {p["vendor_id"] for p in rerun.json()} & {tea, coffee} == set()
    tea_payouts = (await api.get("/vendor/payouts", headers=tea_admin)).json()["items"]
    assert [p["amount_minor"] for p in tea_payouts] == [2187]
    coffee_payouts = (await api.get("/vendor/payouts", headers=coffee_staff)).json()["items"]
    assert {p["vendor_id"] for p in coffee_payouts} == {coffee}
    assert (await api.get("/vendor/payouts", headers=tea_staff)).status_code == 403
    after = (await api.get("/vendor/ledger", headers=tea_admin)).json()
    assert after["payable_minor"] == 0

    # A refund after the payout: the vendor's payable stays at zero, the rest
    # is a receivable that its next sale settles first.
    await market.publish(
        "order.returned",
        {
            **order,
            "return_id": uuid.uuid4().hex,
            "return_lines": [{"sku": green["variants"][0]["sku"], "quantity": 1}],
            "return_value_minor": 1250,
        },
    )
    await market.publish(
        "order.refunded",
        {**order, "status": "partially_refunded", "refund_minor": 1250, "reason": "returned"},
    )
    owed = (await api.get("/vendor/ledger", headers=tea_admin)).json()
    assert owed["payable_minor"] == 0
    assert owed["receivable_minor"] == 1250 - (313 - 156)
    sub_now = (await api.get(f"/vendor/suborders/{sub['id']}", headers=tea_staff)).json()
    assert sub_now["refunded_minor"] == 1250
    assert sub_now["commission_minor"] == 156
    await market.publish("order.paid", paid_order(None, [(green, 1)]))
    settled = (await api.get("/vendor/ledger", headers=tea_admin)).json()
    assert settled["receivable_minor"] == 0
    assert settled["payable_minor"] == (1250 - 156) - 1093


async def test_offboarding_hides_products_keeps_orders_and_locks_the_vendor_out(
    api: httpx.AsyncClient, catalog: httpx.AsyncClient, market: Marketplace
) -> None:
    vendor_id = await register(api, market)
    product = await create_product(api, market, vendor_id)
    order = paid_order("shopper-9", [(product, 1)])
    await market.publish("order.paid", order)
    staff = market.vendor_staff(vendor_id)

    suspended = await api.put(
        f"/admin/vendors/{vendor_id}", json=vendor_body(suspended=True), headers=market.admin
    )
    assert suspended.json()["catalog_synced"] is True
    assert (await catalog.get(f"/products/{product['slug']}")).status_code == 404
    read_only = await api.post("/vendor/products", json=product_body(), headers=staff)
    assert read_only.status_code == 403
    assert (await api.get("/vendor/products", headers=staff)).status_code == 200
    await api.put(f"/admin/vendors/{vendor_id}", json=vendor_body(), headers=market.admin)
    assert (await catalog.get(f"/products/{product['slug']}")).status_code == 200

    assert (
        await api.delete(f"/admin/vendors/{vendor_id}", headers=market.admin)
    ).status_code == 204
    assert (await catalog.get(f"/products/{product['slug']}")).status_code == 404
    listing = (await catalog.get("/products", params={"q": product["name"]})).json()
    assert product["id"] not in [p["id"] for p in listing["items"]]
    for method, path in (("GET", "/vendor/products"), ("GET", "/vendor/suborders")):
        refused = await api.request(method, path, headers=staff)
        assert refused.status_code == 403, refused.text
    # The open sub-order is still there for the store to fulfil.
    subs = await api.get(f"/admin/vendors/{vendor_id}/suborders", headers=market.admin)
    (sub,) = subs.json()["items"]
    assert sub["status"] == "open"
    shipped = await api.post(
        f"/admin/suborders/{sub['id']}/ship",
        json={"carrier": "DHL", "tracking_number": "JD0002"},
        headers=market.admin,
    )
    assert shipped.status_code == 200
    assert shipped.json()["status"] == "shipped"


async def test_shoppers_who_bought_rate_a_vendor(
    api: httpx.AsyncClient, market: Marketplace
) -> None:
    vendor_id = await register(api, market)
    product = await create_product(api, market, vendor_id)
    await market.publish("order.paid", paid_order("buyer-1", [(product, 1)]))
    path = f"/vendors/{vendor_id}/reviews"
    rated = await api.put(
        f"{path}/mine",
        json={"rating": 4, "comment": "Lovely tea"},
        headers=market.customer("buyer-1"),
    )
    assert rated.status_code == 200, rated.text
    again = await api.put(
        f"{path}/mine",
        json={"rating": 5, "comment": "Even better"},
        headers=market.customer("buyer-1"),
    )
    assert again.status_code == 200
    stranger = await api.put(
        f"{path}/mine", json={"rating": 1}, headers=market.customer("never-bought")
    )
    assert stranger.status_code == 403
    for bad in (
        {"rating": 0},
        {"rating": 6},
        {"rating": "5"},
        {"rating": 3, "comment": "x" * 2001},
    ):
        refused = await api.put(f"{path}/mine", json=bad, headers=market.customer("buyer-1"))
        assert refused.status_code == 422
    assert (await api.put(f"{path}/mine", json={"rating": 3})).status_code == 401
    summary = (await api.get(path)).json()
    assert summary["rating_count"] == 1
    assert summary["rating_average"] == 5.0
    assert summary["items"][0]["comment"] == "Even better"
    assert (await api.get(f"/vendors/{new_id()}/reviews")).status_code == 404


async def test_members_without_a_vendor_claim_work_for_the_vendor_the_store_names(
    api: httpx.AsyncClient, market: Marketplace
) -> None:
    """An accounts-service token carries roles but no vendor: the store adds
    the person to a vendor, and then they act for it (and only it)."""
    vendor_id = await register(api, market)
    product = await create_product(api, market, vendor_id)
    person = f"user-{uuid.uuid4().hex[:8]}"
    token = market.headers(market.auth.issue_access(person, {"vendor-staff"}))
    assert (await api.get("/vendor/products", headers=token)).status_code == 403
    added = await api.put(f"/admin/vendors/{vendor_id}/members/{person}", headers=market.admin)
    assert added.status_code == 200
    mine = await api.get("/vendor/products", headers=token)
    assert [p["id"] for p in mine.json()["items"]] == [product["id"]]
    other = await register(api, market)
    taken = await api.put(f"/admin/vendors/{other}/members/{person}", headers=market.admin)
    assert taken.status_code == 409
    listed = await api.get(f"/admin/vendors/{vendor_id}/members", headers=market.admin)
    assert [m["user_id"] for m in listed.json()] == [person]
    removed = await api.delete(f"/admin/vendors/{vendor_id}/members/{person}", headers=market.admin)
    assert removed.status_code == 204
    assert (await api.get("/vendor/products", headers=token)).status_code == 403
    unknown = await api.put(f"/admin/vendors/{new_id()}/members/{person}", headers=market.admin)
    assert unknown.status_code == 404


async def test_vendor_staff_cannot_go_around_the_vendors_api_to_the_catalog(
    api: httpx.AsyncClient, catalog: httpx.AsyncClient, market: Marketplace
) -> None:
    """The catalog's admin API grants catalog:write to vendor roles, but a
    vendor's people are sent to the vendors API, which checks ownership."""
    owner, other = await register(api, market), await register(api, market)
    product = await create_product(api, market, owner)
    for who in (market.vendor_staff(other), market.vendor_staff(owner, "vendor-staff")):
        hijack = await catalog.patch(
            f"/admin/products/{product['id']}", json={"name": "Hijacked"}, headers=who
        )
        assert hijack.status_code == 403
        assert "vendors API" in hijack.json()["detail"]
    boss = market.headers(market.auth.issue_access("boss", {"store-admin"}))
    renamed = await catalog.patch(
        f"/admin/products/{product['id']}", json={"name": "Renamed by the store"}, headers=boss
    )
    assert renamed.status_code == 200
    assert (await catalog.get(f"/products/{product['slug']}")).json()["name"] == (
        "Renamed by the store"
    )


async def test_concurrent_payout_runs_pay_each_vendor_once_per_period(
    api: httpx.AsyncClient, market: Marketplace
) -> None:
    vendor_id = await register(api, market)
    product = await create_product(api, market, vendor_id, price=5000)
    await market.publish("order.paid", paid_order("shopper-p", [(product, 1)]))
    runs = await asyncio.gather(
        *(
            api.post("/admin/payouts/run", json={"as_of": "2031-03-03"}, headers=market.admin)
            for _ in range(6)
        )
    )
    assert [run.status_code for run in runs] == [200] * 6
    paid = [p for run in runs for p in run.json() if p["vendor_id"] == vendor_id]
    assert len(paid) == 1
    assert paid[0]["amount_minor"] == 5000 - 625
    payouts = await api.get(f"/admin/vendors/{vendor_id}/payouts", headers=market.admin)
    assert [p["period"] for p in payouts.json()["items"]] == ["2031-W10"]
    trial = (await api.get("/admin/ledger", headers=market.admin)).json()
    assert trial["balanced"]
    ledger = (await api.get(f"/admin/vendors/{vendor_id}/ledger", headers=market.admin)).json()
    assert ledger["payable_minor"] == 0


async def test_concurrent_first_puts_create_one_vendor(
    api: httpx.AsyncClient, market: Marketplace
) -> None:
    vendor_id = new_id()
    answers = await asyncio.gather(
        *(
            api.put(
                f"/admin/vendors/{vendor_id}",
                json=vendor_body(commission_percent=5),
                headers=market.admin,
            )
            for _ in range(5)
        )
    )
    assert [a.status_code for a in answers] == [200] * 5
    # One creation: every answer names the same vendor, created once.
    assert len({a.json()["created_at"] for a in answers}) == 1


async def test_a_vendor_prices_in_the_stores_currency(
    api: httpx.AsyncClient, market: Marketplace
) -> None:
    """A yen price in a euro store would be summed as euro cents in carts and orders."""
    vendor_id = await register(api, market, product_limit=1)
    body = product_body(price=100_000)
    body["variants"][0]["currency"] = "JPY"
    refused = await api.post("/vendor/products", json=body, headers=market.vendor_staff(vendor_id))
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "EUR" in refused.json()["detail"]
    # Nothing reached the catalog, and the product limit was not used up.
    await create_product(api, market, vendor_id)
