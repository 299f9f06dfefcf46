"""Who is at the browser: the session the storefront keeps for them, the
access token in it (refreshed when it runs out) and the realm's clients.

The browser holds only the session id; the tokens stay server-side. The
account pages, the admin console, the vendor portal and the checkout all ask
``AccountPages`` (on ``app.state.account_pages``) who is signed in.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import Field
from pydantic_settings import SettingsConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from storefleet.runtime.platform.config.settings import in_kubernetes, upstream_url
from storefleet.runtime.platform.identity.oidc import OidcClient, OidcError
from storefleet.runtime.platform.identity.sessions import Session, SessionStore
from storefleet.runtime.platform.identity.tokens import AuthSettings, Principal, authenticator_of
from storefleet.runtime.platform.resilience.client import ServiceClient
from storefleet.runtime.platform.storage.cache import create_cache
from storefleet.runtime.platform.web.browser_guard import EXPIRED, rotate_csrf
from storefleet.runtime.storefront.settings import StorefrontSettings

Render = Callable[..., Awaitable[HTMLResponse]]
Redirect = Callable[..., RedirectResponse]
ReadForm = Callable[[Request], Awaitable[dict[str, str]]]
# Answers the page's script with the in-app stream's URL, token included: the
# session keeps the token server-side, and EventSource cannot send headers.
INBOX_FEED = "/account/inbox/feed"


class AccountPagesSettings(StorefrontSettings):
    model_config = SettingsConfigDict(env_prefix="STOREFLEET_STOREFRONT_", extra="ignore")

    accounts_url: str = Field(default_factory=lambda: upstream_url("accounts", 8003))
    session_cookie: str = "sf_session"
    # Browsers keep Secure cookies on http://localhost and 127.0.0.1 too.
    session_cookie_secure: bool = True
    session_ttl_seconds: int = Field(default=7 * 86_400, ge=300)
    admin_oidc_client_id: str = "admin-console"
    admin_oidc_client_secret: str = ""
    social_providers: list[str] = Field(default_factory=list)
    # Where the browser reaches the notifications service's in-app stream (the
    # store's router sends /api/notifications there); empty: pages don't open it.
    inbox_stream_url: str = "/api/notifications/inbox/stream"


@dataclass
class Viewer:
    session: Session
    principal: Principal

    @property
    def roles(self) -> frozenset[str]:
        return self.principal.roles

    @property
    def email(self) -> str:
        return str((self.session.user or {}).get("email", "")) or self.principal.email


def safe_next(target: str | None, default: str = "/account") -> str:
    """Only paths on this site: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target if not urlsplit(target).netloc else default


