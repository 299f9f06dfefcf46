"""What an app that browsers use adds to the kernel: forms another site
cannot forge, and cookies no other site or script gets.

Cross-site request forgery: one mechanism for every state-changing request,
whether or not anyone is signed in. The browser holds a random token in a
cookie (``sf_csrf``), every page's forms echo it in a hidden ``csrf`` field
(scripts may send the ``X-CSRF-Token`` header instead), and a POST, PUT,
PATCH or DELETE is refused with 403 unless

- its ``Origin`` (or, without one, its ``Referer``) is this site, and
- the submitted token equals the cookie's.

"This site" is the scheme and host the request came to (``https`` too when it
came as ``http``: TLS ended at a proxy in front of us) and every origin the
app names in ``allowed_origins``: behind a proxy that passes another ``Host``
on, the browser's origin is the store's public one, which only configuration
knows. A request with neither header is a same-site navigation or not a
browser at all (browsers send ``Origin`` with every cross-site POST); it still
needs the token.

Another site can make a browser send the cookie but can neither read it nor
set it, so it cannot fill in the field. Sign-in issues a new token
(:func:`rotate_csrf`), so a token learnt before it is worth nothing after.
Being stateless, it costs the cache nothing on pages every anonymous visitor
sees (the add-to-cart form on a product page).

Cookies: every ``Set-Cookie`` the app sends gets ``HttpOnly`` and
``SameSite=Lax`` if it lacks them, and ``Secure`` unless the request came to a
loopback host (``localhost``, ``127.0.0.1``: plain-http test clients and
``storefleet runtime serve all``) or ``secure`` is off (plain-http development
on another host). A cookie a handler marks Secure stays Secure everywhere.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl, urlsplit

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storefleet.runtime.platform.web.errors import problem_response

log = logging.getLogger(__name__)
CSRF_COOKIE: Final = "sf_csrf"
CSRF_FIELD: Final = "csrf"
CSRF_HEADER: Final = "x-csrf-token"
UNSAFE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOOPBACK: Final = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
TOKEN: Final = re.compile(r"^[A-Za-z0-9_-]{40,64}$")
# Forms post a few fields; a larger body is not a form of ours.
MAX_FORM_BYTES: Final = 65_536
TOKEN_MAX_AGE: Final = 7 * 86_400

# Answers a refused request: (request, status, what is wrong).
Refusal = Callable[[Request, int, str], Awaitable[Response]]
EXPIRED = "This form has expired. Go back, reload the page and try again."
FOREIGN = "This form was sent from another site, so it was not accepted."
TOO_LARGE = "That form is too large."


def is_loopback(connection: HTTPConnection) -> bool:
    """Whether the browser reached us as localhost (plain http is normal there)."""
    host = connection.headers.get("host", "").lower()
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name in LOOPBACK


DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, lower case and without the
    scheme's default port; None for anything else (``null``, ``file:``, junk)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"  # IPv6
    return (
        f"{scheme}://{host}"
        if port in (None, DEFAULT_PORTS[scheme])
        else f"{scheme}://{host}:{port}"
    )


def allowed_origin(value: str) -> str:
    """A configured origin, normalised; ValueError for what is not one."""
    origin = origin_of(value)
    if origin is None or urlsplit(value.strip()).path not in ("", "/"):
        raise ValueError(
            f"{value!r} is not an origin (scheme://host[:port], e.g. https://shop.example)"
        )
    return origin


def own_origins(connection: HTTPConnection) -> frozenset[str]:
    """The scheme and host this request came to; also as https when it came
    as http (TLS ended at a proxy in front of us)."""
    host = connection.headers.get("host", "")
    if not host:
        return frozenset()
    schemes = {connection.url.scheme, "https"}
    return frozenset(
        found for scheme in schemes if (found := origin_of(f"{scheme}://{host}")) is not None
    )


def same_origin(connection: HTTPConnection, allowed: frozenset[str] = frozenset()) -> bool:
    """False when the browser says the request comes from another site: its
    ``Origin`` (or ``Referer``) is neither the request's own nor ``allowed``."""
    claimed = connection.headers.get("origin") or connection.headers.get("referer")
    if not claimed:
        # Browsers send Origin with every cross-site POST; its absence means a
        # same-site navigation or a non-browser client (which still needs the token).
        return True
    origin = origin_of(claimed)
    if origin is None:  # "null" (a sandboxed frame, a data: page) or junk
        return False
    return origin in allowed or origin in own_origins(connection)


