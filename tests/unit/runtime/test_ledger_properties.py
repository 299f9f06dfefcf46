"""The marketplace ledger balances, whatever happens to orders (hypothesis).

Random vendors (any commission), products, paid orders mixing vendors and the
store's own products, then random returns, partial and full refunds,
cancellations, redelivered events and payout runs — applied through the
vendors service's real idempotent consumer on a migrated database. Then:

- every transaction balances (debits == credits);
- per order and vendor, commission + the vendor's share == the vendor's line
  totals minus what was refunded of them, and the commission is exactly the
  vendor's rate of that (rounded half up);
- no vendor's payable or receivable is ever negative, and each account's
  running balance equals the sum of its entries;
- what the store holds (clearing) == commission + payables - receivables.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from storefleet.runtime.platform.events import contracts
from storefleet.runtime.platform.events.consumer import IdempotentConsumer
from storefleet.runtime.platform.events.outbox import Event, InProcessEventBus, OutboxRelay
from storefleet.runtime.platform.resilience.client import ServiceClient
from storefleet.runtime.platform.storage.db import Database
from storefleet.runtime.vendors import ledger
from storefleet.runtime.vendors.app import MIGRATIONS, VERSION_TABLE
from storefleet.runtime.vendors.models import (
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    SubOrder,
    VendorProduct,
    outbox,
    processed_events,
)
from storefleet.runtime.vendors.schemas import PayoutSettings, VendorIn
from storefleet.runtime.vendors.service import CONSUMED, VendorService


@dataclass
class Order:
    id: str
    customer: str
    lines: list[dict[str, Any]]
    refund_events: int = 0
    fully_refunded: bool = False
    # partial refund event id -> its refund_minor
    partial_refunds: dict[str, int] = field(default_factory=dict)


@dataclass
class World:
    products: list[tuple[int, str | None, int]]  # product id, vendor (None: the store's), price
    bps: dict[str, int]
    orders: list[Order] = field(default_factory=list)


vendor_rates = st.lists(st.integers(0, 10_000), min_size=2, max_size=4)
product_prices = st.lists(st.integers(1, 200_000), min_size=1, max_size=4)
order_lines = st.lists(
    st.tuples(st.integers(0, 50), st.integers(1, 6)), min_size=1, max_size=5
)  # (product index, quantity)
# An order by position (wrapping around): a small range, so steps often meet.
ORDER = st.integers(0, 5)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("return"), ORDER, st.integers(0, 10), st.integers(1, 6)),
        st.tuples(st.just("return_all"), ORDER),
        st.tuples(st.just("return_all"), ORDER, st.integers(0, 5_000)),
        st.tuples(
            st.just("refund"),
            ORDER,
            st.one_of(st.integers(0, 3_000), st.integers(0, 300_000)),
        ),
        st.tuples(st.just("refund_full"), ORDER),
        st.tuples(st.just("cancel"), ORDER),
        st.tuples(st.just("payout"), st.integers(0, 60)),
        st.tuples(st.just("redeliver"), ORDER),
    ),
    max_size=25,
)


def event(type_: str, order: Order, **extra: Any) -> Event:
    """An ``order.*`` event as the orders service publishes it, held to its contract."""
    total = sum(line["line_total_minor"] for line in order.lines)
    payload = {
        "order_id": order.id,
        "store": "test",
        "customer_id": order.customer,
        "email": "shopper@example.com",
        "status": "paid",
        "currency": "EUR",
        "subtotal_minor": total,
        "discount_minor": 0,
        "shipping_minor": 0,
        "tax_minor": 0,
        "total_minor": total,
        "authorized_minor": total,
        "captured_minor": total,
        "refunded_minor": 0,
        "product_ids": sorted({line["product_id"] for line in order.lines}),
        "lines": order.lines,
        **extra,
    }
    return contracts.event(type_, payload, source="orders")


async def scenario(
    directory: Path,
    rates: list[int],
    prices: list[list[int]],
    orders: list[list[tuple[int, int]]],
    steps: list[tuple[Any, ...]],
) -> None:
    db = Database(f"sqlite+aiosqlite:///{directory / (uuid.uuid4().hex + '.db')}")
    await db.migrate(MIGRATIONS, VERSION_TABLE)
    relay = OutboxRelay(db, outbox, InProcessEventBus())
    catalog = ServiceClient("catalog", "http://catalog.invalid")
    service = VendorService(db, catalog, relay)
    consumer = IdempotentConsumer("vendors", db, processed_events, max_attempts=1)
    for type_ in CONSUMED:
        consumer.on(type_, service.sales.handle_event)
    try:
        world = World(products=[], bps={})
        next_id = 1
        for index, bps in enumerate(rates):
            vendor_id = f"v{index}"
            world.bps[vendor_id] = bps
            await service.registry.upsert(
                vendor_id,
                VendorIn(
                    display_name=f"Vendor {index}",
                    contact_email=f"v{index}@example.com",
                    commission_percent=bps / 100,
                    payout=PayoutSettings(
                        currency="EUR",
                        schedule=("Daily", "Weekly", "Monthly")[index % 3],
                        minimum_amount=(0, 5, 50, 500)[index % 4],
                    ),
                ),
            )
            async with db.write() as session:
                for price in prices[index % len(prices)]:
                    session.add(VendorProduct(product_id=next_id, vendor_id=vendor_id, slug="p"))
                    world.products.append((next_id, vendor_id, price))
                    next_id += 1
        world.products.append((next_id, None, 999))  # the store's own product

        sent: list[Event] = []
        for number, chosen in enumerate(orders):
            lines = []
            for position, (pick, quantity) in enumerate(chosen):
                product_id, _, price = world.products[pick % len(world.products)]
                lines.append(
                    {
                        "sku": f"SKU-{product_id}-{position}",
                        "product_id": product_id,
                        "product_slug": f"product-{product_id}",
                        "product_name": f"Product {product_id}",
                        "variant_name": "",
                        "quantity": quantity,
                        "unit_price_minor": price,
                        "line_total_minor": price * quantity,
                    }
                )
            order = Order(uuid.uuid4().hex, f"customer-{number}", lines)
            world.orders.append(order)
            paid = event("order.paid", order)
            sent.append(paid)
            assert await consumer.apply(paid)

        flat: list[tuple[Any, ...]] = []
        for step in steps:
            if step[0] == "return_all" and len(step) == 3:
                # Everything comes back, then a partial refund that covers less.
                flat += [("return_all", step[1]), ("refund", step[1], step[2])]
            else:
                flat.append(step)
        for step in flat:
            kind = step[0]
            if kind == "payout":
                await service.payouts.run(dt.date(2030, 1, 1) + dt.timedelta(days=step[1]))
                continue
            if kind == "redeliver":
                again = sent[step[1] % len(sent)]
                assert not await consumer.apply(again)  # already applied: skipped
                continue
            order = world.orders[step[1] % len(world.orders)]
            if kind in ("return", "return_all"):
                if kind == "return":
                    line = order.lines[step[2] % len(order.lines)]
                    back = [{"sku": line["sku"], "quantity": step[3]}]
                else:
                    back = [{"sku": ln["sku"], "quantity": ln["quantity"]} for ln in order.lines]
                returned = event(
                    "order.returned",
                    order,
                    status="returned",
                    return_id=uuid.uuid4().hex,
                    return_lines=back,
                    return_value_minor=0,
                )
                sent.append(returned)
                await consumer.apply(returned)
            elif kind == "refund":
                refunded = event(
                    "order.refunded",
                    order,
                    status="partially_refunded",
                    refund_minor=step[2],
                    reason="returned",
                )
                sent.append(refunded)
                order.refund_events += step[2]
                order.partial_refunds[refunded.id] = step[2]
                await consumer.apply(refunded)
            elif kind == "refund_full":
                refunded = event(
                    "order.refunded", order, status="refunded", refund_minor=1, reason="returned"
                )
                sent.append(refunded)
                order.fully_refunded = True
                await consumer.apply(refunded)
            elif kind == "cancel":
                cancelled = event(
                    "order.cancelled", order, status="cancelled", refund_minor=1, reason="x"
                )
                sent.append(cancelled)
                order.fully_refunded = True
                await consumer.apply(cancelled)
        await check_books(db, world)
    finally:
        await catalog.close()
        await db.dispose()


async def check_books(db: Database, world: World) -> None:
    async with db.read() as session:
        entries = (
            await session.execute(
                select(
                    LedgerEntry.transaction_id,
                    LedgerEntry.account,
                    LedgerEntry.debit_minor,
                    LedgerEntry.credit_minor,
                    LedgerTransaction.order_id,
                    LedgerTransaction.kind,
                    LedgerTransaction.reference,
                ).join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            )
        ).all()
        stored = {
            row.name: row.balance_minor
            for row in await session.execute(
                select(LedgerAccount.name, LedgerAccount.balance_minor)
            )
        }
        suborders = list(await session.scalars(select(SubOrder)))
        transactions = await session.scalar(select(func.count()).select_from(LedgerTransaction))

    # Every transaction balances.
    per_transaction: dict[str, int] = defaultdict(int)
    for entry in entries:
        per_transaction[entry.transaction_id] += entry.debit_minor - entry.credit_minor
    assert len(per_transaction) == transactions
    assert all(difference == 0 for difference in per_transaction.values()), per_transaction

    # Running balances are the sums of their entries, and vendors' never negative.
    balances: dict[str, int] = defaultdict(int)
    for entry in entries:
        change = entry.debit_minor - entry.credit_minor
        balances[entry.account] += change if ledger.debit_normal(entry.account) else -change
    assert dict(balances) == {name: value for name, value in stored.items() if name in balances}
    for account, balance in balances.items():
        if account.startswith("vendor:"):
            assert balance >= 0, f"{account} is {balance}"

    # Per order and vendor: commission + vendor share == lines - refunds.
    money: dict[tuple[str, str], int] = defaultdict(int)
    for entry in entries:
        if entry.kind == "payout" or entry.order_id is None:
            continue
        credit = entry.credit_minor - entry.debit_minor
        if entry.account == ledger.COMMISSION:
            money[(entry.order_id, "commission")] += credit
        elif entry.account.startswith("vendor:"):
            # Credits to the payable, or settling the receivable, are the vendor's.
            money[(entry.order_id, entry.account.split(":")[1])] += credit
    by_order: dict[str, list[SubOrder]] = defaultdict(list)
    for suborder in suborders:
        by_order[suborder.order_id].append(suborder)
    for order in world.orders:
        expected_lines: dict[str, int] = defaultdict(int)
        owner = {pid: vendor for pid, vendor, _ in world.products}
        for line in order.lines:
            vendor = owner[line["product_id"]]
            if vendor is not None:
                expected_lines[vendor] += line["line_total_minor"]
        subs = {s.vendor_id: s for s in by_order[order.id]}
        assert set(subs) == set(expected_lines)
        commission = 0
        for vendor_id, sub in subs.items():
            assert sub.lines_total_minor == expected_lines[vendor_id]
            assert 0 <= sub.refunded_minor <= sub.lines_total_minor
            net = sub.lines_total_minor - sub.refunded_minor
            assert sub.commission_minor == ledger.commission_of(net, world.bps[vendor_id])
            assert money[(order.id, vendor_id)] + sub.commission_minor == net
            if order.fully_refunded:
                assert sub.refunded_minor == sub.lines_total_minor
            commission += sub.commission_minor
        assert money[(order.id, "commission")] == commission
        if not order.fully_refunded:
            refunded = sum(sub.refunded_minor for sub in subs.values())
            assert refunded <= order.refund_events
        # A partial refund takes from the vendors at most what it paid back.
        for event_id, refund_minor in order.partial_refunds.items():
            taken = sum(
                entry.credit_minor
                for entry in entries
                if entry.account == ledger.CLEARING and entry.reference.startswith(event_id)
            )
            assert taken <= refund_minor, (taken, refund_minor)

    # What the store holds for vendors is what it earned plus what it owes them.
    payables = sum(v for k, v in balances.items() if k.endswith(":payable"))
    receivables = sum(v for k, v in balances.items() if k.endswith(":receivable"))
    assert balances[ledger.CLEARING] == balances[ledger.COMMISSION] + payables - receivables


@pytest.fixture(scope="module")
def ledger_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ledger")


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rates=vendor_rates,
    prices=st.lists(product_prices, min_size=1, max_size=4),
    orders=st.lists(order_lines, min_size=1, max_size=8),
    steps=operations,
)
def test_the_ledger_balances_for_every_order(
    ledger_dir: Path,
    rates: list[int],
    prices: list[list[int]],
    orders: list[list[tuple[int, int]]],
    steps: list[tuple[Any, ...]],
) -> None:
    asyncio.run(scenario(ledger_dir, rates, prices, orders, steps))


def test_commission_rounds_half_up_and_never_exceeds_the_amount() -> None:
    assert ledger.commission_of(2500, 1250) == 313  # 312.5 -> 313
    assert ledger.commission_of(2499, 1250) == 312  # 312.375
    assert ledger.commission_of(0, 1250) == 0
    assert ledger.commission_of(1234, 10_000) == 1234
    assert ledger.commission_of(1234, 0) == 0
    with pytest.raises(ledger.UnbalancedError):
        ledger.check_balanced([ledger.Line("a", debit=5), ledger.Line("b", credit=4)])
