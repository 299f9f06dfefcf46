"""A vendor's public page with its ratings, and rating it (for those who
bought from it; the vendors service decides)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from storefleet.runtime.platform.web.errors import UpstreamUnavailable
from storefleet.runtime.storefront.answers import readable
from storefleet.runtime.storefront.form_values import whole
from storefleet.runtime.storefront.pages.account.deps import AccountPagesDep
from storefleet.runtime.storefront.pages.vendor.portal import VENDOR_ID, VendorsDep, bearer

router = APIRouter()


@router.get("/vendors/{vendor_id}", response_class=HTMLResponse, include_in_schema=False)
async def vendor_page(
    request: Request, vendor_id: str, pages: AccountPagesDep, vendors: VendorsDep
) -> Response:
    if not VENDOR_ID.match(vendor_id):
        raise StarletteHTTPException(404)
    try:
        answer = await vendors.get(f"/vendors/{vendor_id}/reviews", params={"limit": 50})
    except UpstreamUnavailable as exc:
        raise StarletteHTTPException(503, "The vendor service is not answering.") from exc
    if answer.status_code != 200:
        raise StarletteHTTPException(404)
    viewer = await pages.viewer(request)
    session = viewer.session if viewer else await pages.sessions.load(request)
    return await pages.page(
        request, "vendor_public.html", session, reviews=answer.json(), signed_in=bool(viewer)
    )


@router.post("/vendors/{vendor_id}/reviews", include_in_schema=False)
async def rate(
    request: Request, vendor_id: str, pages: AccountPagesDep, vendors: VendorsDep
) -> Response:
    _, form = await pages.form(request)
    if not VENDOR_ID.match(vendor_id):
        raise StarletteHTTPException(404)
    viewer = await pages.viewer(request)
    if viewer is None:
        return pages.to_sign_in(request)
    answer = await vendors.request(
        "PUT",
        f"/vendors/{vendor_id}/reviews/mine",
        json={
            "rating": whole(form.get("rating", ""), default=0),
            "comment": form.get("comment", "")[:2000],
            "author": form.get("author", "")[:100],
        },
        headers=bearer(viewer),
    )
    flash = "Thank you for your rating." if answer.status_code == 200 else readable(answer)
    return pages.go(f"/vendors/{vendor_id}", flash=flash)
