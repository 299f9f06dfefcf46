"""The console's front page: the last days' sales, funnel and top products."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from storefleet.runtime.platform.identity.permissions import allows
from storefleet.runtime.platform.resilience.client import ServiceClient
from storefleet.runtime.platform.web.errors import UpstreamUnavailable
from storefleet.runtime.storefront.answers import readable
from storefleet.runtime.storefront.pages.account.deps import AccountPagesDep
from storefleet.runtime.storefront.pages.admin.console import AnalyticsDep, bearer, show, staff
from storefleet.runtime.storefront.viewers import Viewer

# The analytics service's reports are guarded by this permission.
REPORTS_PERMISSION = "reports:read"
DASHBOARD_DAYS = 30

router = APIRouter()


@router.get("/admin", response_class=HTMLResponse, include_in_schema=False)
async def dashboard(request: Request, pages: AccountPagesDep, analytics: AnalyticsDep) -> Response:
    viewer = await staff(pages, request)
    if not isinstance(viewer, Viewer):
        return viewer
    figures: dict[str, Any] = {}
    if allows(viewer.roles, REPORTS_PERMISSION):
        figures = await last_days(analytics, viewer)
    return await show(
        pages, request, viewer, "admin_dashboard.html", "", days=DASHBOARD_DAYS, **figures
    )


async def last_days(analytics: ServiceClient, viewer: Viewer) -> dict[str, Any]:
    """The analytics service's figures for the last days; an empty dict when
    it does not answer (the dashboard then says so, and still renders)."""
    today = dt.datetime.now(dt.UTC).date()
    period = {"from": str(today - dt.timedelta(days=DASHBOARD_DAYS - 1)), "to": str(today)}
    try:
        sales = await analytics.get("/reports/sales", params=period, headers=bearer(viewer))
        funnel = await analytics.get("/reports/funnel", params=period, headers=bearer(viewer))
        top = await analytics.get(
            "/reports/top-products", params={**period, "limit": 5}, headers=bearer(viewer)
        )
    except UpstreamUnavailable:
        return {"reports_error": "Sales figures are not available right now."}
    for answer in (sales, funnel, top):
        if answer.status_code != 200:
            return {"reports_error": readable(answer)}
    return {
        "sales": sales.json().get("totals", []),
        "funnel": funnel.json(),
        "top_products": top.json().get("items", []),
    }
