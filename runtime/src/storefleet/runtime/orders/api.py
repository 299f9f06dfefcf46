"""The orders HTTP API.

Shoppers: ``POST /checkout`` (with an ``Idempotency-Key``; the cart named by
``X-Cart-Id``, else the signed-in shopper's own; a sign-in token makes the order
theirs), then their order by id — as its signed-in
owner, or with the e-mail it was placed with (``?email=``, the guest's
tracking link) — their history (signed in), and return requests. Staff:
``/admin/orders/...`` for fulfilment, reviews, cancellations and refunds.
"""

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response

from storefleet.runtime.orders import schemas as s
from storefleet.runtime.orders.clients import CartName
from storefleet.runtime.orders.service import OrderService
from storefleet.runtime.orders.settings import OrdersSettings
from storefleet.runtime.orders.states import Status
from storefleet.runtime.platform.identity import auth
from storefleet.runtime.platform.identity.permissions import public, require
from storefleet.runtime.platform.identity.tokens import authenticator_of
from storefleet.runtime.platform.web.errors import PROBLEM_RESPONSES, NotFound, ProblemError

OrderId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
ReturnId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
EmailQuery = Annotated[str | None, Query(max_length=320)]
KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,100}$")
_CART_ID = re.compile(r"^[0-9a-f]{32}$")


