"""Schemathesis against each service's OpenAPI schema, served for real.

The services run as their own processes (`storefleet runtime serve ...`) on
fresh databases of each backend; schemathesis generates requests from the
published schema and checks that no answer is a 5xx, that every status and body
matches the schema, and that invalid input is refused.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest

BIN = Path(sys.executable).parent
# Schema-valid requests that break a rule JSON Schema can't express (distinct SKUs
# within one product, one currency per product, dates in order) are refused with
# 422 by design, which this check would count against us.
EXCLUDED_CHECKS = "positive_data_acceptance"
BUDGET_SECONDS = os.environ.get("STOREFLEET_FUZZ_SECONDS", "20")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Service:
    def __init__(self, name: str, env: dict[str, str], workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"{name}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [str(BIN / "storefleet"), "runtime", "serve", name, "--port", str(self.port)],
                env=os.environ | env | {"STOREFLEET_LOG_JSON": "false"},
                cwd=workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{name} exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{name} did not become ready")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture(scope="module", params=["embedded", "postgres"])
def services(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    make_backend: Callable[..., AbstractContextManager[Any]],
) -> Iterator[dict[str, Service]]:
    workdir = tmp_path_factory.mktemp("fuzz")
    with make_backend(request, workdir, request.param) as backend:
        catalog_env = {
            "STOREFLEET_CATALOG_DATABASE_URL": backend.catalog_db,
            "STOREFLEET_CATALOG_ACCESS_LOG": "false",
        }
        subprocess.run(
            [str(BIN / "storefleet"), "runtime", "import-demo", "--products", "40"],
            env=os.environ | catalog_env,
            cwd=workdir,
            check=True,
            capture_output=True,
        )
        catalog = Service("catalog", catalog_env, workdir)
        cart = Service(
            "cart",
            {
                "STOREFLEET_CART_DATABASE_URL": backend.cart_db,
                "STOREFLEET_CART_CACHE_URL": backend.cache_url,
                "STOREFLEET_CART_CACHE_PREFIX": backend.cache_prefix,
                "STOREFLEET_CART_CATALOG_URL": catalog.url,
                "STOREFLEET_CART_ACCESS_LOG": "false",
            },
            workdir,
        )
        try:
            yield {"catalog": catalog, "cart": cart}
        finally:
            cart.stop()
            catalog.stop()


@pytest.mark.parametrize("name", ["catalog", "cart"])
def test_schemathesis_finds_no_server_errors_or_schema_violations(
    services: dict[str, Service], name: str, tmp_path: Path
) -> None:
    service = services[name]
    result = subprocess.run(
        [
            str(BIN / "schemathesis"),
            "run",
            f"{service.url}/openapi.json",
            "--checks",
            "all",
            "--exclude-checks",
            EXCLUDED_CHECKS,
            "--max-time",
            BUDGET_SECONDS,
            "--workers",
            "1",
            # Generous: CI runs this beside the whole suite on two cores.
            "--request-timeout",
            "30",
            "--seed",
            "20261125",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-6000:] + service.log.read_text()[-3000:]
