"""The account overview, the shopper's preferences and changing the password."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from storefleet.runtime.storefront.answers import readable
from storefleet.runtime.storefront.pages.account.deps import AccountPagesDep, ViewerDep

LANGUAGES = {"en": "English", "de": "Deutsch", "fr": "Français", "es": "Español", "it": "Italiano"}
CHANNELS = {"email": "E-mail", "sms": "Text message", "push": "Push notification"}

router = APIRouter()


@router.get("/account", response_class=HTMLResponse, include_in_schema=False)
async def account_page(request: Request, pages: AccountPagesDep, viewer: ViewerDep) -> Response:
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


@router.get("/account/preferences", response_class=HTMLResponse, include_in_schema=False)
async def preferences_page(request: Request, pages: AccountPagesDep, viewer: ViewerDep) -> Response:
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


@router.post("/account/preferences", include_in_schema=False)
async def preferences(request: Request, pages: AccountPagesDep) -> Response:
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
    flash = "Preferences saved." if answer.status_code == 200 else readable(answer)
    return pages.go("/account/preferences", flash=flash)


@router.post("/account/password", include_in_schema=False)
async def change_password(request: Request, pages: AccountPagesDep) -> Response:
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
    return pages.go("/account", flash=readable(answer))
