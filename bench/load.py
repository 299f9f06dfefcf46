"""Load test for the shop: browse, search and add-to-cart, at rising concurrency.

    .venv/bin/python bench/load.py                      # starts `serve all` itself
    .venv/bin/python bench/load.py --url http://127.0.0.1:8000 --concurrency 8,32

Each scenario runs for --seconds at each concurrency level with that many
simulated shoppers issuing requests back to back (a closed loop, so the
numbers are what one client population gets, not an open-loop arrival rate).
Prints requests/s and p50/p95/p99 latency per scenario and level.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

QUERIES = [
    "headphones",
    "hedphones",
    "wireless",
    "laptop",
    "tent",
    "backpack",
    "lamp",
    "running shoes",
    "espresso",
    "kettle",
    "monitor",
    "jacket",
    "yoga mat",
    "acme",
]


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    def line(self, name: str, concurrency: int, seconds: float) -> str:
        if not self.latencies:
            return f"{name:<12} c={concurrency:<4} no successful requests ({self.errors} errors)"
        ordered = sorted(self.latencies)

        def pct(p: float) -> float:
            return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

        return (
            f"{name:<12} c={concurrency:<4} {len(ordered) / seconds:8.1f} req/s   "
            f"p50 {pct(0.50):7.1f} ms   p95 {pct(0.95):7.1f} ms   p99 {pct(0.99):7.1f} ms   "
            f"mean {statistics.fmean(ordered) * 1000:7.1f} ms   errors {self.errors}"
        )


Scenario = Callable[[httpx.AsyncClient, random.Random], Awaitable[httpx.Response]]


async def discover(client: httpx.AsyncClient) -> tuple[list[str], list[str], list[str]]:
    """Category, product and SKU paths to use, read off the shop itself."""
    home = (await client.get("/")).text
    categories = sorted(set(re.findall(r'href="(/c/[a-z0-9-]+)"', home)))
    products: set[str] = set()
    for category in categories:
        page = (await client.get(category)).text
        products.update(re.findall(r'href="(/p/[a-z0-9-]+)"', page))
    skus: list[str] = []
    for product in sorted(products)[:40]:
        page = (await client.get(product)).text
        skus += re.findall(r'name="sku" value="([A-Z0-9._-]+)"(?![^>]*disabled)', page)[:1]
    return categories, sorted(products), skus


def scenarios(categories: list[str], products: list[str], skus: list[str]) -> dict[str, Scenario]:
    async def browse(client: httpx.AsyncClient, rng: random.Random) -> httpx.Response:
        if rng.random() < 0.5:
            return await client.get(rng.choice(categories))
        return await client.get(rng.choice(products))

    async def search(client: httpx.AsyncClient, rng: random.Random) -> httpx.Response:
        return await client.get("/search", params={"q": rng.choice(QUERIES)})

    async def add_to_cart(client: httpx.AsyncClient, rng: random.Random) -> httpx.Response:
        # A fresh cart each time, as from a landing page; the browser keeps the
        # CSRF cookie the shop gave it (its first visit opens a page for it).
        with contextlib.suppress(KeyError):
            client.cookies.delete("sf_cart")
        token = client.cookies.get("sf_csrf")
        if token is None:
            page = await client.get(rng.choice(products))
            found = re.search(r'name="csrf" value="([^"]+)"', page.text)
            token = found.group(1) if found else ""
        return await client.post(
            "/cart/add",
            data={"sku": rng.choice(skus), "quantity": "1", "csrf": token},
            headers={"Origin": str(client.base_url).rstrip("/")},
        )

    return {"browse": browse, "search": search, "add-to-cart": add_to_cart}


async def run_level(url: str, scenario: Scenario, concurrency: int, seconds: float) -> Result:
    result = Result()
    deadline = time.perf_counter() + seconds

    async def shopper(number: int) -> None:
        rng = random.Random(number)
        async with httpx.AsyncClient(base_url=url, timeout=30, follow_redirects=False) as client:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    response = await scenario(client, rng)
                    ok = response.status_code < 400
                except httpx.HTTPError:
                    ok = False
                if ok:
                    result.latencies.append(time.perf_counter() - started)
                else:
                    result.errors += 1

    await asyncio.gather(*(shopper(n) for n in range(concurrency)))
    return result


def _spawn(port: int, workdir: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    binary = Path(sys.executable).parent / "storefleet"
    with (Path(workdir) / "serve.log").open("wb") as log:
        return subprocess.Popen(
            [str(binary), "runtime", "serve", "all", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


@contextlib.asynccontextmanager
async def local_shop() -> AsyncIterator[str]:
    """`storefleet runtime serve all` on a free port, in a scratch directory."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="storefleet-bench-")
    env = os.environ | {
        "STOREFLEET_LOG_JSON": "false",
        "STOREFLEET_CATALOG_ACCESS_LOG": "false",
        "STOREFLEET_CART_ACCESS_LOG": "false",
        "STOREFLEET_STOREFRONT_ACCESS_LOG": "false",
        "STOREFLEET_LOG_LEVEL": "WARNING",
    }
    process = _spawn(port, workdir, env)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(1200):
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{url}/readyz")).status_code == 200:
                        break
                if process.poll() is not None:
                    raise SystemExit(f"serve all exited; see {workdir}/serve.log")
                await asyncio.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running shop; default: start one")
    parser.add_argument("--concurrency", default="1,8,32,64")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--only", help="comma-separated scenario names")
    parser.add_argument(
        "--warm",
        action="store_true",
        help="visit every product page once first, as a shop open for a while has",
    )
    args = parser.parse_args()
    levels = [int(level) for level in args.concurrency.split(",")]

    async with contextlib.AsyncExitStack() as stack:
        url = args.url or await stack.enter_async_context(local_shop())
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            categories, products, skus = await discover(client)
        print(f"shop {url}: {len(categories)} categories, {len(products)} products sampled")
        if args.warm:
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                for product in products:
                    await client.get(product)
            print(f"warmed: every product page visited once ({len(products)})")
        chosen = scenarios(categories, products, skus)
        if args.only:
            chosen = {name: chosen[name] for name in args.only.split(",")}
        for name, scenario in chosen.items():
            await run_level(url, scenario, 2, 1.0)  # warm caches and connections
            for level in levels:
                result = await run_level(url, scenario, level, args.seconds)
                print(result.line(name, level, args.seconds), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
