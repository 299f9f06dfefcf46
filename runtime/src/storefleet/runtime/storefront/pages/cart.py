"""The cart: its page, and the forms that add, change, remove and apply a code.

Each form posts and redirects back (post/redirect/get). The cart service names
a new cart in its answer; the cart cookie remembers it."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from storefleet.runtime.storefront.answers import problem_detail
from storefleet.runtime.storefront.pages.deps import SiteDep
from storefleet.runtime.storefront.site import Site, bounded_int, read_form, redirect

router = APIRouter()


@router.get("/cart", response_class=HTMLResponse, include_in_schema=False)
async def cart_page(request: Request, site: SiteDep) -> HTMLResponse:
    summary = await site.cart_summary(request)
    return await site.render(request, "cart.html", cart=summary)


def remember_cart(site: Site, response: Response, upstream: Any) -> None:
    cart_id = upstream.headers.get("x-cart-id")
    if cart_id:
        response.set_cookie(
            site.settings.cookie_name,
            cart_id,
            max_age=site.settings.cart_cookie_max_age,
            httponly=True,
            samesite="lax",
        )


@router.post("/cart/add", include_in_schema=False)
async def add_to_cart(request: Request, site: SiteDep) -> Response:
    form = await read_form(request)
    sku = form.get("sku", "")
    quantity = bounded_int(form.get("quantity"), 1, 1, 1000)
    back = form.get("back", "")
    upstream = await site.cart.post(
        "/cart/items", json={"sku": sku, "quantity": quantity}, headers=site.cart_headers(request)
    )
    if upstream.status_code != 200:
        target = back if back.startswith("/p/") else "/cart"
        return redirect(target, problem_detail(upstream))
    response = redirect("/cart", "Added to your cart.")
    remember_cart(site, response, upstream)
    return response


@router.post("/cart/update", include_in_schema=False)
async def update_cart(request: Request, site: SiteDep) -> Response:
    form = await read_form(request)
    sku = quote(form.get("sku", "") or "-", safe="")
    quantity = bounded_int(form.get("quantity"), 0, 0, 1000)
    upstream = await site.cart.request(
        "PUT", f"/cart/items/{sku}", json={"quantity": quantity}, headers=site.cart_headers(request)
    )
    if upstream.status_code != 200:
        return redirect("/cart", problem_detail(upstream))
    return redirect("/cart", "Your cart was updated.")


@router.post("/cart/remove", include_in_schema=False)
async def remove_from_cart(request: Request, site: SiteDep) -> Response:
    form = await read_form(request)
    sku = quote(form.get("sku", "") or "-", safe="")
    upstream = await site.cart.request(
        "DELETE", f"/cart/items/{sku}", headers=site.cart_headers(request)
    )
    if upstream.status_code != 200:
        return redirect("/cart", problem_detail(upstream))
    return redirect("/cart", "Removed from your cart.")


@router.post("/cart/promo", include_in_schema=False)
async def apply_promo(request: Request, site: SiteDep) -> Response:
    form = await read_form(request)
    headers = site.cart_headers(request)
    if form.get("action") == "remove":
        upstream = await site.cart.request("DELETE", "/cart/promo", headers=headers)
        return redirect("/cart", "Code removed." if upstream.status_code == 200 else None)
    upstream = await site.cart.post(
        "/cart/promo", json={"code": form.get("code", "")}, headers=headers
    )
    if upstream.status_code != 200:
        return redirect("/cart", problem_detail(upstream))
    return redirect("/cart", "Code applied.")