@dataclass
class CsrfToken:
    value: str
    # Not yet in the browser's cookie; set there once a page has used it, so
    # images and static files never race a page for the cookie.
    fresh: bool
    used: bool = False


def csrf_token(connection: HTTPConnection) -> str:
    """The token this request's forms carry (the cookie is set if it is new)."""
    token = connection.scope.get("state", {}).get("csrf")
    if not isinstance(token, CsrfToken):
        return ""
    token.used = True
    return token.value


def rotate_csrf(connection: HTTPConnection) -> None:
    """A new token from this response on (at sign-in)."""
    fresh = CsrfToken(secrets.token_urlsafe(32), fresh=True, used=True)
    connection.scope.setdefault("state", {})["csrf"] = fresh


async def problem_refusal(_: Request, status: int, message: str) -> Response:
    return problem_response(status, message, title="Cross-site request refused")


class BrowserGuard:
    """Checks every unsafe request (``refuse`` answers a failed one) and sets
    the flags of every cookie the app sends."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        secure: bool = True,
        refuse: Refusal = problem_refusal,
        cookie: str = CSRF_COOKIE,
        allowed_origins: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.secure = secure
        self.refuse = refuse
        self.cookie = cookie
        # Where the browser may be besides the request's own origin: the store's
        # public URL behind a proxy that passes another Host on.
        self.allowed_origins = frozenset(allowed_origin(value) for value in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        known = self._cookie_token(request)
        state = scope.setdefault("state", {})
        state["csrf"] = CsrfToken(known or secrets.token_urlsafe(32), not known)
        secure = self.secure and not is_loopback(request)

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                token = state.get("csrf")
                if isinstance(token, CsrfToken) and token.fresh and token.used:
                    headers.append("set-cookie", self._set_cookie(token.value))
                cookies = headers.getlist("set-cookie")
                if cookies:
                    del headers["set-cookie"]
                    for cookie in cookies:
                        headers.append("set-cookie", with_flags(cookie, secure=secure))
            await send(message)

        if scope["method"] in UNSAFE_METHODS:
            if not same_origin(request, self.allowed_origins):
                log.info(
                    "refused a %s from another origin",
                    scope["method"],
                    extra={
                        "origin": request.headers.get("origin", ""),
                        "referer": request.headers.get("referer", ""),
                        "host": request.headers.get("host", ""),
                    },
                )
                await self._refuse(request, 403, FOREIGN, send_with_cookies)
                return
            body = await _read_body(receive)
            if body is None:
                await self._refuse(request, 413, TOO_LARGE, send_with_cookies)
                return
            if not known or not self._submitted_matches(request, body, known):
                await self._refuse(request, 403, EXPIRED, send_with_cookies)
                return
            receive = _replay(body, receive)

        await self.app(scope, receive, send_with_cookies)

    def _cookie_token(self, request: Request) -> str:
        found = request.cookies.get(self.cookie, "")
        return found if TOKEN.match(found) else ""

    def _submitted_matches(self, request: Request, body: bytes, known: str) -> bool:
        submitted = request.headers.get(CSRF_HEADER, "")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if not submitted and content_type == "application/x-www-form-urlencoded":
            try:
                fields = parse_qsl(body.decode("utf-8", "replace"), max_num_fields=200)
            except ValueError:
                return False
            submitted = next((value for key, value in fields if key == CSRF_FIELD), "")
        return bool(submitted) and hmac.compare_digest(submitted.encode(), known.encode())

    def _set_cookie(self, value: str) -> str:
        response = Response()
        response.set_cookie(self.cookie, value, max_age=TOKEN_MAX_AGE, path="/")
        return response.headers["set-cookie"]

    async def _refuse(self, request: Request, status: int, message: str, send: Send) -> None:
        response = await self.refuse(request, status, message)
        await response(request.scope, request.receive, send)


def with_flags(cookie: str, *, secure: bool) -> str:
    """A ``Set-Cookie`` value with HttpOnly, SameSite=Lax and (if asked) Secure."""
    present = {part.strip().split("=", 1)[0].lower() for part in cookie.split(";")[1:]}
    missing = [
        flag for flag in ("HttpOnly", "SameSite=Lax") if flag.split("=")[0].lower() not in present
    ]
    if secure and "secure" not in present:
        missing.append("Secure")
    return "; ".join([cookie, *missing]) if missing else cookie


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or None once it is larger than any form of ours (or the
    client went away)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            message = await receive()
        except HTTPException:  # the kernel's size limit, if set below ours
            return None
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
