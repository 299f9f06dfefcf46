"""The browser guard: no state-changing request without this site's Origin and
the browser's CSRF token; every cookie HttpOnly, SameSite=Lax, Secure outside
localhost. And every POST form of the storefront carries the token."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.middleware import Middleware

from storefleet.runtime.platform.web.app import create_service_app
from storefleet.runtime.platform.web.browser_guard import (
    CSRF_COOKIE,
    BrowserGuard,
    allowed_origin,
    csrf_token,
    origin_of,
    rotate_csrf,
    same_origin,
    with_flags,
)
from storefleet.runtime.storefront.settings import StorefrontSettings

TEMPLATES = Path(__file__).parents[3] / "runtime" / "storefront" / "templates"


def guarded(secure: bool = True, allowed_origins: tuple[str, ...] = ()) -> httpx.AsyncClient:
    app = create_service_app(
        "demo",
        title="Demo",
        log_requests=False,
        middleware=[Middleware(BrowserGuard, secure=secure, allowed_origins=allowed_origins)],
    )

    @app.get("/form")
    async def form(request: Request) -> HTMLResponse:
        return HTMLResponse(f'<input name="csrf" value="{csrf_token(request)}">')

    @app.get("/image")
    async def image() -> Response:
        return Response(b"<svg/>", media_type="image/svg+xml")

    @app.post("/act")
    async def act(request: Request) -> Response:
        body = (await request.body()).decode()
        response = RedirectResponse("/done", status_code=303)
        response.set_cookie("sf_flash", "done", max_age=60)
        response.headers["x-body"] = body
        return response

    @app.post("/sign-in")
    async def sign_in(request: Request) -> Response:
        rotate_csrf(request)
        return RedirectResponse("/", status_code=303)

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")


async def token_of(client: httpx.AsyncClient) -> str:
    found = re.search(r'value="([^"]+)"', (await client.get("/form")).text)
    assert found
    return found.group(1)


async def test_a_form_with_the_token_and_no_foreign_origin_passes_with_its_body() -> None:
    async with guarded() as client:
        token = await token_of(client)
        assert client.cookies.get(CSRF_COOKIE) == token
        answer = await client.post("/act", data={"csrf": token, "sku": "A-1"})
        assert answer.status_code == 303
        assert "sku=A-1" in answer.headers["x-body"], "the handler reads the same body"
        same = await client.post(
            "/act", data={"csrf": token}, headers={"Origin": "http://localhost"}
        )
        assert same.status_code == 303
        scripted = await client.post("/act", json={}, headers={"X-CSRF-Token": token})
        assert scripted.status_code == 303


@pytest.mark.parametrize(
    ("fields", "headers", "status"),
    [
        ({}, {}, 403),
        ({"csrf": "x" * 43}, {}, 403),
        ({"csrf": "TOKEN"}, {"Origin": "https://evil.example"}, 403),
        ({"csrf": "TOKEN"}, {"Referer": "https://evil.example/page"}, 403),
        ({"csrf": "TOKEN"}, {"Origin": "null"}, 403),
        ({"csrf": "TOKEN", "pad": "p" * 70_000}, {}, 413),
    ],
)
async def test_forged_or_foreign_posts_are_refused_with_a_problem(
    fields: dict[str, str], headers: dict[str, str], status: int
) -> None:
    async with guarded() as client:
        token = await token_of(client)
        data = {key: token if value == "TOKEN" else value for key, value in fields.items()}
        answer = await client.post("/act", data=data, headers=headers)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    assert "x-body" not in answer.headers, "the handler never ran"


async def test_without_the_cookie_no_token_is_good() -> None:
    async with guarded() as client:
        token = await token_of(client)
        client.cookies.clear()
        answer = await client.post("/act", data={"csrf": token})
    assert answer.status_code == 403


async def test_sign_in_issues_a_new_token() -> None:
    async with guarded() as client:
        before = await token_of(client)
        signed_in = await client.post("/sign-in", data={"csrf": before})
        assert signed_in.status_code == 303
        after = client.cookies.get(CSRF_COOKIE)
        assert after
        assert after != before
        stale = await client.post("/act", data={"csrf": before})
        assert stale.status_code == 403


async def test_the_cookie_is_set_only_where_a_page_used_it() -> None:
    async with guarded() as client:
        image = await client.get("/image")
    assert "set-cookie" not in image.headers


async def test_cookies_get_their_flags_and_secure_outside_localhost() -> None:
    async with guarded() as client:
        local = await client.get("/form")
        client.cookies.clear()
        public = await client.get("/form", headers={"Host": "shop.example"})
    assert "secure" not in local.headers["set-cookie"].lower()
    assert "httponly" in local.headers["set-cookie"].lower()
    flags = public.headers["set-cookie"].lower()
    for flag in ("secure", "httponly", "samesite=lax"):
        assert flag in flags
    async with guarded(secure=False) as plain:
        answer = await plain.get("/form", headers={"Host": "dev.internal"})
    assert "secure" not in answer.headers["set-cookie"].lower()


def test_flags_are_added_once() -> None:
    assert with_flags("a=1; Path=/", secure=True) == "a=1; Path=/; HttpOnly; SameSite=Lax; Secure"
    kept = "a=1; HttpOnly; SameSite=strict; Secure"
    assert with_flags(kept, secure=False) == kept


def test_same_origin_compares_the_host() -> None:
    def request(headers: dict[str, str]) -> Request:
        raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        return Request({"type": "http", "method": "POST", "path": "/", "headers": raw})

    assert same_origin(request({"host": "shop.test", "origin": "https://shop.test"}))
    assert same_origin(request({"host": "shop.test"}))
    assert not same_origin(request({"host": "shop.test", "origin": "https://evil.example"}))
    assert not same_origin(request({"host": "shop.test", "referer": "https://evil.example/x"}))
    assert not same_origin(request({"host": "shop.test", "origin": "null"}))


def test_every_post_form_of_the_storefront_carries_the_token() -> None:
    for template in sorted(TEMPLATES.glob("*.html")):
        text = template.read_text()
        for form in re.findall(r"<form\b[^>]*>.*?</form>", text, re.S):
            if re.search(r'method="post"', form.split(">", 1)[0]):
                assert 'name="csrf" value="{{ csrf }}"' in form, f"{template.name}: {form[:80]}"


def test_no_template_needs_unsafe_inline() -> None:
    for template in sorted(TEMPLATES.glob("*.html")):
        text = template.read_text()
        for tag in re.findall(r"<(?:style|script)\b[^>]*>", text):
            assert "src=" in tag or 'nonce="{{ csp_nonce }}"' in tag, f"{template.name}: {tag}"
        assert not re.search(r"\son[a-z]+=", text), f"an inline event handler in {template.name}"
        assert not re.search(r'\sstyle="', text), f"an inline style attribute in {template.name}"


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://Shop.Example", "https://shop.example"),
        ("https://shop.example:443/cart?x=1", "https://shop.example"),
        ("http://shop.example:80/", "http://shop.example"),
        ("http://127.0.0.1:8000/p/lamp", "http://127.0.0.1:8000"),
        ("https://[::1]:8443", "https://[::1]:8443"),
        ("null", None),
        ("file:///etc/passwd", None),
        ("https://", None),
        ("https://shop.example:99999", None),
    ],
)
def test_origins_are_compared_as_scheme_host_and_port(url: str, origin: str | None) -> None:
    assert origin_of(url) == origin


def test_a_configured_origin_must_be_one() -> None:
    assert allowed_origin("https://shop.example/") == "https://shop.example"
    for wrong in ("shop.example", "https://shop.example/store", "ftp://shop.example", ""):
        with pytest.raises(ValueError, match="not an origin"):
            allowed_origin(wrong)


def test_the_storefront_reads_its_origins_comma_separated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "STOREFLEET_STOREFRONT_ALLOWED_ORIGINS", "https://a.example, https://B.example:8443"
    )
    monkeypatch.setenv("STOREFLEET_STOREFRONT_PUBLIC_URL", "https://shop.example/")
    settings = StorefrontSettings()
    assert settings.allowed_origins == ["https://a.example", "https://b.example:8443"]
    assert settings.form_origins() == [
        "https://shop.example",
        "https://a.example",
        "https://b.example:8443",
    ]
    monkeypatch.setenv("STOREFLEET_STOREFRONT_ALLOWED_ORIGINS", "a.example")
    with pytest.raises(ValueError, match="not an origin"):
        StorefrontSettings()


@pytest.mark.parametrize(
    ("headers", "allowed", "status"),
    [
        ({"Origin": "http://localhost"}, (), 303),
        # TLS ended at a proxy: the page was https, the request arrives as http.
        ({"Origin": "https://localhost"}, (), 303),
        ({"Origin": "http://localhost:8080"}, (), 403),
        ({"Host": "storefront:8000", "Origin": "https://shop.example"}, (), 403),
        (
            {"Host": "storefront:8000", "Origin": "https://shop.example"},
            ("https://shop.example",),
            303,
        ),
        (
            {"Host": "storefront:8000", "Referer": "https://shop.example/p/a"},
            ("https://shop.example",),
            303,
        ),
        (
            {"Host": "storefront:8000", "Origin": "http://shop.example"},
            ("https://shop.example",),
            403,
        ),
        ({"Origin": "https://evil.example"}, ("https://shop.example",), 403),
        ({}, ("https://shop.example",), 303),
    ],
)
async def test_forms_come_from_the_requests_own_origin_or_a_configured_one(
    headers: dict[str, str], allowed: tuple[str, ...], status: int
) -> None:
    async with guarded(secure=False, allowed_origins=allowed) as client:
        token = await token_of(client)
        answer = await client.post("/act", data={"csrf": token}, headers=headers)
    assert answer.status_code == status


def test_same_origin_reads_the_referer_without_an_origin() -> None:
    from starlette.requests import Request as Plain

    def request(**headers: str) -> Plain:
        raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        return Plain(
            {"type": "http", "scheme": "http", "headers": raw, "path": "/", "query_string": b""}
        )

    assert same_origin(request(host="shop.example", referer="http://shop.example/cart"))
    assert not same_origin(request(host="shop.example", referer="http://evil.example/cart"))
    assert same_origin(request(host="shop.example"))
