"""Signing in at the store's Keycloak realm: the authorization request and
the callback, for shoppers (``/account``) and staff (``/admin``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from storefleet.runtime.platform.identity.oidc import OidcError
from storefleet.runtime.platform.identity.tokens import authenticator_of
from storefleet.runtime.storefront.pages.account.deps import AccountPagesDep
from storefleet.runtime.storefront.viewers import AccountPages, safe_next

router = APIRouter()


async def oidc_start(request: Request, pages: AccountPagesDep) -> Response:
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
            callback_url(pages, request, client_id), idp_hint=idp
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


def callback_url(pages: AccountPages, request: Request, client_id: str) -> str:
    """Under the path the realm allows for the client (the operator registers
    ``/admin/*`` for the admin console, ``/*`` for the storefront)."""
    base = pages.settings.public_url or str(request.base_url)
    staff = client_id == pages.settings.admin_oidc_client_id
    return base.rstrip("/") + ("/admin/oidc/callback" if staff else "/account/oidc/callback")


router.add_api_route("/account/oidc/start", oidc_start, methods=["GET"], include_in_schema=False)


@router.get("/account/oidc/callback", include_in_schema=False)
@router.get("/admin/oidc/callback", include_in_schema=False)
async def oidc_callback(request: Request, pages: AccountPagesDep) -> Response:
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
            params["code"], callback_url(pages, request, flow["client"]), flow["verifier"]
        )
    except OidcError:
        raise StarletteHTTPException(400, "Signing in didn't work; please try again.") from None
    principal = await authenticator_of(pages.app).authenticate(tokens["access_token"])
    if principal is None:
        raise StarletteHTTPException(400, "Signing in didn't work; please try again.")
    fresh = await pages.signed_in(request, session, tokens, mode="oidc", client=flow["client"])
    # The realm knows the person; the store's own records (addresses,
    # preferences, the customer list) start at their first sign-in.
    await pages.accounts.get("/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    response = pages.go(safe_next(flow.get("next")), flash="You're signed in.")
    pages.sessions.set_cookie(response, fresh)
    return response