def idempotency_key(
    key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> str:
    if key is None:
        raise ProblemError(
            400, "this request moves money: send an Idempotency-Key header (8-100 characters)"
        )
    if not KEY.match(key):
        raise ProblemError(400, "Idempotency-Key must be 8-100 of A-Z a-z 0-9 _ . : -")
    return key


Key = Annotated[str, Depends(idempotency_key)]


def build_router(service: OrderService, settings: OrdersSettings) -> APIRouter:
    async def user_of(request: Request, authorization: str | None) -> str | None:
        token = auth.bearer(authorization)
        if token is None:
            return None
        principal = auth.verify(token, settings.auth_secret)
        if principal is not None:
            return principal.user_id
        # An access token from the accounts service or the store's Keycloak realm.
        signed_in = await authenticator_of(request.app).authenticate(token)
        if signed_in is None:
            raise ProblemError(
                401,
                "the sign-in token is invalid or expired",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return signed_in.subject

    async def shopper_access(
        request: Request,
        order_id: OrderId,
        email: EmailQuery = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> str:
        """The order's owner (signed in) or whoever knows its e-mail; to anyone
        else an order doesn't exist."""
        customer_id, order_email = await service.owner_of(order_id)
        user = await user_of(request, authorization)
        if user is not None and customer_id == user:
            return order_id
        if email is not None and email.strip().lower() == order_email.lower():
            return order_id
        raise NotFound(f"no order '{order_id}'")

    Shopper = Annotated[str, Depends(shopper_access)]
    # Shoppers may be guests: these routes check ownership themselves (above).
    router = APIRouter(tags=["orders"], dependencies=[Depends(public)], responses=PROBLEM_RESPONSES)

    @router.post("/checkout", response_model=s.OrderOut, status_code=201)
    async def checkout(
        request: Request,
        body: s.CheckoutIn,
        key: Key,
        response: Response,
        authorization: Annotated[str | None, Header()] = None,
        x_cart_id: Annotated[str | None, Header()] = None,
    ) -> s.OrderOut:
        """Place an order from the cart: reserve stock, authorize, confirm, capture.

        Answers when the checkout is settled (or after a few seconds, with the
        order as it stands; it goes on). ``status`` is ``paid`` on success,
        ``awaiting_payment`` with ``next_action_url`` for 3-D Secure, ``on_hold``
        for a fraud review, ``cancelled`` with ``cancel_reason`` on failure.
        Repeating the request with the same key returns the same order."""
        customer_id = await user_of(request, authorization)
        # A named cart is the one bought, by a guest or by a signed-in shopper
        # whose shop keeps the cart in a cookie; the order is theirs either way.
        # A signed-in shopper who names none buys their account's cart.
        cart_id = body.cart_id or x_cart_id
        if cart_id:
            if not _CART_ID.match(cart_id):
                raise ProblemError(422, "name the cart: cart_id or an X-Cart-Id header")
            cart = CartName("anonymous", cart_id)
        elif customer_id is not None:
            cart = CartName("user", customer_id)
        else:
            raise ProblemError(422, "name the cart: cart_id or an X-Cart-Id header")
        order, created = await service.checkout(body, key, customer_id=customer_id, cart=cart)
        if not created:
            response.status_code = 200
        return order

    @router.get("/orders", response_model=s.OrderPage)
    async def my_orders(
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
        page: Annotated[int, Query(ge=1, le=1000)] = 1,
        per_page: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> s.OrderPage:
        """The signed-in shopper's orders, newest first."""
        user = await user_of(request, authorization)
        if user is None:
            raise ProblemError(
                401, "sign in to see your orders", headers={"WWW-Authenticate": "Bearer"}
            )
        return await service.orders(customer_id=user, page=page, per_page=per_page)

    @router.get("/orders/{order_id}", response_model=s.OrderOut)
    async def get_order(order_id: Shopper) -> s.OrderOut:
        """An order with its tracking timeline."""
        return await service.order(order_id)

    @router.post("/orders/{order_id}/payment-return", response_model=s.OrderOut)
    async def payment_return(order_id: Shopper) -> s.OrderOut:
        """The shopper is back from 3-D Secure: check the payment now."""
        return await service.payment_returned(order_id)

    @router.post("/orders/{order_id}/returns", response_model=s.OrderOut, status_code=201)
    async def request_return(order_id: Shopper, body: s.ReturnIn) -> s.OrderOut:
        return await service.request_return(order_id, body)

    def rule(permission: str) -> list[Any]:
        return [Depends(require(permission, admin_token=settings.admin_token))]

    admin = APIRouter(prefix="/admin", tags=["admin"], responses=PROBLEM_RESPONSES)

    @admin.get("/orders", response_model=s.OrderPage, dependencies=rule("orders:read"))
    async def list_orders(
        status: Status | None = None,
        page: Annotated[int, Query(ge=1, le=1000)] = 1,
        per_page: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> s.OrderPage:
        return await service.orders(
            status=status.value if status else None, page=page, per_page=per_page
        )

    @admin.get("/orders/{order_id}", response_model=s.OrderOut, dependencies=rule("orders:read"))
    async def admin_order(order_id: OrderId) -> s.OrderOut:
        return await service.order(order_id)

    @admin.post(
        "/orders/{order_id}/fulfil", response_model=s.OrderOut, dependencies=rule("orders:fulfil")
    )
    async def fulfil(order_id: OrderId) -> s.OrderOut:
        """Start packing a paid order."""
        return await service.start_fulfilment(order_id)

    @admin.post(
        "/orders/{order_id}/ship", response_model=s.OrderOut, dependencies=rule("orders:fulfil")
    )
    async def ship(order_id: OrderId, body: s.ShipIn) -> s.OrderOut:
        return await service.ship(order_id, body)

    @admin.post(
        "/orders/{order_id}/deliver", response_model=s.OrderOut, dependencies=rule("orders:fulfil")
    )
    async def deliver(order_id: OrderId) -> s.OrderOut:
        return await service.deliver(order_id)

    @admin.post(
        "/orders/{order_id}/approve", response_model=s.OrderOut, dependencies=rule("orders:manage")
    )
    async def approve(order_id: OrderId, body: s.DecisionIn) -> s.OrderOut:
        """Release an order held for review: the checkout goes on to capture."""
        return await service.approve(order_id, body.note)

    @admin.post(
        "/orders/{order_id}/reject", response_model=s.OrderOut, dependencies=rule("orders:manage")
    )
    async def reject(order_id: OrderId, body: s.DecisionIn) -> s.OrderOut:
        """Refuse a held order: the authorization is voided and the stock released."""
        return await service.reject(order_id, body.note)

    @admin.post(
        "/orders/{order_id}/cancel", response_model=s.OrderOut, dependencies=rule("orders:manage")
    )
    async def cancel(order_id: OrderId, body: s.CancelIn) -> s.OrderOut:
        """Before shipping: unpaid orders are unwound, paid ones refunded in full."""
        return await service.cancel(order_id, body.reason)

    @admin.post(
        "/orders/{order_id}/returns/{return_id}/receive",
        response_model=s.OrderOut,
        dependencies=rule("orders:manage"),
    )
    async def receive_return(order_id: OrderId, return_id: ReturnId) -> s.OrderOut:
        return await service.receive_return(order_id, return_id)

    @admin.post(
        "/orders/{order_id}/returns/{return_id}/decline",
        response_model=s.OrderOut,
        dependencies=rule("orders:manage"),
    )
    async def decline_return(
        order_id: OrderId, return_id: ReturnId, body: s.DecisionIn
    ) -> s.OrderOut:
        return await service.decline_return(order_id, return_id, body.note)

    @admin.post(
        "/orders/{order_id}/refunds",
        response_model=s.OrderOut,
        dependencies=rule("payments:refund"),
    )
    async def refund(order_id: OrderId, body: s.RefundIn, key: Key) -> s.OrderOut:
        """Refund a returned order, fully (the default) or in part."""
        return await service.refund(order_id, body, key)

    @admin.get("/sagas", response_model=s.SagaOverview, dependencies=rule("orders:read"))
    async def sagas() -> s.SagaOverview:
        """How many checkouts are running, waiting, compensating, done, failed."""
        return await service.saga_overview()

    combined = APIRouter()
    combined.include_router(router)
    combined.include_router(admin)
    return combined
