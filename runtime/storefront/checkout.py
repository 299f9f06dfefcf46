"""Storefront pages for checkout, order confirmation, history, tracking and returns.

Pages are rendered from the orders and payments APIs like the rest of the
shop. Card details posted to the checkout go straight to the payments
service's tokenizer (the sandbox's, in test mode) and are neither kept nor
logged here; only the token travels on. A guest's orders are remembered in a
cookie (order id and e-mail, which is what the orders API asks of a guest).
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import Field
from pydantic_settings import SettingsConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from storefleet.runtime.platform.config.settings import upstream_url
from storefleet.runtime.platform.resilience.calls import CircuitBreaker, ServiceClient
from storefleet.runtime.platform.web.errors import UpstreamUnavailable
from storefleet.runtime.storefront.settings import StorefrontSettings

ORDERS_COOKIE = "sf_orders"
# The orders service's default express surcharge (it decides; the page shows it).
EXPRESS_SURCHARGE_MINOR = 995
ORDER_ID = re.compile(r"^[0-9a-f]{32}$")
KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,100}$")
COUNTRIES = {
    "AT": "Austria",
    "BE": "Belgium",
    "CH": "Switzerland",
    "DE": "Germany",
    "ES": "Spain",
    "FR": "France",
    "GB": "United Kingdom",
    "IT": "Italy",
    "NL": "Netherlands",
    "US": "United States",
}
TEST_TOKENS = {
    "tok_visa": "approved",
    "tok_chargeDeclined": "declined",
    "tok_threeDSecureRequired": "asks for 3-D Secure",
}
CANCEL_REASONS = {
    "payment_declined": "Your card was declined. Please try another card.",
    "payment_failed": "The payment didn't go through. Please try another card.",
    "payment_unavailable": "We couldn't reach the payment provider. Please try again shortly.",
    "payment_not_completed": "The card check wasn't completed in time.",
    "out_of_stock": "Some items sold out while you were checking out.",
    "reservation_expired": "Your items' hold ran out. Please check out again.",
    "rejected_in_review": "We couldn't accept this order.",
    "fraud_blocked": "We couldn't accept this payment. Please contact us.",
}


class CheckoutSettings(StorefrontSettings):
    """Where the storefront finds the orders and payments services."""

    model_config = SettingsConfigDict(env_prefix="STOREFLEET_STOREFRONT_", extra="ignore")

    orders_url: str = Field(default_factory=lambda: upstream_url("orders", 8004))
    payments_url: str = Field(default_factory=lambda: upstream_url("payments", 8005))
    # Where the shopper's browser reaches the payments service (3-D Secure pages).
    payments_public_path: str = "/api/payments"


Render = Callable[..., Awaitable[HTMLResponse]]
Redirect = Callable[..., RedirectResponse]


def remembered(request: Request) -> dict[str, str]:
    """The guest's recent orders: id -> e-mail, newest first."""
    try:
        data = json.loads(request.cookies.get(ORDERS_COOKIE, "[]"))
    except ValueError:
        return {}
    if not isinstance(data, list):
        return {}
    return {
        str(item[0]): str(item[1])
        for item in data[:20]
        if isinstance(item, list) and len(item) == 2 and ORDER_ID.match(str(item[0]))
    }


def remember(request: Request, response: Response, order_id: str, email: str, max_age: int) -> None:
    orders = {order_id: email, **remembered(request)}
    value = json.dumps([[key, value] for key, value in list(orders.items())[:20]])
    response.set_cookie(
        ORDERS_COOKIE, value, max_age=max_age, httponly=True, samesite="lax", path="/"
    )


