"""The shopper's address book."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from storefleet.runtime.storefront.answers import readable
from storefleet.runtime.storefront.pages.account.deps import AccountPagesDep, ViewerDep

FIELDS = ("label", "name", "line1", "line2", "city", "postal_code", "country", "phone")

router = APIRouter()


@router.get("/account/addresses", response_class=HTMLResponse, include_in_schema=False)
async def addresses_page(request: Request, pages: AccountPagesDep, viewer: ViewerDep) -> Response:
    if viewer is None:
        return pages.to_sign_in(request)
    listed = await pages.api(viewer, "GET", "/me/addresses")
    if listed.status_code == 403:
        return pages.go("/account/mfa/setup", flash=readable(listed))
    return await pages.page(
        request,
        "account_addresses.html",
        viewer.session,
        addresses=listed.json() if listed.status_code == 200 else [],
        values={},
    )


@router.post("/account/addresses", include_in_schema=False)
async def add_address(request: Request, pages: AccountPagesDep) -> Response:
    _, form = await pages.form(request)
    viewer = await pages.viewer(request)
    if viewer is None:
        return pages.to_sign_in(request)
    body: dict[str, Any] = {key: form.get(key, "").strip() for key in FIELDS}
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
            error=readable(answer),
            addresses=listed.json() if listed.status_code == 200 else [],
            values=body,
        )
    return pages.go("/account/addresses", flash="Address saved.")


@router.post("/account/addresses/{address_id}/delete", include_in_schema=False)
async def delete_address(request: Request, address_id: str, pages: AccountPagesDep) -> Response:
    _, _form = await pages.form(request)
    viewer = await pages.viewer(request)
    if viewer is None:
        return pages.to_sign_in(request)
    answer = await pages.api(viewer, "DELETE", f"/me/addresses/{quote(address_id, safe='')}")
    flash = "Address removed." if answer.status_code == 204 else readable(answer)
    return pages.go("/account/addresses", flash=flash)
