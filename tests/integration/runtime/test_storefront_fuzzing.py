"""Schemathesis against the storefront's HTML forms, the whole shop served for
real (`storefleet runtime serve all`) on each backend.

The forms are not in the storefront's OpenAPI document (they are pages, not an
API), so the schema below describes what each form posts. The requests carry
a valid CSRF token, so they reach the handlers; whatever the fields hold, the
answer must be a page or a redirect, never a 5xx.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fuzz_harness import assert_no_findings, served

TEXT: dict[str, Any] = {"type": "string", "maxLength": 400}
FORMS: dict[str, dict[str, dict[str, Any]]] = {
    "/cart/add": {"sku": TEXT, "quantity": TEXT, "back": TEXT},
    "/cart/update": {"sku": TEXT, "quantity": TEXT},
    "/cart/remove": {"sku": TEXT},
    "/cart/promo": {"code": TEXT, "action": {"enum": ["apply", "remove"]}},
    "/checkout": {
        name: TEXT
        for name in (
            "idempotency_key",
            "email",
            "name",
            "line1",
            "line2",
            "city",
            "postal_code",
            "country",
            "billing_country",
            "shipping_method",
            "card_number",
            "exp_month",
            "exp_year",
            "cvc",
            "card_token",
        )
    },
    "/orders/track": {"order_id": TEXT, "email": TEXT},
    "/orders/{order_id}/return": {"qty_SKU-1": TEXT, "reason": TEXT},
    "/account/sign-in": {"email": TEXT, "password": TEXT, "next": TEXT},
    "/account/password/forgot": {"email": TEXT},
    "/account/reset": {"token": TEXT, "password": TEXT},
}


def forms_schema() -> dict[str, Any]:
    """OpenAPI for the forms: url-encoded bodies; any page or redirect answers."""
    paths: dict[str, Any] = {}
    for path, fields in FORMS.items():
        operation: dict[str, Any] = {
            "operationId": path.strip("/").replace("/", "-").replace("{", "").replace("}", ""),
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {"type": "object", "properties": fields}
                    }
                },
            },
            "responses": {"default": {"description": "a page or a redirect"}},
        }
        if "{order_id}" in path:
            operation["parameters"] = [
                {"name": "order_id", "in": "path", "required": True, "schema": TEXT}
            ]
        paths[path] = {"post": operation}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Storefront forms", "version": "1"},
        "paths": paths,
    }


@pytest.fixture(scope="module", params=["embedded", "postgres"])
def shop(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    make_backend: Callable[..., AbstractContextManager[Any]],
) -> Iterator[Any]:
    workdir = tmp_path_factory.mktemp("fuzz-forms")
    with make_backend(request, workdir, request.param) as backend:
        env = {"STOREFLEET_DATA_DIR": str(workdir / "data"), "STOREFLEET_ACCESS_LOG": "false"}
        if backend.name == "postgres":
            env |= {
                "STOREFLEET_CATALOG_DATABASE_URL": backend.catalog_db,
                "STOREFLEET_CART_DATABASE_URL": backend.cart_db,
                "STOREFLEET_CACHE_URL": backend.cache_url,
                "STOREFLEET_CACHE_PREFIX": backend.cache_prefix,
            }
        with served("all", env, workdir, ["--no-demo"]) as service:
            yield service


def test_no_form_input_makes_a_server_error(shop: Any, tmp_path: Path) -> None:
    # The sign-in page starts a session too, so the account forms get past it.
    page = httpx.get(f"{shop.url}/account/sign-in", timeout=30)
    token = page.cookies.get("sf_csrf") or ""
    session = page.cookies.get("sf_session") or ""
    found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert found
    assert token == found.group(1)
    assert session
    schema = tmp_path / "forms.json"
    schema.write_text(json.dumps(forms_schema()))
    assert_no_findings(
        shop,
        tmp_path / "report",
        schema=schema,
        checks="not_a_server_error",
        exclude=(),
        headers=(
            f"Cookie: sf_csrf={token}; sf_session={session}",
            f"X-CSRF-Token: {token}",
            f"Origin: {shop.url}",
        ),
    )
