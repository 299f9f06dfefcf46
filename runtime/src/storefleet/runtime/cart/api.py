"""The cart's HTTP API.

An anonymous cart is named by the ``sf_cart`` cookie (browsers) or the
``X-Cart-Id`` header (the storefront, calling on a shopper's behalf); a signed-in
shopper's cart by the bearer token. Shoppers are told a line's availability
level, never how many units are left; store staff (``inventory:read``) and the
orders service are told the count too.
"""

import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Cookie, Depends, Header, Path, Request, Response

from storefleet.runtime.cart import schemas as s
from storefleet.runtime.cart.service import CartRef, CartService, new_anonymous
from storefleet.runtime.cart.settings import CartSettings
from storefleet.runtime.platform.identity import auth
from storefleet.runtime.platform.identity.permissions import (
    SERVICE_ONLY_PREFIX,
    allows,
    public,
    require,
)
from storefleet.runtime.platform.identity.tokens import authenticator_of
from storefleet.runtime.platform.web.errors import PROBLEM_RESPONSES, ProblemError

_CART_ID = re.compile(r"^[0-9a-f]{32}$")
SkuPath = Annotated[str, Path(pattern=r"^[A-Z0-9][A-Z0-9._-]{0,63}$")]
CodePath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
OrderIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
# An anonymous cart's id, or a signed-in shopper's subject.
CartIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:@|-]{1,200}$")]


@dataclass(frozen=True)
class Caller:
    """Whose cart, and whether they may see how many units are left."""

    ref: CartRef
    counts: bool = False


