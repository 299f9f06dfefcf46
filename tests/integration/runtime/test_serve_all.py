"""`storefleet runtime serve all`: every service in one process, as on a laptop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from form_harness import post_form

from storefleet.runtime.serve import build_all


@pytest.mark.asyncio(loop_scope="session")
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
            assert (await client.get("/api/analytics/readyz")).status_code == 200
            sales = await client.get("/api/analytics/reports/sales")
            assert sales.status_code == 200, sales.text
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
            added = await post_form(client, "/cart/add", {"sku": "TEA-1", "quantity": "2"})
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


def _pod_environment(tmp_path: Path, service: str, port: int) -> dict[str, str]:
    """What a pod of the operator's has, less what each test adds."""
    env = os.environ | {
        "KUBERNETES_SERVICE_HOST": "10.0.0.1",
        "STOREFLEET_PORT": str(port),
        "STOREFLEET_SERVICE": service,
        "STOREFLEET_DATA_DIR": str(tmp_path),
        "STOREFLEET_LOG_JSON": "true",
    }
    for name in ("STOREFLEET_EVENTS_BOOTSTRAP_SERVERS", "STOREFLEET_DATABASE_URL"):
        env.pop(name, None)
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


SERVE = [str(Path(sys.executable).parent / "storefleet"), "runtime", "serve"]


@pytest.mark.parametrize(
    ("service", "read"),
    [("catalog", "/products"), ("analytics", "/reports/funnel")],
)
def test_a_service_runs_as_the_operator_deploys_it(
    tmp_path: Path,
    service: str,
    read: str,
    request: pytest.FixtureRequest,
    make_backend: Callable[..., contextlib.AbstractContextManager[Any]],
) -> None:
    """In a pod: port from STOREFLEET_PORT, its tables in PostgreSQL and its cache
    and events in Redis, the API under its public prefix as well as at /, and the
    operator's probe paths. The operator's command is `storefleet runtime serve
    <service>` for every service it deploys (operator/src/storefleet/operator/services.py)."""
    port = _free_port()
    token = secrets.token_urlsafe(24)
    with make_backend(request, tmp_path, "postgres") as backend:
        env = _pod_environment(tmp_path, service, port) | {
            f"STOREFLEET_{service.upper()}_ADMIN_TOKEN": token,
            "STOREFLEET_DATABASE_URL": backend.catalog_db,
            "STOREFLEET_CACHE_URL": backend.cache_url,
            "STOREFLEET_CACHE_PREFIX": backend.cache_prefix,
        }
        with (tmp_path / "serve.log").open("wb") as log:
            process = subprocess.Popen([*SERVE, service], env=env, stderr=log, cwd=tmp_path)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                assert process.poll() is None, (tmp_path / "serve.log").read_text()
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{url}/healthz/ready", timeout=1).status_code == 200:
                        break
                time.sleep(0.2)
            assert httpx.get(f"{url}/healthz/live").status_code == 200
            staff = {"Authorization": f"Bearer {token}"}
            for path in (f"/api/{service}{read}", read):
                assert httpx.get(f"{url}{path}", headers=staff).status_code == 200, path
            if service == "catalog":
                assert httpx.get(f"{url}/api/catalog/products").json()["total"] == 0
            else:
                # In a cluster the reports are for staff only, never open.
                assert httpx.get(f"{url}/api/analytics{read}").status_code == 401
            # Nothing on the pod's own disk: its state is on the servers.
            assert not (tmp_path / f"{service}.db").exists()
            first_log_line = (tmp_path / "serve.log").read_text().splitlines()[0]
            assert first_log_line.startswith("{"), "JSON logs"
        finally:
            process.terminate()
            process.wait(timeout=15)


@pytest.mark.parametrize("service", ["orders", "all"])
def test_a_pod_on_a_laptops_stand_ins_refuses_to_start(tmp_path: Path, service: str) -> None:
    """No database URL, a memory cache, no broker: the process says so and exits
    before it listens, so the pod never becomes Ready."""
    port = _free_port()
    env = _pod_environment(tmp_path, service, port) | {"STOREFLEET_CACHE_URL": "memory://"}
    done = subprocess.run(
        [*SERVE, service], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert done.returncode != 0
    said = done.stderr
    if service == "all":
        assert "serve all will not start in a pod" in said
    else:
        assert "storefleet-orders will not start in a pod with its tables in an SQLite file" in said
        assert "STOREFLEET_CACHE_URL" in said
    assert not (tmp_path / f"{service}.db").exists()
