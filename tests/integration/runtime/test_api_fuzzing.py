"""Schemathesis against each service's OpenAPI schema, served for real.

The services run as their own processes (`storefleet runtime serve ...`) on
fresh databases of each backend; schemathesis generates requests from the
published schema and checks that no answer is a 5xx, that every status and body
matches the schema, and that invalid input is refused. Schema-valid requests
that break a rule JSON Schema can't express (distinct SKUs within one product,
one currency per product, dates in order) are refused with 422 by design.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import Any

import pytest
from fuzz_harness import BIN, ServedService, assert_no_findings, served


@pytest.fixture(scope="module", params=["embedded", "postgres"])
def services(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    make_backend: Callable[..., AbstractContextManager[Any]],
) -> Iterator[dict[str, ServedService]]:
    workdir = tmp_path_factory.mktemp("fuzz")
    with make_backend(request, workdir, request.param) as backend, ExitStack() as stack:
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
        catalog = stack.enter_context(served("catalog", catalog_env, workdir))
        cart = stack.enter_context(
            served(
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
        )
        yield {"catalog": catalog, "cart": cart}


@pytest.mark.parametrize("name", ["catalog", "cart"])
def test_schemathesis_finds_no_server_errors_or_schema_violations(
    services: dict[str, ServedService], name: str, tmp_path: Path
) -> None:
    assert_no_findings(services[name], tmp_path)
