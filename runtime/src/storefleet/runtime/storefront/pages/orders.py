"""A shopper's orders: the history (the guest's remembered orders), tracking
one by number and e-mail, an order's page, the return from a card check, and
asking for a return."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from storefleet.runtime.storefront.ordering import (
    CANCEL_REASONS,
    COUNTRIES,
    ORDER_ID,
    Ordering,
    remember,
    remembered,
)
from storefleet.runtime.storefront.pages.deps import OrderingDep, SiteDep
from storefleet.runtime.storefront.site import read_form, redirect

router = APIRouter()


async def fetch_order(ordering: Ordering, request: Request, order_id: str) -> dict[str, Any]:
    email = remembered(request).get(order_id) or request.query_params.get("email", "")
    if not ORDER_ID.match(order_id) or not email:
        raise StarletteHTTPException(404)
    answer = await ordering.orders.get(f"/orders/{order_id}", params={"email": email[:320]})
    if answer.status_code != 200:
        raise StarletteHTTPException(404)
    order: dict[str, Any] = answer.json()
    return order


@router.get("/orders", response_class=HTMLResponse, include_in_schema=False)
async def order_history(request: Request, site: SiteDep, ordering: OrderingDep) -> Response:
    found: list[dict[str, Any]] = []
    for order_id, email in remembered(request).items():
        answer = await ordering.orders.get(f"/orders/{order_id}", params={"email": email})
        if answer.status_code == 200:
            found.append(answer.json())
    return await site.render(request, "orders.html", orders=found)


@router.post("/orders/track", include_in_schema=False)
async def track(request: Request, site: SiteDep, ordering: OrderingDep) -> Response:
    form = await read_form(request)
    order_id, email = form.get("order_id", "").strip().lower(), form.get("email", "").strip()
    if not ORDER_ID.match(order_id) or not email:
        return redirect("/orders", "Enter the order number and the e-mail it was placed with.")
    answer = await ordering.orders.get(f"/orders/{order_id}", params={"email": email[:320]})
    if answer.status_code != 200:
        return redirect("/orders", "We couldn't find an order with those details.")
    response = redirect(f"/orders/{order_id}")
    remember(request, response, order_id, email, site.settings.cart_cookie_max_age)
    return response


@router.get("/orders/{order_id}", response_class=HTMLResponse, include_in_schema=False)
async def order_page(
    request: Request, order_id: str, site: SiteDep, ordering: OrderingDep
) -> Response:
    order = await fetch_order(ordering, request, order_id)
    return await site.render(
        request, "order.html", order=order, reasons=CANCEL_REASONS, countries=COUNTRIES
    )


@router.get("/orders/{order_id}/payment-return", include_in_schema=False)
async def payment_return(request: Request, order_id: str, ordering: OrderingDep) -> Response:
    order = await fetch_order(ordering, request, order_id)
    email = remembered(request).get(order_id, order["email"])
    await ordering.orders.post(
        f"/orders/{order_id}/payment-return", params={"email": email}, json=None
    )
    return redirect(f"/orders/{quote(order_id)}")


@router.post("/orders/{order_id}/return", include_in_schema=False)
async def request_return(request: Request, order_id: str, ordering: OrderingDep) -> Response:
    order = await fetch_order(ordering, request, order_id)
    form = await read_form(request)
    lines = []
    for line in order["lines"]:
        raw = form.get(f"qty_{line['sku']}", "0")
        quantity = int(raw) if raw.isdigit() else 0
        if quantity > 0:
            lines.append({"sku": line["sku"], "quantity": min(quantity, 1000)})
    if not lines:
        return redirect(f"/orders/{order_id}", "Choose at least one item to return.")
    answer = await ordering.orders.post(
        f"/orders/{order_id}/returns",
        params={"email": order["email"]},
        json={"lines": lines, "reason": form.get("reason", "")[:500]},
    )
    if answer.status_code != 201:
        detail = answer.json().get("detail", "") if answer.content else ""
        return redirect(f"/orders/{order_id}", detail or "The return could not be requested.")
    return redirect(f"/orders/{order_id}", "Return requested. We'll refund you once it arrives.")
