"""What every request and response of every service passes through.

On the way in, a size limit: a body larger than ``STOREFLEET_HTTP_MAX_BODY_BYTES``
is refused with 413 before it is read (by its ``Content-Length``) or as soon as
it grows past the limit (a chunked body, which has none). On the way out, the
browser security headers: a Content-Security-Policy that forbids framing, and
``X-Frame-Options``, ``X-Content-Type-Options`` and ``Referrer-Policy``.

Both are plain ASGI middleware, so they hold for every route, mounted static
files and error answers alike, and cost one header scan per request.
"""

from __future__ import annotations

import secrets
from typing import Final

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storefleet.runtime.platform.web.errors import problem_response

MIB: Final = 1024 * 1024
# JSON APIs render nothing: no source of any kind, never in a frame.
API_POLICY: Final = (
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# FastAPI's /docs and /redoc pages load their scripts from a CDN and start them
# with an inline script; they show the API's own description and nothing else.
DOCS_POLICY: Final = (
    "default-src 'none'; script-src 'self' https://cdn.jsdelivr.net 'unsafe-inline'; "
    "style-src 'self' https://cdn.jsdelivr.net https://fonts.googleapis.com 'unsafe-inline'; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "font-src https://fonts.gstatic.com; connect-src 'self'; worker-src blob:; "
    "frame-ancestors 'none'; base-uri 'none'"
)
DOCS_PATHS: Final = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
# Where a policy wants the request's nonce (``'nonce-{nonce}'``).
NONCE: Final = "{nonce}"
STATIC_HEADERS: Final = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
)


class HttpSettings(BaseSettings):
    """Process-wide limits (one Deployment runs one service)."""

    model_config = SettingsConfigDict(env_prefix="STOREFLEET_HTTP_", extra="ignore")

    # The largest request body any route reads; larger ones get 413.
    max_body_bytes: int = Field(default=MIB, ge=1024, le=1024 * MIB)


def csp_nonce(scope: Scope) -> str:
    """This request's CSP nonce, for a page's own ``<style>``/``<script>`` tags."""
    state = scope.get("state") or {}
    return str(state.get("csp_nonce", ""))


class SecurityHeadersMiddleware:
    """Adds the security headers to every response that does not set its own."""

    def __init__(self, app: ASGIApp, *, policy: str = API_POLICY) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = DOCS_POLICY if scope.get("path") in DOCS_PATHS else self.policy
        if NONCE in policy:
            nonce = secrets.token_urlsafe(16)
            scope.setdefault("state", {})["csp_nonce"] = nonce
            policy = policy.replace(NONCE, nonce)
        added = ((b"content-security-policy", policy.encode()), *STATIC_HEADERS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(item for item in added if item[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a body passes the limit; the app's error
    handlers answer it (problem+json from a service, a page from the storefront)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class BodyLimitMiddleware:
    """Refuses request bodies over ``limit`` bytes with 413 problem+json."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            # Refused unread: the client learns why, the server spends nothing.
            answer = problem_response(413, BodyTooLarge(self.limit).detail, max_bytes=self.limit)
            await answer(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, counting_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