def build_router(service: CartService, settings: CartSettings) -> APIRouter:
    async def user_of(request: Request, authorization: str | None) -> tuple[str, bool] | None:
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

    def anonymous_ref(header_id: str | None, cookie_id: str | None) -> CartRef | None:
        for candidate in (header_id, cookie_id):
            if candidate and _CART_ID.match(candidate):
                return CartRef("anonymous", candidate)
        return None

    async def current_cart(
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
        # Not length-checked here: a stale or mangled cookie means "no cart yet",
        # never an error page.
        x_cart_id: Annotated[str | None, Header()] = None,
        sf_cart: Annotated[str | None, Cookie(alias=settings.cookie_name)] = None,
    ) -> Caller:
        user = await user_of(request, authorization)
        if user is not None:
            return Caller(CartRef("user", user[0]), counts=user[1])
        return Caller(anonymous_ref(x_cart_id, sf_cart) or CartRef("anonymous", None))

    Current = Annotated[Caller, Depends(current_cart)]

    def writable(ref: CartRef, response: Response) -> CartRef:
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

    # The shopper's own cart: anonymous (cookie) or signed in (bearer token).
    router = APIRouter(
        prefix="/cart",
        tags=["cart"],
        responses=PROBLEM_RESPONSES,
        dependencies=[Depends(public)],
    )

    @router.get("", response_model=s.Cart)
    async def get_cart(caller: Current) -> s.Cart:
        """The cart with live prices and availability; lines that can't be bought
        are flagged."""
        return await service.view(caller.ref, counts=caller.counts)

    @router.post("/items", response_model=s.Cart)
    async def add_item(body: s.AddItem, caller: Current, response: Response) -> s.Cart:
        ref = writable(caller.ref, response)
        return await service.add_item(ref, body.sku, body.quantity, counts=caller.counts)

    @router.put("/items/{sku}", response_model=s.Cart)
    async def set_quantity(sku: SkuPath, body: s.SetQuantity, caller: Current) -> s.Cart:
        return await service.set_quantity(caller.ref, sku, body.quantity, counts=caller.counts)

    @router.delete("/items/{sku}", response_model=s.Cart)
    async def remove_item(sku: SkuPath, caller: Current) -> s.Cart:
        return await service.remove_item(caller.ref, sku, counts=caller.counts)

    @router.delete("", response_model=s.Cart)
    async def clear_cart(caller: Current) -> s.Cart:
        return await service.clear(caller.ref)

    @router.post("/promo", response_model=s.Cart)
    async def apply_promo(body: s.ApplyPromo, caller: Current) -> s.Cart:
        return await service.apply_promo(caller.ref, body.code, counts=caller.counts)

    @router.delete("/promo", response_model=s.Cart)
    async def remove_promo(caller: Current) -> s.Cart:
        return await service.remove_promo(caller.ref, counts=caller.counts)

    @router.post("/merge", response_model=s.Cart)
    async def merge(
        request: Request,
        response: Response,
        authorization: Annotated[str | None, Header()] = None,
        # Not length-checked here: a stale or mangled cookie means "no cart yet",
        # never an error page.
        x_cart_id: Annotated[str | None, Header()] = None,
        sf_cart: Annotated[str | None, Cookie(alias=settings.cookie_name)] = None,
    ) -> s.Cart:
        """After sign-in: move the anonymous cart's items into the user's cart."""
        signed_in = await user_of(request, authorization)
        if signed_in is None:
            raise ProblemError(
                401, "sign in to merge carts", headers={"WWW-Authenticate": "Bearer"}
            )
        user, counts = signed_in
        guest = anonymous_ref(x_cart_id, sf_cart)
        if guest is None:
            return await service.view(CartRef("user", user), counts=counts)
        response.delete_cookie(settings.cookie_name)
        return await service.merge(guest, CartRef("user", user), counts=counts)

    def rule(permission: str) -> list[Any]:
        return [
            Depends(
                require(
                    permission, admin_token=settings.admin_token, callers=settings.caller_tokens
                )
            )
        ]

    admin = APIRouter(prefix="/admin", tags=["admin"], responses=PROBLEM_RESPONSES)

    @admin.post(
        "/promos",
        response_model=s.PromoOut,
        status_code=201,
        dependencies=rule("promotions:manage"),
    )
    async def create_promo(body: s.PromoIn) -> s.PromoOut:
        return await service.create_promo(body)

    @admin.get("/promos", response_model=list[s.PromoOut], dependencies=rule("promotions:read"))
    async def list_promos() -> list[s.PromoOut]:
        return await service.list_promos()

    @admin.get("/promos/{code}", response_model=s.PromoOut, dependencies=rule("promotions:read"))
    async def get_promo(code: CodePath) -> s.PromoOut:
        return await service.get_promo(code)

    @admin.patch(
        "/promos/{code}", response_model=s.PromoOut, dependencies=rule("promotions:manage")
    )
    async def update_promo(code: CodePath, body: s.PromoPatch) -> s.PromoOut:
        return await service.update_promo(code, body)

    # Counting redemptions is for the orders service, as it places an order.
    internal = APIRouter(prefix=SERVICE_ONLY_PREFIX, tags=["checkout"], responses=PROBLEM_RESPONSES)

    @internal.post(
        "/promos/{code}/redemptions",
        response_model=s.PromoOut,
        dependencies=rule("promotions:redeem"),
    )
    async def redeem(code: CodePath, body: s.Redemption) -> s.PromoOut:
        """Count a use when an order is placed; repeating it for one order is harmless."""
        return await service.redeem(code, body.order_id)

    @internal.delete(
        "/promos/{code}/redemptions/{order_id}",
        response_model=s.PromoOut,
        dependencies=rule("promotions:redeem"),
    )
    async def give_back(code: CodePath, order_id: OrderIdPath) -> s.PromoOut:
        """The order was not paid for: its use no longer counts (once, however often asked)."""
        return await service.give_back(code, order_id)

    # Checkout, for the orders service: the cart is named in the path, because
    # the call carries the service's token rather than the shopper's.
    checkout = APIRouter(
        prefix=SERVICE_ONLY_PREFIX + "/carts/{owner}/{cart_id}",
        tags=["checkout"],
        responses=PROBLEM_RESPONSES,
        dependencies=rule("carts:checkout"),
    )

    def named(owner: s.CartOwner, cart_id: str) -> CartRef:
        if owner == "anonymous" and not _CART_ID.match(cart_id):
            raise ProblemError(422, "an anonymous cart's id is 32 hex digits")
        return CartRef("user" if owner == "user" else "anonymous", cart_id)

    @checkout.post("/claims", response_model=s.Cart)
    async def claim(owner: s.CartOwner, cart_id: CartIdPath, body: s.Claim) -> s.Cart:
        """Hold the cart for an order and answer with what it holds; 409 when
        another order holds it or has bought it."""
        return await service.claim(named(owner, cart_id), body.order_id)

    @checkout.post("/claims/{order_id}/release", response_model=s.Cart)
    async def release_claim(
        owner: s.CartOwner, cart_id: CartIdPath, order_id: OrderIdPath
    ) -> s.Cart:
        """The order was not placed: the shopper may change the cart and try again."""
        return await service.release_claim(named(owner, cart_id), order_id)

    @checkout.post("/claims/{order_id}/consume", response_model=s.Cart)
    async def consume(owner: s.CartOwner, cart_id: CartIdPath, order_id: OrderIdPath) -> s.Cart:
        """The order is placed: the cart is spent."""
        return await service.consume(named(owner, cart_id), order_id)

    @admin.post(
        "/abandoned-carts/sweep",
        response_model=s.AbandonedSweep,
        dependencies=rule("carts:manage"),
    )
    async def sweep() -> s.AbandonedSweep:
        """Run abandoned-cart detection now (it also runs periodically)."""
        return s.AbandonedSweep(notified=await service.sweep_abandoned())

    combined = APIRouter()
    combined.include_router(router)
    combined.include_router(admin)
    combined.include_router(internal)
    combined.include_router(checkout)
    return combined
