"""The checkout: the form, and placing the order.

Card details posted here go straight to the payments service's tokenizer (the
sandbox's, in test mode) and are neither kept nor logged; only the token
travels on. A placed order is remembered in the guest's orders cookie."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from storefleet.runtime.platform.web.errors import UpstreamUnavailable
from storefleet.runtime.storefront.ordering import (
    CANCEL_REASONS,
    COUNTRIES,
    EXPRESS_SURCHARGE_MINOR,
    KEY,
    ORDER_ID,
    TEST_TOKENS,
    Ordering,
    remember,
)
from storefleet.runtime.storefront.pages.deps import OrderingDep, SiteDep
from storefleet.runtime.storefront.site import Site, read_form, redirect

router = APIRouter()


async def cart_now(site: Site, request: Request) -> dict[str, Any] | None:
    if not request.cookies.get(site.settings.cookie_name):
        return None
    try:
        response = await site.cart.get("/cart", headers=site.cart_headers(request))
    except UpstreamUnavailable:
        return None
    body: dict[str, Any] = response.json()
    return body if response.status_code == 200 else None


async def checkout_page(
    site: Site, request: Request, form: dict[str, str], error: str = "", status_code: int = 200
) -> Response:
    summary = await cart_now(site, request)
    if not summary or not summary["lines"]:
        return redirect("/cart", "Your cart is empty.")
    return await site.render(
        request,
        "checkout.html",
        status_code,
        cart=summary,
        form=form,
        error=error,
        countries=COUNTRIES,
        test_tokens=TEST_TOKENS,
        express_minor=EXPRESS_SURCHARGE_MINOR,
        idempotency_key=form.get("idempotency_key") or uuid.uuid4().hex,
    )


@router.get("/checkout", response_class=HTMLResponse, include_in_schema=False)
async def checkout_form(request: Request, site: SiteDep) -> Response:
    return await checkout_page(site, request, {"country": "DE", "shipping_method": "standard"})


async def token_for(ordering: Ordering, form: dict[str, str]) -> tuple[str | None, str]:
    """The card token: as entered, or from the card details via the tokenizer."""
    number = "".join(form.get("card_number", "").split())
    if not number:
        token = form.get("card_token", "").strip()
        return (token, "") if token else (None, "Enter a card number or a card token.")
    try:
        month, year = int(form.get("exp_month", "")), int(form.get("exp_year", ""))
    except ValueError:
        return None, "Enter the card's expiry month and year."
    if year < 100:
        year += 2000
    answer = await ordering.payments.post(
        "/tokens",
        json={
            "number": number[:23],
            "exp_month": month,
            "exp_year": year,
            "cvc": form.get("cvc", "")[:4],
        },
    )
    if answer.status_code != 201:
        detail = answer.json().get("detail", "") if answer.content else ""
        return None, f"Check the card details: {detail}".strip()
    return str(answer.json()["token"]), ""


@router.post("/checkout", include_in_schema=False)
async def place_order(request: Request, site: SiteDep, ordering: OrderingDep) -> Response:
    form = await read_form(request)
    # The card's number and code are never echoed back into the page.
    safe_form = {
        key: value
        for key, value in form.items()
        if key not in {"card_number", "cvc", "exp_month", "exp_year"}
    }
    key = form.get("idempotency_key", "")
    if not KEY.match(key):
        key = uuid.uuid4().hex
        safe_form["idempotency_key"] = key
    cart_id = request.cookies.get(site.settings.cookie_name, "")
    if not ORDER_ID.match(cart_id):
        return redirect("/cart", "Your cart is empty.")
    token, problem = await token_for(ordering, form)
    if token is None:
        return await checkout_page(site, request, safe_form, problem, 422)
    country = form.get("country", "")
    body: dict[str, Any] = {
        "email": form.get("email", "").strip(),
        "shipping_address": {
            "name": form.get("name", "").strip(),
            "line1": form.get("line1", "").strip(),
            "line2": form.get("line2", "").strip(),
            "city": form.get("city", "").strip(),
            "postal_code": form.get("postal_code", "").strip(),
            "country": country,
        },
        "billing_country": form.get("billing_country") or country,
        "shipping_method": "express" if form.get("shipping_method") == "express" else "standard",
        "payment": {"token": token},
    }
    pages = getattr(request.app.state, "account_pages", None)
    shopper = await pages.bearer(request) if pages is not None else {}
    answer = await ordering.orders.post(
        "/checkout",
        json=body,
        headers={"X-Cart-Id": cart_id, "Idempotency-Key": key, **shopper},
    )
    if answer.status_code == 409:
        return redirect("/cart", answer.json().get("detail", "Your cart needs attention."))
    if answer.status_code == 422:
        return await checkout_page(site, request, safe_form, explain(answer.json()), 422)
    if answer.status_code >= 400:
        detail = answer.json().get("detail", "") if answer.content else ""
        return await checkout_page(
            site, request, safe_form, detail or "Checkout failed; please try again.", 503
        )
    order = answer.json()
    if order["status"] == "cancelled":
        message = CANCEL_REASONS.get(order["cancel_reason"], "The order could not be placed.")
        # A new attempt is a new order: a fresh key.
        return await checkout_page(
            site, request, safe_form | {"idempotency_key": uuid.uuid4().hex}, message, 402
        )
    if order["next_action_url"]:
        back = f"/orders/{order['id']}/payment-return"
        target = order["next_action_url"]
        public_path = ordering.config.payments_public_path
        if target.startswith("/") and not target.startswith(public_path):
            target = public_path + target
        response: Response = RedirectResponse(
            f"{target}?{urlencode({'return_to': back})}", status_code=303
        )
    else:
        response = redirect(f"/orders/{order['id']}", "Thank you! Your order is placed.")
    remember(request, response, order["id"], order["email"], site.settings.cart_cookie_max_age)
    return response


def explain(problem: dict[str, Any]) -> str:
    fields = {
        "email": "e-mail",
        "name": "name",
        "line1": "address",
        "city": "city",
        "postal_code": "postal code",
        "country": "country",
        "billing_country": "billing country",
    }
    names = sorted(
        {
            fields[str(error["loc"][-1])]
            for error in problem.get("errors", [])
            if error.get("loc") and str(error["loc"][-1]) in fields
        }
    )
    if names:
        return "Please check: " + ", ".join(names) + "."
    return str(problem.get("detail", "Please check the form."))
