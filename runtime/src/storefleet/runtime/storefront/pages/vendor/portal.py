"""What every vendor portal page shares: who may open it, calling the vendors
API with the person's own token, and the page around a section."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import Response
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from storefleet.runtime.platform.config.settings import upstream_url
from storefleet.runtime.platform.identity.permissions import VENDOR_ADMIN, VENDOR_STAFF
from storefleet.runtime.platform.resilience.client import ServiceClient
from storefleet.runtime.platform.web.errors import UpstreamUnavailable
from storefleet.runtime.storefront.answers import readable
from storefleet.runtime.storefront.viewers import AccountPages, Viewer

VENDOR_ID = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
SUBORDER_ID = re.compile(r"^[0-9a-f]{32}$")
SECTIONS = [("", "Overview"), ("products", "Products"), ("orders", "Orders")]


class VendorPortalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STOREFLEET_STOREFRONT_", extra="ignore")

    vendors_url: str = Field(default_factory=lambda: upstream_url("vendors", 8007))


def vendors(request: Request) -> ServiceClient:
    found: ServiceClient = request.app.state.vendors
    return found


VendorsDep = Annotated[ServiceClient, Depends(vendors)]


async def person(pages: AccountPages, request: Request) -> Viewer | Response:
    """The signed-in vendor admin or staff member, or where to sign in; 403 for
    anyone else."""
    viewer = await pages.viewer(request)
    if viewer is None:
        if pages.oidc_mode:
            # The storefront's client: the sign-in pages take no other
            # client than it and the admin console's yet.
            here = quote(request.url.path, safe="")
            return pages.go(f"/account/oidc/start?next={here}")
        return pages.to_sign_in(request)
    if not viewer.roles & {VENDOR_ADMIN, VENDOR_STAFF}:
        raise StarletteHTTPException(403, "The vendor portal is for vendors' staff.")
    return viewer


def bearer(viewer: Viewer) -> dict[str, str]:
    return {"Authorization": f"Bearer {viewer.session.data['access']}"}


async def call(
    vendors: ServiceClient, viewer: Viewer, method: str, path: str, json: Any = None
) -> Any:
    try:
        return await vendors.request(method, path, json=json, headers=bearer(viewer))
    except UpstreamUnavailable as exc:
        raise StarletteHTTPException(503, "The vendor service is not answering.") from exc


async def show(
    pages: AccountPages,
    vendors: ServiceClient,
    request: Request,
    viewer: Viewer,
    template: str,
    section: str,
    **context: Any,
) -> Response:
    me = await call(vendors, viewer, "GET", "/vendor/me")
    if me.status_code != 200:
        raise StarletteHTTPException(403, readable(me))
    sections = list(SECTIONS)
    if VENDOR_ADMIN in viewer.roles:
        sections.append(("payouts", "Payouts"))
    return await pages.page(
        request,
        template,
        viewer.session,
        vendor=me.json(),
        vendor_sections=sections,
        section=section,
        viewer_email=viewer.email,
        **context,
    )


async def vendor_summary(vendors: ServiceClient, vendor_id: str) -> dict[str, Any] | None:
    """A vendor's name and rating for its product pages; None if unknown."""
    if not VENDOR_ID.match(vendor_id):
        return None
    try:
        answer = await vendors.get(f"/vendors/{vendor_id}/reviews", params={"limit": 3})
    except UpstreamUnavailable:
        return None
    return dict(answer.json()) if answer.status_code == 200 else None
