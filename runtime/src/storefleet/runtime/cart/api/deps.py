"""What the cart routes share: the service and its settings, whose cart a
request is about, the path parameters and the permission checks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import Cookie, Depends, Header, Path, Request, Response

from storefleet.runtime.cart import schemas as s
from storefleet.runtime.cart.service import CartRef, CartService, new_anonymous
from storefleet.runtime.cart.settings import CartSettings
from storefleet.runtime.platform.identity import auth
from storefleet.runtime.platform.identity.permissions import RouteGuards, allows
from storefleet.runtime.platform.identity.tokens import authenticator_of
from storefleet.runtime.platform.web.errors import ProblemError

_CART_ID = re.compile(r"^[0-9a-f]{32}$")
SkuPath = Annotated[str, Path(pattern=r"^[A-Z0-9][A-Z0-9._-]{0,63}$")]
CodePath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
OrderIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
# An anonymous cart's id, or a signed-in shopper's subject.
CartIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:@|-]{1,200}$")]

# Staff's routes and the orders service's (with the token this service gave it).
guard = RouteGuards("cart_checks")


def get_cart(request: Request) -> CartService:
    cart: CartService = request.app.state.cart
    return cart


def get_settings(request: Request) -> CartSettings:
    settings: CartSettings = request.app.state.settings
    return settings


Carts = Annotated[CartService, Depends(get_cart)]
Settings = Annotated[CartSettings, Depends(get_settings)]


@dataclass(frozen=True)
class Caller:
    """Whose cart, and whether they may see how many units are left."""

    ref: CartRef
    counts: bool = False


async def user_of(
    request: Request, settings: CartSettings, authorization: str | None
) -> tuple[str, bool] | None:
    """The signed-in user and whether they may count stock; None if anonymous."""
    token = auth.bearer(authorization)
    if token is None:
        return None
    principal = auth.verify(token, settings.auth_secret)
    if principal is not None:
        return principal.user_id, False
    # An access token from the accounts service or the store's Keycloak realm.
    signed_in = await authenticator_of(request.app).authenticate(token)
    if signed_in is None:
        raise ProblemError(
            401,
            "the sign-in token is invalid or expired",
            headers={"WWW-Authenticate": "Bearer"},
        )
    counts = allows(signed_in.roles, "inventory:read") and not signed_in.mfa_pending
    return signed_in.subject, counts


def cart_cookie(
    request: Request,
    settings: Settings,
    # Not length-checked here: a stale or mangled cookie means "no cart yet",
    # never an error page. The OpenAPI document names the default cookie; the
    # one read is the cookie the settings name.
    sf_cart: Annotated[str | None, Cookie()] = None,
) -> str | None:
    return request.cookies.get(settings.cookie_name)


CartCookie = Annotated[str | None, Depends(cart_cookie)]


def anonymous_ref(header_id: str | None, cookie_id: str | None) -> CartRef | None:
    for candidate in (header_id, cookie_id):
        if candidate and _CART_ID.match(candidate):
            return CartRef("anonymous", candidate)
    return None


async def current_cart(
    request: Request,
    settings: Settings,
    authorization: Annotated[str | None, Header()] = None,
    # Not length-checked either, as the cookie.
    x_cart_id: Annotated[str | None, Header()] = None,
    sf_cart: CartCookie = None,
) -> Caller:
    """The shopper's own cart: signed in (bearer token) or anonymous (cookie
    or ``X-Cart-Id``)."""
    user = await user_of(request, settings, authorization)
    if user is not None:
        return Caller(CartRef("user", user[0]), counts=user[1])
    return Caller(anonymous_ref(x_cart_id, sf_cart) or CartRef("anonymous", None))


Current = Annotated[Caller, Depends(current_cart)]


def writable(ref: CartRef, settings: CartSettings, response: Response) -> CartRef:
    """An anonymous shopper's first change creates their cart and its cookie."""
    if ref.ident is not None:
        return ref
    created = new_anonymous()
    assert created.ident is not None
    response.set_cookie(
        settings.cookie_name,
        created.ident,
        max_age=settings.cart_ttl_seconds,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
    )
    response.headers["X-Cart-Id"] = created.ident
    return created


def named(owner: s.CartOwner, cart_id: str) -> CartRef:
    """The cart a service names in the path."""
    if owner == "anonymous" and not _CART_ID.match(cart_id):
        raise ProblemError(422, "an anonymous cart's id is 32 hex digits")
    return CartRef("user" if owner == "user" else "anonymous", cart_id)
