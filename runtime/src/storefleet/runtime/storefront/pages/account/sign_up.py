"""Opening an account: the sign-up form and the e-mail address's confirmation."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from storefleet.runtime.storefront.answers import readable
from storefleet.runtime.storefront.pages.account.deps import AccountPagesDep
from storefleet.runtime.storefront.pages.account.oidc import oidc_start

router = APIRouter()


@router.get("/account/sign-up", response_class=HTMLResponse, include_in_schema=False)
async def sign_up_page(request: Request, pages: AccountPagesDep) -> Response:
    if pages.oidc_mode:
        return await oidc_start(request, pages)
    session = await pages.sessions.load_or_start(request)
    return await pages.page(request, "account_sign_up.html", session, email="", name="")


@router.post("/account/sign-up", include_in_schema=False)
async def sign_up(request: Request, pages: AccountPagesDep) -> Response:
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
            error=readable(answer),
            email=email,
            name=name,
        )
    return await pages.page(request, "account_check_inbox.html", session, email=email)


@router.get("/account/verify", response_class=HTMLResponse, include_in_schema=False)
async def verify_page(request: Request, pages: AccountPagesDep) -> Response:
    # A button, not the GET itself: mail scanners open links.
    session = await pages.sessions.load_or_start(request)
    token = request.query_params.get("token", "")[:4096]
    return await pages.page(request, "account_verify.html", session, token=token)


@router.post("/account/verify", include_in_schema=False)
async def verify(request: Request, pages: AccountPagesDep) -> Response:
    session, form = await pages.form(request)
    answer = await pages.accounts.post("/verify-email", json={"token": form.get("token", "")})
    if answer.status_code != 200:
        return await pages.page(
            request,
            "account_verify.html",
            session,
            status_code=400,
            error=readable(answer),
            token="",
        )
    return pages.go("/account/sign-in", flash="Your address is confirmed. Sign in below.")
