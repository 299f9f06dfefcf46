"""Checkout throughput: cart → order → paid, at rising concurrency.

    .venv/bin/python bench/checkout.py                      # starts `serve all` itself
    .venv/bin/python bench/checkout.py --url http://127.0.0.1:8000 --concurrency 1,4
    .venv/bin/python bench/checkout.py --postgres postgresql://user:pass@host:5432/postgres
        # cluster mode: catalog, cart, payments and orders as four processes,
        # each on a fresh database of its own on that server (dropped after)

Each simulated shopper fills a fresh cart (one API call) and checks out with
the sandbox's test card (`tok_visa`), back to back for --seconds at each
concurrency level (a closed loop). A checkout is the whole saga: reserve
stock, authorize, commit the reservation, capture — the answer comes when the
order is paid. Prints checkouts/s and p50/p95/p99 of the checkout request,
then checks the books: every order paid, the processor's captured total equal
to the orders', stock down by exactly what was sold.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ADDRESS = {
    "name": "Bench Shopper",
    "line1": "1 Load Street",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}
STOCK = 1_000_000


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    totals: list[int] = field(default_factory=list)
    errors: int = 0
    not_paid: int = 0

    def line(self, concurrency: int, seconds: float) -> str:
        if not self.latencies:
            return f"checkout     c={concurrency:<4} no successful checkouts ({self.errors} errors)"
        ordered = sorted(self.latencies)

        def pct(p: float) -> float:
            return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

        return (
            f"checkout     c={concurrency:<4} {len(ordered) / seconds:8.1f} checkouts/s   "
            f"p50 {pct(0.50):7.1f} ms   p95 {pct(0.95):7.1f} ms   p99 {pct(0.99):7.1f} ms   "
            f"mean {statistics.fmean(ordered) * 1000:7.1f} ms   errors {self.errors}   "
            f"not paid {self.not_paid}"
        )


async def prepare(client: httpx.AsyncClient, products: int) -> list[str]:
    """Products of the bench's own, with stock that won't run out."""
    await client.post(
        "/api/catalog/admin/categories", json={"slug": "bench-goods", "name": "Bench goods"}
    )
    skus = []
    run = uuid.uuid4().hex[:6].upper()
    for number in range(products):
        sku = f"BENCH-{run}-{number}"
        response = await client.post(
            "/api/catalog/admin/products",
            json={
                "slug": f"bench-item-{run.lower()}-{number}",
                "name": f"Bench Item {number}",
                "category": "bench-goods",
                "variants": [
                    {"sku": sku, "price_minor": 1000 + number, "currency": "EUR", "stock": STOCK}
                ],
            },
        )
        response.raise_for_status()
        skus.append(sku)
    return skus


Urls = dict[str, str]


async def run_level(urls: Urls, skus: list[str], concurrency: int, seconds: float) -> Result:
    result = Result()
    deadline = time.perf_counter() + seconds

    async def shopper(number: int) -> None:
        async with (
            httpx.AsyncClient(base_url=urls["cart"], timeout=60) as client,
            httpx.AsyncClient(base_url=urls["orders"], timeout=60) as orders,
        ):
            turn = 0
            while time.perf_counter() < deadline:
                turn += 1
                sku = skus[(number + turn) % len(skus)]
                # A fresh shopper each time: no cookie, so a new cart.
                client.cookies.clear()
                try:
                    added = await client.post(
                        "/api/cart/cart/items", json={"sku": sku, "quantity": 1}
                    )
                    cart_id = added.headers.get("x-cart-id", "")
                    started = time.perf_counter()
                    response = await orders.post(
                        "/api/orders/checkout",
                        json={
                            "email": f"bench-{number}-{turn}@example.com",
                            "shipping_address": ADDRESS,
                            "payment": {"token": "tok_visa"},
                        },
                        headers={"X-Cart-Id": cart_id, "Idempotency-Key": uuid.uuid4().hex},
                    )
                    elapsed = time.perf_counter() - started
                except httpx.HTTPError:
                    result.errors += 1
                    continue
                if response.status_code != 201:
                    result.errors += 1
                    if result.errors == 1:
                        print(f"first error: {response.status_code} {response.text[:300]}")
                    continue
                order = response.json()
                if order["status"] != "paid":
                    result.not_paid += 1
                    continue
                result.latencies.append(elapsed)
                result.totals.append(order["total_minor"])

    await asyncio.gather(*(shopper(n) for n in range(concurrency)))
    return result


async def check_books(urls: Urls, skus: list[str], results: list[Result]) -> str:
    async with httpx.AsyncClient(base_url=urls["payments"], timeout=30) as client:
        books = (await client.get("/api/payments/admin/ledger")).json()
    sold = 0
    async with httpx.AsyncClient(base_url=urls["catalog"], timeout=30) as client:
        # Exact counts are a staff read (open: the bench runs in development mode).
        counted = await client.post("/api/catalog/admin/variant-lookup", json={"skus": skus})
        sold += sum(STOCK - item["stock"] for item in counted.json()["items"])
    paid = sum(len(result.totals) for result in results)
    captured = sum(sum(result.totals) for result in results)
    ok = (
        books["gateway"]["captured_minor"] == captured
        and books["payments"]["captured_minor"] == captured
    )
    return (
        f"books: {paid} orders paid, captured {captured} (processor "
        f"{books['gateway']['captured_minor']}), {sold} units sold: {'OK' if ok else 'MISMATCH'}"
    )


@contextlib.asynccontextmanager
async def local_shop() -> AsyncIterator[str]:
    """`storefleet runtime serve all --no-demo` on a free port, in a scratch directory."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="storefleet-bench-")
    env = os.environ | {
        "STOREFLEET_LOG_JSON": "false",
        "STOREFLEET_LOG_LEVEL": "WARNING",
        **{
            f"STOREFLEET_{service}_ACCESS_LOG": "false"
            for service in ("CATALOG", "CART", "STOREFRONT", "ORDERS", "PAYMENTS", "ACCOUNTS")
        },
    }
    binary = Path(sys.executable).parent / "storefleet"
    with (Path(workdir) / "serve.log").open("wb") as log:
        process = subprocess.Popen(  # noqa: ASYNC220 (once, before the clock starts)
            [str(binary), "runtime", "serve", "all", "--no-demo", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(1200):
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{url}/api/orders/readyz")).status_code == 200:
                        break
                if process.poll() is not None:
                    raise SystemExit(f"serve all exited; see {workdir}/serve.log")
                await asyncio.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


CLUSTER = ("catalog", "cart", "payments", "orders")


@contextlib.asynccontextmanager
async def local_cluster(dsn: str) -> AsyncIterator[Urls]:
    """The four services as separate processes, each on its own new database."""
    import psycopg

    run = uuid.uuid4().hex[:8]
    databases = {service: f"sf_bench_{run}_{service}" for service in CLUSTER}
    with psycopg.connect(dsn, autocommit=True) as connection:
        for database in databases.values():
            connection.execute(f'CREATE DATABASE "{database}"')
    base = dsn.rsplit("/", 1)[0]
    ports = {}
    for service in CLUSTER:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports[service] = probe.getsockname()[1]
    urls = {service: f"http://127.0.0.1:{port}" for service, port in ports.items()}
    env = os.environ | {"STOREFLEET_LOG_JSON": "false", "STOREFLEET_LOG_LEVEL": "WARNING"}
    for service in CLUSTER:
        prefix = f"STOREFLEET_{service.upper()}_"
        env |= {
            f"{prefix}DATABASE_URL": f"{base}/{databases[service]}",
            f"{prefix}ACCESS_LOG": "false",
            f"{prefix}CATALOG_URL": urls["catalog"],
            f"{prefix}CART_URL": urls["cart"],
            f"{prefix}PAYMENTS_URL": urls["payments"],
        }
    workdir = tempfile.mkdtemp(prefix="storefleet-bench-")
    binary = Path(sys.executable).parent / "storefleet"
    processes = []
    try:
        for service in CLUSTER:
            with (Path(workdir) / f"{service}.log").open("wb") as log:
                processes.append(
                    subprocess.Popen(  # noqa: ASYNC220 (once, before the clock starts)
                        [str(binary), "runtime", "serve", service, "--port", str(ports[service])],
                        cwd=workdir,
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=log,
                    )
                )
        async with httpx.AsyncClient() as client:
            for service, url in urls.items():
                for _ in range(1200):
                    with contextlib.suppress(httpx.TransportError):
                        if (await client.get(f"{url}/readyz")).status_code == 200:
                            break
                    if any(process.poll() is not None for process in processes):
                        raise SystemExit(f"a service exited; see {workdir}/*.log")
                    await asyncio.sleep(0.1)
                else:
                    raise SystemExit(f"{service} did not become ready; see {workdir}")
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        with psycopg.connect(dsn, autocommit=True) as connection:
            for database in databases.values():
                connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running shop; default: start one")
    parser.add_argument("--concurrency", default="1,4,8")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--products", type=int, default=20)
    parser.add_argument("--postgres", help="cluster mode on this PostgreSQL server (a DSN)")
    args = parser.parse_args()
    levels = [int(level) for level in args.concurrency.split(",")]

    async with contextlib.AsyncExitStack() as stack:
        if args.postgres:
            urls = await stack.enter_async_context(local_cluster(args.postgres))
            where = "cluster mode (4 processes, PostgreSQL)"
        else:
            url = args.url or await stack.enter_async_context(local_shop())
            urls = dict.fromkeys(CLUSTER, url)
            where = url
        async with httpx.AsyncClient(base_url=urls["catalog"], timeout=30) as client:
            skus = await prepare(client, args.products)
        print(f"shop {where}: {len(skus)} products, tok_visa, paid on answer")
        results = [await run_level(urls, skus, 2, 1.0)]  # warm up
        for level in levels:
            result = await run_level(urls, skus, level, args.seconds)
            results.append(result)
            print(result.line(level, args.seconds), flush=True)
        print(await check_books(urls, skus, results))


if __name__ == "__main__":
    asyncio.run(main())