def register(
    app: FastAPI,
    *,
    render: Render,
    redirect: Redirect,
    read_form: Callable[[Request], Awaitable[dict[str, str]]],
    cart: ServiceClient,
    cart_headers: Callable[[Request], dict[str, str]],
    settings: StorefrontSettings,
    transports: dict[str, httpx.AsyncBaseTransport] | None = None,
) -> None:
    config = settings if isinstance(settings, CheckoutSettings) else CheckoutSettings()

    def client(name: str, url: str) -> ServiceClient:
        return ServiceClient(
            name,
            url,
            timeout=max(config.http_timeout_seconds, 15.0),
            retries=0,
            breaker=CircuitBreaker(
                name,
                failure_threshold=config.breaker_failure_threshold,
                reset_timeout=config.breaker_reset_seconds,
            ),
            transport=(transports or {}).get(name),
        )

    orders = client("orders", config.orders_url)
    payments = client("payments", config.payments_url)

    inner_lifespan = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(scope_app: Any) -> AsyncIterator[None]:
        async with inner_lifespan(scope_app):
            try:
                yield
            finally:
                await orders.close()
                await payments.close()

    app.router.lifespan_context = lifespan

    async def cart_now(request: Request) -> dict[str, Any] | None:
        if not request.cookies.get(settings.cookie_name):
            return None
        try:
            response = await cart.get("/cart", headers=cart_headers(request))
        except UpstreamUnavailable:
            return None
        body: dict[str, Any] = response.json()
        return body if response.status_code == 200 else None

    async def checkout_page(
        request: Request, form: dict[str, str], error: str = "", status_code: int = 200
    ) -> Response:
        summary = await cart_now(request)
        if not summary or not summary["lines"]:
            return redirect("/cart", "Your cart is empty.")
        return await render(
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

    @app.get("/checkout", response_class=HTMLResponse, include_in_schema=False)
    async def checkout_form(request: Request) -> Response:
        return await checkout_page(request, {"country": "DE", "shipping_method": "standard"})

    async def token_for(form: dict[str, str]) -> tuple[str | None, str]:
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
        answer = await payments.post(
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

    @app.post("/checkout", include_in_schema=False)
    async def place_order(request: Request) -> Response:
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
        cart_id = request.cookies.get(settings.cookie_name, "")
        if not ORDER_ID.match(cart_id):
            return redirect("/cart", "Your cart is empty.")
        token, problem = await token_for(form)
        if token is None:
            return await checkout_page(request, safe_form, problem, 422)
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
            "shipping_method": "express"
            if form.get("shipping_method") == "express"
            else "standard",
            "payment": {"token": token},
        }
        pages = getattr(app.state, "account_pages", None)
        shopper = await pages.bearer(request) if pages is not None else {}
        answer = await orders.post(
            "/checkout",
            json=body,
            headers={"X-Cart-Id": cart_id, "Idempotency-Key": key, **shopper},
        )
        if answer.status_code == 409:
            return redirect("/cart", answer.json().get("detail", "Your cart needs attention."))
        if answer.status_code == 422:
            return await checkout_page(request, safe_form, explain(answer.json()), 422)
        if answer.status_code >= 400:
            detail = answer.json().get("detail", "") if answer.content else ""
            return await checkout_page(
                request, safe_form, detail or "Checkout failed; please try again.", 503
            )
        order = answer.json()
        if order["status"] == "cancelled":
            message = CANCEL_REASONS.get(order["cancel_reason"], "The order could not be placed.")
            # A new attempt is a new order: a fresh key.
            return await checkout_page(
                request, safe_form | {"idempotency_key": uuid.uuid4().hex}, message, 402
            )
        if order["next_action_url"]:
            back = f"/orders/{order['id']}/payment-return"
            target = order["next_action_url"]
            if target.startswith("/") and not target.startswith(config.payments_public_path):
                target = config.payments_public_path + target
            response: Response = RedirectResponse(
                f"{target}?{urlencode({'return_to': back})}", status_code=303
            )
        else:
            response = redirect(f"/orders/{order['id']}", "Thank you! Your order is placed.")
        remember(request, response, order["id"], order["email"], settings.cart_cookie_max_age)
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

    async def fetch_order(request: Request, order_id: str) -> dict[str, Any]:
        email = remembered(request).get(order_id) or request.query_params.get("email", "")
        if not ORDER_ID.match(order_id) or not email:
            raise StarletteHTTPException(404)
        answer = await orders.get(f"/orders/{order_id}", params={"email": email[:320]})
        if answer.status_code != 200:
            raise StarletteHTTPException(404)
        order: dict[str, Any] = answer.json()
        return order

    @app.get("/orders", response_class=HTMLResponse, include_in_schema=False)
    async def order_history(request: Request) -> Response:
        found: list[dict[str, Any]] = []
        for order_id, email in remembered(request).items():
            answer = await orders.get(f"/orders/{order_id}", params={"email": email})
            if answer.status_code == 200:
                found.append(answer.json())
        return await render(request, "orders.html", orders=found)

    @app.post("/orders/track", include_in_schema=False)
    async def track(request: Request) -> Response:
        form = await read_form(request)
        order_id, email = form.get("order_id", "").strip().lower(), form.get("email", "").strip()
        if not ORDER_ID.match(order_id) or not email:
            return redirect("/orders", "Enter the order number and the e-mail it was placed with.")
        answer = await orders.get(f"/orders/{order_id}", params={"email": email[:320]})
        if answer.status_code != 200:
            return redirect("/orders", "We couldn't find an order with those details.")
        response = redirect(f"/orders/{order_id}")
        remember(request, response, order_id, email, settings.cart_cookie_max_age)
        return response

    @app.get("/orders/{order_id}", response_class=HTMLResponse, include_in_schema=False)
    async def order_page(request: Request, order_id: str) -> Response:
        order = await fetch_order(request, order_id)
        return await render(
            request, "order.html", order=order, reasons=CANCEL_REASONS, countries=COUNTRIES
        )

    @app.get("/orders/{order_id}/payment-return", include_in_schema=False)
    async def payment_return(request: Request, order_id: str) -> Response:
        order = await fetch_order(request, order_id)
        email = remembered(request).get(order_id, order["email"])
        await orders.post(f"/orders/{order_id}/payment-return", params={"email": email}, json=None)
        return redirect(f"/orders/{quote(order_id)}")

    @app.post("/orders/{order_id}/return", include_in_schema=False)
    async def request_return(request: Request, order_id: str) -> Response:
        order = await fetch_order(request, order_id)
        form = await read_form(request)
        lines = []
        for line in order["lines"]:
            raw = form.get(f"qty_{line['sku']}", "0")
            quantity = int(raw) if raw.isdigit() else 0
            if quantity > 0:
                lines.append({"sku": line["sku"], "quantity": min(quantity, 1000)})
        if not lines:
            return redirect(f"/orders/{order_id}", "Choose at least one item to return.")
        answer = await orders.post(
            f"/orders/{order_id}/returns",
            params={"email": order["email"]},
            json={"lines": lines, "reason": form.get("reason", "")[:500]},
        )
        if answer.status_code != 201:
            detail = answer.json().get("detail", "") if answer.content else ""
            return redirect(f"/orders/{order_id}", detail or "The return could not be requested.")
        return redirect(
            f"/orders/{order_id}", "Return requested. We'll refund you once it arrives."
        )
