"""Every service's responses carry the security headers, and no route reads a
body larger than the limit (declared or chunked)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import BaseModel

from storefleet.runtime.platform.web.app import create_service_app
from storefleet.runtime.platform.web.http_guards import MIB, HttpSettings


class Item(BaseModel):
    name: str


def app_with_routes(limit: int | None = None) -> httpx.AsyncClient:
    app = create_service_app("demo", title="Demo", log_requests=False, max_body_bytes=limit)

    @app.post("/items")
    async def add(item: Item) -> dict[str, str]:
        return {"name": item.name}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("bug")

    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://demo",
    )


def assert_security_headers(response: httpx.Response) -> None:
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"


@pytest.mark.parametrize("path", ["/healthz", "/metrics", "/openapi.json", "/nowhere", "/boom"])
async def test_every_answer_carries_the_security_headers(path: str) -> None:
    async with app_with_routes() as client:
        response = await client.get(path)
    assert_security_headers(response)
    assert "default-src 'none'" in response.headers["content-security-policy"]


async def test_docs_pages_may_load_their_cdn_scripts_but_not_be_framed() -> None:
    async with app_with_routes() as client:
        response = await client.get("/docs")
    assert response.status_code == 200
    assert_security_headers(response)
    assert "https://cdn.jsdelivr.net" in response.headers["content-security-policy"]


async def test_a_declared_oversized_body_is_refused_unread() -> None:
    async with app_with_routes(limit=2048) as client:
        response = await client.post(
            "/items",
            content=b"x" * 4096,
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["max_bytes"] == 2048
    assert "larger than 2048 bytes" in response.json()["detail"]
    assert_security_headers(response)


async def test_a_chunked_body_is_cut_off_at_the_limit() -> None:
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(100):
            sent.append(1)
            yield b"y" * 1024
        yield b'"}'

    async with app_with_routes(limit=8192) as client:
        response = await client.post(
            "/items", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 413


async def test_bodies_within_the_limit_are_read_as_before() -> None:
    async with app_with_routes(limit=2048) as client:
        response = await client.post("/items", json={"name": "lamp"})
    assert response.status_code == 200
    assert response.json() == {"name": "lamp"}


def test_the_default_limit_is_one_mebibyte_and_configurable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert HttpSettings().max_body_bytes == MIB
    monkeypatch.setenv("STOREFLEET_HTTP_MAX_BODY_BYTES", str(5 * MIB))
    assert HttpSettings().max_body_bytes == 5 * MIB
