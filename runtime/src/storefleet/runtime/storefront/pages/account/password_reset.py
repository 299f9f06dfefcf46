"""A forgotten password: asking for a reset link, and setting a new password."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from storefleet.runtime.storefront.answers import readable
from storefleet.runtime.storefront.pages.account.deps import AccountPagesDep

router = APIRouter()


@router.get("/account/password/forgot", response_class=HTMLResponse, include_in_schema=False)
async def forgot_page(request: Request, pages: AccountPagesDep) -> Response:
    session = await pages.sessions.load_or_start(request)
    return await pages.page(request, "account_forgot.html", session, sent=False)


@router.post("/account/password/forgot", include_in_schema=False)
async def forgot(request: Request, pages: AccountPagesDep) -> Response:
    session, form = await pages.form(request)
    answer = await pages.accounts.post(
        "/password/forgot", json={"email": form.get("email", "")[:320]}
    )
    if answer.status_code == 429:
        return await pages.page(
            request, "account_forgot.html", session, status_code=429, error=readable(answer)
        )
    # Whatever the address, the same page.
    return await pages.page(request, "account_forgot.html", session, sent=True)


@router.get("/account/reset", response_class=HTMLResponse, include_in_schema=False)
async def reset_page(request: Request, pages: AccountPagesDep) -> Response:
    session = await pages.sessions.load_or_start(request)
    token = request.query_params.get("token", "")[:4096]
    return await pages.page(request, "account_reset.html", session, token=token)


@router.post("/account/reset", include_in_schema=False)
async def reset(request: Request, pages: AccountPagesDep) -> Response:
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
            error=readable(answer),
            token=form.get("token", ""),
        )
    return pages.go("/account/sign-in", flash="Password changed. Sign in with it.")
