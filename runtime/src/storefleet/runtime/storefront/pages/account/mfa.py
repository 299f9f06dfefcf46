"""Two-factor authentication: enrolling an authenticator, its recovery codes,
turning it off. In realm (OIDC) mode the realm's own pages do this."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from storefleet.runtime.storefront.answers import readable
from storefleet.runtime.storefront.pages.account.deps import AccountPagesDep, ViewerDep

router = APIRouter()


@router.get("/account/mfa/setup", response_class=HTMLResponse, include_in_schema=False)
async def mfa_setup_page(request: Request, pages: AccountPagesDep, viewer: ViewerDep) -> Response:
    if viewer is None:
        return pages.to_sign_in(request)
    if pages.oidc_mode:
        # The realm's own pages enrol authenticators (its OTP policy applies).
        return pages.go("/account", flash="Two-factor settings are on the sign-in pages.")
    answer = await pages.api(viewer, "POST", "/me/mfa")
    if answer.status_code == 409:
        return pages.go("/account", flash="Two-factor authentication is already on.")
    if answer.status_code != 200:
        raise StarletteHTTPException(400, readable(answer))
    return await pages.page(
        request, "account_mfa_setup.html", viewer.session, enrolment=answer.json()
    )


@router.post("/account/mfa/setup", include_in_schema=False)
async def mfa_setup(request: Request, pages: AccountPagesDep) -> Response:
    _, form = await pages.form(request)
    viewer = await pages.viewer(request)
    if viewer is None:
        return pages.to_sign_in(request)
    answer = await pages.api(viewer, "POST", "/me/mfa/confirm", {"code": form.get("code", "")})
    if answer.status_code != 200:
        return pages.go("/account/mfa/setup", flash=readable(answer))
    # New tokens carry the rights a pending enrolment withheld.
    await pages.refresh(viewer.session)
    return await pages.page(
        request,
        "account_recovery_codes.html",
        viewer.session,
        codes=answer.json()["recovery_codes"],
    )


@router.post("/account/mfa/disable", include_in_schema=False)
async def mfa_disable(request: Request, pages: AccountPagesDep) -> Response:
    _, form = await pages.form(request)
    viewer = await pages.viewer(request)
    if viewer is None:
        return pages.to_sign_in(request)
    answer = await pages.api(viewer, "POST", "/me/mfa/disable", {"code": form.get("code", "")})
    message = "Two-factor authentication is off." if answer.status_code == 204 else None
    return pages.go("/account", flash=message or readable(answer))
