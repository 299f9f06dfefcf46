"""The analytics HTTP API: staff-only reports over a period of days.

``from`` and ``to`` are ISO dates (inclusive) in the report time zone; ``to``
defaults to today and ``from`` to the default period ending at ``to``. One
module-level router; a route reaches the app's ``AnalyticsService`` through
``Analytics``, and the router's permission check is ``guard``'s, which the app
builds with its settings.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BeforeValidator

from storefleet.runtime.analytics import schemas as s
from storefleet.runtime.analytics.service import AnalyticsService
from storefleet.runtime.platform.identity.permissions import RouteGuards
from storefleet.runtime.platform.web.errors import PROBLEM_RESPONSES

# Revenue is payments data: whoever may read payments may read the reports.
REPORTS_PERMISSION: Final = "reports:read"

ISO_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date(value: Any) -> Any:
    # Lax parsing would read "0" as a Unix timestamp (1970-01-01): a report for
    # a day nobody asked for. Only YYYY-MM-DD is a date here.
    if isinstance(value, str) and not ISO_DATE.match(value):
        raise ValueError("must be an ISO date, YYYY-MM-DD")
    return value


Day = Annotated[dt.date, BeforeValidator(_iso_date)]
From = Annotated[Day | None, Query(alias="from", description="First day (ISO date), inclusive")]
To = Annotated[
    Day | None, Query(alias="to", description="Last day (ISO date), inclusive; default today")
]
Currency = Annotated[
    str | None, Query(pattern=r"^[A-Z]{3}$", description="Only this currency (ISO 4217)")
]


# Staff's reports, which the operator's admin token may also read.
guard = RouteGuards("analytics_checks")


def get_analytics(request: Request) -> AnalyticsService:
    analytics: AnalyticsService = request.app.state.analytics
    return analytics


Analytics = Annotated[AnalyticsService, Depends(get_analytics)]

router = APIRouter(
    prefix="/reports",
    tags=["reports"],
    dependencies=[Depends(guard(REPORTS_PERMISSION))],
    responses=PROBLEM_RESPONSES,
)


@router.get("/sales", response_model=s.SalesReport)
async def sales(
    analytics: Analytics, start: From = None, end: To = None, currency: Currency = None
) -> s.SalesReport:
    """Sales per day and currency: orders paid, units, gross, refunds, net,
    average order value; and the period's totals per currency."""
    return await analytics.sales(start, end, currency)


@router.get("/top-products", response_model=s.TopProducts)
async def top_products(
    analytics: Analytics,
    start: From = None,
    end: To = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    by: s.Ranking = "units",
    currency: Currency = None,
) -> s.TopProducts:
    """The best sellers of the period, by units sold or by revenue (one row
    per product and currency)."""
    return await analytics.top_products(start, end, by=by, limit=limit, currency=currency)


@router.get("/funnel", response_model=s.Funnel)
async def funnel(analytics: Analytics, start: From = None, end: To = None) -> s.Funnel:
    """From checkout to payment: checkouts started, orders paid and cancelled,
    failed payments, abandoned carts, and the conversion rate."""
    return await analytics.funnel(start, end)
