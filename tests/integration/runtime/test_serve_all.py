"""`storefleet runtime serve all`: every service in one process, as on a laptop."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest
import uvicorn

from storefleet.runtime.serve import build_all

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_one_process_serves_the_shop_and_its_apis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for service in ("CATALOG", "CART"):
        monkeypatch.setenv(f"STOREFLEET_{service}_DATA_DIR", str(tmp_path))
        monkeypatch.setenv(f"STOREFLEET_{service}_ACCESS_LOG", "false")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(build_all(demo=False), host="127.0.0.1", port=port, log_config=None)
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "serve all did not start"
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/api/catalog/readyz")).status_code == 200
            assert (await client.get("/api/cart/readyz")).json()["checks"] == {
                "database": "ok",
                "cache": "ok",
            }
            await client.post("/api/catalog/admin/categories", json={"slug": "tea", "name": "Tea"})
            created = await client.post(
                "/api/catalog/admin/products",
                json={
                    "slug": "green-tea",
                    "name": "Green Tea",
                    "category": "tea",
                    "variants": [
                        {"sku": "TEA-1", "price_minor": 650, "currency": "EUR", "stock": 3}
                    ],
                },
            )
            assert created.status_code == 201
            home = await client.get("/")
            assert "Green Tea" in home.text
            added = await client.post("/cart/add", data={"sku": "TEA-1", "quantity": "2"})
            assert added.status_code == 303
            cart = await client.get("/cart")
            assert "Green Tea" in cart.text
            metrics = (await client.get("/api/catalog/metrics")).text
            assert 'storefleet_http_requests_total{method="GET"' in metrics
        assert (tmp_path / "catalog.db").exists()
        assert (tmp_path / "cart.db").exists()
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)
