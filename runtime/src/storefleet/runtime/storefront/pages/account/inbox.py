"""The signed-in shopper's in-app stream: where their pages' script opens it."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from storefleet.runtime.storefront.pages.account.deps import AccountPagesDep
from storefleet.runtime.storefront.viewers import INBOX_FEED

router = APIRouter()


@router.get(INBOX_FEED, include_in_schema=False)
async def inbox_feed(request: Request, pages: AccountPagesDep) -> Response:
    # Only this site's own scripts can read the answer (no CORS headers), and
    # it is never cached: it carries the shopper's access token.
    settings = pages.settings
    no_store = {"Cache-Control": "no-store"}
    viewer = await pages.viewer(request) if settings.inbox_stream_url else None
    if viewer is None:
        return JSONResponse({"detail": "sign in first"}, status_code=401, headers=no_store)
    query = urlencode({"access_token": str(viewer.session.data["access"])})
    return JSONResponse({"url": f"{settings.inbox_stream_url}?{query}"}, headers=no_store)