class AccountPages:
    def __init__(
        self,
        app: FastAPI,
        *,
        render: Render,
        redirect: Redirect,
        read_form: ReadForm,
        accounts: ServiceClient,
        settings: AccountPagesSettings,
        orders: ServiceClient | None = None,
    ) -> None:
        self.app = app
        self.render = render
        self.redirect = redirect
        self.read_form = read_form
        self.accounts = accounts
        self.orders = orders
        self.settings = settings
        self.sessions = SessionStore(
            create_cache(settings.cache_url, settings.cache_prefix + "storefront:"),
            cookie=settings.session_cookie,
            ttl_seconds=settings.session_ttl_seconds,
            secure=settings.session_cookie_secure,
        )
        self._oidc: dict[str, OidcClient] = {}

    # ------------------------------------------------------------- plumbing

    @property
    def auth_settings(self) -> AuthSettings:
        return authenticator_of(self.app).settings

    @property
    def oidc_mode(self) -> bool:
        return self.auth_settings.oidc_mode

    def oidc(self, client_id: str) -> OidcClient:
        if client_id not in self._oidc:
            auth = self.auth_settings
            secret = (
                self.settings.admin_oidc_client_secret
                if client_id == self.settings.admin_oidc_client_id
                else auth.oidc_client_secret
            )
            self._oidc[client_id] = OidcClient(auth.oidc_issuer, client_id, secret)
        return self._oidc[client_id]

    async def page(
        self, request: Request, template: str, session: Session | None, **context: Any
    ) -> HTMLResponse:
        response = await self.render(
            request,
            template,
            context.pop("status_code", 200),
            oidc_mode=self.oidc_mode,
            social_providers=self.settings.social_providers,
            **context,
        )
        if session is not None and session.new:
            self.sessions.set_cookie(response, session)
        return response

    async def form(self, request: Request) -> tuple[Session, dict[str, str]]:
        """The posted form (its CSRF token already checked) and its session."""
        fields = await self.read_form(request)
        session = await self.sessions.load(request)
        if session is None:
            raise StarletteHTTPException(403, EXPIRED)
        return session, fields

    async def refresh(self, session: Session) -> bool:
        refresh = str(session.data.get("refresh", ""))
        if not refresh:
            return False
        try:
            if session.data.get("mode") == "oidc":
                tokens = await self.oidc(str(session.data.get("client", ""))).refresh(refresh)
            else:
                answer = await self.accounts.post("/token/refresh", json={"refresh_token": refresh})
                if answer.status_code != 200:
                    return False
                tokens = answer.json()
        except OidcError:
            return False
        self._store_tokens(session, tokens)
        await self.sessions.save(session)
        return True

    def _store_tokens(self, session: Session, tokens: dict[str, Any]) -> None:
        session.data["access"] = tokens["access_token"]
        session.data["refresh"] = tokens.get("refresh_token", session.data.get("refresh", ""))
        session.data["access_exp"] = time.time() + float(tokens.get("expires_in", 60)) - 15
        if tokens.get("id_token"):
            session.data["id_token"] = tokens["id_token"]

    async def viewer(self, request: Request) -> Viewer | None:
        session = await self.sessions.load(request)
        if session is None or not session.data.get("access"):
            return None
        if float(session.data.get("access_exp", 0)) < time.time() and not await self.refresh(
            session
        ):
            await self.sessions.end(session)
            return None
        principal = await authenticator_of(self.app).authenticate(str(session.data["access"]))
        if principal is None:
            return None
        return Viewer(session, principal)

    async def bearer(self, request: Request) -> dict[str, str]:
        """The signed-in shopper's Authorization header for a call made on their
        behalf (their checkout is then their order); empty for a guest."""
        if not request.cookies.get(self.sessions.cookie):
            return {}
        viewer = await self.viewer(request)
        if viewer is None:
            return {}
        return {"Authorization": f"Bearer {viewer.session.data['access']}"}

    async def inbox_feed(self, request: Request) -> str:
        """For a signed-in shopper's pages: where their script asks for the in-app
        stream. Empty for everyone else, so anonymous pages carry nothing of it."""
        if not self.settings.inbox_stream_url or not request.cookies.get(self.sessions.cookie):
            return ""
        session = await self.sessions.load(request)
        return INBOX_FEED if session is not None and session.data.get("access") else ""

    async def api(self, viewer: Viewer, method: str, path: str, json: Any = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {viewer.session.data['access']}"}
        return await self.accounts.request(method, path, json=json, headers=headers)

    def to_sign_in(self, request: Request) -> RedirectResponse:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/account/sign-in?next={quote(here, safe='')}", status_code=303)

    async def signed_in(
        self,
        request: Request,
        session: Session,
        tokens: dict[str, Any],
        *,
        mode: str,
        client: str = "",
    ) -> Session:
        # A new session id and a new CSRF token: neither learnt before counts after.
        rotate_csrf(request)
        fresh = await self.sessions.rotate(session)
        fresh.data.pop("pending", None)
        fresh.data.pop("oidc", None)
        fresh.data.update(mode=mode, client=client)
        self._store_tokens(fresh, tokens)
        principal = await authenticator_of(self.app).authenticate(tokens["access_token"])
        fresh.data["user"] = {
            "email": principal.email if principal else "",
            "roles": sorted(principal.roles) if principal else [],
        }
        await self.sessions.save(fresh)
        return fresh

    def go(self, to: str, session: Session | None = None, flash: str | None = None) -> Response:
        response = self.redirect(to, flash)
        if session is not None and session.new:
            self.sessions.set_cookie(response, session)
        return response


def orders_client(
    settings: StorefrontSettings, client: Callable[[str, str], ServiceClient], has_orders: bool
) -> ServiceClient | None:
    """The orders service, once the storefront knows where it is."""
    url = str(getattr(settings, "orders_url", "") or "")
    return client("orders", url or "http://orders") if url or has_orders else None


def build_account_pages(
    app: FastAPI,
    *,
    render: Render,
    redirect: Redirect,
    read_form: ReadForm,
    client: Callable[[str, str], ServiceClient],
    has_orders: bool = False,
) -> AccountPages:
    """The account pages' state, from the environment's settings."""
    settings = AccountPagesSettings()
    if in_kubernetes() and "session_cookie_secure" not in settings.model_fields_set:
        settings = settings.model_copy(update={"session_cookie_secure": True})
    return AccountPages(
        app,
        render=render,
        redirect=redirect,
        read_form=read_form,
        accounts=client("accounts", settings.accounts_url),
        settings=settings,
        orders=orders_client(settings, client, has_orders),
    )
