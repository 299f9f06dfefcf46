"""Signing in with a password (and a TOTP code when the account has 2FA on),
and signing out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from storefleet.runtime.platform.identity.tokens import authenticator_of
from storefleet.runtime.storefront.answers import readable
from storefleet.runtime.storefront.pages.account.deps import AccountPagesDep
from storefleet.runtime.storefront.pages.account.oidc import oidc_start
from storefleet.runtime.storefront.viewers import safe_next

router = APIRouter()


@router.get("/account/sign-in", response_class=HTMLResponse, include_in_schema=False)
async def sign_in_page(request: Request, pages: AccountPagesDep) -> Response:
    if pages.oidc_mode:
        return await oidc_start(request, pages)
    session = await pages.sessions.load_or_start(request)
    next_ = safe_next(request.query_params.get("next"))
    return await pages.page(request, "account_sign_in.html", session, next=next_, email="")


@router.post("/account/sign-in", include_in_schema=False)
async def sign_in(request: Request, pages: AccountPagesDep) -> Response:
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
            error=readable(answer),
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


@router.get("/account/mfa", response_class=HTMLResponse, include_in_schema=False)
async def mfa_page(request: Request, pages: AccountPagesDep) -> Response:
    session = await pages.sessions.load(request)
    if session is None or not session.data.get("pending"):
        return pages.go("/account/sign-in")
    return await pages.page(request, "account_mfa.html", session)


@router.post("/account/mfa", include_in_schema=False)
async def mfa_answer(request: Request, pages: AccountPagesDep) -> Response:
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
            error=readable(answer),
        )
    fresh = await pages.signed_in(request, session, answer.json(), mode="embedded")
    response = pages.go(safe_next(str(pending.get("next"))), flash="You're signed in.")
    pages.sessions.set_cookie(response, fresh)
    return response


@router.post("/account/sign-out", include_in_schema=False)
async def sign_out(request: Request, pages: AccountPagesDep) -> Response:
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
