"""What every console page shares: who may open which section, the staff
member's token for the services' admin APIs, and the page around a section."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import Response
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from storefleet.runtime.platform.config.settings import upstream_url
from storefleet.runtime.platform.identity.permissions import STAFF, allows
from storefleet.runtime.platform.resilience.client import ServiceClient
from storefleet.runtime.storefront.viewers import AccountPages, Viewer

SECTIONS = [
    ("catalog", "Catalog", "catalog:write"),
    ("orders", "Orders", "orders:read"),
    ("promotions", "Promotions", "promotions:read"),
    ("customers", "Customers", "customers:read"),
    ("settings", "Settings", "settings:manage"),
]


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STOREFLEET_STOREFRONT_", extra="ignore")

    analytics_url: str = Field(default_factory=lambda: upstream_url("analytics", 8008))


def analytics(request: Request) -> ServiceClient:
    found: ServiceClient = request.app.state.analytics
    return found


AnalyticsDep = Annotated[ServiceClient, Depends(analytics)]


def sections(pages: AccountPages, viewer: Viewer) -> list[tuple[str, str]]:
    # The orders section appears once the storefront knows where orders are.
    return [
        (key, label)
        for key, label, permission in SECTIONS
        if allows(viewer.roles, permission) and (key != "orders" or pages.orders is not None)
    ]


async def staff(
    pages: AccountPages, request: Request, permission: str | None = None
) -> Viewer | Response:
    """The signed-in staff member, or where to sign in; 403 for anyone else."""
    viewer = await pages.viewer(request)
    if viewer is None:
        if pages.oidc_mode:
            here = quote(request.url.path, safe="")
            return pages.go(f"/account/oidc/start?client=admin-console&next={here}")
        return pages.to_sign_in(request)
    if not viewer.roles & STAFF or (permission and not allows(viewer.roles, permission)):
        raise StarletteHTTPException(403, "Your role can't open this part of the console.")
    return viewer


def bearer(viewer: Viewer) -> dict[str, str]:
    return {"Authorization": f"Bearer {viewer.session.data['access']}"}


async def show(
    pages: AccountPages,
    request: Request,
    viewer: Viewer,
    template: str,
    section: str,
    **context: Any,
) -> Response:
    return await pages.page(
        request,
        template,
        viewer.session,
        sections=sections(pages, viewer),
        section=section,
        viewer_email=viewer.email,
        **context,
    )
