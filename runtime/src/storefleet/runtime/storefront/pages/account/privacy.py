"""The shopper's own data: exporting all of it, and erasing the account."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response

from storefleet.runtime.storefront.answers import readable
from storefleet.runtime.storefront.pages.account.deps import AccountPagesDep, ViewerDep

router = APIRouter()


@router.get("/account/export", include_in_schema=False)
async def export(request: Request, pages: AccountPagesDep, viewer: ViewerDep) -> Response:
    if viewer is None:
        return pages.to_sign_in(request)
    answer = await pages.api(viewer, "GET", "/me/export")
    if answer.status_code != 200:
        return pages.go("/account", flash=readable(answer))
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


@router.post("/account/delete", include_in_schema=False)
async def delete_account(request: Request, pages: AccountPagesDep) -> Response:
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
        return pages.go("/account", flash=readable(answer))
    await pages.sessions.end(viewer.session)
    response = pages.go("/", flash="Your account is deleted.")
    pages.sessions.clear_cookie(response)
    return response
