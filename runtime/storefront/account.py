"""The shopper's account pages: sign up, sign in (password + TOTP, or the
store's Keycloak realm), MFA, profile, addresses, preferences, privacy.

The pages talk to the accounts service's HTTP API with the shopper's own
access token, kept server-side in the session (the browser holds only the
session id). Every form carries the browser's CSRF token (``browser_guard``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import Field
from pydantic_settings import SettingsConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from storefleet.runtime.platform.config.settings import in_kubernetes, upstream_url
from storefleet.runtime.platform.identity.oidc import OidcClient, OidcError
from storefleet.runtime.platform.identity.sessions import Session, SessionStore
from storefleet.runtime.platform.identity.tokens import AuthSettings, Principal, authenticator_of
from storefleet.runtime.platform.resilience.calls import ServiceClient
from storefleet.runtime.platform.storage.cache import create_cache
from storefleet.runtime.platform.web.browser_guard import EXPIRED, rotate_csrf
from storefleet.runtime.storefront.settings import StorefrontSettings

Render = Callable[..., Awaitable[HTMLResponse]]
Redirect = Callable[..., RedirectResponse]
ReadForm = Callable[[Request], Awaitable[dict[str, str]]]
LANGUAGES = {"en": "English", "de": "Deutsch", "fr": "Français", "es": "Español", "it": "Italiano"}
CHANNELS = {"email": "E-mail", "sms": "Text message", "push": "Push notification"}
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

    async def _refresh(self, session: Session) -> bool:
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
        if float(session.data.get("access_exp", 0)) < time.time() and not await self._refresh(
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


def problem_detail(response: httpx.Response, fallback: str = "That didn't work.") -> str:
    try:
        return str(response.json().get("detail", fallback))
    except ValueError:
        return fallback


def install_account_pages(
    app: FastAPI,
    *,
    render: Render,
    redirect: Redirect,
    read_form: ReadForm,
    client: Callable[[str, str], ServiceClient],
    has_orders: bool = False,
) -> AccountPages:
    settings = AccountPagesSettings()
    if in_kubernetes() and "session_cookie_secure" not in settings.model_fields_set:
        settings = settings.model_copy(update={"session_cookie_secure": True})
    pages = AccountPages(
        app,
        render=render,
        redirect=redirect,
        read_form=read_form,
        accounts=client("accounts", settings.accounts_url),
        settings=settings,
        orders=orders_client(settings, client, has_orders),
    )
    app.state.account_pages = pages
    get = app.get
    post = app.post

    # ------------------------------------------------------- in-app stream

    @get(INBOX_FEED, include_in_schema=False)
    async def inbox_feed(request: Request) -> Response:
        # Only this site's own scripts can read the answer (no CORS headers), and
        # it is never cached: it carries the shopper's access token.
        no_store = {"Cache-Control": "no-store"}
        viewer = await pages.viewer(request) if settings.inbox_stream_url else None
        if viewer is None:
            return JSONResponse({"detail": "sign in first"}, status_code=401, headers=no_store)
        query = urlencode({"access_token": str(viewer.session.data["access"])})
        return JSONResponse({"url": f"{settings.inbox_stream_url}?{query}"}, headers=no_store)

    # ------------------------------------------------------------ sign-up

    @get("/account/sign-up", response_class=HTMLResponse, include_in_schema=False)
    async def sign_up_page(request: Request) -> Response:
        if pages.oidc_mode:
            return await oidc_start(request)
        session = await pages.sessions.load_or_start(request)
        return await pages.page(request, "account_sign_up.html", session, email="", name="")

    @post("/account/sign-up", include_in_schema=False)
    async def sign_up(request: Request) -> Response:
        session, form = await pages.form(request)
        email, name = form.get("email", "")[:320], form.get("name", "")[:200]
        if form.get("password", "") != form.get("password_again", ""):
            return await pages.page(
                request,
                "account_sign_up.html",
                session,
                status_code=400,
                error="The two passwords differ.",
                email=email,
                name=name,
            )
        answer = await pages.accounts.post(
            "/register",
            json={"email": email, "password": form.get("password", ""), "name": name},
        )
        if answer.status_code != 202:
            return await pages.page(
                request,
                "account_sign_up.html",
                session,
                status_code=400 if answer.status_code < 500 else 503,
                error=_readable(answer),
                email=email,
                name=name,
            )
        return await pages.page(request, "account_check_inbox.html", session, email=email)

    @get("/account/verify", response_class=HTMLResponse, include_in_schema=False)
    async def verify_page(request: Request) -> Response:
        # A button, not the GET itself: mail scanners open links.
        session = await pages.sessions.load_or_start(request)
        token = request.query_params.get("token", "")[:4096]
        return await pages.page(request, "account_verify.html", session, token=token)

    @post("/account/verify", include_in_schema=False)
    async def verify(request: Request) -> Response:
        session, form = await pages.form(request)
        answer = await pages.accounts.post("/verify-email", json={"token": form.get("token", "")})
        if answer.status_code != 200:
            return await pages.page(
                request,
                "account_verify.html",
                session,
                status_code=400,
                error=_readable(answer),
                token="",
            )
        return pages.go("/account/sign-in", flash="Your address is confirmed. Sign in below.")

    # ------------------------------------------------------------ sign-in

    @get("/account/sign-in", response_class=HTMLResponse, include_in_schema=False)
    async def sign_in_page(request: Request) -> Response:
        if pages.oidc_mode:
            return await oidc_start(request)
        session = await pages.sessions.load_or_start(request)
        next_ = safe_next(request.query_params.get("next"))
        return await pages.page(request, "account_sign_in.html", session, next=next_, email="")

    @post("/account/sign-in", include_in_schema=False)
    async def sign_in(request: Request) -> Response:
        session, form = await pages.form(request)
        next_ = safe_next(form.get("next"))
        email = form.get("email", "")[:320]
        answer = await pages.accounts.post(
            "/sign-in",
            json={"email": email, "password": form.get("password", "")},
            headers={"X-Forwarded-For": request.client.host} if request.client else None,
        )
        if answer.status_code != 200:
            return await pages.page(
                request,
                "account_sign_in.html",
                session,
                status_code=answer.status_code if answer.status_code < 500 else 503,
                error=_readable(answer),
                next=next_,
                email=email,
            )
        body = answer.json()
        if body.get("mfa_required"):
            session.data["pending"] = {"challenge": body["challenge"], "next": next_}
            await pages.sessions.save(session)
            return pages.go("/account/mfa")
        fresh = await pages.signed_in(request, session, body, mode="embedded")
        target = "/account/mfa/setup" if body.get("mfa_enrolment_required") else next_
        response = pages.go(target, flash="You're signed in.")
        pages.sessions.set_cookie(response, fresh)
        return response

    @get("/account/mfa", response_class=HTMLResponse, include_in_schema=False)
    async def mfa_page(request: Request) -> Response:
        session = await pages.sessions.load(request)
        if session is None or not session.data.get("pending"):
            return pages.go("/account/sign-in")
        return await pages.page(request, "account_mfa.html", session)

    @post("/account/mfa", include_in_schema=False)
    async def mfa_answer(request: Request) -> Response:
        session, form = await pages.form(request)
        pending = session.data.get("pending")
        if not isinstance(pending, dict):
            return pages.go("/account/sign-in")
        answer = await pages.accounts.post(
            "/sign-in/mfa", json={"challenge": pending["challenge"], "code": form.get("code", "")}
        )
        if answer.status_code != 200:
            if answer.status_code == 400:  # the challenge expired or was spent
                session.data.pop("pending", None)
                await pages.sessions.save(session)
                return pages.go("/account/sign-in", flash="That took too long; sign in again.")
            return await pages.page(
                request,
                "account_mfa.html",
                session,
                status_code=answer.status_code if answer.status_code < 500 else 503,
                error=_readable(answer),
            )
        fresh = await pages.signed_in(request, session, answer.json(), mode="embedded")
        response = pages.go(safe_next(str(pending.get("next"))), flash="You're signed in.")
        pages.sessions.set_cookie(response, fresh)
        return response

    @post("/account/sign-out", include_in_schema=False)
    async def sign_out(request: Request) -> Response:
        session, _ = await pages.form(request)
        target = "/"
        if session.data.get("mode") == "oidc" and session.data.get("id_token"):
            back = (pages.settings.public_url or str(request.base_url)).rstrip("/") + "/"
            target = await pages.oidc(str(session.data.get("client"))).end_session_url(
                str(session.data["id_token"]), back
            )
            # The realm ends its session; its access tokens end here, for every service.
            authenticator = authenticator_of(pages.app)
            principal = await authenticator.authenticate(str(session.data.get("access", "")))
            if principal is not None:
                await authenticator.revocations.revoke(principal.session)
        elif session.data.get("refresh"):
            await pages.accounts.post("/sign-out", json={"refresh_token": session.data["refresh"]})
        await pages.sessions.end(session)
        response = RedirectResponse(target, status_code=303)
        pages.sessions.clear_cookie(response)
        return response

    # ------------------------------------------------------------- OIDC

    async def oidc_start(request: Request) -> Response:
        if not pages.oidc_mode:
            raise StarletteHTTPException(404)
        session = await pages.sessions.load_or_start(request)
        wanted = request.query_params.get("client", "storefront")
        client_id = (
            pages.settings.admin_oidc_client_id
            if wanted == "admin-console"
            else pages.auth_settings.oidc_client_id
        )
        idp = request.query_params.get("idp", "")
        if idp and idp not in pages.settings.social_providers:
            idp = ""
        try:
            started = await pages.oidc(client_id).authorization_request(
                callback_url(request, client_id), idp_hint=idp
            )
        except OidcError:
            return await pages.page(
                request,
                "error.html",
                None,
                status_code=503,
                message="Signing in is unavailable right now. Please try again shortly.",
            )
        session.data["oidc"] = {
            "state": started.state,
            "nonce": started.nonce,
            "verifier": started.verifier,
            "client": client_id,
            "next": safe_next(request.query_params.get("next")),
        }
        await pages.sessions.save(session)
        response = RedirectResponse(started.url, status_code=303)
        pages.sessions.set_cookie(response, session)
        return response

    def callback_url(request: Request, client_id: str) -> str:
        """Under the path the realm allows for the client (the operator registers
        ``/admin/*`` for the admin console, ``/*`` for the storefront)."""
        base = pages.settings.public_url or str(request.base_url)
        staff = client_id == pages.settings.admin_oidc_client_id
        return base.rstrip("/") + ("/admin/oidc/callback" if staff else "/account/oidc/callback")

    app.add_api_route("/account/oidc/start", oidc_start, methods=["GET"], include_in_schema=False)

    @get("/account/oidc/callback", include_in_schema=False)
    @get("/admin/oidc/callback", include_in_schema=False)
    async def oidc_callback(request: Request) -> Response:
        session = await pages.sessions.load(request)
        flow = session.data.get("oidc") if session else None
        params = request.query_params
        if session is None or not isinstance(flow, dict) or params.get("state") != flow["state"]:
            raise StarletteHTTPException(400, "That sign-in link is stale. Please sign in again.")
        if params.get("error") or not params.get("code"):
            session.data.pop("oidc", None)
            await pages.sessions.save(session)
            return pages.go("/", flash="Sign-in was cancelled.")
        try:
            tokens = await pages.oidc(flow["client"]).exchange_code(
                params["code"], callback_url(request, flow["client"]), flow["verifier"]
            )
        except OidcError:
            raise StarletteHTTPException(400, "Signing in didn't work; please try again.") from None
        principal = await authenticator_of(pages.app).authenticate(tokens["access_token"])
        if principal is None:
            raise StarletteHTTPException(400, "Signing in didn't work; please try again.")
        fresh = await pages.signed_in(request, session, tokens, mode="oidc", client=flow["client"])
        # The realm knows the person; the store's own records (addresses,
        # preferences, the customer list) start at their first sign-in.
        await pages.accounts.get(
            "/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        response = pages.go(safe_next(flow.get("next")), flash="You're signed in.")
        pages.sessions.set_cookie(response, fresh)
        return response

    # ------------------------------------------------------ MFA enrolment

    @get("/account/mfa/setup", response_class=HTMLResponse, include_in_schema=False)
    async def mfa_setup_page(request: Request) -> Response:
        viewer = await pages.viewer(request)
        if viewer is None:
            return pages.to_sign_in(request)
        if pages.oidc_mode:
            # The realm's own pages enrol authenticators (its OTP policy applies).
            return pages.go("/account", flash="Two-factor settings are on the sign-in pages.")
        answer = await pages.api(viewer, "POST", "/me/mfa")
        if answer.status_code == 409:
            return pages.go("/account", flash="Two-factor authentication is already on.")
        if answer.status_code != 200:
            raise StarletteHTTPException(400, _readable(answer))
        return await pages.page(
            request, "account_mfa_setup.html", viewer.session, enrolment=answer.json()
        )

    @post("/account/mfa/setup", include_in_schema=False)
    async def mfa_setup(request: Request) -> Response:
        _, form = await pages.form(request)
        viewer = await pages.viewer(request)
        if viewer is None:
            return pages.to_sign_in(request)
        answer = await pages.api(viewer, "POST", "/me/mfa/confirm", {"code": form.get("code", "")})
        if answer.status_code != 200:
            return pages.go("/account/mfa/setup", flash=_readable(answer))
        # New tokens carry the rights a pending enrolment withheld.
        await pages._refresh(viewer.session)
        return await pages.page(
            request,
            "account_recovery_codes.html",
            viewer.session,
            codes=answer.json()["recovery_codes"],
        )

    @post("/account/mfa/disable", include_in_schema=False)
    async def mfa_disable(request: Request) -> Response:
        _, form = await pages.form(request)
        viewer = await pages.viewer(request)
        if viewer is None:
            return pages.to_sign_in(request)
        answer = await pages.api(viewer, "POST", "/me/mfa/disable", {"code": form.get("code", "")})
        message = "Two-factor authentication is off." if answer.status_code == 204 else None
        return pages.go("/account", flash=message or _readable(answer))

    # ------------------------------------------------------------ account

    @get("/account", response_class=HTMLResponse, include_in_schema=False)
    async def account_page(request: Request) -> Response:
        viewer = await pages.viewer(request)
        if viewer is None:
            return pages.to_sign_in(request)
        me = await pages.api(viewer, "GET", "/me")
        if me.status_code != 200:
            raise StarletteHTTPException(me.status_code if me.status_code < 500 else 503)
        profile = me.json()
        if profile["mfa_required"] and not profile["mfa_enabled"] and not pages.oidc_mode:
            return pages.go("/account/mfa/setup", flash="This shop asks you to set up 2FA.")
        events = await pages.api(viewer, "GET", "/me/security-events")
        return await pages.page(
            request,
            "account.html",
            viewer.session,
            profile=profile,
            events=events.json()[:10] if events.status_code == 200 else [],
            staff=bool(viewer.roles & {"store-admin", "support"}),
        )

    @get("/account/addresses", response_class=HTMLResponse, include_in_schema=False)
    async def addresses_page(request: Request) -> Response:
        viewer = await pages.viewer(request)
        if viewer is None:
            return pages.to_sign_in(request)
        listed = await pages.api(viewer, "GET", "/me/addresses")
        if listed.status_code == 403:
            return pages.go("/account/mfa/setup", flash=_readable(listed))
        return await pages.page(
            request,
            "account_addresses.html",
            viewer.session,
            addresses=listed.json() if listed.status_code == 200 else [],
            values={},
        )

    @post("/account/addresses", include_in_schema=False)
    async def add_address(request: Request) -> Response:
        _, form = await pages.form(request)
        viewer = await pages.viewer(request)
        if viewer is None:
            return pages.to_sign_in(request)
        fields = ("label", "name", "line1", "line2", "city", "postal_code", "country", "phone")
        body: dict[str, Any] = {key: form.get(key, "").strip() for key in fields}
        body["country"] = body["country"].upper()
        body["is_default"] = form.get("is_default") == "on"
        answer = await pages.api(viewer, "POST", "/me/addresses", body)
        if answer.status_code != 201:
            listed = await pages.api(viewer, "GET", "/me/addresses")
            return await pages.page(
                request,
                "account_addresses.html",
                viewer.session,
                status_code=400,
                error=_readable(answer),
                addresses=listed.json() if listed.status_code == 200 else [],
                values=body,
            )
        return pages.go("/account/addresses", flash="Address saved.")

    @post("/account/addresses/{address_id}/delete", include_in_schema=False)
    async def delete_address(request: Request, address_id: str) -> Response:
        _, _form = await pages.form(request)
        viewer = await pages.viewer(request)
        if viewer is None:
            return pages.to_sign_in(request)
        answer = await pages.api(viewer, "DELETE", f"/me/addresses/{quote(address_id, safe='')}")
        flash = "Address removed." if answer.status_code == 204 else _readable(answer)
        return pages.go("/account/addresses", flash=flash)

    @get("/account/preferences", response_class=HTMLResponse, include_in_schema=False)
    async def preferences_page(request: Request) -> Response:
        viewer = await pages.viewer(request)
        if viewer is None:
            return pages.to_sign_in(request)
        me = await pages.api(viewer, "GET", "/me")
        return await pages.page(
            request,
            "account_preferences.html",
            viewer.session,
            profile=me.json(),
            languages=LANGUAGES,
            channels=CHANNELS,
        )

    @post("/account/preferences", include_in_schema=False)
    async def preferences(request: Request) -> Response:
        _, form = await pages.form(request)
        viewer = await pages.viewer(request)
        if viewer is None:
            return pages.to_sign_in(request)
        body = {
            "name": form.get("name", "")[:200],
            "language": form.get("language", "en"),
            "channels": {key: form.get(f"channel_{key}") == "on" for key in CHANNELS},
            "marketing_opt_in": form.get("marketing_opt_in") == "on",
        }
        answer = await pages.api(viewer, "PATCH", "/me", body)
        flash = "Preferences saved." if answer.status_code == 200 else _readable(answer)
        return pages.go("/account/preferences", flash=flash)

    @post("/account/password", include_in_schema=False)
    async def change_password(request: Request) -> Response:
        _, form = await pages.form(request)
        viewer = await pages.viewer(request)
        if viewer is None:
            return pages.to_sign_in(request)
        answer = await pages.api(
            viewer,
            "PUT",
            "/me/password",
            {
                "current_password": form.get("current_password", ""),
                "new_password": form.get("new_password", ""),
            },
        )
        if answer.status_code == 204:
            await pages.sessions.end(viewer.session)
            response = pages.go("/account/sign-in", flash="Password changed. Sign in again.")
            pages.sessions.clear_cookie(response)
            return response
        return pages.go("/account", flash=_readable(answer))

    @get("/account/export", include_in_schema=False)
    async def export(request: Request) -> Response:
        viewer = await pages.viewer(request)
        if viewer is None:
            return pages.to_sign_in(request)
        answer = await pages.api(viewer, "GET", "/me/export")
        if answer.status_code != 200:
            return pages.go("/account", flash=_readable(answer))
        document = answer.json()
        if pages.orders is not None:
            # The orders service holds the rest: what was bought, where it went.
            token = {"Authorization": f"Bearer {viewer.session.data['access']}"}
            mine = await pages.orders.get("/orders", params={"per_page": 100}, headers=token)
            if mine.status_code == 200:
                document["orders"] = mine.json().get("items", [])
                document["notes"] = "Payments and notifications are exported by those services."
        return Response(
            json.dumps(document, indent=2),
            media_type="application/json",
            headers={
                "Content-Disposition": 'attachment; filename="my-account.json"',
                "Cache-Control": "no-store",
            },
        )

    @post("/account/delete", include_in_schema=False)
    async def delete_account(request: Request) -> Response:
        _, form = await pages.form(request)
        viewer = await pages.viewer(request)
        if viewer is None:
            return pages.to_sign_in(request)
        answer = await pages.api(
            viewer,
            "POST",
            "/me/erase",
            {"password": form.get("password", ""), "confirm": form.get("confirm", "")},
        )
        if answer.status_code != 204:
            return pages.go("/account", flash=_readable(answer))
        await pages.sessions.end(viewer.session)
        response = pages.go("/", flash="Your account is deleted.")
        pages.sessions.clear_cookie(response)
        return response

    # ---------------------------------------------------- password reset

    @get("/account/password/forgot", response_class=HTMLResponse, include_in_schema=False)
    async def forgot_page(request: Request) -> Response:
        session = await pages.sessions.load_or_start(request)
        return await pages.page(request, "account_forgot.html", session, sent=False)

    @post("/account/password/forgot", include_in_schema=False)
    async def forgot(request: Request) -> Response:
        session, form = await pages.form(request)
        answer = await pages.accounts.post(
            "/password/forgot", json={"email": form.get("email", "")[:320]}
        )
        if answer.status_code == 429:
            return await pages.page(
                request, "account_forgot.html", session, status_code=429, error=_readable(answer)
            )
        # Whatever the address, the same page.
        return await pages.page(request, "account_forgot.html", session, sent=True)

    @get("/account/reset", response_class=HTMLResponse, include_in_schema=False)
    async def reset_page(request: Request) -> Response:
        session = await pages.sessions.load_or_start(request)
        token = request.query_params.get("token", "")[:4096]
        return await pages.page(request, "account_reset.html", session, token=token)

    @post("/account/reset", include_in_schema=False)
    async def reset(request: Request) -> Response:
        session, form = await pages.form(request)
        answer = await pages.accounts.post(
            "/password/reset",
            json={"token": form.get("token", ""), "password": form.get("password", "")},
        )
        if answer.status_code != 200:
            return await pages.page(
                request,
                "account_reset.html",
                session,
                status_code=400,
                error=_readable(answer),
                token=form.get("token", ""),
            )
        return pages.go("/account/sign-in", flash="Password changed. Sign in with it.")

    return pages


def _readable(answer: httpx.Response) -> str:
    if answer.status_code >= 500:
        return "The shop is having trouble right now. Please try again shortly."
    body: Any
    try:
        body = answer.json()
    except ValueError:
        return "That didn't work."
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors:
        field = errors[0].get("loc", ["", ""])[-1]
        names = {"password": "Password", "email": "E-mail address", "postal_code": "Postcode"}
        return f"{names.get(field, str(field).replace('_', ' ').capitalize())}: {errors[0]['msg']}"
    return str(body.get("detail", "That didn't work.")) if isinstance(body, dict) else "Error"
